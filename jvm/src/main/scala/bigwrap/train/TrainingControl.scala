package bigwrap.train

import java.nio.charset.StandardCharsets

import bigwrap.api.BigwrapException
import bigwrap.io.{EventLogDir, Location, Storage}
import bigwrap.spec.BuiltModel
import com.intel.analytics.bigdl.dllib.feature.dataset.Sample
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.visualization.{TrainSummary, ValidationSummary}
import org.apache.spark.rdd.RDD
import org.json4s._
import org.json4s.jackson.JsonMethods

/** Keras' EarlyStopping: watch `monitor`, stop after `patience` epochs without a `minDelta` gain. */
final case class EarlyStopping(monitor: String, patience: Int, minDelta: Double, restoreBest: Boolean) {
  /** Losses and errors improve downwards, accuracies and AUC upwards. */
  val lowerIsBetter: Boolean = !Seq("accuracy", "auc").exists(monitor.endsWith)
}

final case class Validation(samples: RDD[Sample[Float]], metrics: Seq[Metric], batchSize: Int)

final case class CheckpointPlan(dir: String, every: Int, optimizerConfig: JValue)

/**
 * The trainer-neutral layer (design §3) as one TrainingListener: progress, per-epoch validation
 * and history rows, early stopping with best-weight restore, checkpoints and TensorBoard events.
 * Every trainer gets all of it by reporting iterationEnd / epochEnd.
 */
final class TrainingControl(
    built: BuiltModel,
    val progress: Progress,
    validation: Option[Validation],
    earlyStopping: Option[EarlyStopping],
    checkpoints: Option[CheckpointPlan],
    logDir: Option[String],
    optimizerState: OptimizerStateLink,
    startIteration: Int) extends TrainingListener {

  private val eventLogs = logDir.map(new EventLogDir(_))
  private val trainEvents = eventLogs.map(d => new TrainSummary(d.writerDir, "bigwrap"))
  private val validationEvents = eventLogs.filter(_ => validation.isDefined).map(d => new ValidationSummary(d.writerDir, "bigwrap"))
  private var best = Option.empty[(Double, Int)]
  private var bestWeights = Option.empty[Array[Tensor[Float]]]
  private var waited = 0
  private var step = startIteration
  @volatile var stoppedEarlyAt = Option.empty[Int]

  def iterationEnd(loss: Double, seconds: Double): Unit = {
    progress.iterationEnd(loss, seconds)
    step += 1
    trainEvents.foreach(_.addScalar("loss", loss.toFloat, step))
  }

  override def warn(message: String): Unit = progress.warn(message)

  override def epochPhases(epoch: Int, millisPerIteration: Map[String, Double]): Unit =
    progress.epochPhases(epoch, millisPerIteration)

  /** Validation and early stopping read every epoch's weights; checkpoints the weights of the epochs they save. */
  override def needsModel(epoch: Int): Boolean = validation.isDefined || earlyStopping.isDefined ||
    checkpoints.exists(plan => checkpointAfter(plan, epoch, continue = true))

  def epochEnd(epoch: Int, model: AbstractModule[Activity, Activity, Float], wallSeconds: Double): Boolean = {
    val scores = validation.toSeq.flatMap(v => Metrics.evaluate(model, v.samples, v.metrics, v.batchSize))
    scores.foreach { case (name, value) => validationEvents.foreach(_.addScalar(name, value.toFloat, epoch)) }
    val row = JObject((progress.epochRow(epoch, wallSeconds) ++ scores.map { case (k, v) => s"val_$k" -> JDouble(v) })
      .toList)
    progress.addRow(row)
    val continue = earlyStopping.forall(watch(_, epoch, row, model))
    checkpoints.foreach { plan =>
      if (checkpointAfter(plan, epoch, continue)) writeCheckpoint(plan, epoch)
    }
    if (!continue) stoppedEarlyAt = Some(epoch)
    eventLogs.foreach(_.upload())
    continue
  }

  private def checkpointAfter(plan: CheckpointPlan, epoch: Int, continue: Boolean): Boolean =
    epoch % plan.every == 0 || !continue || epoch == progress.epochs

  private def watch(rule: EarlyStopping, epoch: Int, row: JObject, model: AbstractModule[Activity, Activity, Float]): Boolean = {
    val value = row \ rule.monitor match {
      case JDouble(v) => v
      case _ => throw bigwrap.api.BigwrapException.valueError(s"early stopping monitors '${rule.monitor}', which the " +
        s"history does not have (it has ${row.obj.map(_._1).filter(_ != "epoch").mkString(", ")})")
    }
    val improved = best.forall { case (b, _) =>
      if (rule.lowerIsBetter) value < b - rule.minDelta else value > b + rule.minDelta
    }
    if (improved) {
      best = Some((value, epoch))
      waited = 0
      if (rule.restoreBest) bestWeights = Some(model.parameters()._1.map(_.clone()))
      true
    } else {
      waited += 1
      waited < math.max(rule.patience, 1)
    }
  }

  /** After training: puts the best epoch's weights back if asked to; returns that epoch. */
  def finish(model: AbstractModule[Activity, Activity, Float]): Option[Int] = {
    progress.finish()
    trainEvents.foreach(_.close())
    validationEvents.foreach(_.close())
    eventLogs.foreach(_.close())
    for (weights <- bestWeights; (_, epoch) <- best) yield {
      model.parameters()._1.zip(weights).foreach { case (w, b) => w.copy(b) }
      epoch
    }
  }

  def bestEpoch: Option[Int] = best.map(_._2)

  private def writeCheckpoint(plan: CheckpointPlan, epoch: Int): Unit = {
    val state = optimizerState.capture()
    val training = JObject(
      "format" -> JString("bigwrap.checkpoint"), "version" -> JInt(1), "epoch" -> JInt(epoch),
      "iteration" -> JInt(step), "optimizer" -> plan.optimizerConfig,
      "has_optimizer_state" -> JBool(state.isDefined), "history" -> JArray(progress.history.toList))
    val weights = built.weights
    Storage.writeDirectory(Storage.resolve(plan.dir).child(f"epoch-$epoch%04d"), Seq(
      "spec.json" -> built.specJson.getBytes(StandardCharsets.UTF_8),
      "weights.json" -> weights.indexJson.getBytes(StandardCharsets.UTF_8),
      "weights.bin" -> weights.bytes,
      "training.json" -> JsonMethods.compact(training).getBytes(StandardCharsets.UTF_8)) ++
      state.toSeq.flatMap { s =>
        val index = JObject(JsonMethods.parse(s.arrays.indexJson).asInstanceOf[JObject].obj :+ ("counters" -> s.countersJson))
        Seq("optimizer.json" -> JsonMethods.compact(index).getBytes(StandardCharsets.UTF_8),
          "optimizer.bin" -> s.arrays.bytes)
      })
  }
}

object Checkpoints {
  private val EpochDir = "^epoch-(\\d+)$".r

  /** `dir` itself if it is a checkpoint, else the newest complete epoch-NNNN checkpoint in it (any store). */
  def latest(dir: String): Location = {
    val root = Storage.resolve(dir)
    Storage.complete(root).filter(_.child("training.json").isFile).getOrElse {
      val epochs = root.children.collect { case c @ Location(_, p) if EpochDir.pattern.matcher(p.getName).matches =>
        p.getName.stripPrefix("epoch-").toInt -> c }
      epochs.sortBy(-_._1).iterator.flatMap { case (_, c) => Storage.complete(c) }.toStream.headOption.getOrElse(
        throw BigwrapException.valueError(s"resumeFrom='$dir' is neither a checkpoint nor a checkpointDir with " +
          "epoch-NNNN checkpoints in it"))
    }
  }

  /** The optimizer state a checkpoint directory (any store) holds, if it holds one. */
  def readOptimizerState(dir: String): Option[OptimizerState] = {
    val checkpoint = Storage.resolve(dir)
    val index = checkpoint.child("optimizer.json")
    if (!index.isFile) None
    else Some(OptimizerState.fromFiles(new String(index.readBytes(), StandardCharsets.UTF_8),
      checkpoint.child("optimizer.bin").readBytes()))
  }
}
