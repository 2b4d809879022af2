package bigwrap.train

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.bigwrapaccess.OptimizerAccess
import com.intel.analytics.bigdl.dllib.optim.OptimMethod
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import org.json4s._

/**
 * A learning rate as a function of the global iteration (0-based) and of the mean training loss
 * of finished epochs (for reduce-on-plateau). Pure, so every parameter shard computes the same rate.
 */
sealed trait Schedule extends Serializable {
  def initialRate: Double
  def isConstant: Boolean = false
  def rate(iteration: Int): Double
}

final case class Constant(initialRate: Double) extends Schedule {
  override def isConstant: Boolean = true
  def rate(iteration: Int): Double = initialRate
}

final case class StepDecay(initialRate: Double, stepSize: Int, gamma: Double) extends Schedule {
  def rate(iteration: Int): Double = initialRate * math.pow(gamma, iteration / stepSize)
}

final case class ExponentialDecay(initialRate: Double, decaySteps: Int, decayRate: Double, staircase: Boolean)
  extends Schedule {
  def rate(iteration: Int): Double = {
    val p = iteration.toDouble / decaySteps
    initialRate * math.pow(decayRate, if (staircase) math.floor(p) else p)
  }
}

final case class CosineDecay(initialRate: Double, decaySteps: Int, alpha: Double) extends Schedule {
  def rate(iteration: Int): Double = {
    val p = math.min(iteration, decaySteps).toDouble / decaySteps
    initialRate * ((1 - alpha) * 0.5 * (1 + math.cos(math.Pi * p)) + alpha)
  }
}

/** Ramps linearly up to the inner schedule's rate over `warmupSteps`, then follows it (shifted). */
final case class LinearWarmup(inner: Schedule, warmupSteps: Int) extends Schedule {
  def initialRate: Double = inner.initialRate
  def rate(iteration: Int): Double =
    if (iteration < warmupSteps) inner.rate(0) * (iteration + 1) / warmupSteps else inner.rate(iteration - warmupSteps)
}

/** Multiplies the rate by `factor` when the epoch's mean training loss stops improving. */
final case class ReduceOnPlateau(initialRate: Double, factor: Double, patience: Int, minDelta: Double, minRate: Double)
  extends Schedule {
  def rate(iteration: Int): Double = initialRate // the wrapper applies the plateau factor per epoch
}

object Schedules {
  private implicit val formats: Formats = DefaultFormats

  def apply(config: JValue): Schedule = config match {
    case number @ (JDouble(_) | JInt(_) | JDecimal(_)) => Constant(number.extract[Double])
    case obj: JObject =>
      def number(key: String): Double = (obj \ key).extractOpt[Double].getOrElse(
        throw BigwrapException.valueError(s"learning-rate schedule ${compactName(obj)} needs `$key`"))
      def int(key: String): Int = {
        val v = number(key).toInt
        BigwrapException.require(v > 0, s"learning-rate schedule ${compactName(obj)}: `$key` must be positive")
        v
      }
      (obj \ "name").extractOpt[String].getOrElse("") match {
        case "step" => StepDecay(number("initial_learning_rate"), int("step_size"), number("gamma"))
        case "exponential" => ExponentialDecay(number("initial_learning_rate"), int("decay_steps"),
          number("decay_rate"), (obj \ "staircase").extractOpt[Boolean].getOrElse(false))
        case "cosine" => CosineDecay(number("initial_learning_rate"), int("decay_steps"), number("alpha"))
        case "linear_warmup" => LinearWarmup(apply(obj \ "schedule"), int("warmup_steps"))
        case "reduce_on_plateau" => ReduceOnPlateau(number("initial_learning_rate"), number("factor"),
          number("patience").toInt, number("min_delta"), number("min_learning_rate"))
        case other => throw BigwrapException.valueError(s"unknown learning-rate schedule '$other' " +
          "(known: step, exponential, cosine, linear_warmup, reduce_on_plateau)")
      }
    case other => throw BigwrapException.valueError(s"learning_rate must be a number or a schedule, got $other")
  }

  private def compactName(obj: JObject): String = (obj \ "name").extractOpt[String].getOrElse("?")
}

/**
 * Any optim method with a schedule. Trainers keep "neval" (the 1-based global iteration) and
 * "epoch" in the method's state, as BigDL's DistriOptimizer does; the rate is set before each
 * step. For reduce-on-plateau the epoch's mean loss is accumulated from the losses the trainer
 * passes to `feval`, which are the same on every parameter shard, so all shards agree.
 */
final class Scheduled(val inner: OptimMethod[Float], val schedule: Schedule) extends Delegating {
  private var plateauFactor = 1.0
  private var plateauBest = Double.PositiveInfinity
  private var plateauWait = 0
  private var epochSeen = -1
  private var epochLossSum = 0.0
  private var epochLossCount = 0

  def currentRate(iteration: Int): Double = schedule match {
    case p: ReduceOnPlateau => math.max(p.initialRate * plateauFactor, p.minRate)
    case s => s.rate(iteration)
  }

  private def endEpoch(p: ReduceOnPlateau): Unit = if (epochLossCount > 0) {
    val mean = epochLossSum / epochLossCount
    if (mean < plateauBest - p.minDelta) { plateauBest = mean; plateauWait = 0 }
    else {
      plateauWait += 1
      if (plateauWait > p.patience) { plateauFactor *= p.factor; plateauWait = 0 }
    }
  }

  override def optimize(feval: Tensor[Float] => (Float, Tensor[Float]),
      parameter: Tensor[Float]): (Tensor[Float], Array[Float]) = {
    val (loss, gradient) = feval(parameter)
    beforeStep(loss)
    inner.optimize(_ => (loss, gradient), parameter)
  }

  /** Before each step of `inner` (with the step's loss): the plateau bookkeeping, then the step's rate. */
  def beforeStep(loss: Float): Unit = {
    val epoch = OptimizerAccess.state(this).getOrElse[Int]("epoch", 1)
    schedule match {
      case p: ReduceOnPlateau if epoch != epochSeen =>
        if (epochSeen >= 0) endEpoch(p)
        epochSeen = epoch
        epochLossSum = 0.0
        epochLossCount = 0
      case _ =>
    }
    Optimizers.setLearningRate(inner, currentRate(OptimizerAccess.state(this).getOrElse[Int]("neval", 1) - 1))
    epochLossSum += loss
    epochLossCount += 1
  }

  override def getLearningRate(): Double = currentRate(OptimizerAccess.state(this).getOrElse[Int]("neval", 1) - 1)

  /** The plateau bookkeeping, saved with the optimizer state so a resumed run continues it. */
  def scalars: Map[String, Double] = Map("plateau_factor" -> plateauFactor, "plateau_best" -> plateauBest,
    "plateau_wait" -> plateauWait.toDouble, "plateau_epoch" -> epochSeen.toDouble,
    "plateau_loss_sum" -> epochLossSum, "plateau_loss_count" -> epochLossCount.toDouble)

  def restoreScalars(values: Map[String, Double]): Unit = {
    values.get("plateau_factor").foreach(plateauFactor = _)
    values.get("plateau_best").foreach(plateauBest = _)
    values.get("plateau_wait").foreach(v => plateauWait = v.toInt)
    values.get("plateau_epoch").foreach(v => epochSeen = v.toInt)
    values.get("plateau_loss_sum").foreach(epochLossSum = _)
    values.get("plateau_loss_count").foreach(v => epochLossCount = v.toInt)
  }
}
