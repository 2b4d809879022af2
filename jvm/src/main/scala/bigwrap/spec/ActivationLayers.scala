package bigwrap.spec

import com.intel.analytics.bigdl.dllib.nn._
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** Activation layers with arguments (layers/activation.py). */
object ActivationLayers {
  val builders: Map[String, LayerBuilder] = Map(
    "ReLU" -> ReLUBuilder, "LeakyReLU" -> LeakyReLUBuilder, "ELU" -> ELUBuilder, "Softmax" -> SoftmaxBuilder)
}

case object ReLUBuilder extends PassesMask {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val in = single(layer, inputs)
    plain(in.shape, new bigwrap.nn.Relu().setName(layer.name).inputs(in.node))
  }
}

case object LeakyReLUBuilder extends PassesMask {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val in = single(layer, inputs)
    plain(in.shape, LeakyReLU[Float](layer.double("negative_slope")).setName(layer.name).inputs(in.node))
  }
}

case object ELUBuilder extends PassesMask {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val in = single(layer, inputs)
    plain(in.shape, ELU[Float](layer.double("alpha")).setName(layer.name).inputs(in.node))
  }
}

case object SoftmaxBuilder extends LayerBuilder {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val in = single(layer, inputs)
    plain(in.shape, Activations("softmax", layer.name, in.node, in.shape))
  }
}
