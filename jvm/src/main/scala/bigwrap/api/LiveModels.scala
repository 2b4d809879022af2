package bigwrap.api

import java.util.UUID
import java.util.concurrent.ConcurrentHashMap

import bigwrap.dl4j.Dl4jExport
import bigwrap.infer.{Activations, Inference, Predictor}
import bigwrap.spec.{BuiltModel, FloatsOut, KernelChoice, ModelBuilder, Tensors, WeightSet}
import bigwrap.train.Losses
import com.intel.analytics.bigdl.dllib.nn.abstractnn.Activity
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.apache.spark.sql.{DataFrame, SparkSession}
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * The models Python has loaded into this JVM, by handle, and what runs on one model: predict, training passes,
 * weights, export. Python's bigwrap/live_models.py owns their lifetimes: it releases a handle when the model's
 * weights change, when a fit that took one fails, and when the Python model is collected.
 */
object LiveModels {
  private[api] val models = new ConcurrentHashMap[String, BuiltModel]()
  // One predictor (one broadcast of the weights) per loaded model, shared by its transforms, streams and UDFs.
  private[api] val predictors = new ConcurrentHashMap[String, Predictor]()

  def apply(handle: String): BuiltModel = Option(models.get(handle)).getOrElse(
    throw BigwrapException.valueError(s"model handle '$handle' is not loaded in this JVM (was the SparkSession restarted?)"))

  /**
   * Builds `specJson` on the kernels of `kernelsJson` ({"kernels": ..., "precision": ...}) with the weights sent
   * as BridgeConfigs.weights takes them; returns the new model's handle.
   */
  def load(specJson: String, weightIndexJson: String, weightBytes: Array[Byte], weightPath: String,
      kernelsJson: String): String = {
    val built = ModelBuilder.build(specJson, KernelChoice.fromJson(kernelsJson))
    built.setWeights(BridgeConfigs.weights(weightIndexJson, weightBytes, weightPath).get)
    val handle = UUID.randomUUID().toString
    models.put(handle, built)
    handle
  }

  def release(handle: String): Unit = {
    models.remove(handle)
    predictors.remove(handle)
  }

  /** The model behind `handle` changed in place (trained): a later predictor must broadcast its new weights. */
  def changed(handle: String): BuiltModel = {
    val built = apply(handle)
    predictors.remove(handle)
    built
  }

  private def predictor(handle: String, spark: SparkSession): Predictor = {
    val built = apply(handle)
    predictors.computeIfAbsent(handle, _ => Predictor(spark, built))
  }

  /** The weights of the model behind `handle` (Python reads them inline or through a file). */
  def weights(handle: String): WeightSet = apply(handle).weights

  /** The kernels the model behind `handle` runs on, as JSON. */
  def kernels(handle: String): String = apply(handle).kernels.toJson

  /** `df` (batch or streaming) with prediction (and probability) columns, computed in batches on the executors. */
  def transform(df: DataFrame, handle: String, configJson: String): DataFrame = {
    val config = BridgeConfigs.transform(configJson)
    predictor(handle, df.sparkSession).transform(df, config.featuresCols, config.predictions, config.batchSize)
  }

  /** `df` with the model's output flattened into a vector column (the Featurizer's activations). */
  def featurize(df: DataFrame, handle: String, configJson: String): DataFrame = {
    val config = BridgeConfigs.featurize(configJson)
    predictor(handle, df.sparkSession).transform(df, config.featuresCols, Activations(config.outputCol),
      config.batchSize)
  }

  /** Registers the SQL function `name` returning the model's `output` (prediction or probability). */
  def registerUdf(spark: SparkSession, handle: String, name: String, configJson: String): Unit = {
    val config = BridgeConfigs.udf(configJson)
    predictor(handle, spark).registerUdf(name, config.predictions, config.output, config.batchSize)
  }

  /** Input and output shapes (without batch) of the graph the JVM builds from `specJson`, as JSON. */
  def shapes(specJson: String): String = {
    val built = ModelBuilder.build(specJson)
    def toJson(shapes: Seq[Seq[Int]]) = JArray(shapes.map(s => JArray(s.map(d => JInt(d)).toList)).toList)
    JsonMethods.compact(JObject("inputs" -> toJson(built.inputShapes), "outputs" -> toJson(built.outputShapes)))
  }

  /** The loaded model as a DL4J zip (bigwrap.dl4j.Dl4jExport); `lossJson` "" for none. Returns the DL4J class. */
  def toDL4J(handle: String, lossJson: String, path: String, overwrite: Boolean): String = {
    val built = apply(handle)
    val loss = if (lossJson.isEmpty) None else Some(JsonMethods.parse(lossJson).asInstanceOf[JObject])
    Dl4jExport.write(built.specJson, built.weights, loss, path, overwrite)
  }

  /** Inference-mode forward of `batch` rows; several inputs are concatenated input after input. Arrays arrive as
   * BridgeConfigs.floats takes them (inline, or the path of a file). */
  def predict(handle: String, input: Array[Byte], inputPath: String, batch: Int): FloatsOut =
    new FloatsOut(Inference.forward(apply(handle), BridgeConfigs.floats(input, inputPath), batch))

  /**
   * One training-mode forward and backward of `batch` rows for `call`: d(loss)/d(output) is `gradOutput(output,
   * given)`, where `given` holds the `what` values sent with the call, shaped like the output.
   */
  private def trainingPass(built: BuiltModel, input: Array[Float], batch: Int, given: Array[Float], call: String,
      what: String)(gradOutput: (Tensor[Float], Tensor[Float]) => Tensor[Float]): Activity = {
    val activity = Inference.inputActivity(built, input, batch)
    val module = built.module
    module.training()
    module.zeroGradParameters()
    val out = module.forward(activity).toTensor[Float]
    BigwrapException.require(given.length == out.nElement(),
      s"$call got ${given.length} $what values for an output of ${out.nElement()}")
    val gradIn = module.backward(activity, gradOutput(out, Tensor[Float](given, out.size())))
    module.evaluate()
    gradIn
  }

  /**
   * One training-mode forward and backward pass of `batch` rows (laid out as for `predict`) with the given
   * gradient of the output: returns the gradient of each input (same layout as the input), followed by
   * the gradient of each trainable weight in Keras layout, in `weightIndex` order without the
   * non-trainable weights. Gradients start from zero, so they are this batch's alone.
   */
  def forwardBackward(handle: String, input: Array[Byte], inputPath: String, batch: Int, gradOutput: Array[Byte],
      gradOutputPath: String): FloatsOut = {
    val built = changed(handle) // the pass moves BatchNormalization's statistics
    built.synchronized {
      val gradIn = trainingPass(built, BridgeConfigs.floats(input, inputPath), batch,
        BridgeConfigs.floats(gradOutput, gradOutputPath), "forwardBackward", "output-gradient")((_, g) => g)
      val perInput = if (built.inputShapes.size == 1) Seq(gradIn.toTensor[Float])
      else built.inputShapes.indices.map(i => gradIn.toTable[Tensor[Float]](i + 1))
      val inputParts = perInput.zip(built.inputShapes).map { case (g, shape) =>
        // An input no gradient reaches (e.g. token ids into an Embedding) gets zeros.
        if (g == null || g.nElement() == 0) new Array[Float](batch * shape.product) else Tensors.toArray(g)
      }
      new FloatsOut((inputParts :+ built.gradients.data).flatten.toArray)
    }
  }

  /**
   * The loss the Estimator trains (`lossJson`, e.g. {"name": "categorical_crossentropy"}) on `batch` rows against
   * `labels` shaped like the output, with its gradient: one training-mode forward and backward. Returns the
   * mean loss over the rows, then the gradients of the trainable weights as `forwardBackward` orders them.
   */
  def lossGradients(handle: String, input: Array[Byte], inputPath: String, batch: Int, labels: Array[Byte],
      labelsPath: String, lossJson: String): FloatsOut = {
    val built = changed(handle) // a training pass moves BatchNormalization's statistics
    val criterion = Losses.criterion(JsonMethods.parse(lossJson))
    built.synchronized {
      var loss = 0f
      trainingPass(built, BridgeConfigs.floats(input, inputPath), batch, BridgeConfigs.floats(labels, labelsPath),
          "lossGradients", "label") { (out, target) =>
        loss = criterion.forward(out, target)
        criterion.backward(out, target).toTensor[Float]
      }
      new FloatsOut(loss +: built.gradients.data)
    }
  }
}
