package bigwrap.ml

import scala.util.control.NonFatal

import bigwrap.api.BigwrapException
import bigwrap.data.Columns
import bigwrap.infer.{ModelFunction, Predictions, Predictor}
import bigwrap.spec.{BuiltModel, KernelChoice, ModelBuilder, WeightSet}
import bigwrap.train.Losses
import com.intel.analytics.bigdl.dllib.nn.Graph
import com.intel.analytics.bigdl.dllib.utils.Engine
import org.apache.spark.SparkContext
import org.apache.spark.ml.Model
import org.apache.spark.ml.param.ParamMap
import org.apache.spark.ml.util._
import org.apache.spark.sql.{DataFrame, Dataset, SparkSession}
import org.apache.spark.sql.types.StructType
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * A trained bigwrap model as a Spark ML Model: the Scala face of Python's `bigwrap.EstimatorModel`,
 * saved in the same files (docs/persistence.md). `transform` runs the JVM inference Python's
 * transform runs (bigwrap.infer.Predictor) and adds the same columns: `prediction` and, for
 * classification, `probability`; it takes streaming DataFrames too. `registerUdf` makes it a SQL function.
 */
class BigwrapModel private[ml] (override val uid: String, val saved: SavedModel, val lossConfig: JObject,
    val trainingHistory: JValue) extends Model[BigwrapModel] with BigwrapOutputParams with MLWritable {
  private implicit val formats: Formats = DefaultFormats

  /** One predictor (one broadcast, pooled executor copies) per kernel choice: the weights never change. */
  @transient private lazy val predictors = scala.collection.concurrent.TrieMap[KernelChoice, Predictor]()
  /** The model's shapes (the module itself runs on the executors, built there on `kernelChoice`). */
  @transient private[ml] lazy val built: BuiltModel = BigwrapModel.build(saved, KernelChoice.BigDL)

  def specJson: String = saved.specJson
  def weights: WeightSet = saved.weights
  /** One row per epoch (epoch, loss, seconds, samples_per_second, val_* metrics), as Python's `history`. */
  def history: Seq[JObject] = (trainingHistory \ "history").extractOpt[List[JObject]].getOrElse(Nil)

  /** A BigDL graph with this model's trained weights (inputs channels-last, as in the spec), for BigDL users. */
  def toBigDL: Graph[Float] = BigwrapModel.build(saved, kernelChoice).module

  /**
   * This model as a Deeplearning4j `ModelSerializer` zip at `path` (docs/dl4j.md): a MultiLayerNetwork for a chain
   * of layers, else a ComputationGraph, taking the arrays this model takes; its last Dense layer becomes an
   * OutputLayer with this model's loss. Returns the DL4J class written.
   */
  def toDL4J(path: String, overwrite: Boolean): String =
    bigwrap.dl4j.Dl4jExport.write(saved.specJson, saved.weights, Some(lossConfig), path, overwrite)

  def toDL4J(path: String): String = toDL4J(path, overwrite = false)

  private def predictions = Predictions(Losses.task((lossConfig \ "name").extractOpt[String].getOrElse("")),
    (lossConfig \ "from_logits").extractOpt[Boolean].getOrElse(false), $(predictionCol), $(probabilityCol))

  override def transformSchema(schema: StructType): StructType = {
    val columns = getFeaturesCols
    BigwrapException.require(columns.size == built.inputShapes.size,
      s"the model has ${built.inputShapes.size} input(s) but ${columns.size} features column(s) were given")
    columns.foreach(Columns.numericType(schema, _, "features"))
    val added = predictions.fields(built.outputShapes.head.product)
    val taken = added.map(_.name).filter(schema.fieldNames.contains)
    BigwrapException.require(taken.isEmpty, s"the DataFrame already has column(s) ${taken.mkString(", ")}; " +
      "choose other output column names or drop them")
    StructType(schema.fields ++ added)
  }

  override def transform(dataset: Dataset[_]): DataFrame = {
    transformSchema(dataset.schema)
    predictor(dataset.sparkSession).transform(dataset.toDF(), getFeaturesCols, predictions, $(inferenceBatchSize))
  }

  /** Registers the SQL function `name(features)` returning `output`: "prediction", or "probability" for classifiers. */
  def registerUdf(spark: SparkSession, name: String, output: String = "prediction"): ModelFunction =
    predictor(spark).registerUdf(name, predictions, output, $(inferenceBatchSize))

  private def predictor(spark: SparkSession): Predictor = {
    BigwrapModel.ensureEngine(spark.sparkContext)
    predictors.getOrElseUpdate(kernelChoice, Predictor(spark, built, kernelChoice))
  }

  override def copy(extra: ParamMap): BigwrapModel =
    copyValues(new BigwrapModel(uid, saved, lossConfig, trainingHistory), extra).setParent(parent)

  private[bigwrap] def toSaved: SavedStage = SavedStage(
    StageFiles.metadata(StageFiles.ModelClass, this, JObject("model" -> JString("model"), "loss" -> lossConfig)),
    Some(saved), Some(trainingHistory))

  override def write: MLWriter = new StageWriter(toSaved)
}

object BigwrapModel extends MLReadable[BigwrapModel] {
  private implicit val formats: Formats = DefaultFormats
  @volatile private var engineContext: SparkContext = _

  /** BigDL's Engine reads the cluster shape from the running SparkContext: once per context. */
  private[ml] def ensureEngine(context: SparkContext): Unit = synchronized {
    if (engineContext ne context) {
      Engine.init
      engineContext = context
    }
  }

  private[ml] def build(saved: SavedModel, kernels: KernelChoice): BuiltModel = {
    val built = ModelBuilder.build(saved.specJson, kernels)
    built.setWeights(saved.weights)
    built.module.evaluate()
    built
  }

  /** `build`, where a saved model that does not build is a ValueError starting with `where`. */
  private[ml] def checkBuilds(where: String)(body: => BuiltModel): BuiltModel = try body catch {
    case NonFatal(e) => throw BigwrapException.valueError(
      s"$where: the saved model does not build: ${BigwrapException.userFacing(e).getMessage}")
  }

  override def read: MLReader[BigwrapModel] = new StageReader[BigwrapModel](StageFiles.ModelClass, fromSaved)

  override def load(path: String): BigwrapModel = super.load(path)

  /** The model a saved stage describes; its spec and weights are checked here, and problems start with `where`. */
  private[bigwrap] def fromSaved(stage: SavedStage, where: String): BigwrapModel = {
    val model = stage.model.getOrElse(
      throw BigwrapException.valueError(s"$where: the saved model has no model directory (bigwrap.model)"))
    val loss = stage.metadata \ "bigwrap" \ "loss" match { // the trained model's loss: it decides the output columns
      case obj: JObject if Losses.names.contains((obj \ "name").extractOpt[String].getOrElse("")) => obj
      case other => throw BigwrapException.valueError(
        s"$where: the metadata's bigwrap.loss is not a known loss config: ${JsonMethods.compact(other)}")
    }
    val instance = new BigwrapModel(stage.uid, model, loss, stage.history.getOrElse(JObject()))
    checkBuilds(where)(instance.built)
    ParamsJson.set(instance, stage.paramMap, where)
    instance
  }
}

/** Reads a `className` stage in the shared layout (StageFiles.read) into its instance. */
private[ml] class StageReader[T](className: String, fromSaved: (SavedStage, String) => T) extends MLReader[T] {
  override def load(path: String): T = fromSaved(StageFiles.read(path, className), StageFiles.loading(className, path))
}

/** Writes a stage in the shared layout, atomically; an existing stage is replaced only with overwrite(). */
private[ml] class StageWriter(stage: SavedStage) extends MLWriter {
  override def save(path: String): Unit = saveImpl(path)
  override protected def saveImpl(path: String): Unit = StageFiles.writeParts(path, shouldOverwrite,
    JsonMethods.compact(stage.metadata), stage.model.map(m => (m.specJson, m.weights.indexJson, m.weights)),
    stage.history.map(JsonMethods.compact(_)), stage.state.map(JsonMethods.compact(_)))
}
