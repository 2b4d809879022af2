package bigwrap.train

import scala.collection.mutable.ArrayBuffer

import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * What a running fit has done so far, kept on the driver by the trainer and polled by Python
 * (design §3: progress is a record, never parsed from logs). Iterations are counted from 1.
 */
final class Progress(val epochs: Int, val iterationsPerEpoch: Int, val batchSize: Int) extends TrainingListener {
  private val losses = ArrayBuffer[Double]()
  private val iterationSeconds = ArrayBuffer[Double]()
  private val phases = scala.collection.mutable.Map[Int, Map[String, Double]]()
  private val warnings = ArrayBuffer[String]()
  private val startedAt = System.nanoTime()
  @volatile private var done = false

  def iterationEnd(loss: Double, seconds: Double): Unit = synchronized {
    losses += loss
    iterationSeconds += seconds
  }

  def epochEnd(epoch: Int, model: AbstractModule[Activity, Activity, Float]): Boolean = true

  override def warn(message: String): Unit = synchronized { warnings += message }

  override def epochPhases(epoch: Int, millisPerIteration: Map[String, Double]): Unit = synchronized {
    phases(epoch) = millisPerIteration
  }

  def finish(): Unit = done = true

  private def epochRows: Seq[JObject] = {
    val complete = losses.size / iterationsPerEpoch
    (0 until complete).map { e =>
      val range = e * iterationsPerEpoch until (e + 1) * iterationsPerEpoch
      val seconds = range.map(iterationSeconds).sum
      val breakdown = phases.getOrElse(e + 1, Map.empty).toList.sorted.map { case (k, v) => s"${k}_ms" -> JDouble(v) }
      JObject(List(
        "epoch" -> JInt(e + 1),
        "loss" -> JDouble(range.map(losses).sum / iterationsPerEpoch),
        "seconds" -> JDouble(seconds),
        "samples_per_second" -> JDouble(iterationsPerEpoch * batchSize / math.max(seconds, 1e-9))) ++ breakdown)
    }
  }

  def toJson: String = synchronized {
    JsonMethods.compact(JObject(
      "epochs" -> JInt(epochs),
      "iterations_per_epoch" -> JInt(iterationsPerEpoch),
      "iteration" -> JInt(losses.size),
      "loss" -> (if (losses.isEmpty) JNull else JDouble(losses.last)),
      "elapsed_seconds" -> JDouble((System.nanoTime() - startedAt) / 1e9),
      "history" -> JArray(epochRows.toList),
      "warnings" -> JArray(warnings.map(JString(_)).toList),
      "done" -> JBool(done)))
  }
}
