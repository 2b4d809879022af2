package bigwrap.ml

import bigwrap.api.BigwrapException
import bigwrap.data.Columns
import bigwrap.io.Storage
import bigwrap.spec.{KernelChoice, ModelBuilder, WeightSet}
import bigwrap.train.{EarlyStopping, FitConfig, Fitting, Progress, ResumeConfig, TaskLayout}
import com.intel.analytics.bigdl.bigwrapaccess.BigDLAccess
import com.intel.analytics.bigdl.dllib.utils.RandomGenerator
import org.apache.spark.ml.Estimator
import org.apache.spark.ml.param.ParamMap
import org.apache.spark.ml.util._
import org.apache.spark.sql.Dataset
import org.apache.spark.sql.types.StructType
import org.json4s._

/**
 * Trains a model described by a spec JSON (docs/spec.md) with bigwrap's trainers: the Scala face of
 * Python's `bigwrap.Estimator`, with the same Params and the same saved files. `fit` runs the fit
 * Python's Estimator runs (bigwrap.train.Fitting) and returns a BigwrapModel Python can load.
 *
 * A spec set with `setSpec` starts from BigDL's initialisation of each layer (seeded by `seed`);
 * an estimator saved from Python (`BigwrapEstimator.load`) starts from the weights Python saved.
 */
class BigwrapEstimator(override val uid: String) extends Estimator[BigwrapModel] with BigwrapEstimatorParams
    with MLWritable {
  private implicit val formats: Formats = DefaultFormats
  private var spec: Option[String] = None
  private var startWeights: Option[WeightSet] = None

  def this() = this(Identifiable.randomUID("BigwrapEstimator"))

  /** The model to train; the spec is checked (it must build) here. */
  def setSpec(specJson: String): this.type = {
    ModelBuilder.build(specJson)
    spec = Some(specJson)
    startWeights = None
    this
  }

  def getSpec: String = spec.getOrElse(throw BigwrapException.valueError(
    "BigwrapEstimator has no model: call setSpec(specJson) or load an estimator saved with its model"))

  def setLoss(nameOrConfigJson: String): this.type = set(loss, loss.encode(nameOrConfigJson))
  def setOptimizer(nameOrConfigJson: String): this.type = set(optimizer, optimizer.encode(nameOrConfigJson))
  def setLabelCol(column: String): this.type = set(labelCol, column)
  def setBatchSize(rows: Int): this.type = set(batchSize, rows)
  def setEpochs(count: Int): this.type = set(epochs, count)
  def setVerbose(level: Int): this.type = set(verbose, level)
  def setSeed(value: Long): this.type = set(seed, value)
  def setTrainer(name: String): this.type = set(trainer, name)
  def setNumTasks(count: Int): this.type = set(numTasks, count)
  def setTaskLayout(mode: String): this.type = set(taskLayout, mode)
  def setValidationSplit(fraction: Double): this.type = set(validationSplit, fraction)
  def setMetrics(names: Seq[String]): this.type = set(metrics, names.toArray)
  def setEarlyStopping(on: Boolean): this.type = set(earlyStopping, on)
  def setMonitor(column: String): this.type = set(monitor, column)
  def setPatience(count: Int): this.type = set(patience, count)
  def setMinDelta(value: Double): this.type = set(minDelta, value)
  def setRestoreBestWeights(on: Boolean): this.type = set(restoreBestWeights, on)
  def setCheckpointDir(dir: String): this.type = set(checkpointDir, dir)
  def setCheckpointEvery(count: Int): this.type = set(checkpointEvery, count)
  def setLogDir(dir: String): this.type = set(logDir, dir)
  def setDataCache(mode: String): this.type = set(dataCache, mode)

  /** The spec and the weights training starts from (BigDL's initialisation, made once, when none were saved). */
  private[ml] def initialModel: SavedModel = synchronized {
    val json = getSpec
    val weights = startWeights.getOrElse {
      get(seed).foreach(s => RandomGenerator.RNG.setSeed(s))
      ModelBuilder.build(json).weights
    }
    startWeights = Some(weights)
    SavedModel(json, weights)
  }

  /**
   * The checks across Params (each Param's own rule is checked when it is set), for this estimator and for
   * Python's, whose messages start with `owner`; `validates`: whether validation data is held out or given.
   * Runs before any Spark job.
   */
  def checkSettings(owner: String, validates: Boolean): Unit = {
    def require(condition: Boolean, problem: => String): Unit = BigwrapException.require(condition, s"$owner: $problem")
    require(isDefined(loss), "needs loss=, e.g. 'sparse_categorical_crossentropy' or 'mse'")
    val trainsOnBarrier = $(trainer) == "barrier"
    require(get(numTasks).isEmpty || trainsOnBarrier,
      "numTasks applies to trainer='barrier'; 'bigdl' always trains on all cores")
    require($(taskLayout) == TaskLayout.Auto || (trainsOnBarrier && get(numTasks).isEmpty),
      s"taskLayout='${$(taskLayout)}' needs trainer='barrier' and numTasks=None (numTasks sets the tasks itself)")
    kernelChoice
    require(trainsOnBarrier || !Seq("disk", "none").contains($(dataCache)), s"trainer='bigdl' holds every training " +
      s"row in memory; dataCache='${$(dataCache)}' needs trainer='barrier'")
    require(optimizer.config($(optimizer)) \ "clipnorm" match { case JNothing | JNull => true; case _ => !trainsOnBarrier },
      "clipnorm needs trainer='bigdl' (the barrier trainer clips by value only, for now)")
    require($(metrics).isEmpty || validates,
      "metrics are computed on validation data; set validationData or validationSplit")
    if ($(earlyStopping)) {
      val known = "loss" +: (if (validates) ("loss" +: $(metrics).toSeq).map("val_" + _) else Nil)
      require(known.contains($(monitor)),
        s"monitor '${$(monitor)}' is not in the history; it will have ${known.mkString("[", ", ", "]")}")
    } else {
      require(!$(restoreBestWeights), "restoreBestWeights needs earlyStopping=True")
    }
    val slots = BigDLAccess.nodeNumber * BigDLAccess.coreNumber
    val tasks = get(numTasks).getOrElse(if ($(taskLayout) == TaskLayout.PerExecutor) BigDLAccess.nodeNumber else slots)
    require(tasks <= slots, s"numTasks $tasks exceeds the $slots cores training; all tasks of a synchronous step " +
      "must run at once")
    require($(batchSize) % tasks == 0, s"batchSize ${$(batchSize)} must be a multiple of the $tasks tasks training " +
      s"(${BigDLAccess.nodeNumber} executor(s) × ${BigDLAccess.coreNumber} cores), e.g. " +
      s"${math.max(tasks, ($(batchSize) + tasks - 1) / tasks * tasks)}")
  }

  override def transformSchema(schema: StructType): StructType = {
    checkSettings("BigwrapEstimator", validates = $(validationSplit) > 0)
    Columns.numericType(schema, $(labelCol), "label")
    copyValues(new BigwrapModel(uid, initialModel, loss.config($(loss)), JObject())).transformSchema(schema)
  }

  /** The one place a fit's settings are made from these Params (Python's Estimator's too); `resume` as Python read it. */
  private[bigwrap] def fitConfig(resume: Option[ResumeConfig]): FitConfig = FitConfig(
    loss = loss.config($(loss)), optimizer = optimizer.config($(optimizer)), batchSize = $(batchSize),
    epochs = $(epochs), trainer = $(trainer),
    tasks = get(numTasks), taskLayout = $(taskLayout),
    featuresCols = getFeaturesCols, labelCol = $(labelCol), metrics = $(metrics).toSeq,
    seed = get(seed).map(_ & Long.MaxValue),
    earlyStopping = if ($(earlyStopping)) Some(EarlyStopping($(monitor), $(patience), $(minDelta), $(restoreBestWeights)))
    else None,
    checkpoint = get(checkpointDir).map(dir => (Storage.url(dir), $(checkpointEvery))),
    logDir = get(logDir).map(dir => Storage.url(dir)),
    kernels = kernelChoice, dataCache = $(dataCache), resume = resume)

  override def fit(dataset: Dataset[_]): BigwrapModel = {
    BigwrapException.require(get(resumeFrom).isEmpty,
      "BigwrapEstimator: resumeFrom is read by Python's Estimator only in this version; resume the fit from Python")
    BigwrapModel.ensureEngine(dataset.sparkSession.sparkContext)
    transformSchema(dataset.schema)
    val start = initialModel
    val built = BigwrapModel.build(start, kernelChoice)
    val df = dataset.toDF()
    val (train, validation) = if ($(validationSplit) > 0) {
      val Array(kept, held) = df.randomSplit(Array(1 - $(validationSplit), $(validationSplit)), get(seed).getOrElse(0L))
      (kept, Some(held))
    } else (df, None)
    val lines = new EpochLines($(epochs), $(verbose) > 0)
    val record = try Fitting.run(train, validation, built, fitConfig(None), lines.start) finally lines.stop()
    val history = JObject("history" -> record \ "history", "stopped_epoch" -> record \ "stopped_early_at",
      "best_epoch" -> record \ "best_epoch")
    val trained = new BigwrapModel(Identifiable.randomUID("BigwrapModel"), SavedModel(start.specJson, built.weights),
      loss.config($(loss)), history)
    copyValues(trained).setParent(this)
  }

  override def copy(extra: ParamMap): BigwrapEstimator = {
    val copied = defaultCopy[BigwrapEstimator](extra)
    copied.spec = spec
    copied.startWeights = startWeights
    copied
  }

  private[bigwrap] def toSaved: SavedStage = {
    val model = spec.map(_ => initialModel)
    SavedStage(StageFiles.metadata(StageFiles.EstimatorClass, this,
      if (model.isDefined) JObject("model" -> JString("model")) else JObject()), model, None)
  }

  override def write: MLWriter = new StageWriter(toSaved)
}

object BigwrapEstimator extends MLReadable[BigwrapEstimator] {
  override def read: MLReader[BigwrapEstimator] =
    new StageReader[BigwrapEstimator](StageFiles.EstimatorClass, fromSaved)

  override def load(path: String): BigwrapEstimator = super.load(path)

  private[bigwrap] def fromSaved(stage: SavedStage, where: String): BigwrapEstimator = {
    val instance = new BigwrapEstimator(stage.uid)
    stage.model.foreach { model =>
      BigwrapModel.checkBuilds(where)(BigwrapModel.build(model, KernelChoice.BigDL))
      instance.spec = Some(model.specJson)
      instance.startWeights = Some(model.weights)
    }
    ParamsJson.set(instance, stage.paramMap, where)
    instance
  }
}

/** With verbose on, one line per finished epoch (as Python's verbose=2), printed while the fit runs. */
private final class EpochLines(epochs: Int, enabled: Boolean) {
  private implicit val formats: Formats = DefaultFormats
  @volatile private var progress: Option[Progress] = None
  @volatile private var running = true
  private var printed = 0
  private val thread = new Thread(() => while (running) { Thread.sleep(250); flush() }, "bigwrap-epoch-lines")
  thread.setDaemon(true)

  def start(record: Progress): Unit = if (enabled) { progress = Some(record); thread.start() }

  def stop(): Unit = if (thread.isAlive) { running = false; thread.join(2000); flush() }

  private def flush(): Unit = synchronized {
    for (record <- progress; row <- record.history.drop(printed)) {
      printed += 1
      val metrics = row.obj.collect { case (k, JDouble(v)) if k == "loss" || k.startsWith("val_") => f"$k: $v%.4f" }
      println((s"Epoch ${(row \ "epoch").extract[Int]}/$epochs" +: metrics :+
        f"${(row \ "samples_per_second").extract[Double]}%,.0f samples/s" :+ f"${(row \ "seconds").extract[Double]}%.1fs")
        .mkString(" - "))
    }
  }
}
