package bigwrap.ml

import bigwrap.api.BigwrapException
import bigwrap.spec.KernelChoice
import bigwrap.train.{DataCache, TaskLayout}
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

/** The Params of BigwrapModel: the same names, meanings and defaults as Python's EstimatorModel. */
trait BigwrapOutputParams extends Params {
  final val featuresCol = new ColumnsParam(this, "featuresCol",
    "features column name, or one name per model input, in the order of the model's inputs")
  final val predictionCol = new Param[String](this, "predictionCol", "prediction column name")
  final val probabilityCol = new Param[String](this, "probabilityCol", "probability column name (classification)")
  final val inferenceBatchSize = new IntParam(this, "inferenceBatchSize", "rows per forward pass when transforming",
    ParamValidators.gt(0))
  final val kernels = new Param[String](this, "kernels", "'native' (bigwrap's kernels for Dense and Conv) or 'bigdl'",
    ParamValidators.inArray(Array("native", "bigdl")))
  final val precision = new Param[String](this, "precision", "'fp32' or 'bf16' (native kernels: bfloat16 maths, " +
    "fp32 weights)", ParamValidators.inArray(Array("fp32", "bf16")))
  setDefault(featuresCol -> Seq("features"), predictionCol -> "prediction", probabilityCol -> "probability",
    inferenceBatchSize -> 256, kernels -> KernelChoice.Default.kernels, precision -> KernelChoice.Default.precision)

  def getFeaturesCols: Seq[String] = $(featuresCol)
  def getPredictionCol: String = $(predictionCol)
  def getProbabilityCol: String = $(probabilityCol)
  def getInferenceBatchSize: Int = $(inferenceBatchSize)
  /** The kernels Dense and Conv layers run on (checked: bf16 needs native kernels). */
  def kernelChoice: KernelChoice =
    KernelChoice.fromJson(JObject("kernels" -> JString($(kernels)), "precision" -> JString($(precision))))
}

/**
 * The Params of BigwrapEstimator, named as in Python's Estimator so a saved estimator reads on both
 * sides. Optional settings (numTasks, seed, checkpointDir, resumeFrom, logDir) are unset when off;
 * Python writes them as null.
 */
trait BigwrapEstimatorParams extends BigwrapOutputParams {
  final val labelCol = new Param[String](this, "labelCol", "label column name")
  final val loss = new JsonParam(this, "loss", "sparse_categorical_crossentropy, categorical_crossentropy, " +
    "binary_crossentropy, mse, mae, huber, or a config such as {\"name\": \"huber\", \"delta\": 2.0}")
  final val optimizer = new JsonParam(this, "optimizer", "sgd, adam, adamw, rmsprop, adagrad, or a config such as " +
    "{\"name\": \"adam\", \"learning_rate\": 0.01}")
  final val batchSize = new IntParam(this, "batchSize", "global mini-batch size, a multiple of the training cores",
    ParamValidators.gt(0))
  final val epochs = new IntParam(this, "epochs", "the epoch to train up to", ParamValidators.gt(0))
  final val verbose = new IntParam(this, "verbose", "0: silent, 1 or 2: one line per epoch", ParamValidators.inArray(Array(0, 1, 2)))
  final val seed = new LongParam(this, "seed", "seeds the trainer's shuffling and BigDL's initial weights")
  final val trainer = new Param[String](this, "trainer", "'barrier' (bigwrap's trainer) or 'bigdl' (DistriOptimizer)")
  final val numTasks = new IntParam(this, "numTasks", "tasks training in parallel (barrier trainer); unset: one per core",
    ParamValidators.gt(0))
  final val taskLayout = new Param[String](this, "taskLayout", "barrier trainer without numTasks: 'auto' (time " +
    "the model both ways), 'perCore' or 'perExecutor'", ParamValidators.inArray(TaskLayout.Modes.toArray))
  final val validationSplit = new DoubleParam(this, "validationSplit", "fraction of rows held out for validation",
    ParamValidators.inRange(0.0, 1.0, lowerInclusive = true, upperInclusive = false))
  final val metrics = new StringArrayParam(this, "metrics", "validation metrics besides the loss: accuracy, " +
    "top_k_accuracy, auc, mae, mse")
  final val earlyStopping = new BooleanParam(this, "earlyStopping", "stop when `monitor` stops improving")
  final val monitor = new Param[String](this, "monitor", "the history column early stopping watches")
  final val patience = new IntParam(this, "patience", "epochs without improvement before stopping")
  final val minDelta = new DoubleParam(this, "minDelta", "the smallest change that counts as an improvement")
  final val restoreBestWeights = new BooleanParam(this, "restoreBestWeights", "end with the best epoch's weights")
  final val checkpointDir = new Param[String](this, "checkpointDir", "local directory for epoch-NNNN checkpoints")
  final val checkpointEvery = new IntParam(this, "checkpointEvery", "checkpoint every this many epochs",
    ParamValidators.gt(0))
  final val resumeFrom = new Param[String](this, "resumeFrom", "a checkpoint (or checkpointDir) to continue from")
  final val logDir = new Param[String](this, "logDir", "directory for TensorBoard event files")
  final val dataCache = new Param[String](this, "dataCache", "where converted training and validation rows live " +
    "between epochs: 'auto' (memory while they fit, then local disk), 'memory', 'disk', or 'none' (re-read the " +
    "source every epoch)", ParamValidators.inArray(DataCache.Modes.toArray))
  setDefault(dataCache -> DataCache.Default, taskLayout -> TaskLayout.Auto)
  setDefault(labelCol -> "label", optimizer -> "\"adam\"", batchSize -> 32, epochs -> 1, verbose -> 1,
    trainer -> "barrier", validationSplit -> 0.0, metrics -> Array.empty[String], earlyStopping -> false,
    monitor -> "val_loss", patience -> 0, minDelta -> 0.0, restoreBestWeights -> false, checkpointEvery -> 1)
}

/** Params ↔ the `paramMap` / `defaultParamMap` objects of a stage's metadata (Spark's layout). */
object ParamsJson {
  def paramMap(instance: Params): JObject = JObject(instance.params.toList.flatMap(p =>
    instance.get(p).map(v => p.name -> JsonMethods.parse(p.asInstanceOf[Param[Any]].jsonEncode(v)))))

  def defaultParamMap(instance: Params): JObject = JObject(instance.params.toList.flatMap(p =>
    instance.getDefault(p).map(v => p.name -> JsonMethods.parse(p.asInstanceOf[Param[Any]].jsonEncode(v)))))

  /**
   * Sets the Params named in `paramMap` on `instance`. JSON null means "off" (Python's None) and leaves
   * a Param unset; names this version does not know are skipped, as Python's reader skips them.
   */
  def set(instance: Params, paramMap: JValue, where: String): Unit = paramMap match {
    case JObject(fields) => fields.foreach {
      case (_, JNull) =>
      case (name, value) if instance.hasParam(name) =>
        val param = instance.getParam(name)
        val decoded = try param.jsonDecode(JsonMethods.compact(value)) catch {
          case e: Exception => throw BigwrapException.valueError(
            s"$where: param $name has an unreadable value ${JsonMethods.compact(value)} (${e.getMessage})")
        }
        BigwrapException.require(param.isValid(decoded), s"$where: param $name has an invalid value ${JsonMethods.compact(value)}")
        instance.set(param, decoded)
      case _ =>
    }
    case JNothing =>
    case other => throw BigwrapException.valueError(s"$where: paramMap is not a JSON object")
  }
}
