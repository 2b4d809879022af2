package bigwrap.train

import java.nio.file.Files

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.bigwrapaccess.BigDLAccess
import com.intel.analytics.bigdl.dllib.optim.{Optimizer, Trigger}
import com.intel.analytics.bigdl.dllib.utils.RandomGenerator
import com.intel.analytics.bigdl.dllib.visualization.TrainSummary
import org.apache.commons.io.FileUtils

/**
 * BigDL's DistriOptimizer: one Spark job and one AllReduce round per iteration. All epochs run in one
 * optimize() call, because each call resets the optimizer's history (e.g. Adam's moments).
 */
object BigDLTrainer extends Trainer {
  val name = "bigdl"

  def train(job: TrainJob): Unit = {
    val cores = BigDLAccess.nodeNumber * BigDLAccess.coreNumber
    BigwrapException.require(job.tasks == cores,
      s"trainer 'bigdl' always trains on all $cores cores; numTasks=${job.tasks} needs trainer 'barrier'")
    job.seed.foreach(s => RandomGenerator.RNG.setSeed(s))
    val summaryDir = Files.createTempDirectory("bigwrap-summary").toFile
    val summary = new ProgressSummary(summaryDir.getPath, job)
    try {
      Optimizer(job.model, job.samples, job.criterion, job.batchSize)
        .setOptimMethod(job.optimMethod)
        .setEndWhen(Trigger.maxEpoch(job.epochs))
        .setTrainSummary(summary)
        .optimize()
      // DistriOptimizer holds the weights on the executors until it returns, so its one epoch-end
      // event comes after the last epoch.
      job.listener.epochEnd(job.epochs, job.model)
    } finally {
      summary.close()
      FileUtils.deleteQuietly(summaryDir)
    }
  }

  /**
   * DistriOptimizer hands its per-iteration loss and throughput to its TrainSummary on the driver;
   * this one turns them into the progress record instead of event files.
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
