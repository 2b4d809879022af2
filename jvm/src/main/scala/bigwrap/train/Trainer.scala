package bigwrap.train

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractCriterion, AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.optim.OptimMethod

/**
 * What trainers report while they run. The trainer-neutral layer (TrainingControl: progress,
 * validation, history, early stopping, checkpoints, TensorBoard) is built from these events.
 */
trait TrainingListener {
  /**
   * After each global iteration, on the driver: its mean loss and the wall time since the previous call (the
   * barrier trainer may report several iterations at once; the first of them then carries the time).
   */
  def iterationEnd(loss: Double, seconds: Double): Unit

  /**
   * After each epoch (1-based), on the driver, with `model` holding that epoch's final weights and
   * `wallSeconds` the driver's wall clock from the epoch's start to its end (what the history reports:
   * the trainer's whole cost, not only the sum of its iterations). Returning false stops training after it.
   */
  def epochEnd(epoch: Int, model: AbstractModule[Activity, Activity, Float], wallSeconds: Double): Boolean

  /**
   * Whether epochEnd(epoch) reads the model or may stop training. Where it does neither, a trainer may run
   * on past that epoch without handing its weights to the driver, and call epochEnd with a model that holds
   * older weights.
   */
  def needsModel(epoch: Int): Boolean = true

  /** Something the user should know that did not stop training (e.g. an epoch retried after a lost executor). */
  def warn(message: String): Unit = ()

  /** Optional: where an epoch's iteration time went, in mean milliseconds per iteration by phase. */
  def epochPhases(epoch: Int, millisPerIteration: Map[String, Double]): Unit = ()
}

/**
 * Everything a trainer needs; the model is trained in place. Epochs are absolute: a resumed run
 * has done `startEpoch` already and trains epochs startEpoch+1 .. epochs. Trainers apply the
 * gradient clipping and keep `optimizerState` working (resume from `initial`, install `capture`).
 * Once `cancelled()` is true (the user interrupted the fit) a trainer starts no new epoch and
 * retries nothing: it lets the failure of the cancelled Spark job end the training.
 * `frozen` lists (offset, length) ranges of the flat parameter vector that must not change (frozen
 * layers): trainers wrap their optim methods in FrozenWeights.
 */
final case class TrainJob(
    model: AbstractModule[Activity, Activity, Float],
    data: TrainingData,
    criterion: AbstractCriterion[Activity, Activity, Float],
    optimMethod: OptimMethod[Float],
    batchSize: Int,
    epochs: Int,
    seed: Option[Long],
    listener: TrainingListener,
    tasks: Int,
    clipNorm: Option[Double] = None,
    clipValue: Option[Double] = None,
    startEpoch: Int = 0,
    optimizerState: OptimizerStateLink = new OptimizerStateLink(None),
    frozen: Seq[(Int, Int)] = Nil,
    cancelled: () => Boolean = () => false) {
  def checkNotCancelled(): Unit =
    if (cancelled()) throw BigwrapException.keyboardInterrupt("the fit was cancelled by the user")

  /** A method per (offset, length) slice of the flat parameters: its cut of `initial`, its frozen ranges held. */
  def sliceMethods(slices: Seq[(Int, Int)]): Seq[OptimMethod[Float]] =
    optimizerState.initial.map(OptimizerState.split(optimMethod, _, slices))
      .getOrElse(slices.map(_ => optimMethod.clone()))
      .zip(slices).map { case (method, (start, length)) => FrozenWeights.forSlice(method, frozen, start, length) }
}

/** Synchronous data-parallel SGD over a DataFrame's rows. Design §3: all trainers sit behind this. */
trait Trainer {
  def name: String
  def train(job: TrainJob): Unit
}

object Trainers {
  private val all: Seq[Trainer] = Seq(BarrierTrainer, BigDLTrainer)
  /** The trainers' names, the default (bigwrap's barrier trainer) first. */
  val Names: Seq[String] = all.map(_.name)

  def apply(name: String): Trainer = all.find(_.name == name).getOrElse(throw BigwrapException.valueError(
    s"unknown trainer '$name' (available: ${all.map(_.name).mkString(", ")})"))
}
