package bigwrap.train

import java.util.UUID

import bigwrap.api.BigwrapException
import bigwrap.nn.{GradientReset, NativeKernels}
import bigwrap.spec.Tensors
import com.intel.analytics.bigdl.bigwrapaccess.{BigDLAccess, OptimizerAccess}
import com.intel.analytics.bigdl.mkl.MKL
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractCriterion, AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.optim.OptimMethod
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import com.intel.analytics.bigdl.dllib.utils.RandomGenerator
import org.apache.spark.{BarrierTaskContext, Success, TaskKilledException}
import org.apache.spark.scheduler.{SparkListener, SparkListenerJobStart, SparkListenerTaskEnd}
import org.apache.spark.bigwrap.{RoundKey, SyncService}

/** What every task of one barrier stage starts from: the stage's epochs start at `first` (StageRows holds them). */
private final case class StageStart(
    run: String,
    first: Int,
    iterations: Int,
    batchSize: Int,
    tasks: Int,
    attempt: Int,
    mklThreads: Int,
    seed: Long,
    feeding: BarrierFeeding,
    model: AbstractModule[Activity, Activity, Float],
    criterion: AbstractCriterion[Activity, Activity, Float],
    optimMethods: Array[OptimMethod[Float]])

/** What a task hands back at the end of a stage; `phaseNanos` has one entry per epoch of the stage. */
private final case class StageEnd(task: Int, optimMethod: OptimMethod[Float], weights: Array[Float],
    extraParameters: Array[Array[Float]], phaseNanos: Seq[Map[String, Long]])

/**
 * Synchronous data-parallel SGD in barrier stages of one or more epochs. Each task streams its share of the
 * stored rows (BarrierData) and owns a slice of the flat parameter vector (as BigDL's AllReduceParameter does). Per
 * iteration: gradients are reduce-scattered and updated weight slices all-gathered (SliceExchange: in
 * memory within an executor, block-manager blocks between executors), in place of BigDL's per-iteration
 * Spark job. The driver reports each epoch live from the tasks' sync rounds (TrainingEvents).
 */
object BarrierTrainer extends Trainer {
  val name = "barrier"

  def train(job: TrainJob): Unit = {
    BigwrapException.require(job.clipNorm.isEmpty, "clipnorm is not supported by trainer='barrier' yet; use " +
      "trainer='bigdl' or clipvalue")
    val tasks = job.tasks
    val seed = job.seed.getOrElse(System.nanoTime())
    val stored = job.data.store(tasks * 2, job.listener.warn)
    val feeding = BarrierData.plan(stored, tasks, job.batchSize, seed)
    val iterations = feeding.iterations
    // Each executor's cores are shared by its tasks; more MKL threads than that only oversubscribe.
    val mklThreads = math.max(1, BigDLAccess.coreNumber * BigDLAccess.nodeNumber / tasks)
    val run = UUID.randomUUID().toString
    val sc = job.data.sparkContext
    val events = new TrainingEvents(job.listener, job.model, iterations, job.startEpoch)
    SyncService.register(run, tasks, events)
    val failures = new FailureWatch(run)
    sc.addSparkListener(failures)
    // Task t owns slice t of sliceBounds (see runTask),
    // and its optim method holds that slice's history: joined, they are the trainer-neutral optimizer state.
    val size = BigDLAccess.flatParameters(job.model)._1.nElement()
    val bounds = sliceBounds(size, tasks)
    val slices = (0 until tasks).map(t => (bounds(t), bounds(t + 1) - bounds(t)))
    var optimMethods = job.sliceMethods(slices).toArray
    job.optimizerState.capture = () => Some(OptimizerState.join(optimMethods, size))
    try {
      var first = job.startEpoch + 1
      var epochSeconds = Option.empty[Double] // unknown until the first stage (one epoch) has run
      var attempt = 0
      var continue = true
      while (continue && first <= job.epochs) {
        job.checkNotCancelled()
        val last = lastEpochOfStage(job, first, epochSeconds) // a retry replays the same epochs
        if (attempt > 0) stored.restore()
        val start = sc.broadcast(StageStart(run, first, iterations, job.batchSize, tasks, attempt, mklThreads,
          seed, feeding, job.model, job.criterion, optimMethods))
        sc.setLocalProperty(RunProperty, run)
        val callSite = sc.getLocalProperty(CallSiteProperty)
        sc.setCallSite(s"bigwrap barrier trainer: ${epochNames(first, last)}") // names the stage in the Spark UI
        val clipValue = job.clipValue
        val stageStarted = events.unreportedSince
        val outcome = try {
          val stage = new StageRows(stored.chunks, feeding, first to last).barrier().mapPartitions(epochs =>
            Iterator.single(BarrierTrainer.runTask(start.value, epochs, clipValue)))
          Right(events.run(sc, stage, attempt, last).sortBy(_.task))
        } catch {
          case failure: Exception if !isUserError(failure) && attempt < MaxStageAttempts - 1 && !job.cancelled() =>
            Left(failure)
        } finally {
          sc.setLocalProperty(RunProperty, null)
          sc.setLocalProperty(CallSiteProperty, callSite)
          start.destroy()
        }
        outcome match {
          case Left(failure) =>
            attempt += 1
            job.listener.warn(s"${epochNames(first, last)} failed (${rootMessage(failure)}); retrying " +
              s"${if (first == last) "it" else "them"} from the weights the driver holds (attempt ${attempt + 1} of " +
              s"$MaxStageAttempts)")
          case Right(ends) =>
            adopt(job.model, ends)
            optimMethods = ends.map(_.optimMethod)
            (first to last).zipWithIndex.foreach { case (epoch, k) =>
              job.listener.epochPhases(epoch, ends.head.phaseNanos(k).keys.map { phase =>
                phase -> ends.map(_.phaseNanos(k)(phase)).sum / 1e6 / ends.length / iterations
              }.toMap)
            }
            continue = events.stageEnd()
            epochSeconds = Some((System.nanoTime() - stageStarted) / 1e9 / (last - first + 1))
            first = last + 1
            attempt = 0
        }
      }
    } finally {
      job.optimizerState.capture = () => None
      sc.removeSparkListener(failures)
      SyncService.unregister(run)
      stored.release()
    }
  }

  /**
   * A stage trains several epochs while the listener needs no weights between them (no validation, early
   * stopping or checkpoint there): Spark's cost per stage (~0.1 s: launch, broadcast, the tasks' model copies,
   * the hand-back) is then paid once per ~StageSeconds of training, not every epoch. A failure costs at most
   * the stage in progress. The first stage runs one epoch, which measures an epoch.
   */
  private val StageSeconds = 10.0

  private def lastEpochOfStage(job: TrainJob, first: Int, epochSeconds: Option[Double]): Int = {
    val wanted = epochSeconds.map(s => math.max(1, (StageSeconds / math.max(s, 1e-3)).toInt)).getOrElse(1)
    val cap = math.min(job.epochs, first + wanted - 1)
    (first until cap).find(job.listener.needsModel).getOrElse(cap)
  }

  private def epochNames(first: Int, last: Int): String = if (first == last) s"epoch $first" else s"epochs $first–$last"

  /**
   * Spark does not retry a failed barrier result stage, so the trainer does: a lost executor or task
   * costs the stage in progress, bounded by this many attempts. Data errors are not retried.
   */
  private val MaxStageAttempts = 3
  private val CallSiteProperty = "callSite.short"
  /** The local property that marks the jobs of a run, for its FailureWatch. */
  private val RunProperty = "bigwrap.barrier.run"

  private def causes(t: Throwable): List[Throwable] = Iterator.iterate(t)(_.getCause).takeWhile(_ != null).take(20).toList

  private def isUserError(t: Throwable): Boolean =
    BigwrapException.userFacing(t).kind != "RuntimeError" || causes(t).exists(_.isInstanceOf[InterruptedException])

  private def rootMessage(t: Throwable): String =
    Option(t.getMessage).map(_.linesIterator.next().take(300)).getOrElse(t.getClass.getSimpleName)

  /**
   * Final weights (identical on every task) and the tasks' mean of non-trained state (e.g. BN statistics),
   * summed in double so that equal values (a frozen layer's statistics) come back bit-identical.
   */
  private def adopt(model: AbstractModule[Activity, Activity, Float], ends: Array[StageEnd]): Unit = {
    val (weights, _) = BigDLAccess.flatParameters(model)
    weights.copy(Tensor[Float](ends.head.weights, Array(ends.head.weights.length)))
    model.getExtraParameter().zipWithIndex.foreach { case (extra, k) =>
      val sum = new Array[Double](extra.nElement())
      ends.foreach(e => (0 until sum.length).foreach(j => sum(j) += e.extraParameters(k)(j)))
      extra.copy(Tensor[Float](sum.map(v => (v / ends.length).toFloat), extra.size()))
    }
  }

  /** Task t owns [bounds(t), bounds(t + 1)) of the flat parameter vector of `size` values. */
  private def sliceBounds(size: Int, tasks: Int): IndexedSeq[Int] = (0 to tasks).map(t => (size.toLong * t / tasks).toInt)

  /**
   * One task's epochs (those of its StageRows partition), on one copy of the model: between its epochs the task keeps
   * its weights (equal on every task after each all-gather), optimizer slice and the model's other state.
   */
  private def runTask(start: StageStart, epochs: Iterator[TaskEpoch], clipValue: Option[Double]): StageEnd = {
    val context = BarrierTaskContext.get()
    val task = context.partitionId()
    val attempt = start.attempt
    def round(epoch: Int, r: Long) = SyncService.arrive(RoundKey(start.run, epoch, attempt, r), task, 0, 0)
    if (MKL.isMKLLoaded) MKL.setNumThreads(start.mklThreads)
    NativeKernels.setThreads(start.mklThreads)
    val model = InputGradients.skip(start.model.cloneModule()).training()
    val criterion = start.criterion.cloneCriterion()
    // A copy: in local mode the broadcast value is the driver's own object, and a retried stage must start
    // from the state the last whole stage left.
    val optim = start.optimMethods(task).clone()
    val (weights, gradients) = BigDLAccess.flatParameters(model)
    val gradientReset = new GradientReset(model)
    val size = weights.nElement()
    val sliceStart = sliceBounds(size, start.tasks)
    val mine = sliceStart(task) until sliceStart(task + 1)
    val managers = round(start.first, 0).managers
    SharedWeights.adopt(RoundKey(start.run, start.first, attempt, 0), task, managers, weights, context)
    val w = weights.storage().array()
    val wOffset = weights.storageOffset() - 1
    val g = gradients.storage().array()
    val gOffset = gradients.storageOffset() - 1
    val perTask = start.batchSize / start.tasks
    val reduced = new Array[Float](mine.length)
    val bound = clipValue.getOrElse(Double.PositiveInfinity).toFloat
    val shuffleBuffer = TaskFeed.buffer(start.feeding, task)
    val phases = epochs.map { case TaskEpoch(epoch, chunks) =>
      RandomGenerator.RNG.setSeed(start.seed + 7919L * epoch + task)
      val batch = new TaskFeed(start.feeding, epoch, task, chunks, shuffleBuffer)
      val exchange = new SliceExchange(RoundKey(start.run, epoch, attempt, 0), task, sliceStart, managers, g,
        gOffset, w, wOffset, context)
      val clock = new PhaseClock
      try {
        for (iteration <- 0 until start.iterations) {
          if (context.isInterrupted()) throw new TaskKilledException("the barrier stage was cancelled")
          val taken = clock("feed")(batch.fill(perTask))
          val lossSum = if (taken == 0) { gradients.zero(); 0.0 } else clock("compute") {
            gradientReset.beforePass()
            val output = model.forward(batch.input)
            val loss = criterion.forward(output, batch.target)
            model.backward(batch.input, criterion.backward(output, batch.target))
            gradientReset.afterPass()
            loss.toDouble * taken
          }
          val (totalLoss, total, parts) = exchange.reduceScatter(iteration, lossSum, taken, clock)
          if (total > 0) clock("update") {
            // the counters DistriOptimizer keeps in an optim method's state, which schedules read
            val state = OptimizerAccess.state(optim)
            state("neval") = (epoch - 1) * start.iterations + iteration + 1
            state("epoch") = epoch
            val meanLoss = (totalLoss / total).toFloat
            if (!FusedSteps.step(optim, meanLoss, parts, bound, w, wOffset + mine.start, reduced)) {
              parts.sumInto(reduced, bound)
              val gradSlice = Tensor[Float](reduced, Array(reduced.length))
              optim.optimize(_ => (meanLoss, gradSlice), weights.narrow(1, mine.start + 1, mine.length))
            }
          }
          exchange.allGather(iteration, clock)
        }
        batch.checkAllFed()
        exchange.reportLosses()
        round(epoch, SliceExchange.finalRound(start.iterations)) // nobody still reads this task's last weight slice
        exchange.finish(start.iterations)
      } finally exchange.close()
      clock.totals
    }.toList
    StageEnd(task, optim, if (task == 0) Tensors.toArray(weights) else null,
      model.getExtraParameter().map(Tensors.toArray), phases)
  }

  /**
   * When a task of the run fails, Spark fails the whole barrier stage and retries it; the run's other
   * tasks would otherwise wait in a sync round that can never complete, holding the slots the retry needs.
   */
  private final class FailureWatch(run: String) extends SparkListener {
    private val stages = java.util.concurrent.ConcurrentHashMap.newKeySet[Int]()

    override def onJobStart(event: SparkListenerJobStart): Unit =
      if (Option(event.properties).exists(_.getProperty(RunProperty) == run)) {
        event.stageIds.foreach(id => stages.add(id))
      }

    override def onTaskEnd(event: SparkListenerTaskEnd): Unit =
      if (stages.contains(event.stageId) && event.reason != Success) {
        SyncService.abandon(run, s"a task failed (${event.reason}); Spark retries the epoch")
      }
  }
}
