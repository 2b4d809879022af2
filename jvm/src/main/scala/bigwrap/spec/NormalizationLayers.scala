package bigwrap.spec

import bigwrap.nn.{FrozenBatchNorm, LayerNorm}
import com.intel.analytics.bigdl.dllib.nn.{BatchNormalization, SpatialBatchNormalization}
import com.intel.analytics.bigdl.dllib.nn.abstractnn.DataFormat
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** Normalization layers (layers/normalization.py): BatchNormalization is BigDL's, over the channels-last axis;
 * LayerNormalization is ours (BigDL's has a fixed epsilon). */
object NormalizationLayers {
  val builders: Map[String, LayerBuilder] = Map(
    "BatchNormalization" -> BatchNormalizationBuilder, "LayerNormalization" -> LayerNormalizationBuilder)
}

case object BatchNormalizationBuilder extends OneInput with PassesMask {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    val channels = in.shape.last
    val affine = layer.bool("scale")
    // Keras' momentum weighs the old moving statistic; BigDL's (Torch's) weighs the new batch statistic.
    val momentum = 1.0 - layer.double("momentum")
    val eps = layer.double("epsilon")
    if (!layer.trainable) return frozen(layer, in, channels, eps, affine)
    val (bn, node) = if (in.shape.size == 1) {
      val m = BatchNormalization[Float](channels, eps, momentum, affine).setName(layer.name)
      (m, m.inputs(in.node))
    } else {
      // Any channels-last tensor is an NHWC image of (cells, 1, channels) for BigDL's spatial version.
      val m = SpatialBatchNormalization[Float](channels, eps, momentum, affine, dataFormat = DataFormat.NHWC)
        .setName(layer.name)
      val image = if (in.shape.size == 3) in.node else reshape(s"${layer.name}/as_image", Seq(in.shape.init.product, 1, channels), in.node)
      val normed = m.inputs(image)
      (m, if (in.shape.size == 3) normed else reshape(s"${layer.name}/back", in.shape, normed))
    }
    val none = () => Tensor[Float]()
    val stats = Seq(
      new WeightSlot("moving_mean", Seq(channels), () => bn.runningMean, none, trainable = false),
      new WeightSlot("moving_variance", Seq(channels), () => bn.runningVar, none, trainable = false))
    val affineSlots = if (affine) Seq(
      new WeightSlot("gamma", Seq(channels), () => bn.weight, () => bn.gradWeight),
      new WeightSlot("beta", Seq(channels), () => bn.bias, () => bn.gradBias)) else Nil
    BuiltLayer(GraphTensor(node, in.shape), affineSlots ++ stats)
  }

  /** Keras runs a frozen BatchNormalization in inference mode, in training too: its statistics stay put. */
  private def frozen(layer: LayerSpec, in: GraphTensor, channels: Int, eps: Double, affine: Boolean): BuiltLayer = {
    val bn = new FrozenBatchNorm(channels, eps, affine)
    bn.setName(layer.name)
    val none = () => Tensor[Float]()
    val zeros = () => Tensor[Float](channels) // frozen: no gradient reaches gamma and beta
    val slots = (if (affine) Seq(new WeightSlot("gamma", Seq(channels), () => bn.weight, zeros),
      new WeightSlot("beta", Seq(channels), () => bn.bias, zeros)) else Nil) ++ Seq(
      new WeightSlot("moving_mean", Seq(channels), () => bn.runningMean, none, trainable = false),
      new WeightSlot("moving_variance", Seq(channels), () => bn.runningVar, none, trainable = false))
    BuiltLayer(GraphTensor(bn.inputs(in.node), in.shape), slots)
  }
}

case object LayerNormalizationBuilder extends OneInput with PassesMask {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    val size = in.shape.last
    val norm = new LayerNorm(size, layer.double("epsilon"), layer.bool("center"), layer.bool("scale"),
      KernelChoice.inForce.native)
    norm.setName(layer.name)
    val slots = (if (layer.bool("scale")) Seq(new WeightSlot("gamma", Seq(size), () => norm.gamma, () => norm.gradGamma))
    else Nil) ++ (if (layer.bool("center")) Seq(new WeightSlot("beta", Seq(size), () => norm.beta, () => norm.gradBeta))
    else Nil)
    BuiltLayer(GraphTensor(norm.inputs(in.node), in.shape), slots)
  }
}
