package bigwrap.spec

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.dllib.optim.{L1L2Regularizer, Regularizer}
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.json4s._

/**
 * Keras `kernel_regularizer` configs ({"name": "l1l2", "l1": a, "l2": b}) → BigDL regularizers,
 * in one place for every layer builder. Keras adds l1·Σ|w| + l2·Σw² to the loss; BigDL adds
 * l1·sign(w) + l2·w to the gradient, i.e. the derivative of l1·Σ|w| + ½·l2·Σw²: hence 2·l2.
 */
object Regularizers {
  private implicit val formats: Formats = DefaultFormats

  def kernel(layer: LayerSpec): Regularizer[Float] = layer.config \ "kernel_regularizer" match {
    case JNothing | JNull => null // BigDL's "no regularizer"
    case config =>
      val l1 = (config \ "l1").extractOpt[Double].getOrElse(0.0)
      val l2 = (config \ "l2").extractOpt[Double].getOrElse(0.0)
      BigwrapException.require(l1 >= 0 && l2 >= 0,
        s"layer '${layer.name}': kernel_regularizer needs l1, l2 >= 0, got l1=$l1, l2=$l2")
      L1L2Regularizer[Float](l1, 2 * l2)
  }
}
