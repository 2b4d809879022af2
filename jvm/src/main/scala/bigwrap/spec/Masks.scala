package bigwrap.spec

import bigwrap.nn.StepMask
import com.intel.analytics.bigdl.dllib.nn.CMulTable
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * Keras' mask propagation (docs/spec.md, "Masks"): each layer's builder says whether it makes a mask, passes its
 * input's mask on (`PassesMask`) or consumes it (`consumesMask`). A mask is never in the spec: it follows from the
 * graph, as in Keras.
 */
object Masks {
  /** The mask of the call's first input. */
  def first(call: LayerCall): Option[Mask] = call.inputs.headOption.flatMap(_.mask)

  /** 1 where the steps of `in` hold something other than `value` (all features, for rank > 1). */
  def of(layer: LayerSpec, in: GraphTensor, value: Float): Mask =
    new Mask(() => new StepMask(value).setName(s"${layer.name}/mask").inputs(in.node))

  /** The logical AND of masks (Keras' merge layers), None when there are none. */
  def all(name: String, masks: Seq[Mask]): Option[Mask] = masks match {
    case Seq() => None
    case Seq(one) => Some(one)
    case many => Some(new Mask(() => CMulTable[Float]().setName(s"$name/mask").inputs(many.map(_.node): _*)))
  }
}
