package bigwrap.train

import java.nio.file.Files

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.bigwrapaccess.{BigDLAccess, OptimizerAccess}
import com.intel.analytics.bigdl.dllib.optim.{DistriOptimizer, Optimizer, Trigger}
import com.intel.analytics.bigdl.dllib.utils.RandomGenerator
import com.intel.analytics.bigdl.dllib.visualization.TrainSummary
import org.apache.commons.io.FileUtils

/**
 * BigDL's DistriOptimizer: one Spark job and one AllReduce round per iteration.
 *
 * It holds the weights on the executors until optimize() returns, so to give the trainer-neutral
 * layer a model per epoch, bigwrap runs one optimize() per epoch. Each call would reset the
 * optimizer's history (e.g. Adam's moments); `reserveOptim(true)` makes DistriOptimizer keep each
 * parameter shard's optim method between calls instead, so training is the same as one long call,
 * at the cost of a model broadcast per epoch (~0.5 s). The kept shard methods are also what a
 * checkpoint saves and what a resumed run starts from.
 */
object BigDLTrainer extends Trainer {
  val name = "bigdl"

  def train(job: TrainJob): Unit = {
    val cores = BigDLAccess.nodeNumber * BigDLAccess.coreNumber
    BigwrapException.require(job.tasks == cores,
      s"trainer 'bigdl' always trains on all $cores cores; numTasks=${job.tasks} needs trainer 'barrier'")
    job.data.requireInMemory(name)
    job.seed.foreach(s => RandomGenerator.RNG.setSeed(s))
    val summaryDir = Files.createTempDirectory("bigwrap-summary").toFile
    val summary = new ProgressSummary(summaryDir.getPath, job)
    val optimizer = Optimizer(job.model, job.data.samples, job.criterion, job.batchSize)
      .asInstanceOf[DistriOptimizer[Float]]
    optimizer.setOptimMethod(job.optimMethod).setTrainSummary(summary).reserveOptim(true)
    job.clipNorm.foreach(optimizer.setGradientClippingByl2Norm)
    job.clipValue.foreach(v => optimizer.setConstantGradientClipping(-v, v))
    val parameterCount = job.model.parameters()._1.map(_.nElement()).sum
    val partitions = BigDLAccess.nodeNumber // DataSet.rdd coalesces the samples to one partition per node
    // Shard methods of our own, installed as if DistriOptimizer had kept them from an earlier call: the
    // resumed optimizer state cut into shards, and frozen weights held in place (FrozenWeights).
    if (job.optimizerState.initial.isDefined || job.frozen.nonEmpty) {
      val methods = job.sliceMethods(shardRanges(parameterCount, partitions))
      OptimizerAccess.setShardMethods(optimizer, job.data.sparkContext.parallelize(
        methods.map(m => Map(job.model.getName() -> m)), partitions))
    }
    job.optimizerState.initial.foreach { state =>
      // the driver's copy carries the epoch and iteration counters into DistriOptimizer's loop
      state.counters.get("neval").foreach(v => OptimizerAccess.state(job.optimMethod)("neval") = v._2.toInt)
    }
    OptimizerAccess.state(job.optimMethod)("epoch") = job.startEpoch + 1
    // the driver's copy holds the next iteration's number; the shards hold the last one's
    job.optimizerState.capture = () => Some(OptimizerAccess.shardMethods(optimizer)).filter(_.nonEmpty).map { shards =>
      val state = OptimizerState.join(shards, parameterCount)
      state.copy(counters = state.counters.updated("neval", ("int", OptimizerAccess.state(job.optimMethod)[Int]("neval").toDouble)))
    }
    try {
      var epoch = job.startEpoch
      var continue = true
      while (continue && epoch < job.epochs) {
        job.checkNotCancelled()
        epoch += 1
        val started = System.nanoTime()
        optimizer.setEndWhen(Trigger.maxEpoch(epoch)).optimize()
        continue = job.listener.epochEnd(epoch, job.model, (System.nanoTime() - started) / 1e9)
      }
    } finally {
      job.optimizerState.capture = () => None
      OptimizerAccess.release(optimizer)
      summary.close()
      FileUtils.deleteQuietly(summaryDir)
    }
  }

  /** DistriOptimizer's shards of a flat parameter vector (AllReduceParameter's split): (offset, length). */
  def shardRanges(size: Int, partitions: Int): Seq[(Int, Int)] = {
    val task = size / partitions
    val extra = size % partitions
    (0 until partitions).map(p => (p * task + math.min(p, extra), task + (if (p < extra) 1 else 0)))
  }

  /**
   * DistriOptimizer hands its per-iteration loss and throughput to its TrainSummary on the driver;
   * this one turns them into listener events instead of event files.
   */
  private final class ProgressSummary(dir: String, job: TrainJob) extends TrainSummary(dir, "bigwrap") {
    private var pendingLoss = Option.empty[Double]
    private var pendingSeconds = Option.empty[Double]

    override def addScalar(tag: String, value: Float, step: Long): this.type = synchronized {
      tag match {
        case "Loss" => pendingLoss = Some(value.toDouble)
        case "Throughput" => pendingSeconds = Some(job.batchSize / math.max(value.toDouble, 1e-9))
        case _ =>
      }
      for (loss <- pendingLoss; seconds <- pendingSeconds) {
        job.listener.iterationEnd(loss, seconds)
        pendingLoss = None
        pendingSeconds = None
      }
      this
    }
  }
}
