package bigwrap.dl4j

import bigwrap.api.BigwrapException
import bigwrap.spec.LayerSpec
import org.json4s._

/**
 * Each spec layer as DL4J expresses it, in bigwrap's own array layouts (images NHWC through DL4J's
 * CNN2DFormat.NHWC, sequences [N, time, size] through RNNFormat.NWC), so the DL4J network takes and returns the
 * arrays the bigwrap model does. Weights go from Keras layouts to DL4J's flat parameter order (docs/dl4j.md).
 */
private[dl4j] object Dl4jLayers {
  /** What one spec layer becomes. */
  sealed trait Converted
  /** A DL4J layer and its parameters in DL4J's flat order. */
  final case class Layer(json: JObject, params: Array[Float]) extends Converted
  /** A ComputationGraph vertex without parameters (MergeVertex, ElementWiseVertex). */
  final case class Vertex(json: JObject) extends Converted
  /** An input preprocessor of the layer that consumes it (a PreprocessorVertex where a vertex does). */
  final case class Preprocessor(json: JObject) extends Converted
  /** The identity (Flatten of flat rows): consumers read the input directly. */
  case object Same extends Converted

  /** A spec layer with its input shapes (without batch) and its weights by name. */
  final case class Call(layer: LayerSpec, inputs: Seq[Seq[Int]], weights: Map[String, (Seq[Int], Array[Float])]) {
    def input: Seq[Int] = inputs.head
    def weight(name: String): Array[Float] = weights.getOrElse(name, refuse(s"has no weight '$name'"))._2
    def has(name: String): Boolean = weights.contains(name)
    def refuse(problem: String): Nothing =
      throw BigwrapException.valueError(s"to_dl4j: layer '${layer.name}' (${layer.className}) $problem")
  }

  private val Layers = "org.deeplearning4j.nn.conf.layers."
  private val Activations = "org.nd4j.linalg.activations.impl.Activation"

  // bigwrap activation name → DL4J's activation class suffix (the importer's table, read the other way).
  private val ActivationClasses = Map("linear" -> "Identity", "relu" -> "ReLU", "sigmoid" -> "Sigmoid",
    "tanh" -> "TanH", "softmax" -> "Softmax", "elu" -> "ELU", "selu" -> "SELU", "softplus" -> "SoftPlus",
    "softsign" -> "SoftSign", "hard_tanh" -> "HardTanH", "relu6" -> "ReLU6", "silu" -> "Swish")

  val supported: Seq[String] = Seq("Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "Flatten",
    "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "BatchNormalization", "Embedding", "LSTM", "PeepholeLSTM",
    "SimpleRNN", "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum")

  def convert(call: Call): Converted = call.layer.className match {
    case "Dense" => dense(call)
    case "Activation" => activationLayer(call, activation(call, call.layer.string("activation")))
    case "ReLU" => activationLayer(call, JObject("@class" -> JString(Activations + "ReLU")))
    case "LeakyReLU" => activationLayer(call, JObject("@class" -> JString(Activations + "LReLU"),
      "alpha" -> JDouble(call.layer.double("negative_slope"))))
    case "ELU" => activationLayer(call, JObject("@class" -> JString(Activations + "ELU"),
      "alpha" -> JDouble(call.layer.double("alpha"))))
    case "Softmax" => activationLayer(call, activation(call, "softmax"))
    case "Dropout" => Layer(layer("DropoutLayer", call, "idropout" -> JObject(
      "@class" -> JString("org.deeplearning4j.nn.conf.dropout.Dropout"), "p" -> JDouble(1.0 - call.layer.double("rate")))),
      Array.empty[Float])
    case "Flatten" => flatten(call)
    case "Conv2D" => Convolutions.conv2d(call)
    case "MaxPooling2D" | "AveragePooling2D" => Convolutions.pooling(call)
    case "GlobalAveragePooling1D" | "GlobalAveragePooling2D" | "GlobalMaxPooling1D" | "GlobalMaxPooling2D" =>
      Convolutions.globalPooling(call)
    case "BatchNormalization" => batchNormalization(call)
    case "Embedding" => Recurrent.embedding(call)
    case "LSTM" | "PeepholeLSTM" | "SimpleRNN" => Recurrent.recurrent(call)
    case "Concatenate" => concatenate(call)
    case "Add" | "Subtract" | "Multiply" | "Average" | "Maximum" => elementwise(call)
    case other => call.refuse(s"has no DL4J counterpart bigwrap can write (to_dl4j writes: ${supported.mkString(", ")})")
  }

  // -- JSON as DL4J's Jackson reads it ---------------------------------------------------------------------------

  /** A layer's JSON with the fields DL4J needs to restore and to go on training it (updater, initialiser). */
  def layer(cls: String, call: Call, fields: (String, JValue)*): JObject = JObject(List[(String, JValue)](
    "@class" -> JString(Layers + cls), "layerName" -> JString(call.layer.name),
    "iupdater" -> JObject("@class" -> JString("org.nd4j.linalg.learning.config.Sgd"), "learningRate" -> JDouble(1e-3)),
    "weightInitFn" -> JObject("@class" -> JString("org.deeplearning4j.nn.weights.WeightInitXavier")),
    "biasInit" -> JDouble(0.0), "gainInit" -> JDouble(1.0), "regularization" -> JArray(Nil),
    "regularizationBias" -> JArray(Nil), "gradientNormalization" -> JString("None"),
    "gradientNormalizationThreshold" -> JDouble(1.0)) ++ fields)

  def activation(call: Call, name: String): JObject = ActivationClasses.get(name) match {
    case Some(cls) => JObject("@class" -> JString(Activations + cls))
    case None => call.refuse(s"uses activation '$name', which DL4J has not in the same form (DL4J's: " +
      s"${ActivationClasses.keys.toSeq.sorted.mkString(", ")})")
  }

  def ints(values: Seq[Int]): JArray = JArray(values.map(v => JInt(v)).toList)

  // -- weights ----------------------------------------------------------------------------------------------------

  /** A row-major (rows, cols) matrix in DL4J's 'f' (column-major) order. */
  def columnMajor(values: Array[Float], rows: Int, cols: Int): Array[Float] = {
    val out = new Array[Float](values.length)
    for (i <- 0 until rows; j <- 0 until cols) out(j * rows + i) = values(i * cols + j)
    out
  }

  // -- layers -----------------------------------------------------------------------------------------------------

  private def dense(call: Call): Converted = {
    if (call.input.size != 1) call.refuse(s"applies to input of shape ${call.input.mkString("(", ", ", ")")}; DL4J's " +
      "DenseLayer takes flat rows (Flatten first, or use it on [N, features])")
    val (nIn, nOut) = (call.input.head, call.layer.int("units"))
    val useBias = call.layer.bool("use_bias")
    val json = layer("DenseLayer", call, "nin" -> JInt(nIn), "nout" -> JInt(nOut), "hasBias" -> JBool(useBias),
      "hasLayerNorm" -> JBool(false), "activationFn" -> activation(call, call.layer.string("activation")))
    Layer(json, columnMajor(call.weight("kernel"), nIn, nOut) ++ (if (useBias) call.weight("bias") else Array.empty[Float]))
  }

  private def activationLayer(call: Call, fn: JObject): Converted = {
    val softmax = fn \ "@class" == JString(Activations + "Softmax")
    if (softmax && call.input.size != 1) call.refuse("applies softmax over the last axis of images or sequences; " +
      "DL4J's ActivationLayer would not (softmax over flat rows only)")
    Layer(JObject(("@class" -> JString(Layers + "ActivationLayer")) :: ("layerName" -> JString(call.layer.name)) ::
      ("activationFn" -> fn) :: Nil), Array.empty)
  }

  private def flatten(call: Call): Converted = call.input match {
    case Seq(_) => Same
    case Seq(h, w, c) => Preprocessor(JObject(
      "@class" -> JString("org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor"),
      "inputHeight" -> JInt(h), "inputWidth" -> JInt(w), "numChannels" -> JInt(c), "format" -> JString("NHWC")))
    case other => call.refuse(s"flattens input of shape ${other.mkString("(", ", ", ")")}; DL4J flattens images " +
      "(CnnToFeedForwardPreProcessor) but has no flatten of sequences")
  }

  private def batchNormalization(call: Call): Converted = {
    val axis = call.layer.int("axis")
    if (axis != -1 && axis != call.input.size) call.refuse(s"normalizes axis $axis; DL4J normalizes the last " +
      "(features or channels) axis only")
    if (call.input.size == 2) call.refuse("normalizes sequences; DL4J's BatchNormalization takes rows or images")
    val (center, scale) = (call.layer.bool("center"), call.layer.bool("scale"))
    if (center != scale) call.refuse("has center != scale; DL4J has both gamma and beta, or neither (lockGammaBeta)")
    val n = call.input.last
    val json = layer("BatchNormalization", call, "nin" -> JInt(n), "nout" -> JInt(n),
      "eps" -> JDouble(call.layer.double("epsilon")), "decay" -> JDouble(call.layer.double("momentum")),
      "useLogStd" -> JBool(true), "lockGammaBeta" -> JBool(!center), "gamma" -> JDouble(1.0), "beta" -> JDouble(0.0),
      "minibatch" -> JBool(true), "cnn2DFormat" -> JString("NHWC"),
      "activationFn" -> JObject("@class" -> JString(Activations + "Identity")))
    val affine = if (center) call.weight("gamma") ++ call.weight("beta") else Array.empty[Float]
    // DL4J's default (useLogStd) stores log10 of the standard deviation; it reads configurations as if it were set.
    val logStd = call.weight("moving_variance").map(v => (0.5 * math.log10(v)).toFloat)
    Layer(json, affine ++ call.weight("moving_mean") ++ logStd)
  }

  private def concatenate(call: Call): Converted = {
    val rank = call.input.size
    val axis = call.layer.int("axis")
    if (axis != -1 && axis != rank) call.refuse(s"concatenates along axis $axis; DL4J's MergeVertex joins the " +
      "features, channels or size axis (the last) only")
    // DL4J's axis of features, channels or size, with the batch axis first: the last of NHWC / NWC arrays.
    Vertex(JObject("@class" -> JString("org.deeplearning4j.nn.conf.graph.MergeVertex"),
      "mergeAxis" -> JInt(rank), "modified" -> JBool(true)))
  }

  private val ElementwiseOps = Map("Add" -> "Add", "Subtract" -> "Subtract", "Multiply" -> "Product",
    "Average" -> "Average", "Maximum" -> "Max")

  private def elementwise(call: Call): Converted = {
    if (call.inputs.distinct.size > 1) call.refuse(s"joins inputs of different shapes " +
      s"${call.inputs.map(_.mkString("(", ", ", ")")).mkString(", ")}; DL4J's ElementWiseVertex does not broadcast")
    Vertex(JObject("@class" -> JString("org.deeplearning4j.nn.conf.graph.ElementWiseVertex"),
      "op" -> JString(ElementwiseOps(call.layer.className))))
  }
}
