package bigwrap.api

import bigwrap.features.{Images, TokenIds}
import bigwrap.infer.{Activations, Predictor}
import bigwrap.io.Storage
import bigwrap.ml.{BigwrapEstimator, BigwrapModel, SavedStage, StageFiles}
import bigwrap.nn.NativeKernels
import bigwrap.spec.{BuiltModel, WeightSet}
import bigwrap.train.Checkpoints
import com.intel.analytics.bigdl.bigwrapaccess.BigDLAccess
import com.intel.analytics.bigdl.dllib.utils.Engine
import org.apache.spark.ml.PipelineStage
import org.apache.spark.sql.{DataFrame, SparkSession}
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * The one object Python talks to (design §2): coarse calls, JSON for structure, byte arrays for
 * tensors, and every failure turned into a BigwrapException whose `kind` names the Python class.
 * It routes: fits to FitRuns, stages to StageHandoff, data preparation to bigwrap.features; each call's JSON
 * is parsed by BridgeConfigs. Probes for tests live in TestHooks.
 */
object PythonFacade {
  private implicit val formats: Formats = DefaultFormats

  private def guard[A](body: => A): A = try body catch {
    case t: Throwable => throw BigwrapException.userFacing(t)
  }

  private def json(value: JValue): String = JsonMethods.compact(value)

  private def model(handle: String): BuiltModel = LiveModels(handle)

  /** Initialises BigDL's Engine for the running SparkContext; returns the engine facts as JSON. */
  def init(): String = guard {
    Engine.init
    engineInfo()
  }

  /** A local copy of the file or complete directory at `path` on any store (bigwrap.io.Storage.fetch). */
  def fetch(path: String): String = guard(Storage.fetch(path))

  /** Copies the local file `localFile` to `path` on any store, whole. */
  def put(localFile: String, path: String, overwrite: Boolean): Unit = guard(Storage.put(localFile, path, overwrite))

  /** The checkpoint `resumeFrom` names (itself, or a checkpointDir's newest complete one), as a path or URL. */
  def latestCheckpoint(resumeFrom: String): String = guard(Checkpoints.latest(resumeFrom).toString)

  /** bigwrap's native kernels in this JVM: whether they loaded (else why), versions, CPU support, OpenMP runtimes. */
  def nativeKernelsInfo(): String = guard(NativeKernels.info)

  def engineInfo(): String = guard {
    json(JObject("node_number" -> JInt(BigDLAccess.nodeNumber), "core_number" -> JInt(BigDLAccess.coreNumber),
      "engine_type" -> JString(BigDLAccess.engineType)))
  }

  // The calls on one loaded model: LiveModels does the work.
  def shapes(specJson: String): String = guard(json(LiveModels.shapes(specJson)))

  def loadModel(specJson: String, weightIndexJson: String, weightBytes: Array[Byte], kernelsJson: String): String =
    guard(LiveModels.load(specJson, WeightSet.fromBytes(weightIndexJson, weightBytes), kernelsJson))

  def loadModelFile(specJson: String, weightIndexJson: String, weightPath: String, kernelsJson: String): String =
    guard(LiveModels.load(specJson, WeightSet.fromFile(weightIndexJson, weightPath), kernelsJson))

  def toDL4J(handle: String, lossJson: String, path: String, overwrite: Boolean): String =
    guard(LiveModels.toDL4J(handle, lossJson, path, overwrite))

  def releaseModel(handle: String): Unit = LiveModels.release(handle)

  def modelKernels(handle: String): String = guard(model(handle).kernels.toJson)

  def weightIndex(handle: String): String = guard(model(handle).weights.indexJson)

  def weightBytes(handle: String): Array[Byte] = guard(model(handle).weights.bytes)

  def writeWeights(handle: String, path: String): Unit = guard(model(handle).weights.writeFile(path))

  def predict(handle: String, input: Array[Byte], batch: Int): Array[Byte] = guard(LiveModels.predict(handle, input, batch))

  def forwardBackward(handle: String, input: Array[Byte], batch: Int, gradOutput: Array[Byte]): Array[Byte] =
    guard(LiveModels.forwardBackward(handle, input, batch, gradOutput))

  def lossGradients(handle: String, input: Array[Byte], batch: Int, labels: Array[Byte], lossJson: String): Array[Byte] =
    guard(LiveModels.lossGradients(handle, input, batch, labels, lossJson))

  /**
   * Trains the model behind `handle` in place on `df` (validating on `validationDf` when not null) with
   * the settings of `estimator`, the JVM twin of Python's Estimator; `requestJson`: a FitRequest.
   */
  def fit(df: DataFrame, validationDf: DataFrame, handle: String, estimator: BigwrapEstimator,
      requestJson: String): String = guard {
    val request = BridgeConfigs.fit(requestJson)
    val built = LiveModels.changed(handle) // trained in place
    FitRuns.fit(df, validationDf, built, estimator, request)
  }

  /** Loss and metrics of the model behind `handle` on `df`, as a JSON object of means. */
  def evaluate(df: DataFrame, handle: String, configJson: String): String =
    guard(FitRuns.evaluate(df, model(handle), BridgeConfigs.evaluate(configJson)))

  /** Stops the fit `runId` (the user pressed Ctrl-C); returns whether it is still running. */
  def cancel(runId: String): Boolean = guard(FitRuns.cancel(runId))

  /** The progress record of a running fit, or "null" when none runs under `runId`. */
  def progress(runId: String): String = FitRuns.progress(runId)

  /** The JVM twin of a Python stage: a new `className` stage with the wrapper's `uid`. */
  def newStage(className: String, uid: String): PipelineStage = guard(StageHandoff.newStage(className, uid))

  /** The defaults and docs of a bigwrap.ml stage class's Params, as JSON: where Python's stages take theirs. */
  def stageParams(className: String): String = guard(StageHandoff.params(className))

  /** Checks Python's values of a `className` stage's Params by their rules; messages start with `owner`. */
  def checkStageParams(className: String, paramMapJson: String, owner: String): Unit =
    guard(StageHandoff.checkParams(className, paramMapJson, owner))

  /**
   * Sets Python's values (`paramMapJson`) on its JVM twin, each checked by its rule, then the rules across
   * Params (`validates`: validation data is set); before any Spark job, messages starting with `owner`.
   */
  def setEstimatorParams(estimator: BigwrapEstimator, paramMapJson: String, owner: String, validates: Boolean): Unit =
    guard { StageHandoff.setParams(estimator, paramMapJson, owner); estimator.checkSettings(owner, validates) }

  /** Weights sent inline, or (Py4J cannot carry 256 MiB) in the raw float32 file `weightPath`; None for neither. */
  private def weights(indexJson: String, bytes: Array[Byte], weightPath: String): Option[WeightSet] =
    Option(bytes).map(WeightSet.fromBytes(indexJson, _)).orElse(Option(weightPath).map(WeightSet.fromFile(indexJson, _)))

  /** The JVM BigwrapModel of a Python EstimatorModel (see StageHandoff.modelFromParts); weights as in `weights`. */
  def modelFromParts(metadataJson: String, specJson: String, weightIndexJson: String, weightBytes: Array[Byte],
      weightPath: String, historyJson: String): BigwrapModel =
    guard(StageHandoff.modelFromParts(metadataJson, specJson, weights(weightIndexJson, weightBytes, weightPath).get,
      historyJson))

  /**
   * Saves a Python stage's parts with the one stage writer (StageFiles.writeParts): texts as its files hold
   * them, null where it has none; weights as in `weights`.
   */
  def writeStage(path: String, overwrite: Boolean, metadataJson: String, specJson: String, weightIndexJson: String,
      weightBytes: Array[Byte], weightPath: String, historyJson: String, stateJson: String): Unit =
    guard(StageFiles.writeParts(path, overwrite, metadataJson,
      weights(weightIndexJson, weightBytes, weightPath).map((specJson, weightIndexJson, _)), Option(historyJson),
      Option(stateJson)))

  /** The stage saved at `path`, which must hold a `className` (read with the one stage reader), for Python's `load`. */
  def readStage(path: String, className: String): SavedStage = guard(StageFiles.read(path, className))

  /** What a JVM bigwrap stage would save, for Python's `_from_java`. */
  def savedStage(stage: PipelineStage): SavedStage = guard(StageHandoff.savedStage(stage))

  /** A saved stage's parts as JSON (see StageHandoff.stageParts); the weights: `stageWeightBytes`. */
  def stageParts(saved: SavedStage): String = guard(StageHandoff.stageParts(saved))

  def stageWeightBytes(saved: SavedStage): Array[Byte] = guard(saved.model.map(_.weights.bytes).orNull)

  def writeStageWeights(saved: SavedStage, path: String): Unit = guard(saved.model.foreach(_.weights.writeFile(path)))

  private def predictor(handle: String, spark: SparkSession): Predictor = LiveModels.predictor(handle, spark)

  /** `df` (batch or streaming) with prediction (and probability) columns, computed in batches on the executors. */
  def transform(df: DataFrame, handle: String, configJson: String): DataFrame = guard {
    val config = BridgeConfigs.transform(configJson)
    predictor(handle, df.sparkSession).transform(df, config.featuresCols, config.predictions, config.batchSize)
  }

  /** `df` with the model's output flattened into a vector column (the Featurizer's activations). */
  def featurize(df: DataFrame, handle: String, configJson: String): DataFrame = guard {
    val config = BridgeConfigs.featurize(configJson)
    predictor(handle, df.sparkSession).transform(df, config.featuresCols, Activations(config.outputCol),
      config.batchSize)
  }

  /** Registers the SQL function `name` returning the model's `output` (prediction or probability). */
  def registerUdf(spark: SparkSession, handle: String, name: String, configJson: String): Unit = guard {
    val config = BridgeConfigs.udf(configJson)
    predictor(handle, spark).registerUdf(name, config.predictions, config.output, config.batchSize)
  }

  /** Adds a column of channels-last float arrays decoded from images (ImageTransformer). */
  def imagesToArrays(df: DataFrame, configJson: String): DataFrame =
    guard { val c = BridgeConfigs.images(configJson); Images.transform(df, c.inputCol, c.outputCol, c.image) }

  /** Adds a column of padded token-id sequences from a token-array column (TokenSequencerModel). */
  def tokensToIds(df: DataFrame, configJson: String): DataFrame =
    guard { val c = BridgeConfigs.tokens(configJson)
      TokenIds.transform(df, c.inputCol, c.outputCol, c.vocabulary, c.maxLength, c.padBefore, c.truncateBefore) }
}
