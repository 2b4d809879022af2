package bigwrap.spec

import bigwrap.api.BigwrapException
import bigwrap.nn.KerasRecurrent
import com.intel.analytics.bigdl.dllib.nn._
import com.intel.analytics.bigdl.dllib.nn.Graph.ModuleNode
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** Recurrent layers and wrappers (layers/recurrent.py): the RNNs run on our KerasRecurrent module. */
object RecurrentLayers {
  val builders: Map[String, LayerBuilder] = Map(
    "SimpleRNN" -> RecurrentBuilder, "LSTM" -> RecurrentBuilder, "PeepholeLSTM" -> RecurrentBuilder,
    "GRU" -> RecurrentBuilder,
    "Bidirectional" -> BidirectionalBuilder, "TimeDistributed" -> TimeDistributedBuilder)

  /** The recurrent module a SimpleRNN/LSTM/GRU spec describes, its output shape, and its Keras weights. */
  def recurrent(layer: LayerSpec, in: GraphTensor, moduleName: String, reverse: Boolean,
      prefix: String, zeroMaskedOutputs: Boolean = false): (KerasRecurrent, Seq[Int], Seq[WeightSlot]) = {
    BigwrapException.require(in.shape.size == 2,
      s"layer '${layer.name}' (${layer.className}) expects input of shape (steps, features), got ${Tensors.shapeString(in.shape)}")
    val units = layer.int("units")
    val useBias = layer.bool("use_bias")
    val goBackwards = layer.bool("go_backwards") != reverse
    val returnSequences = layer.bool("return_sequences")
    val rnn = new KerasRecurrent(layer.className, in.shape(1), units, layer.string("activation"),
      layer.string("recurrent_activation"), useBias, returnSequences, goBackwards, zeroMaskedOutputs)
    rnn.setName(moduleName)
    val slots = Seq(
      new WeightSlot(s"${prefix}kernel", rnn.kernel.size().toSeq, () => rnn.kernel, () => rnn.gradKernel),
      new WeightSlot(s"${prefix}recurrent_kernel", rnn.recurrentKernel.size().toSeq, () => rnn.recurrentKernel,
        () => rnn.gradRecurrentKernel)) ++
      (if (useBias) Seq(new WeightSlot(s"${prefix}bias", rnn.bias.size().toSeq, () => rnn.bias, () => rnn.gradBias)) else Nil) ++
      (if (layer.className != "PeepholeLSTM") Nil else Seq("input", "forget", "output").zipWithIndex.map { case (gate, row) =>
        new WeightSlot(s"$prefix${gate}_gate_peephole_weights", Seq(units), () => rnn.peepholes.select(1, row + 1),
          () => rnn.gradPeepholes.select(1, row + 1))
      })
    (rnn, if (returnSequences) Seq(in.shape(0), units) else Seq(units), slots)
  }

  /** What a recurrent module takes: the sequence, and its mask when it has one (masked steps are skipped). */
  def sources(in: GraphTensor): Seq[ModuleNode[Float]] = in.node +: in.mask.map(_.node).toSeq
}

case object RecurrentBuilder extends OneInput {
  override def consumesMask: Boolean = true
  override def outputMask(layer: LayerSpec, call: LayerCall): Option[Mask] =
    if (layer.bool("return_sequences")) Masks.first(call) else None

  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    val (rnn, shape, slots) = RecurrentLayers.recurrent(layer, in, layer.name, reverse = false, prefix = "")
    BuiltLayer(GraphTensor(rnn.inputs(RecurrentLayers.sources(in): _*), shape), slots)
  }
}

case object BidirectionalBuilder extends OneInput {
  override def consumesMask: Boolean = true
  override def outputMask(layer: LayerSpec, call: LayerCall): Option[Mask] =
    if (LayerBuilders.nested(layer, "layer").bool("return_sequences")) Masks.first(call) else None

  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    val inner = LayerBuilders.nested(layer, "layer")
    // Keras' Bidirectional outputs zeros at masked steps of its sequences.
    val zeros = inner.bool("return_sequences")
    val (forward, shape, forwardSlots) = RecurrentLayers.recurrent(inner, in, s"${layer.name}/forward", reverse = false,
      "forward_", zeros)
    val (backward, _, backwardSlots) = RecurrentLayers.recurrent(inner, in, s"${layer.name}/backward", reverse = true,
      "backward_", zeros)
    val backwardNode = backward.inputs(RecurrentLayers.sources(in): _*)
    // Like Keras, the backward sequence is turned back into input order before merging.
    val aligned: ModuleNode[Float] = if (shape.size == 2) Reverse[Float](2).setName(s"${layer.name}/realign").inputs(backwardNode)
    else backwardNode
    val both = Seq(forward.inputs(RecurrentLayers.sources(in): _*), aligned)
    val (merged, outShape) = layer.string("merge_mode") match {
      case "concat" => (JoinTable[Float](shape.size, shape.size), shape.updated(shape.size - 1, 2 * shape.last))
      case "sum" => (CAddTable[Float](), shape)
      case "mul" => (CMulTable[Float](), shape)
      case "ave" => (CAveTable[Float](), shape)
      case other => throw BigwrapException.valueError(s"layer '${layer.name}' (Bidirectional): unknown merge_mode '$other'")
    }
    BuiltLayer(GraphTensor(merged.setName(layer.name).inputs(both: _*), outShape), forwardSlots ++ backwardSlots)
  }
}

case object TimeDistributedBuilder extends OneInput with PassesMask {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    BigwrapException.require(in.shape.size >= 2,
      s"layer '${layer.name}' (TimeDistributed) expects input of shape (steps, ...), got ${Tensors.shapeString(in.shape)}")
    val inner = LayerBuilders.nested(layer, "layer")
    // Steps fold into the batch, the wrapped layer runs once, and the steps unfold again.
    val folded = InferReshape[Float]((-1 +: in.shape.tail).toArray).setName(s"${layer.name}/fold").inputs(in.node)
    val built = LayerBuilders(inner).build(inner, Seq(GraphTensor(folded, in.shape.tail)))
    val shape = in.shape.head +: built.output.shape
    BuiltLayer(GraphTensor(reshape(s"${layer.name}/unfold", shape, built.output.node), shape), built.weights)
  }
}
