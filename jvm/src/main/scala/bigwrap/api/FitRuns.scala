package bigwrap.api

import java.util.concurrent.ConcurrentHashMap

import bigwrap.ml.{BigwrapEstimator, SavedFiles}
import bigwrap.spec.WeightSet
import bigwrap.train.{Checkpoints, DataCache, Fitting, Losses, Metrics, Progress}
import org.apache.spark.SparkContext
import org.apache.spark.sql.DataFrame
import org.json4s._
import org.json4s.jackson.JsonMethods

/** A checkpoint read for Python: its training record with its "path", as JSON, and its weights. */
final case class CheckpointRead(json: String, weights: WeightSet)

/** The fits Python runs: their settings, their progress records, Ctrl-C's cancel, and resuming (design §3). */
object FitRuns {
  private implicit val formats: Formats = DefaultFormats
  private val runs = new ConcurrentHashMap[String, Progress]()
  private val activeRuns = ConcurrentHashMap.newKeySet[String]()
  private val cancelledRuns = ConcurrentHashMap.newKeySet[String]()

  private def runTag(runId: String) = s"bigwrap-fit-$runId"

  /**
   * Trains the model behind `handle` in place on `df` (validating on `validationDf` when not null) with the
   * settings of `estimator` (the JVM twin of Python's Estimator); `requestJson`: a FitRequest. Returns the
   * final progress record.
   */
  def fit(df: DataFrame, validationDf: DataFrame, handle: String, estimator: BigwrapEstimator,
      requestJson: String): String = {
    val request = BridgeConfigs.fit(requestJson)
    val built = LiveModels.changed(handle) // trained in place
    estimator.checkSettings("Estimator", validates = validationDf != null)
    val config = estimator.fitConfig(request.resume)
    val sc = df.sparkSession.sparkContext
    // a tag, not a job group: the user's own job group stays in force and cancels our jobs too
    sc.addJobTag(runTag(request.runId))
    activeRuns.add(request.runId)
    try JsonMethods.compact(Fitting.run(df, Option(validationDf), built, config,
      progress => runs.put(request.runId, progress), cancelled = () => cancelledRuns.contains(request.runId)))
    finally {
      runs.remove(request.runId)
      sc.removeJobTag(runTag(request.runId))
      activeRuns.remove(request.runId)
      cancelledRuns.remove(request.runId)
    }
  }

  /** Stops the fit `runId`: its trainer starts and retries nothing more, its jobs are cancelled. Still running? */
  def cancel(runId: String): Boolean = {
    if (activeRuns.contains(runId)) {
      cancelledRuns.add(runId)
      SparkContext.getOrCreate().cancelJobsWithTag(runTag(runId))
    }
    activeRuns.contains(runId)
  }

  /** The progress record of a running fit, or "null" when none runs under `runId`. */
  def progress(runId: String): String = Option(runs.get(runId)).map(_.toJson).getOrElse("null")

  /** The checkpoint `resumeFrom` names (itself, or a checkpointDir's newest complete one, on any store), checked. */
  def checkpoint(resumeFrom: String): CheckpointRead = {
    val root = Checkpoints.latest(resumeFrom)
    val files = new SavedFiles(root, problem => throw BigwrapException.valueError(problem))
    val training = files.json("training.json")
    BigwrapException.require(training \ "format" == JString("bigwrap.checkpoint") && training \ "version" == JInt(1),
      s"'$root' is not a bigwrap checkpoint this version reads")
    CheckpointRead(JsonMethods.compact(training merge JObject("path" -> JString(root.toString))),
      files.model("").weights)
  }

  /** Loss and metrics of the model behind `handle` on `df`, as a JSON object of means. */
  def evaluate(df: DataFrame, handle: String, configJson: String): String = {
    val config = BridgeConfigs.evaluate(configJson)
    val built = LiveModels(handle)
    val lossName = (config.loss \ "name").extract[String]
    val fromLogits = (config.loss \ "from_logits").extractOpt[Boolean].getOrElse(false)
    val metrics = Metrics(config.metrics, Losses.task(lossName), fromLogits, built.outputShapes.head.product,
      Losses.criterion(config.loss))
    val rows = Fitting.data(df, built, config.featuresCols, config.labelCol, lossName, DataCache.Default)
    val scores = Metrics.evaluate(built.module, rows.samples, metrics, config.batchSize)
    JsonMethods.compact(JObject(scores.map { case (k, v) => k -> JDouble(v) }.toList))
  }
}
