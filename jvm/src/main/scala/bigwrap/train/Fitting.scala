package bigwrap.train

import bigwrap.api.BigwrapException
import bigwrap.nn.NativeKernels
import bigwrap.spec.{BuiltModel, KernelChoice}
import com.intel.analytics.bigdl.bigwrapaccess.BigDLAccess
import org.apache.spark.sql.DataFrame
import org.apache.spark.storage.StorageLevel
import org.json4s._
import org.json4s.jackson.JsonMethods

/** Where a fit resumes from: a checkpoint Python read (its weights are already in the model). */
final case class ResumeConfig(dir: String, epoch: Int, iteration: Int, history: List[JObject])

/**
 * One fit's settings, made in one place (bigwrap.ml.BigwrapEstimator.fitConfig) from the estimator's
 * Params, whether Python's Estimator or Scala asked for the fit.
 */
final case class FitConfig(loss: JObject, optimizer: JObject, batchSize: Int, epochs: Int, trainer: String,
    tasks: Option[Int], taskLayout: String, featuresCols: Seq[String], labelCol: String, metrics: Seq[String], seed: Option[Long],
    earlyStopping: Option[EarlyStopping], checkpoint: Option[(String, Int)], logDir: Option[String],
    kernels: KernelChoice, dataCache: String, resume: Option[ResumeConfig]) {
  private implicit val formats: Formats = DefaultFormats
  def lossName: String = (loss \ "name").extract[String]
  def fromLogits: Boolean = (loss \ "from_logits").extractOpt[Boolean].getOrElse(false)
}

/** One fit, as Python's Estimator and Scala's bigwrap.ml.BigwrapEstimator both ask for it: the model is trained in place. */
object Fitting {
  private def calibrationMs(ms: Double): JValue = if (ms.isNaN) JNull else JDouble(ms)

  /** The rows of `df` a fit or an evaluation reads, stored as `dataCache` says. */
  def data(df: DataFrame, built: BuiltModel, featuresCols: Seq[String], labelCol: String, lossName: String,
      dataCache: String, level: Option[StorageLevel] = None): TrainingData =
    new TrainingData(df, featuresCols, built.inputShapes, labelCol, Losses.target(lossName, built.outputShapes.head),
      dataCache, level)

  /**
   * Trains `built` on `df` (validating on `validationDf` when given). `watch` gets the progress record
   * as soon as it exists (Python polls it by run id); once `cancelled()` is true the trainer starts
   * and retries nothing more. Returns the final progress record with the early-stopping outcome.
   */
  def run(df: DataFrame, validationDf: Option[DataFrame], built: BuiltModel, config: FitConfig,
      watch: Progress => Unit = _ => (), cancelled: () => Boolean = () => false): JObject = {
    import config._
    val startEpoch = resume.map(_.epoch).getOrElse(0)
    BigwrapException.require(startEpoch < epochs,
      s"the checkpoint already has $startEpoch epochs; set epochs above $startEpoch to train more")
    val slots = BigDLAccess.nodeNumber * BigDLAccess.coreNumber
    val layout = tasks match {
      case Some(count) => TaskLayout.Choice(count, "numTasks")
      case None if trainer != BarrierTrainer.name => TaskLayout.Choice(slots, TaskLayout.PerCore)
      case None => TaskLayout.choose(taskLayout, built, batchSize, BigDLAccess.nodeNumber, BigDLAccess.coreNumber)
    }
    val trainData = data(df, built, featuresCols, labelCol, lossName, dataCache)
    val count = trainData.count
    BigwrapException.require(count > 0, "the training DataFrame is empty")
    val criterion = Losses.criterion(loss)
    val validationRows = validationDf.map(vdf =>
      data(vdf, built, featuresCols, labelCol, lossName, dataCache, Some(trainData.level)).evaluationSamples())
    val validation = validationRows.map { case (samples, _) =>
      Validation(samples, Metrics(metrics, Losses.task(lossName), fromLogits, built.outputShapes.head.product,
        criterion), batchSize)
    }
    val checkpoints = checkpoint.map { case (dir, every) => CheckpointPlan(dir, every, optimizer) }
    val link = new OptimizerStateLink(resume.flatMap(r => Checkpoints.readOptimizerState(r.dir)))
    val progress = new Progress(epochs, math.ceil(count.toDouble / batchSize).toInt, batchSize, count, startEpoch,
      resume.map(_.history).getOrElse(Nil))
    val control = new TrainingControl(built, progress, validation, earlyStopping, checkpoints, logDir, link,
      resume.map(_.iteration).getOrElse(0))
    if (kernels.native) NativeKernels.reportUnavailableOnce(progress.warn)
    watch(progress)
    try {
      Trainers(trainer).train(TrainJob(
        model = built.module,
        data = trainData,
        criterion = criterion,
        optimMethod = Optimizers(optimizer),
        batchSize = batchSize,
        epochs = epochs,
        seed = seed,
        listener = control,
        tasks = layout.tasks,
        clipNorm = (optimizer \ "clipnorm").toOption.collect { case JDouble(v) => v; case JInt(v) => v.toDouble },
        clipValue = (optimizer \ "clipvalue").toOption.collect { case JDouble(v) => v; case JInt(v) => v.toDouble },
        startEpoch = startEpoch,
        optimizerState = link,
        frozen = built.frozenRanges,
        cancelled = cancelled))
      val restored = control.finish(built.module)
      val record = JsonMethods.parse(progress.toJson).asInstanceOf[JObject]
      JObject(record.obj ++ List(
        "stopped_early_at" -> control.stoppedEarlyAt.map(e => JInt(e)).getOrElse(JNull),
        "best_epoch" -> control.bestEpoch.map(e => JInt(e)).getOrElse(JNull),
        "restored_epoch" -> restored.map(e => JInt(e)).getOrElse(JNull),
        "training_data" -> trainData.report.getOrElse(JNull),
        "task_layout" -> JObject("tasks" -> JInt(layout.tasks), "layout" -> JString(layout.layout),
          "per_core_ms" -> calibrationMs(layout.perCoreMs), "per_executor_ms" -> calibrationMs(layout.perExecutorMs))))
    } finally {
      validationRows.foreach { case (_, release) => release() }
    }
  }
}
