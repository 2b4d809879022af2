package bigwrap.train

import bigwrap.api.BigwrapException
import bigwrap.nn.NativeKernels
import bigwrap.spec.{BuiltModel, KernelChoice}
import com.intel.analytics.bigdl.bigwrapaccess.BigDLAccess
import com.intel.analytics.bigdl.dllib.feature.dataset.Sample
import org.apache.spark.rdd.RDD
import org.apache.spark.sql.DataFrame
import org.apache.spark.storage.StorageLevel
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * One fit, as Python's Estimator and Scala's bigwrap.ml.BigwrapEstimator both ask for it: the model is
 * trained in place from a JSON config (the keys Python's `Estimator._jvm_config` writes).
 */
object Fitting {
  private implicit val formats: Formats = DefaultFormats

  /** `features_col` of a fit/transform config: one column, or a list with one column per model input. */
  def featuresCols(config: JValue): Seq[String] = config \ "features_col" match {
    case JString(column) => Seq(column)
    case other => other.extract[List[String]]
  }

  /** The rows of `df` a fit or an evaluation reads, stored as the config's `data_cache` says. */
  def data(df: DataFrame, built: BuiltModel, config: JValue, level: Option[StorageLevel] = None): TrainingData = {
    val loss = (config \ "loss" \ "name").extract[String]
    new TrainingData(df, featuresCols(config), built.inputShapes, (config \ "label_col").extract[String],
      Losses.target(loss, built.outputShapes.head), (config \ "data_cache").extractOpt[String].getOrElse(DataCache.Default),
      level)
  }

  private def calibrationMs(ms: Double): JValue = if (ms.isNaN) JNull else JDouble(ms)

  def samples(df: DataFrame, built: BuiltModel, config: JValue): RDD[Sample[Float]] = data(df, built, config).samples

  /**
   * Trains `built` on `df` (validating on `validationDf` when given). `watch` gets the progress record
   * as soon as it exists (Python polls it by run id); once `cancelled()` is true the trainer starts
   * and retries nothing more. Returns the final progress record with the early-stopping outcome.
   */
  def run(df: DataFrame, validationDf: Option[DataFrame], built: BuiltModel, config: JValue,
      watch: Progress => Unit = _ => (), cancelled: () => Boolean = () => false): JObject = {
    val loss = (config \ "loss" \ "name").extract[String]
    val batchSize = (config \ "batch_size").extract[Int]
    val epochs = (config \ "epochs").extract[Int]
    val slots = BigDLAccess.nodeNumber * BigDLAccess.coreNumber
    val trainer = (config \ "trainer").extractOpt[String].getOrElse("barrier")
    val mode = (config \ "task_layout").extractOpt[String].getOrElse(TaskLayout.Auto)
    BigwrapException.require(TaskLayout.Modes.contains(mode),
      s"taskLayout must be one of ${TaskLayout.Modes.mkString(", ")}, got '$mode'")
    val layout = (config \ "tasks").extractOpt[Int] match {
      case Some(count) => TaskLayout.Choice(count, "numTasks")
      case None if trainer != BarrierTrainer.name => TaskLayout.Choice(slots, TaskLayout.PerCore)
      case None => TaskLayout.choose(mode, built, batchSize, BigDLAccess.nodeNumber, BigDLAccess.coreNumber)
    }
    val tasks = layout.tasks
    BigwrapException.require(tasks > 0 && tasks <= slots,
      s"numTasks $tasks must be between 1 and the $slots cores training")
    BigwrapException.require(batchSize > 0 && batchSize % tasks == 0,
      s"batchSize $batchSize must be a positive multiple of the $tasks tasks training")
    BigwrapException.require(epochs > 0, s"epochs must be positive, got $epochs")
    val resume = config \ "resume"
    val startEpoch = (resume \ "epoch").extractOpt[Int].getOrElse(0)
    BigwrapException.require(startEpoch < epochs,
      s"the checkpoint already has $startEpoch epochs; set epochs above $startEpoch to train more")
    val trainData = data(df, built, config)
    val count = trainData.count
    BigwrapException.require(count > 0, "the training DataFrame is empty")
    val criterion = Losses.criterion(config \ "loss")
    val validationRows = validationDf.map(vdf => data(vdf, built, config, Some(trainData.level)).evaluationSamples())
    val validation = validationRows.map { case (samples, _) =>
      val metrics = Metrics((config \ "metrics").extractOpt[List[String]].getOrElse(Nil), Losses.task(loss),
        (config \ "loss" \ "from_logits").extractOpt[Boolean].getOrElse(false), built.outputShapes.head.product, criterion)
      Validation(samples, metrics, batchSize)
    }
    val early = (config \ "early_stopping").toOption.filter(_ != JNull).map(e => EarlyStopping(
      (e \ "monitor").extract[String], (e \ "patience").extract[Int], (e \ "min_delta").extract[Double],
      (e \ "restore_best_weights").extract[Boolean]))
    val checkpoints = (config \ "checkpoint").toOption.filter(_ != JNull).map(c =>
      CheckpointPlan((c \ "dir").extract[String], (c \ "every").extract[Int], config \ "optimizer"))
    val link = new OptimizerStateLink((resume \ "dir").extractOpt[String].flatMap(Checkpoints.readOptimizerState))
    val progress = new Progress(epochs, math.ceil(count.toDouble / batchSize).toInt, batchSize, count, startEpoch,
      (resume \ "history").extractOpt[List[JObject]].getOrElse(Nil))
    val control = new TrainingControl(built, progress, validation, early, checkpoints,
      (config \ "log_dir").extractOpt[String], link, (resume \ "iteration").extractOpt[Int].getOrElse(0))
    if (KernelChoice.fromJson(config).native) NativeKernels.reportUnavailableOnce(progress.warn)
    watch(progress)
    try {
      Trainers(trainer).train(TrainJob(
        model = built.module,
        data = trainData,
        criterion = criterion,
        optimMethod = Optimizers(config \ "optimizer"),
        batchSize = batchSize,
        epochs = epochs,
        seed = (config \ "seed").extractOpt[Long],
        listener = control,
        tasks = tasks,
        clipNorm = (config \ "clip_norm").extractOpt[Double],
        clipValue = (config \ "clip_value").extractOpt[Double],
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
        "task_layout" -> JObject("tasks" -> JInt(tasks), "layout" -> JString(layout.layout),
          "per_core_ms" -> calibrationMs(layout.perCoreMs), "per_executor_ms" -> calibrationMs(layout.perExecutorMs))))
    } finally {
      validationRows.foreach { case (_, release) => release() }
    }
  }
}
