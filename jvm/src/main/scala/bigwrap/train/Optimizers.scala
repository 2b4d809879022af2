package bigwrap.train

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.dllib.optim.{Adagrad, Adam, OptimMethod, RMSprop, SGD}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.utils.Table
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.json4s._

/**
 * Keras-style optimizer configs → optim methods. BigDL's methods are used as they are, AdamW is
 * ours (BigDL has none), and a learning-rate schedule wraps any of them (see Scheduled).
 */
object Optimizers {
  private implicit val formats: Formats = DefaultFormats
  val names: Seq[String] = Seq("sgd", "adam", "adamw", "rmsprop", "adagrad")

  def apply(config: JValue): OptimMethod[Float] = {
    def number(key: String, default: Double): Double = (config \ key).extractOpt[Double].getOrElse(default)
    val schedule = Schedules(config \ "learning_rate")
    val learningRate = schedule.initialRate
    BigwrapException.require(learningRate > 0, s"optimizer learning_rate must be positive, got $learningRate")
    val method: OptimMethod[Float] = (config \ "name").extractOpt[String].getOrElse("") match {
      case "sgd" =>
        // dampening 0 gives the Keras/PyTorch momentum rule; BigDL's default dampens by `momentum`.
        new SGD[Float](learningRate = learningRate, momentum = number("momentum", 0.0), dampening = 0.0,
          nesterov = (config \ "nesterov").extractOpt[Boolean].getOrElse(false),
          weightDecay = number("weight_decay", 0.0))
      case "adam" =>
        new Adam[Float](learningRate = learningRate, beta1 = number("beta_1", 0.9),
          beta2 = number("beta_2", 0.999), Epsilon = number("epsilon", 1e-7))
      case "adamw" =>
        new AdamW(learningRate, number("beta_1", 0.9), number("beta_2", 0.999), number("epsilon", 1e-7),
          number("weight_decay", 0.004))
      case "rmsprop" =>
        new RMSprop[Float](learningRate = learningRate, decayRate = number("rho", 0.9),
          Epsilon = number("epsilon", 1e-7))
      case "adagrad" =>
        new Adagrad[Float](learningRate = learningRate)
      case other => throw BigwrapException.valueError(s"unknown optimizer '$other' (known: ${names.mkString(", ")})")
    }
    if (schedule.isConstant) method else new Scheduled(method, schedule)
  }

  /** Sets the learning rate of one of the methods `apply` builds (each keeps it in a `var`). */
  def setLearningRate(method: OptimMethod[Float], rate: Double): Unit = method match {
    case m: SGD[Float] => m.learningRate = rate
    case m: Adam[Float] => m.learningRate = rate
    case m: RMSprop[Float] => m.learningRate = rate
    case m: Adagrad[Float] => m.learningRate = rate
    case m: AdamW => m.inner.learningRate = rate
    case other => throw BigwrapException.valueError(s"cannot schedule the learning rate of ${other.getClass.getName}")
  }
}

/** An optim method that runs another one; its state (history, counters) lives in `inner`'s table. */
trait Delegating extends OptimMethod[Float] {
  def inner: OptimMethod[Float]

  override def clearHistory(): Unit = inner.clearHistory()
  override def getLearningRate(): Double = inner.getLearningRate()
  override def loadFromTable(config: Table): this.type = { inner.loadFromTable(config); this }
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter): w ← w − lr·wd·w, then Adam's step.
 * BigDL 2.4 has no AdamW; this runs BigDL's Adam (composition, not inheritance: overriding a
 * @specialized method of Adam recurses forever through its specialized variant).
 */
final class AdamW(lr: Double, beta1: Double, beta2: Double, epsilon: Double, val weightDecay: Double)
  extends Delegating {
  val inner: Adam[Float] = new Adam[Float](learningRate = lr, beta1 = beta1, beta2 = beta2, Epsilon = epsilon)

  override def optimize(feval: Tensor[Float] => (Float, Tensor[Float]),
      parameter: Tensor[Float]): (Tensor[Float], Array[Float]) = {
    if (weightDecay > 0) parameter.mul((1.0 - inner.learningRate * weightDecay).toFloat)
    inner.optimize(feval, parameter)
  }

  override def getLearningRate(): Double = inner.learningRate
}
