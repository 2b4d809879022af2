package bigwrap.spec

import bigwrap.nn.StepMask
import com.intel.analytics.bigdl.dllib.nn.CMulTable
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * Keras' mask propagation, in one place (docs/spec.md, "Masks"): which layers make a mask, which pass their
 * input's mask on, and which consume it. A mask is never in the spec: it follows from the graph, as in Keras.
 */
object Masks {
  /** Layers that skip masked steps (their builders read their inputs' masks). */
  val consumers: Set[String] = Set("MultiHeadAttention", "TransformerEncoder", "GlobalAveragePooling1D",
    "SimpleRNN", "LSTM", "PeepholeLSTM", "GRU", "Bidirectional")

  /** Keras' supports_masking layers that keep the steps axis: their output has their (first) input's mask. */
  private val passThrough: Set[String] = Set("Dense", "Activation", "Dropout", "ReLU", "LeakyReLU", "ELU",
    "LayerNormalization", "BatchNormalization", "TimeDistributed", "TransformerEncoder", "Masking")

  private val recurrent = Set("SimpleRNN", "LSTM", "PeepholeLSTM", "GRU")

  /** The mask of the output of `layer`'s call. */
  def output(layer: LayerSpec, call: LayerCall): Option[Mask] = {
    def first = call.inputs.headOption.flatMap(_.mask)
    layer.className match {
      case "Embedding" if layer.has("mask_zero") && layer.bool("mask_zero") => Some(of(layer, call.inputs.head, 0f))
      case "Masking" => Some(of(layer, call.inputs.head, layer.double("mask_value").toFloat))
      case merge if MergeLayers.builders.contains(merge) => all(layer.name, call.inputs.flatMap(_.mask))
      case "MultiHeadAttention" => call.named("query").getOrElse(call.inputs.head).mask
      case kind if recurrent(kind) => if (layer.bool("return_sequences")) first else None
      case "Bidirectional" => if (LayerBuilders.nested(layer, "layer").bool("return_sequences")) first else None
      case kind if passThrough(kind) => first
      case _ => None
    }
  }

  /** 1 where the steps of `in` hold something other than `value` (all features, for rank > 1). */
  private def of(layer: LayerSpec, in: GraphTensor, value: Float): Mask =
    new Mask(() => new StepMask(value).setName(s"${layer.name}/mask").inputs(in.node))

  /** The logical AND of masks (Keras' merge layers), None when there are none. */
  def all(name: String, masks: Seq[Mask]): Option[Mask] = masks match {
    case Seq() => None
    case Seq(one) => Some(one)
    case many => Some(new Mask(() => CMulTable[Float]().setName(s"$name/mask").inputs(many.map(_.node): _*)))
  }
}
