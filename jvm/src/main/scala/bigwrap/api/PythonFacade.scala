package bigwrap.api

import bigwrap.features.{Images, TokenIds}
import bigwrap.io.Storage
import bigwrap.nn.NativeKernels
import com.intel.analytics.bigdl.bigwrapaccess.BigDLAccess
import com.intel.analytics.bigdl.dllib.utils.Engine
import org.apache.spark.sql.DataFrame
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * Python's calls on the session, storage and data preparation (design §2). Python calls the per-concern
 * objects of this package by name (`Bridge.call("LiveModels.predict", ...)`): models here are LiveModels,
 * fits FitRuns, stages StageHandoff; each call's JSON is parsed by BridgeConfigs, and Python turns every
 * failure into the Python exception BigwrapException.userFacing names. Probes for tests live in TestHooks.
 */
object PythonFacade {
  /** Initialises BigDL's Engine for the running SparkContext; returns the engine facts as JSON. */
  def init(): String = {
    Engine.init
    JsonMethods.compact(JObject("node_number" -> JInt(BigDLAccess.nodeNumber),
      "core_number" -> JInt(BigDLAccess.coreNumber), "engine_type" -> JString(BigDLAccess.engineType)))
  }

  /** A local copy of the file or complete directory at `path` on any store (bigwrap.io.Storage.fetch). */
  def fetch(path: String): String = Storage.fetch(path)

  /** Copies the local file `localFile` to `path` on any store, whole. */
  def put(localFile: String, path: String, overwrite: Boolean): Unit = Storage.put(localFile, path, overwrite)

  /** bigwrap's native kernels in this JVM: whether they loaded (else why), versions, CPU support, OpenMP runtimes. */
  def nativeKernelsInfo(): String = NativeKernels.info

  /** Adds a column of channels-last float arrays decoded from images (ImageTransformer). */
  def imagesToArrays(df: DataFrame, configJson: String): DataFrame = {
    val config = BridgeConfigs.images(configJson)
    Images.transform(df, config.inputCol, config.outputCol, config.image)
  }

  /** Adds a column of padded token-id sequences from a token-array column (TokenSequencerModel). */
  def tokensToIds(df: DataFrame, configJson: String): DataFrame = {
    val config = BridgeConfigs.tokens(configJson)
    TokenIds.transform(df, config.inputCol, config.outputCol, config.vocabulary, config.maxLength, config.padBefore,
      config.truncateBefore)
  }
}
