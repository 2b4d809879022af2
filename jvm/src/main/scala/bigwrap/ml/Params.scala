package bigwrap.ml

import bigwrap.api.BigwrapException
import bigwrap.infer.Predictor
import bigwrap.spec.KernelChoice
import bigwrap.train.{DataCache, Metrics, TaskLayout, Trainers}
import org.apache.spark.ml.param._
import org.json4s._
import org.json4s.jackson.JsonMethods

/** `featuresCol`: one column, or one per model input; JSON a string or a list, as Python writes it. */
class ColumnsParam(parent: Params, name: String, doc: String) extends Param[Seq[String]](parent, name, doc,
  (cols: Seq[String]) => cols.nonEmpty) {
  override def jsonEncode(value: Seq[String]): String =
    JsonMethods.compact(if (value.length == 1) JString(value.head) else JArray(value.map(JString(_)).toList))

  override def jsonDecode(json: String): Seq[String] = JsonMethods.parse(json) match {
    case JString(column) => Seq(column)
    case JArray(items) if items.forall(_.isInstanceOf[JString]) => items.collect { case JString(c) => c }
    case other => throw new IllegalArgumentException(s"expected a column name or a list of names, got ${JsonMethods.compact(other)}")
  }
}

/**
 * A value kept as JSON text: the loss and optimizer, which Python writes as a name ("adam") or a
 * config object ({"name": "adam", "learning_rate": 0.01}). Setters accept either form.
 */
class JsonParam(parent: Params, name: String, doc: String) extends Param[String](parent, name, doc) {
  override def jsonEncode(value: String): String = value
  override def jsonDecode(json: String): String = JsonMethods.compact(JsonMethods.parse(json))

  /** `nameOrConfig` as JSON text: an object stays as it is, anything else is a name. */
  def encode(nameOrConfig: String): String = nameOrConfig.trim match {
    case config if config.startsWith("{") => jsonDecode(config)
    case name => JsonMethods.compact(JString(name))
  }

  /** The value as a config object: a bare name becomes {"name": ...}. */
  def config(value: String): JObject = JsonMethods.parse(value) match {
    case JString(name) => JObject("name" -> JString(name))
    case obj: JObject => obj
    case other => throw BigwrapException.valueError(s"$name must be a name or a config object, got ${JsonMethods.compact(other)}")
  }
}

/**
 * A constraint on one Param's value, with what to tell the user when a value breaks it. Each stage
 * Param is declared once, with its doc, its default and its rule (the tables below): Spark's
 * `isValid`, the bridge's checks of Python's values and the messages all read the same rule.
 */
final case class Rule[T](test: T => Boolean, problem: String, namesTheValue: Boolean = false) {
  /** The message of a broken rule: "`owner`: `name` `problem`, got `shown`", or for a value that names
   *  something unknown (a trainer, a metric), "`owner`: unknown `name` `shown`; `problem`". */
  def message(owner: String, name: String, shown: String): String =
    if (namesTheValue) s"$owner: unknown $name $shown; $problem" else s"$owner: $name $problem, got $shown"
}

object Rule {
  val positive: Rule[Int] = Rule(_ > 0, "must be a positive integer")
  val fraction: Rule[Double] = Rule(v => v >= 0 && v < 1, "must be in [0, 1)")
  def oneOf(values: Seq[String]): Rule[String] = Rule(values.contains, s"must be one of ${values.mkString(", ")}")
}

/** Params declared with a Rule: `ruleFor(name)` is the rule a value set from Python is checked against. */
trait RuledParams extends Params {
  private val rules = scala.collection.mutable.Map[String, Rule[Any]]()

  protected def ruled[T, P <: Param[T]](rule: Rule[T])(declare: (T => Boolean) => P): P = {
    val param = declare(rule.test)
    rules(param.name) = rule.asInstanceOf[Rule[Any]]
    param
  }

  def ruleFor(name: String): Option[Rule[Any]] = rules.get(name)
}

/** The Params of BigwrapModel (and of Python's EstimatorModel, which reads its defaults from here). */
trait BigwrapOutputParams extends RuledParams {
  final val featuresCol = new ColumnsParam(this, "featuresCol",
    "features column name, or a list of names: one per model input, in the order of the model's inputs")
  final val predictionCol = new Param[String](this, "predictionCol", "prediction column name")
  final val probabilityCol = new Param[String](this, "probabilityCol", "probability column name (classification)")
  final val inferenceBatchSize = ruled(Rule[Int](_ > 0, "must be positive"))(new IntParam(this, "inferenceBatchSize",
    "rows per forward pass when transforming (positive)", _))
  final val kernels = ruled(Rule.oneOf(KernelChoice.Kernels))(new Param[String](this, "kernels",
    "'native' (bigwrap's MKL/oneDNN kernels for Dense and Conv2D) or 'bigdl' (BigDL's); see bigwrap.kernels", _))
  final val precision = ruled(Rule.oneOf(KernelChoice.Precisions))(new Param[String](this, "precision",
    "'fp32' or 'bf16' (native kernels: bfloat16 maths, fp32 weights; fp32 where the CPU has no bf16)", _))
  setDefault(featuresCol -> Seq("features"), predictionCol -> "prediction", probabilityCol -> "probability",
    inferenceBatchSize -> Predictor.DefaultBatchSize, kernels -> KernelChoice.Default.kernels,
    precision -> KernelChoice.Default.precision)

  def setFeaturesCol(column: String): this.type = set(featuresCol, Seq(column))
  def setFeaturesCols(columns: Seq[String]): this.type = set(featuresCol, columns)
  def setPredictionCol(column: String): this.type = set(predictionCol, column)
  def setProbabilityCol(column: String): this.type = set(probabilityCol, column)
  def setInferenceBatchSize(rows: Int): this.type = set(inferenceBatchSize, rows)
  def setKernels(value: String): this.type = set(kernels, value)
  def setPrecision(value: String): this.type = set(precision, value)
  def getFeaturesCols: Seq[String] = $(featuresCol)
  def getPredictionCol: String = $(predictionCol)
  def getProbabilityCol: String = $(probabilityCol)
  def getInferenceBatchSize: Int = $(inferenceBatchSize)
  /** The kernels Dense and Conv layers run on (checked: bf16 needs native kernels). */
  def kernelChoice: KernelChoice =
    KernelChoice.fromJson(JObject("kernels" -> JString($(kernels)), "precision" -> JString($(precision))))
}

/**
 * The Params of BigwrapEstimator, and of Python's Estimator, which pushes its values here and reads
 * its defaults from here. Optional settings (numTasks, seed, checkpointDir, resumeFrom, logDir) are
 * unset when off; Python writes them as null.
 */
trait BigwrapEstimatorParams extends BigwrapOutputParams {
  final val labelCol = new Param[String](this, "labelCol", "label column name")
  final val loss = new JsonParam(this, "loss", "a loss name (sparse_categorical_crossentropy, " +
    "categorical_crossentropy, binary_crossentropy, mse, mae, huber) or a config such as {\"name\": \"huber\", " +
    "\"delta\": 2.0}; from Python also a bigwrap.losses.Loss")
  final val optimizer = new JsonParam(this, "optimizer", "an optimizer name (sgd, adam, adamw, rmsprop, adagrad) or " +
    "a config such as {\"name\": \"adam\", \"learning_rate\": 0.01}; from Python also a bigwrap.optimizers object " +
    "(learning rate or schedule, clipnorm, clipvalue)")
  final val batchSize = ruled(Rule.positive)(new IntParam(this, "batchSize",
    "global mini-batch size, a multiple of the training cores", _))
  final val epochs = ruled(Rule.positive)(new IntParam(this, "epochs",
    "the epoch to train up to (positive); with resumeFrom, counted from the first run", _))
  final val verbose = ruled(Rule[Int](Seq(0, 1, 2).contains, "must be 0, 1 or 2"))(new IntParam(this, "verbose",
    "0: silent, 1: live progress bar per epoch (Scala: one line per epoch), 2: one line per epoch", _))
  final val seed = new LongParam(this, "seed", "seeds the trainer's shuffling and BigDL's initial weights")
  final val trainer = ruled(Rule[String](Trainers.Names.contains, s"available: ${Trainers.Names.mkString(", ")}",
    namesTheValue = true))(new Param[String](this, "trainer",
    "'barrier' (bigwrap's trainer) or 'bigdl' (BigDL's DistriOptimizer)", _))
  final val numTasks = ruled(Rule[Int](_ > 0, "must be a positive integer or None"))(new IntParam(this, "numTasks",
    "tasks training in parallel (barrier trainer); None: one per core", _))
  final val taskLayout = ruled(Rule.oneOf(TaskLayout.Modes))(new Param[String](this, "taskLayout",
    "barrier trainer without numTasks: 'auto' (time the model both ways, take the faster), 'perCore' (a task " +
    "per core) or 'perExecutor' (one task per executor, multithreaded kernels)", _))
  final val validationSplit = ruled(Rule.fraction)(new DoubleParam(this, "validationSplit",
    "fraction of the training rows held out for validation when validationData is None; 0 for none", _))
  final val metrics = ruled(Rule[Array[String]](_.forall(Metrics.isKnown), "known: accuracy, top_k_accuracy " +
    "(e.g. top_5_accuracy), auc, mae, mse, loss", namesTheValue = true))(new StringArrayParam(this, "metrics",
    "metrics computed on the validation data besides the loss: accuracy, top_k_accuracy (e.g. top_5_accuracy), " +
    "auc, mae, mse", _))
  final val earlyStopping = new BooleanParam(this, "earlyStopping", "stop when `monitor` has not improved for " +
    "`patience` epochs")
  final val monitor = new Param[String](this, "monitor", "the history column early stopping watches (loss, " +
    "val_loss, val_accuracy, ...)")
  final val patience = new IntParam(this, "patience", "epochs without improvement before early stopping " +
    "(at least 1 is used)")
  final val minDelta = new DoubleParam(this, "minDelta", "the smallest change of `monitor` that counts as an " +
    "improvement")
  final val restoreBestWeights = new BooleanParam(this, "restoreBestWeights", "with earlyStopping: end with the " +
    "best epoch's weights")
  final val checkpointDir = new Param[String](this, "checkpointDir", "directory for checkpoints " +
    "(epoch-NNNN/ subdirectories) on any Hadoop FileSystem (local, hdfs://, s3a://, ...), or None")
  final val checkpointEvery = ruled(Rule.positive)(new IntParam(this, "checkpointEvery",
    "write a checkpoint every this many epochs (and after the last)", _))
  final val resumeFrom = new Param[String](this, "resumeFrom", "a checkpoint directory (or a checkpointDir: its " +
    "latest epoch) to continue from: weights, optimizer state, epoch count and history")
  final val logDir = new Param[String](this, "logDir", "directory for TensorBoard event files (train loss per " +
    "iteration, validation metrics per epoch), or None")
  final val dataCache = ruled(Rule.oneOf(DataCache.Modes))(new Param[String](this, "dataCache",
    "where converted training and validation rows live between epochs: 'auto' (in memory while they fit, the rest " +
    "spilled to local disk), 'memory', 'disk', or 'none' (re-read the source every epoch); see docs/data.md", _))
  setDefault(labelCol -> "label", optimizer -> "\"adam\"", batchSize -> 32, epochs -> 1, verbose -> 1,
    trainer -> Trainers.Names.head, validationSplit -> 0.0, metrics -> Array.empty[String], earlyStopping -> false,
    monitor -> "val_loss", patience -> 0, minDelta -> 0.0, restoreBestWeights -> false, checkpointEvery -> 1,
    dataCache -> DataCache.Default, taskLayout -> TaskLayout.Auto)
}

/** Params ↔ the `paramMap` / `defaultParamMap` objects of a stage's metadata (Spark's layout). */
object ParamsJson {
  def paramMap(instance: Params): JObject = JObject(instance.params.toList.flatMap(p =>
    instance.get(p).map(v => p.name -> JsonMethods.parse(p.asInstanceOf[Param[Any]].jsonEncode(v)))))

  def defaultParamMap(instance: Params): JObject = JObject(instance.params.toList.flatMap(p =>
    instance.getDefault(p).map(v => p.name -> JsonMethods.parse(p.asInstanceOf[Param[Any]].jsonEncode(v)))))

  /** A JSON value as Python shows it in messages: 'text', True, [...]. */
  private def shown(value: JValue): String = value match {
    case JString(text) => s"'$text'"
    case JBool(on) => if (on) "True" else "False"
    case JArray(items) => items.map(shown).mkString("[", ", ", "]")
    case other => JsonMethods.compact(other)
  }

  /**
   * Sets the Params named in `paramMap` on `instance`, each checked against its Rule; a broken rule is
   * a ValueError starting with `where`. JSON null means "off" (Python's None) and clears a Param; names
   * this version does not know are skipped, as Spark's readers skip them.
   */
  def set(instance: RuledParams, paramMap: JValue, where: String): Unit = paramMap match {
    case JObject(fields) => fields.foreach {
      case (name, JNull) if instance.hasParam(name) => instance.clear(instance.getParam(name))
      case (name, value) if instance.hasParam(name) =>
        val param = instance.getParam(name)
        def broken(detail: String): Nothing = throw BigwrapException.valueError(instance.ruleFor(name)
          .map(_.message(where, name, shown(value)))
          .getOrElse(s"$where: param $name has $detail value ${JsonMethods.compact(value)}"))
        val decoded = try param.jsonDecode(JsonMethods.compact(value)) catch { case _: Exception => broken("an unreadable") }
        if (!param.isValid(decoded)) broken("an invalid")
        instance.set(param, decoded)
      case _ =>
    }
    case JNothing =>
    case other => throw BigwrapException.valueError(s"$where: paramMap is not a JSON object")
  }
}
