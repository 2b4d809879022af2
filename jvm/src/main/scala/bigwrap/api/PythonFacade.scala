package bigwrap.api

import java.nio.{ByteBuffer, ByteOrder}
import java.util.UUID
import java.util.concurrent.ConcurrentHashMap

import bigwrap.features.{Images, TokenIds}
import bigwrap.infer.{Activations, Inference, Predictor}
import bigwrap.ml.{BigwrapEstimator, BigwrapModel, SavedStage, StageFiles}
import bigwrap.nn.NativeKernels
import bigwrap.spec.{BuiltModel, KernelChoice, ModelBuilder, Tensors, WeightSet}
import bigwrap.train.Losses
import com.intel.analytics.bigdl.bigwrapaccess.BigDLAccess
import com.intel.analytics.bigdl.dllib.nn.abstractnn.Activity
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
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
  private val models = new ConcurrentHashMap[String, BuiltModel]()
  // One predictor (one broadcast of the weights) per loaded model, shared by its transforms, streams and UDFs.
  private val predictors = new ConcurrentHashMap[String, Predictor]()

  private def guard[A](body: => A): A = try body catch {
    case t: Throwable => throw BigwrapException.userFacing(t)
  }

  private def json(value: JValue): String = JsonMethods.compact(value)

  private def model(handle: String): BuiltModel = Option(models.get(handle)).getOrElse(
    throw BigwrapException.valueError(s"model handle '$handle' is not loaded in this JVM (was the SparkSession restarted?)"))

  /** Initialises BigDL's Engine for the running SparkContext; returns the engine facts as JSON. */
  def init(): String = guard {
    Engine.init
    engineInfo()
  }

  /** bigwrap's native kernels in this JVM: whether they loaded (else why), versions, CPU support, OpenMP runtimes. */
  def nativeKernelsInfo(): String = guard(NativeKernels.info)

  def engineInfo(): String = guard {
    json(JObject("node_number" -> JInt(BigDLAccess.nodeNumber), "core_number" -> JInt(BigDLAccess.coreNumber),
      "engine_type" -> JString(BigDLAccess.engineType)))
  }

  /** Input and output shapes (without batch) of the graph the JVM builds from `specJson`. */
  def shapes(specJson: String): String = guard {
    val built = ModelBuilder.build(specJson)
    def toJson(shapes: Seq[Seq[Int]]) = JArray(shapes.map(s => JArray(s.map(d => JInt(d)).toList)).toList)
    json(JObject("inputs" -> toJson(built.inputShapes), "outputs" -> toJson(built.outputShapes)))
  }

  def loadModel(specJson: String, weightIndexJson: String, weightBytes: Array[Byte]): String =
    loadModel(specJson, weightIndexJson, weightBytes, KernelChoice.Default.toJson)

  /** As above, with Dense and Conv2D on the kernels of `kernelsJson` ({"kernels": ..., "precision": ...}). */
  def loadModel(specJson: String, weightIndexJson: String, weightBytes: Array[Byte],
      kernelsJson: String): String = guard {
    val built = ModelBuilder.build(specJson, KernelChoice.fromJson(kernelsJson))
    built.setWeights(WeightSet.fromBytes(weightIndexJson, weightBytes))
    val handle = UUID.randomUUID().toString
    models.put(handle, built)
    handle
  }

  /** As `loadModel`, with the weights read from a file: large models would overflow Py4J's byte transfer. */
  def loadModelFile(specJson: String, weightIndexJson: String, weightPath: String, kernelsJson: String): String = guard {
    val built = ModelBuilder.build(specJson, KernelChoice.fromJson(kernelsJson))
    built.setWeights(WeightSet.fromFile(weightIndexJson, weightPath))
    val handle = UUID.randomUUID().toString
    models.put(handle, built)
    handle
  }

  /** The loaded model as a DL4J zip (bigwrap.dl4j.Dl4jExport); `lossJson` "" for none. Returns the DL4J class. */
  def toDL4J(handle: String, lossJson: String, path: String, overwrite: Boolean): String = guard {
    val built = model(handle)
    val loss = if (lossJson.isEmpty) None else Some(JsonMethods.parse(lossJson).asInstanceOf[JObject])
    bigwrap.dl4j.Dl4jExport.write(built.specJson, built.weights, loss, path, overwrite)
  }

  def releaseModel(handle: String): Unit = {
    models.remove(handle)
    predictors.remove(handle)
  }

  /** The kernels the model behind `handle` runs on (native only where this JVM loaded the library). */
  def modelKernels(handle: String): String = guard(model(handle).kernels.toJson)

  def weightIndex(handle: String): String = guard(model(handle).weights.indexJson)

  def weightBytes(handle: String): Array[Byte] = guard(model(handle).weights.bytes)

  /** The model's weights as the raw float32 file `path`: Py4J cannot return 256 MiB or more as bytes. */
  def writeWeights(handle: String, path: String): Unit = guard(model(handle).weights.writeFile(path))

  /** Inference-mode forward of `batch` rows; several inputs are concatenated input after input. */
  def predict(handle: String, input: Array[Byte], batch: Int): Array[Byte] = guard {
    toBytes(Inference.forward(model(handle), floats(input), batch))
  }

  private def floats(bytes: Array[Byte]): Array[Float] = {
    val values = new Array[Float](bytes.length / 4)
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values)
    values
  }

  private def toBytes(values: Array[Float]): Array[Byte] = {
    val buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN)
    buffer.asFloatBuffer().put(values)
    buffer.array()
  }

  /** One training-mode forward and backward of `batch` rows, d(loss)/d(output) computed from the output. */
  private def trainingPass(built: BuiltModel, input: Array[Byte], batch: Int)(
      gradOutput: Tensor[Float] => Tensor[Float]): Activity = {
    val activity = Inference.inputActivity(built, floats(input), batch)
    val module = built.module
    module.training()
    module.zeroGradParameters()
    val gradIn = module.backward(activity, gradOutput(module.forward(activity).toTensor[Float]))
    module.evaluate()
    gradIn
  }

  /**
   * One training-mode forward and backward pass of `batch` rows (laid out as for `predict`) with the given
   * gradient of the output: returns the gradient of each input (same layout as the input), followed by
   * the gradient of each trainable weight in Keras layout, in `weightIndex` order without the
   * non-trainable weights. Gradients start from zero, so they are this batch's alone.
   */
  def forwardBackward(handle: String, input: Array[Byte], batch: Int, gradOutput: Array[Byte]): Array[Byte] = guard {
    val built = model(handle)
    predictors.remove(handle) // the pass moves BatchNormalization's statistics: a later predictor must see them
    built.synchronized {
      val gradIn = trainingPass(built, input, batch) { out =>
        val gradient = floats(gradOutput)
        BigwrapException.require(gradient.length == out.nElement(),
          s"forwardBackward got ${gradient.length} output-gradient values for an output of ${out.nElement()}")
        Tensor[Float](gradient, out.size())
      }
      val perInput = if (built.inputShapes.size == 1) Seq(gradIn.toTensor[Float])
      else built.inputShapes.indices.map(i => gradIn.toTable[Tensor[Float]](i + 1))
      val inputParts = perInput.zip(built.inputShapes).map { case (g, shape) =>
        // An input no gradient reaches (e.g. token ids into an Embedding) gets zeros.
        if (g == null || g.nElement() == 0) new Array[Float](batch * shape.product) else Tensors.toArray(g)
      }
      toBytes((inputParts :+ built.gradients.data).flatten.toArray)
    }
  }

  /**
   * The loss the Estimator trains (`lossJson`, e.g. {"name": "categorical_crossentropy"}) on `batch` rows against
   * `labels` shaped like the output, with its gradient: one training-mode forward and backward. Returns the
   * mean loss over the rows, then the gradients of the trainable weights as `forwardBackward` orders them.
   */
  def lossGradients(handle: String, input: Array[Byte], batch: Int, labels: Array[Byte], lossJson: String): Array[Byte] =
    guard {
      val built = model(handle)
      predictors.remove(handle) // a training pass moves BatchNormalization's statistics
      val criterion = Losses.criterion(JsonMethods.parse(lossJson))
      built.synchronized {
        var loss = 0f
        trainingPass(built, input, batch) { out =>
          val values = floats(labels)
          BigwrapException.require(values.length == out.nElement(),
            s"lossGradients got ${values.length} label values for an output of ${out.nElement()}")
          val target = Tensor[Float](values, out.size())
          loss = criterion.forward(out, target)
          criterion.backward(out, target).toTensor[Float]
        }
        toBytes(loss +: built.gradients.data)
      }
    }

  /**
   * Trains the model behind `handle` in place on `df` (validating on `validationDf` when not null) with
   * the settings of `estimator`, the JVM twin of Python's Estimator; `requestJson`: a FitRequest.
   */
  def fit(df: DataFrame, validationDf: DataFrame, handle: String, estimator: BigwrapEstimator,
      requestJson: String): String = guard {
    val request = BridgeConfigs.fit(requestJson)
    val built = model(handle)
    predictors.remove(handle) // trained in place: a later predictor must broadcast the new weights
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

  /** The JVM BigwrapModel of a Python EstimatorModel (see StageHandoff.modelFromParts). */
  def modelFromParts(metadataJson: String, specJson: String, weightIndexJson: String, weightBytes: Array[Byte],
      historyJson: String): BigwrapModel =
    guard(StageHandoff.modelFromParts(metadataJson, specJson, WeightSet.fromBytes(weightIndexJson, weightBytes),
      historyJson))

  /** `modelFromParts` with the weights in the raw float32 file `weightPath` (Py4J cannot carry 256 MiB). */
  def modelFromPartsFile(metadataJson: String, specJson: String, weightIndexJson: String, weightPath: String,
      historyJson: String): BigwrapModel =
    guard(StageHandoff.modelFromParts(metadataJson, specJson, WeightSet.fromFile(weightIndexJson, weightPath),
      historyJson))

  /** Saves a Python stage's parts (texts as its files hold them; null where it has none) with the one stage writer. */
  def writeStage(path: String, overwrite: Boolean, metadataJson: String, specJson: String, weightIndexJson: String,
      weightBytes: Array[Byte], historyJson: String, stateJson: String): Unit =
    guard(StageHandoff.writeStage(path, overwrite, metadataJson, specJson, weightIndexJson,
      Option(weightBytes).map(WeightSet.fromBytes(weightIndexJson, _)), historyJson, stateJson))

  /** `writeStage` with the weights in the raw float32 file `weightPath`. */
  def writeStageFile(path: String, overwrite: Boolean, metadataJson: String, specJson: String, weightIndexJson: String,
      weightPath: String, historyJson: String, stateJson: String): Unit =
    guard(StageHandoff.writeStage(path, overwrite, metadataJson, specJson, weightIndexJson,
      Some(WeightSet.fromFile(weightIndexJson, weightPath)), historyJson, stateJson))

  /** The stage saved at `path`, which must hold a `className` (read with the one stage reader), for Python's `load`. */
  def readStage(path: String, className: String): SavedStage = guard(StageFiles.read(path, className))

  /** What a JVM bigwrap stage would save, for Python's `_from_java`. */
  def savedStage(stage: PipelineStage): SavedStage = guard(StageHandoff.savedStage(stage))

  /** A saved stage's parts as JSON (see StageHandoff.stageParts); the weights: `stageWeightBytes`. */
  def stageParts(saved: SavedStage): String = guard(StageHandoff.stageParts(saved))

  def stageWeightBytes(saved: SavedStage): Array[Byte] = guard(saved.model.map(_.weights.bytes).orNull)

  def writeStageWeights(saved: SavedStage, path: String): Unit = guard(saved.model.foreach(_.weights.writeFile(path)))

  private def predictor(handle: String, spark: SparkSession): Predictor = {
    val built = model(handle)
    predictors.computeIfAbsent(handle, _ => Predictor(spark, built))
  }

  private[api] def predictorOf(handle: String): Option[Predictor] = Option(predictors.get(handle))

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
