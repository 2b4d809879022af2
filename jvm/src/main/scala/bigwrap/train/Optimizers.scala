package bigwrap.train

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.dllib.optim.{Adam, OptimMethod, SGD}
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.json4s._

/** Keras-style optimizer configs → BigDL optim methods. */
object Optimizers {
  private implicit val formats: Formats = DefaultFormats

  def apply(config: JValue): OptimMethod[Float] = {
    def number(key: String, default: Double): Double = (config \ key).extractOpt[Double].getOrElse(default)
    val learningRate = number("learning_rate", Double.NaN)
    BigwrapException.require(learningRate > 0, s"optimizer learning_rate must be positive, got $learningRate")
    (config \ "name").extractOpt[String].getOrElse("") match {
      case "sgd" =>
        val momentum = number("momentum", 0.0)
        // dampening 0 gives the Keras/PyTorch momentum rule; BigDL's default dampens by `momentum`.
        new SGD[Float](learningRate = learningRate, momentum = momentum, dampening = 0.0,
          nesterov = (config \ "nesterov").extractOpt[Boolean].getOrElse(false))
      case "adam" =>
        new Adam[Float](learningRate = learningRate, beta1 = number("beta_1", 0.9),
          beta2 = number("beta_2", 0.999), Epsilon = number("epsilon", 1e-7))
      case other => throw BigwrapException.valueError(s"unknown optimizer '$other' (known: sgd, adam)")
    }
  }
}
