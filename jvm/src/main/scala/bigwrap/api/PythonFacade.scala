package bigwrap.api

import java.util.UUID
import java.util.concurrent.ConcurrentHashMap

import bigwrap.features.{ImageSpec, Images, TokenIds}
import bigwrap.infer.{Activations, Predictions, Predictor}
import bigwrap.ml.{BigwrapEstimator, BigwrapModel, SavedModel, SavedStage}
import bigwrap.nn.NativeKernels
import bigwrap.spec.{BuiltModel, WeightSet}
import bigwrap.train.{Fitting, Losses, Metrics, Progress}
import com.intel.analytics.bigdl.bigwrapaccess.BigDLAccess
import com.intel.analytics.bigdl.dllib.utils.Engine
import org.apache.spark.ml.PipelineStage
import org.apache.spark.sql.{DataFrame, SparkSession}
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * The one object Python talks to (design §2): coarse calls, JSON for structure, byte arrays for
 * tensors, and every failure turned into a BigwrapException whose `kind` names the Python class.
 */
object PythonFacade {
  private implicit val formats: Formats = DefaultFormats
  private val runs = new ConcurrentHashMap[String, Progress]()
  private val activeRuns = ConcurrentHashMap.newKeySet[String]()
  private val cancelledRuns = ConcurrentHashMap.newKeySet[String]()

  private def runTag(runId: String) = s"bigwrap-fit-$runId"

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

  /** bigwrap's native kernels in this JVM: whether they loaded (else why), versions, CPU support, OpenMP runtimes. */
  def nativeKernelsInfo(): String = guard(NativeKernels.info)

  /** Forces Dense's GEMM backend in this JVM ("auto", "mkl", "onednn"): benchmarks and equal-result tests. */
  def setNativeGemm(mode: String): Unit = guard(NativeKernels.setGemm(mode))

  /** The GEMM backend ("mkl" / "onednn") a Dense layer of this shape runs on here, on `threads` threads. */
  def nativeGemmBackend(batch: Int, in: Int, out: Int, bf16: Boolean, threads: Int): String = guard {
    NativeKernels.setThreads(threads)
    try NativeKernels.gemmBackend(batch, in, out, bf16).getOrElse("bigdl") finally NativeKernels.setThreads(1)
  }

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
   * Trains the model behind `handle` in place on `df` (validating on `validationDf` when not null);
   * returns the final progress record with the early-stopping outcome.
   */
  def fit(df: DataFrame, validationDf: DataFrame, handle: String, configJson: String): String = guard {
    val config = JsonMethods.parse(configJson)
    val built = LiveModels.changed(handle) // trained in place
    val runId = (config \ "run_id").extractOpt[String].getOrElse(UUID.randomUUID().toString)
    val sc = df.sparkSession.sparkContext
    // a tag, not a job group: the user's own job group stays in force and cancels our jobs too
    sc.addJobTag(runTag(runId))
    activeRuns.add(runId)
    try json(Fitting.run(df, Option(validationDf), built, config, progress => runs.put(runId, progress),
      cancelled = () => cancelledRuns.contains(runId)))
    finally {
      runs.remove(runId)
      sc.removeJobTag(runTag(runId))
      activeRuns.remove(runId)
      cancelledRuns.remove(runId)
    }
  }

  /** Loss and metrics of the model behind `handle` on `df`, as a JSON object of means. */
  def evaluate(df: DataFrame, handle: String, configJson: String): String = guard {
    val config = JsonMethods.parse(configJson)
    val built = model(handle)
    val loss = (config \ "loss" \ "name").extract[String]
    val metrics = Metrics((config \ "metrics").extractOpt[List[String]].getOrElse(Nil), Losses.task(loss),
      (config \ "loss" \ "from_logits").extractOpt[Boolean].getOrElse(false), built.outputShapes.head.product,
      Losses.criterion(config \ "loss"))
    val scores = Metrics.evaluate(built.module, Fitting.samples(df, built, config), metrics, (config \ "batch_size").extract[Int])
    json(JObject(scores.map { case (k, v) => k -> JDouble(v) }.toList))
  }

  /**
   * Stops the fit `runId` (the user pressed Ctrl-C): its trainer starts and retries nothing more and
   * its running Spark jobs are cancelled. Returns whether the fit is still running.
   */
  def cancel(runId: String): Boolean = guard {
    if (activeRuns.contains(runId)) {
      cancelledRuns.add(runId)
      org.apache.spark.SparkContext.getOrCreate().cancelJobsWithTag(runTag(runId))
    }
    activeRuns.contains(runId)
  }

  /** The progress record of a running fit, or "null" when none runs under `runId`. */
  def progress(runId: String): String = Option(runs.get(runId)).map(_.toJson).getOrElse("null")

  /**
   * The JVM BigwrapModel of a Python EstimatorModel, from what its saved files would hold (history and
   * metadata as JSON): pyspark's Java pipeline writer saves it with Spark's own PipelineModel writer.
   */
  def modelFromParts(metadataJson: String, specJson: String, weightIndexJson: String, weightBytes: Array[Byte],
      historyJson: String): BigwrapModel =
    guard(modelFrom(metadataJson, specJson, WeightSet.fromBytes(weightIndexJson, weightBytes), historyJson))

  /** `modelFromParts` with the weights in the raw float32 file `weightPath` (Py4J cannot carry 256 MiB). */
  def modelFromPartsFile(metadataJson: String, specJson: String, weightIndexJson: String, weightPath: String,
      historyJson: String): BigwrapModel =
    guard(modelFrom(metadataJson, specJson, WeightSet.fromFile(weightIndexJson, weightPath), historyJson))

  private def modelFrom(metadataJson: String, specJson: String, weights: WeightSet, historyJson: String) = {
    val stage = SavedStage(JsonMethods.parse(metadataJson).asInstanceOf[JObject], Some(SavedModel(specJson, weights)),
      Some(JsonMethods.parse(historyJson)))
    BigwrapModel.fromSaved(stage, s"cannot hand the Python model ${stage.uid} to the JVM")
  }

  /**
   * What a JVM BigwrapModel or BigwrapEstimator would save, as JSON ("metadata", "spec", "weight_index",
   * "history"; null where it has none), for Python's `_from_java`. The weights: `stageWeightBytes`.
   */
  def stageParts(stage: PipelineStage): String = guard {
    val saved = savedStage(stage)
    json(JObject(
      "metadata" -> saved.metadata,
      "spec" -> saved.model.map(m => JString(m.specJson)).getOrElse(JNull),
      "weight_index" -> saved.model.map(m => JString(m.weights.indexJson)).getOrElse(JNull),
      "history" -> saved.history.getOrElse(JNull)))
  }

  def stageWeightBytes(stage: PipelineStage): Array[Byte] = guard(savedStage(stage).model.map(_.weights.bytes).orNull)

  def writeStageWeights(stage: PipelineStage, path: String): Unit =
    guard(savedStage(stage).model.foreach(_.weights.writeFile(path)))

  private def savedStage(stage: PipelineStage): SavedStage = stage match {
    case model: BigwrapModel => model.toSaved
    case estimator: BigwrapEstimator => estimator.toSaved
    case other => throw BigwrapException.typeError(s"${other.getClass.getName} is not a bigwrap stage")
  }

  private def predictor(handle: String, spark: SparkSession): Predictor = LiveModels.predictor(handle, spark)

  private def predictions(config: JValue): Predictions =
    Predictions((config \ "task").extract[String], (config \ "from_logits").extractOpt[Boolean].getOrElse(false),
      (config \ "prediction_col").extractOpt[String].getOrElse("prediction"),
      (config \ "probability_col").extractOpt[String].getOrElse("probability"))

  private def batchSize(config: JValue): Int = (config \ "batch_size").extractOpt[Int].getOrElse(256)

  /** `df` (batch or streaming) with prediction (and probability) columns, computed in batches on the executors. */
  def transform(df: DataFrame, handle: String, configJson: String): DataFrame = guard {
    val config = JsonMethods.parse(configJson)
    predictor(handle, df.sparkSession).transform(df, Fitting.featuresCols(config), predictions(config), batchSize(config))
  }

  /** Adds a column of channels-last float arrays decoded from an image struct or binary column (ImageTransformer). */
  def imagesToArrays(df: DataFrame, configJson: String): DataFrame = guard {
    val c = JsonMethods.parse(configJson)
    val channels = (c \ "channels").extract[Int]
    def perChannel(key: String, default: Float): Array[Float] = c \ key match {
      case JArray(values) => values.map(_.extract[Double].toFloat).toArray
      case _ => Array.fill(channels)(default)
    }
    Images.transform(df, (c \ "input_col").extract[String], (c \ "output_col").extract[String], ImageSpec(
      (c \ "height").extract[Int], (c \ "width").extract[Int], channels, (c \ "channel_order").extract[String] == "RGB",
      (c \ "scale").extract[Double].toFloat, perChannel("mean", 0f), perChannel("std", 1f)))
  }

  /** Adds a column of padded token-id sequences from a token-array column (TokenSequencerModel). */
  def tokensToIds(df: DataFrame, configJson: String): DataFrame = guard {
    val c = JsonMethods.parse(configJson)
    TokenIds.transform(df, (c \ "input_col").extract[String], (c \ "output_col").extract[String],
      (c \ "vocabulary").extract[Array[String]],
      (c \ "max_length").extract[Int], (c \ "padding").extract[String] == "pre", (c \ "truncating").extract[String] == "pre")
  }

  /** `df` with the model's output flattened into the vector column `output_col` (the Featurizer's activations). */
  def featurize(df: DataFrame, handle: String, configJson: String): DataFrame = guard {
    val config = JsonMethods.parse(configJson)
    predictor(handle, df.sparkSession).transform(df, Fitting.featuresCols(config),
      Activations((config \ "output_col").extract[String]), batchSize(config))
  }

  /** Registers the SQL function `name` returning the model's `output` (prediction or probability). */
  def registerUdf(spark: SparkSession, handle: String, name: String, configJson: String): Unit = guard {
    val config = JsonMethods.parse(configJson)
    predictor(handle, spark).registerUdf(name, predictions(config), (config \ "output").extract[String],
      batchSize(config))
  }
}
