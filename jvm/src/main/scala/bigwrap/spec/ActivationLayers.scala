package bigwrap.spec

import com.intel.analytics.bigdl.dllib.nn._
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** Activation layers with arguments (layers/activation.py). */
object ActivationLayers {
  val builders: Map[String, LayerBuilder] = Map(
    "ReLU" -> OneModule(_ => new bigwrap.nn.Relu()),
    "LeakyReLU" -> OneModule(layer => LeakyReLU[Float](layer.double("negative_slope"))),
    "ELU" -> OneModule(layer => ELU[Float](layer.double("alpha"))),
    "Softmax" -> SoftmaxBuilder)
}

case object SoftmaxBuilder extends OneInput {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    plain(in.shape, Activations("softmax", layer.name, in.node, in.shape))
  }
}
