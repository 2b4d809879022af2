package bigwrap.spec

import bigwrap.api.BigwrapException
import bigwrap.nn.{FusedActivation, MaskSteps, NativeLinear}
import com.intel.analytics.bigdl.dllib.nn._
import com.intel.analytics.bigdl.dllib.optim.Regularizer
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** Core layers (layers/core.py). Shapes stay channels-last throughout. */
object CoreLayers {
  val builders: Map[String, LayerBuilder] = Map(
    "Dense" -> DenseBuilder, "Activation" -> ActivationBuilder, "Dropout" -> OneModule(dropout), "Masking" -> MaskingBuilder,
    "Flatten" -> FlattenBuilder, "Reshape" -> ReshapeBuilder, "Permute" -> PermuteBuilder,
    "RepeatVector" -> RepeatVectorBuilder)

  private def dropout(layer: LayerSpec) = {
    val rate = layer.double("rate")
    BigwrapException.require(rate >= 0 && rate < 1, s"layer '${layer.name}' (Dropout): rate must be in [0, 1), got $rate")
    Dropout[Float](initP = rate)
  }
}

case object DenseBuilder extends OneInput with PassesMask {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    val units = layer.int("units")
    val (out, slots) = dense(layer.name, in, units, layer.bool("use_bias"),
      layer.optString("activation").getOrElse("linear"), Regularizers.kernel(layer), Seq(in.shape.last, units), "")
    BuiltLayer(out, slots)
  }

  /**
   * `activation(x · kernel + bias)` over the last axis of `in`, of any rank (the other axes fold into the
   * batch), named `name`; its weight slots `{prefix}kernel` of Keras shape `kernelShape` (in, units) up to a
   * reshape, e.g. MultiHeadAttention's (in, heads, dim), and `{prefix}bias` (units,).
   */
  def dense(name: String, in: GraphTensor, units: Int, useBias: Boolean, activation: String,
      regularizer: Regularizer[Float], kernelShape: Seq[Int], prefix: String,
      biasShape: Option[Seq[Int]] = None): (GraphTensor, Seq[WeightSlot]) = {
    val features = in.shape.last
    val kernels = KernelChoice.inForce
    // Native kernels fuse the activations they know; any other follows as a module of its own.
    val fused = if (kernels.native) FusedActivation.named(activation) else None
    val linear = (if (kernels.native) {
      new NativeLinear(features, units, useBias, fused.getOrElse(FusedActivation.Linear), kernels.bf16, regularizer)
    } else {
      Linear[Float](features, units, withBias = useBias, wRegularizer = regularizer)
    }).setName(name)
    val rows = if (in.shape.size == 1) in.node else InferReshape[Float](Array(-1, features)).setName(s"$name/rows").inputs(in.node)
    val applied = if (fused.isDefined) linear.inputs(rows) else Activations(activation, name, linear.inputs(rows), Seq(units))
    val shape = in.shape.init :+ units
    val out = if (in.shape.size == 1) applied else reshape(s"$name/steps", shape, applied)
    val kernel = new WeightSlot(s"${prefix}kernel", kernelShape, () => linear.weight, () => linear.gradWeight, _.t())
    val bias = new WeightSlot(s"${prefix}bias", biasShape.getOrElse(Seq(units)), () => linear.bias, () => linear.gradBias)
    (GraphTensor(out, shape), if (useBias) Seq(kernel, bias) else Seq(kernel))
  }
}

case object MaskingBuilder extends OneInput {
  override def outputMask(layer: LayerSpec, call: LayerCall): Option[Mask] =
    Some(Masks.of(layer, call.inputs.head, layer.double("mask_value").toFloat))

  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    plain(in.shape, new MaskSteps(layer.double("mask_value").toFloat).setName(layer.name).inputs(in.node))
  }
}

case object ActivationBuilder extends OneInput with PassesMask {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    val name = layer.string("activation")
    val node = if (name == "linear") Identity[Float]().setName(layer.name).inputs(in.node)
    else Activations(name, layer.name, in.node, in.shape)
    plain(in.shape, node)
  }
}

case object FlattenBuilder extends OneInput {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    // Inputs are channels-last already, so row-major flattening is Keras' order.
    plain(Seq(in.shape.product), reshape(layer.name, Seq(in.shape.product), in.node))
  }
}

case object ReshapeBuilder extends OneInput {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    val target = layer.ints("target_shape")
    val known = target.filter(_ != -1).product
    val shape = target.map(d => if (d == -1) in.shape.product / known else d)
    BigwrapException.require(shape.product == in.shape.product,
      s"layer '${layer.name}' (Reshape) cannot reshape ${Tensors.shapeString(in.shape)} to ${Tensors.shapeString(target)}")
    plain(shape, reshape(layer.name, shape, in.node))
  }
}

case object PermuteBuilder extends OneInput {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    val dims = layer.ints("dims")
    BigwrapException.require(dims.sorted == (1 to in.shape.size),
      s"layer '${layer.name}' (Permute): dims ${dims.mkString("(", ", ", ")")} do not permute ${Tensors.shapeString(in.shape)}")
    // BigDL's Transpose applies swaps in order: turn the permutation into swaps (axis 1 is the batch).
    val current = (1 to in.shape.size).toArray
    val swaps = dims.indices.flatMap { i =>
      val j = current.indexOf(dims(i))
      if (j == i) None else {
        val t = current(i); current(i) = current(j); current(j) = t
        Some((i + 2, j + 2))
      }
    }
    val node = if (swaps.isEmpty) Identity[Float]().setName(layer.name).inputs(in.node) else {
      val t = Transpose[Float](swaps.toArray).setName(s"${layer.name}/transpose").inputs(in.node)
      Contiguous[Float]().setName(layer.name).inputs(t)
    }
    plain(dims.map(d => in.shape(d - 1)), node)
  }
}

case object RepeatVectorBuilder extends OneInput {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    requireRank(layer, in, 1, "(features,)")
    val n = layer.int("n")
    val repeated = Replicate[Float](n, 1, 1).setName(s"${layer.name}/replicate").inputs(in.node)
    plain(Seq(n, in.shape.head), Contiguous[Float]().setName(layer.name).inputs(repeated))
  }
}
