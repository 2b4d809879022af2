package bigwrap.infer

import java.util.UUID

import bigwrap.api.BigwrapException
import bigwrap.data.Columns
import bigwrap.spec.{BuiltModel, KernelChoice, ModelBuilder, WeightSet}
import org.apache.spark.broadcast.Broadcast
import org.apache.spark.sql.{DataFrame, SparkSession}
import org.apache.spark.sql.bigwrap.{AppendColumns, ModelCall}
import org.apache.spark.util.LongAccumulator

/**
 * What travels to the executors: the spec and the weights, from which each executor rebuilds the model
 * (BigDL modules are never Java-serialized). Spark's TorrentBroadcast ships it in compressed 4 MB
 * blocks that executors fetch once and cache, so no single byte array ever holds the whole model.
 */
final case class ModelPayload(id: String, specJson: String, weights: WeightSet, kernels: KernelChoice) {
  def build(): BuiltModel = {
    val model = ModelBuilder.build(specJson, kernels)
    model.setWeights(weights)
    model
  }
}

/**
 * A trained model ready for inference on Spark: the one entry point for batch and streaming
 * `transform`, featurizing and SQL functions, from Python (through bigwrap.api.LiveModels) and from Scala:
 *
 * {{{
 *   val predictor = bigwrap.infer.Predictor(spark, specJson, weights)
 *   predictor.transform(df, Seq("features"), Predictions("multiclass", fromLogits = false)).show()
 *   predictor.registerUdf("classify", Predictions("multiclass", fromLogits = false))
 *   spark.sql("SELECT classify(features) FROM t")
 * }}}
 *
 * The model is broadcast once, when the predictor is made; every DataFrame, stream or SQL function made
 * from it reuses that broadcast and the executors' pooled modules.
 */
final class Predictor private (spark: SparkSession, payload: ModelPayload, val inputShapes: Seq[Seq[Int]],
    val outputShape: Seq[Int]) {
  private val broadcast: Broadcast[ModelPayload] = spark.sparkContext.broadcast(payload)
  private val built: LongAccumulator = spark.sparkContext.longAccumulator(s"bigwrap modules built for ${payload.id}")
  private val outputSize = outputShape.product

  /** Modules built on all executors so far: at most one per concurrently running task per executor. */
  def modulesBuilt: Long = built.value

  /**
   * `df` (batch or streaming) with `outputs`' columns appended, computed on the executors in batches of
   * `batchSize` rows. `featuresCols` holds one column per model input: ml Vector or array of numbers.
   */
  def transform(df: DataFrame, featuresCols: Seq[String], outputs: Outputs, batchSize: Int = Predictor.DefaultBatchSize): DataFrame = {
    BigwrapException.require(batchSize > 0, s"inference batch size must be positive, got $batchSize")
    BigwrapException.require(featuresCols.size == inputShapes.size,
      s"the model has ${inputShapes.size} inputs but ${featuresCols.size} features column(s) were given")
    featuresCols.foreach(Columns.numericType(df.schema, _, "features"))
    val fields = outputs.fields(outputSize)
    val taken = fields.map(_.name).filter(df.columns.contains)
    BigwrapException.require(taken.isEmpty, s"the DataFrame already has column(s) ${taken.mkString(", ")}; " +
      "choose other output column names or drop them")
    AppendColumns(df, featuresCols, fields,
      new BatchInference(broadcast, featuresCols, inputShapes.map(_.product), outputSize, outputs, batchSize, built))
  }

  /**
   * The model as a SQL function of its features (one argument per model input) returning `output`,
   * "prediction" or "probability"; apply it to columns for DataFrame expressions. Calls score `batchSize`
   * rows per forward where they can (see ModelFunction). A null argument gives null.
   */
  def udf(predictions: Predictions, output: String = "prediction", name: String = "model",
      batchSize: Int = Predictor.DefaultBatchSize): ModelFunction = {
    BigwrapException.require(batchSize > 0, s"inference batch size must be positive, got $batchSize")
    val fields = predictions.fields(outputSize).map(_.name)
    val column = Map("prediction" -> predictions.predictionCol, "probability" -> predictions.probabilityCol)
      .get(output).map(fields.indexOf).getOrElse(-1)
    BigwrapException.require(column >= 0, s"output '$output' is not available for a ${predictions.task} model; " +
      s"choose ${if (fields.size > 1) "'prediction' or 'probability'" else "'prediction'"}")
    new ModelFunction(broadcast, name, inputShapes.map(_.product), outputSize, predictions, column, batchSize, built)
  }

  /** `udf(...)` registered under `name` for `spark.sql`; returns the function for DataFrame expressions too. */
  def registerUdf(name: String, predictions: Predictions, output: String = "prediction",
      batchSize: Int = Predictor.DefaultBatchSize): ModelFunction = {
    val function = udf(predictions, output, name, batchSize)
    ModelCall.register(spark, function)
    function
  }
}

object Predictor {
  /** Rows per forward pass: the default of every stage's inferenceBatchSize (bigwrap.ml.BigwrapOutputParams). */
  val DefaultBatchSize = 256

  /** A predictor of `model` with its weights as they are now, run on the executors on `kernels`. */
  def apply(spark: SparkSession, model: BuiltModel, kernels: KernelChoice): Predictor =
    new Predictor(spark, ModelPayload(UUID.randomUUID().toString, model.specJson, model.weights, kernels),
      model.inputShapes, model.outputShapes.head)

  def apply(spark: SparkSession, model: BuiltModel): Predictor = apply(spark, model, model.kernels)

  /** A predictor for the model `specJson` describes with `weights` (checked against it here, on the driver). */
  def apply(spark: SparkSession, specJson: String, weights: WeightSet,
      kernels: KernelChoice = KernelChoice.Default): Predictor = {
    val payload = ModelPayload(UUID.randomUUID().toString, specJson, weights, kernels)
    val model = payload.build()
    new Predictor(spark, payload, model.inputShapes, model.outputShapes.head)
  }
}
