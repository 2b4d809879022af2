package bigwrap.train

import java.util.concurrent.{LinkedBlockingQueue, TimeUnit, TimeoutException}

import scala.concurrent.Await
import scala.concurrent.duration.Duration
import scala.reflect.ClassTag

import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import org.apache.spark.SparkContext
import org.apache.spark.bigwrap.{RoundKey, RoundObserver}
import org.apache.spark.rdd.RDD

/**
 * The barrier trainer's listener calls, in the order its tasks' sync rounds complete: each iteration's loss,
 * and each epoch's end as soon as its last round completes, while a stage of several epochs still runs. The
 * driver's RPC thread that completes rounds only queues them; the thread that waits for the stage makes the
 * calls, so a slow listener (a TensorBoard upload) never holds the tasks. An epoch's seconds are the driver's
 * wall clock from the previous epoch's end (a retried epoch's include the failed attempts).
 */
private[train] final class TrainingEvents(listener: TrainingListener, model: AbstractModule[Activity, Activity, Float],
    iterations: Int, startEpoch: Int) extends RoundObserver {
  private final case class Round(key: RoundKey, loss: Option[Double], at: Long)
  private val finalRound = SliceExchange.finalRound(iterations)
  private val queue = new LinkedBlockingQueue[Round]()
  /** The stage attempt now running (rounds of an abandoned attempt may still arrive) and its last epoch. */
  private var attempt = 0
  private var stageLast = startEpoch
  /** Epochs the listener has seen end: a retried stage does not report them again. */
  private var reported = startEpoch
  private var epochStarted = System.nanoTime()
  private var lastRound = epochStarted

  def roundComplete(key: RoundKey, lossSum: Double, count: Long): Unit = {
    // gradient rounds carry the iteration's loss; round 0 says hello, the final round ends the epoch
    val loss = if (key.round > 0 && count > 0) Some(lossSum / count) else None
    if (key.round == 0 || loss.isDefined || key.round == finalRound) {
      queue.put(Round(key, loss, System.nanoTime()))
    }
  }

  /**
   * Runs `stage` (attempt `attempt` of epochs up to `last`), making the listener's calls while it runs;
   * returns each task's result, or throws the stage's failure.
   */
  def run[T: ClassTag](sc: SparkContext, stage: RDD[T], attempt: Int, last: Int): Array[T] = {
    this.attempt = attempt
    stageLast = last
    val results = new Array[T](stage.partitions.length)
    // submitted from this thread, so the job carries its local properties (the run, the fit's cancel tag)
    val job = sc.submitJob(stage, (rows: Iterator[T]) => rows.next(), stage.partitions.indices,
      (task: Int, result: T) => results(task) = result, ())
    // woken every 20 ms, not by every round: on a machine the tasks fill, each wake-up delays one of them
    while (!job.isCompleted) {
      try Await.ready(job, Duration(20, TimeUnit.MILLISECONDS)) catch { case _: TimeoutException => }
      handleQueued()
    }
    Await.result(job, Duration.Inf)
    results
  }

  private def handleQueued(): Unit = Iterator.continually(queue.poll()).takeWhile(_ != null).foreach(handle)

  /** The driver's clock when the first epoch not yet reported started. */
  def unreportedSince: Long = epochStarted

  /** After the stage's weights were adopted into `model`: its last epoch ends (its seconds include the hand-back). */
  def stageEnd(): Boolean = epochEnd(stageLast, System.nanoTime())

  private def handle(round: Round): Unit = if (round.key.attempt == attempt) {
    val epoch = round.key.epoch
    if (round.loss.isDefined && epoch > reported) listener.iterationEnd(round.loss.get, (round.at - lastRound) / 1e9)
    if (round.key.round == finalRound && epoch > reported && epoch < stageLast) {
      // the listener needs no weights after this epoch (needsModel): `model` still holds the stage's first
      epochEnd(epoch, round.at)
    }
    lastRound = round.at
  }

  private def epochEnd(epoch: Int, at: Long): Boolean = {
    val continue = listener.epochEnd(epoch, model, (at - epochStarted) / 1e9)
    reported = epoch
    epochStarted = at
    continue
  }
}
