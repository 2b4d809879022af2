package bigwrap.api

import bigwrap.ml.{BigwrapEstimator, BigwrapModel, BigwrapOutputParams, ParamsJson, RuledParams, SavedModel, SavedStage,
  StageFiles}
import bigwrap.spec.WeightSet
import org.apache.spark.ml.PipelineStage
import org.apache.spark.ml.param.{ParamMap, Params}
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * Python's stages over their JVM twins (pyspark's wrapper pattern): a new twin, its defaults, the
 * Params Python pushes, saving and loading with the one stage writer and reader (StageFiles), and the
 * hand-off of whole stages to and from pyspark's Java pipeline writer and reader. Weights arrive as
 * BridgeConfigs.weights takes them.
 */
object StageHandoff {
  /** A new JVM stage of `className` (a bigwrap.ml stage) with the uid of its Python wrapper. */
  def newStage(className: String, uid: String): BigwrapEstimator = className match {
    case "bigwrap.ml.BigwrapEstimator" => new BigwrapEstimator(uid)
    case other => throw BigwrapException.typeError(s"$other is not a bigwrap.ml stage Python creates")
  }

  /** The Params of a `className` stage alone (a BigwrapModel needs a model to exist; its Params do not). */
  private def paramsOf(className: String): RuledParams = className match {
    case "bigwrap.ml.BigwrapModel" => new ModelParams("BigwrapModel_params")
    case other => newStage(other, "params")
  }

  /** The defaults and docs of a `className` stage's Params ({"defaults": ..., "docs": ...}): Python's stages take theirs here. */
  def params(className: String): String = {
    val stage = paramsOf(className)
    JsonMethods.compact(JObject("defaults" -> ParamsJson.defaultParamMap(stage),
      "docs" -> JObject(stage.params.toList.map(p => p.name -> JString(p.doc)))))
  }

  /** Checks the values of `paramMapJson` by the rules of a `className` stage's Params; errors start with `owner`. */
  def checkParams(className: String, paramMapJson: String, owner: String): Unit =
    ParamsJson.set(paramsOf(className), JsonMethods.parse(paramMapJson), owner)

  /**
   * Sets Python's values (`paramMapJson`) on its JVM twin, each checked by its rule, then the rules across
   * Params (`validates`: validation data is set); before any Spark job, messages starting with `owner`.
   */
  def setEstimatorParams(estimator: BigwrapEstimator, paramMapJson: String, owner: String, validates: Boolean): Unit = {
    ParamsJson.set(estimator, JsonMethods.parse(paramMapJson), owner)
    estimator.checkSettings(owner, validates)
  }

  /**
   * The JVM BigwrapModel of a Python EstimatorModel, from what its saved files would hold (history and
   * metadata as JSON): pyspark's Java pipeline writer saves it with Spark's own PipelineModel writer.
   */
  def modelFromParts(metadataJson: String, specJson: String, weightIndexJson: String, weightBytes: Array[Byte],
      weightPath: String, historyJson: String): BigwrapModel = {
    val weights = BridgeConfigs.weights(weightIndexJson, weightBytes, weightPath).get
    val stage = SavedStage(JsonMethods.parse(metadataJson).asInstanceOf[JObject], Some(SavedModel(specJson, weights)),
      Some(JsonMethods.parse(historyJson)))
    BigwrapModel.fromSaved(stage, s"cannot hand the Python model ${stage.uid} to the JVM")
  }

  /**
   * Saves a Python stage's parts with the one stage writer (StageFiles.writeParts): texts as its files hold
   * them, null where it has none.
   */
  def write(path: String, overwrite: Boolean, metadataJson: String, specJson: String, weightIndexJson: String,
      weightBytes: Array[Byte], weightPath: String, historyJson: String, stateJson: String): Unit =
    StageFiles.writeParts(path, overwrite, metadataJson, BridgeConfigs.weights(weightIndexJson, weightBytes,
      weightPath).map((specJson, weightIndexJson, _)), Option(historyJson), Option(stateJson))

  /** The stage saved at `path`, which must hold a `className` (read with the one stage reader), for Python's `load`. */
  def read(path: String, className: String): SavedStage = StageFiles.read(path, className)

  /**
   * What a saved stage holds, as JSON ("metadata", "spec", "spec_file", "history", "state"; null where it has
   * none), for Python's `load` and `_from_java`. The weights: `weights`.
   */
  def stageParts(saved: SavedStage): String = {
    def orNull(value: Option[JValue]) = value.getOrElse(JNull)
    JsonMethods.compact(JObject(
      "metadata" -> saved.metadata,
      "spec" -> orNull(saved.model.map(m => JString(m.specJson))),
      "spec_file" -> orNull(saved.model.flatMap(_.specFile).map(JString(_))),
      "history" -> orNull(saved.history),
      "state" -> orNull(saved.state)))
  }

  /** The saved stage's weights, or null without a model. */
  def weights(saved: SavedStage): WeightSet = saved.model.map(_.weights).orNull

  /** What a JVM bigwrap stage would save, for Python's `_from_java`. */
  def savedStage(stage: PipelineStage): SavedStage = stage match {
    case model: BigwrapModel => model.toSaved
    case estimator: BigwrapEstimator => estimator.toSaved
    case other => throw BigwrapException.typeError(s"${other.getClass.getName} is not a bigwrap stage")
  }

  private final class ModelParams(override val uid: String) extends BigwrapOutputParams {
    override def copy(extra: ParamMap): Params = defaultCopy(extra)
  }
}
