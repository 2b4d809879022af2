package bigwrap.train

import scala.collection.mutable.ArrayBuffer

import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * What a running fit has done so far, kept on the driver and polled by Python for the progress bar
 * and the history (design §3: progress is a record, never parsed from logs). Epochs are absolute
 * (a resumed run starts after `startEpoch`); iterations count within the current epoch.
 */
final class Progress(val epochs: Int, val iterationsPerEpoch: Int, val batchSize: Int, rowsPerEpoch: Long,
    startEpoch: Int, previousRows: Seq[JObject]) {
  private val rows = ArrayBuffer[JObject](previousRows: _*)
  private var epochLosses = ArrayBuffer[Double]()
  private var epochSeconds = 0.0
  private var epoch = startEpoch + 1
  private val phases = scala.collection.mutable.Map[Int, Map[String, Double]]()
  private val warnings = ArrayBuffer[String]()
  private val startedAt = System.nanoTime()
  @volatile private var done = false

  def iterationEnd(loss: Double, seconds: Double): Unit = synchronized {
    epochLosses += loss
    epochSeconds += seconds
  }

  /**
   * The finished epoch's training figures; `extra` (validation metrics) are added by the caller. Seconds and
   * samples/s are the driver's wall clock around the epoch (the trainer's), not a sum of iteration times.
   */
  def epochRow(finished: Int, wallSeconds: Double): Seq[(String, JValue)] = synchronized {
    val n = math.max(epochLosses.size, 1)
    Seq("epoch" -> JInt(finished),
      "loss" -> JDouble(epochLosses.sum / n),
      "seconds" -> JDouble(wallSeconds),
      "samples_per_second" -> JDouble(rowsPerEpoch / math.max(wallSeconds, 1e-9))) ++
      phaseFields(phases.getOrElse(finished, Map.empty))
  }

  /**
   * Where an epoch's iteration time went (trainers that measure it), added to its history row: to the row
   * itself when the epoch already has one (a stage of several epochs hands its phases back at its end).
   */
  def epochPhases(epoch: Int, millisPerIteration: Map[String, Double]): Unit = synchronized {
    val row = rows.indexWhere(r => (r \ "epoch") == JInt(epoch))
    if (row < 0) phases(epoch) = millisPerIteration
    else rows(row) = JObject(rows(row).obj ++ phaseFields(millisPerIteration))
  }

  private def phaseFields(millisPerIteration: Map[String, Double]): List[(String, JValue)] =
    millisPerIteration.toList.sorted.map { case (k, v) => s"${k}_ms" -> JDouble(v) }

  def addRow(row: JObject): Unit = synchronized {
    rows += row
    epoch = (row \ "epoch") match { case JInt(e) => e.toInt + 1; case _ => epoch + 1 }
    epochLosses = ArrayBuffer[Double]()
    epochSeconds = 0.0
  }

  /** Something the user should know that did not stop training; Python raises it as a warning. */
  def warn(message: String): Unit = synchronized { warnings += message }

  def history: Seq[JObject] = synchronized(rows.toList)
  def finish(): Unit = done = true

  def toJson: String = synchronized {
    JsonMethods.compact(JObject(
      "epochs" -> JInt(epochs),
      "epoch" -> JInt(math.min(epoch, epochs)),
      "iterations_per_epoch" -> JInt(iterationsPerEpoch),
      "batch_size" -> JInt(batchSize),
      "iteration" -> JInt(epochLosses.size),
      "loss" -> (if (epochLosses.isEmpty) JNull else JDouble(epochLosses.sum / epochLosses.size)),
      "seconds" -> JDouble(epochSeconds),
      "elapsed_seconds" -> JDouble((System.nanoTime() - startedAt) / 1e9),
      "history" -> JArray(rows.toList),
      "warnings" -> JArray(warnings.map(JString(_)).toList),
      "done" -> JBool(done)))
  }
}
