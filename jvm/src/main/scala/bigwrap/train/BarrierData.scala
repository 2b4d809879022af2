package bigwrap.train

import scala.collection.mutable.ArrayBuffer
import scala.util.Random

import bigwrap.api.BigwrapException
import bigwrap.data.{Chunk, RowLayout}
import com.intel.analytics.bigdl.dllib.nn.abstractnn.Activity
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import com.intel.analytics.bigdl.dllib.utils.T
import org.apache.spark.{Partition, TaskContext}
import org.apache.spark.rdd.RDD

/**
 * How the barrier trainer's tasks get their rows (docs/data.md). Each task owns a fixed share of the
 * stored partitions for the whole fit. Every epoch it reads its partitions in a seeded order, several
 * at once with their chunks interleaved at random, and draws each sub-batch row at random from a
 * bounded shuffle buffer those rows stream through. Tasks may hold different row counts: a task whose
 * rows are done contributes none, and the trainer averages gradients over the rows each iteration has.
 */
final case class BarrierFeeding(layout: RowLayout, shares: Array[Array[Int]], taskRows: Array[Long], perTask: Int,
    seed: Long) {
  /** Synchronous iterations per epoch: until the task with the most rows has fed them all. */
  val iterations: Int = taskRows.map(rows => math.ceil(rows.toDouble / perTask).toLong).max.toInt
}

object BarrierData {
  /** Rows the shuffle buffer of one task holds, in bytes: at least a sub-batch. */
  val ShuffleBufferBytes: Int = 16 << 20
  /** Partitions a task reads at once, interleaving their chunks. */
  val OpenPartitions: Int = 4

  /** Shares of whole partitions, balanced by rows: the largest first, each to the task with the fewest rows. */
  def plan(stored: StoredChunks, tasks: Int, batchSize: Int, seed: Long): BarrierFeeding = {
    val rows = stored.partitionRows
    val shares = Array.fill(tasks)(ArrayBuffer[Int]())
    val load = new Array[Long](tasks)
    rows.indices.sortBy(p => (-rows(p), p)).foreach { p =>
      val task = load.indices.minBy(t => (load(t), t))
      shares(task) += p
      load(task) += rows(p)
    }
    BarrierFeeding(stored.layout, shares.map(_.sorted.toArray), load, batchSize / tasks, seed)
  }

  def random(feeding: BarrierFeeding, epoch: Int, task: Int, purpose: Int): Random =
    new Random(feeding.seed * 1000003L + epoch * 7919L + task * 31L + purpose)
}

private final class TaskShare(val index: Int, val parents: Array[Partition]) extends Partition

/** One epoch of one task's rows: its chunks in the epoch's order, read as they are consumed. */
private[train] final case class TaskEpoch(epoch: Int, chunks: Iterator[Chunk])

/**
 * A barrier stage's input for `epochs`: partition t yields, per epoch, task t's chunks in that epoch's order.
 * Reads stored partitions of `parent` inside the barrier stage without depending on it: Spark allows no
 * RDD with another partition count in a barrier stage. So the scheduler never recomputes `parent` for
 * this RDD; StoredChunks.restore does that in a normal job before a retried stage.
 */
private[train] final class StageRows(parent: RDD[Chunk], feeding: BarrierFeeding, epochs: Range)
    extends RDD[TaskEpoch](parent.sparkContext, Nil) {
  override protected def getPartitions: Array[Partition] =
    Array.tabulate[Partition](feeding.shares.length)(t => new TaskShare(t, feeding.shares(t).map(parent.partitions(_))))

  override def compute(split: Partition, context: TaskContext): Iterator[TaskEpoch] = epochs.iterator.map { epoch =>
    val random = BarrierData.random(feeding, epoch, split.index, 0)
    val order = random.shuffle(split.asInstanceOf[TaskShare].parents.toSeq)
    TaskEpoch(epoch, new Interleaved(order.iterator.map(p => () => parent.iterator(p, context)),
      BarrierData.OpenPartitions, random))
  }
}

/** Up to `width` of `sources` open at once; each next chunk comes from a random open one. */
private final class Interleaved[A](sources: Iterator[() => Iterator[A]], width: Int, random: Random) extends Iterator[A] {
  private val open = ArrayBuffer[Iterator[A]]()

  def hasNext: Boolean = {
    while (open.size < width && sources.hasNext) open += sources.next()()
    var i = 0
    while (i < open.size) if (open(i).hasNext) i += 1 else open.remove(i)
    open.nonEmpty
  }

  def next(): A = {
    if (!hasNext) throw new NoSuchElementException("no chunks left")
    open(random.nextInt(open.size)).next()
  }
}

/**
 * One task's rows for one epoch, as the input and target tensors of its sub-batches. Rows stream from
 * the chunks into a buffer of `capacity` rows (a sub-batch at least); each sub-batch row is a random row of
 * the buffer, whose place the next incoming row takes (tf.data's shuffle buffer).
 */
final class TaskFeed(feeding: BarrierFeeding, epoch: Int, task: Int, chunks: Iterator[Chunk], buffer: Array[Float]) {
  private val layout = feeding.layout
  private val rowFloats = layout.rowFloats
  private val capacity = buffer.length / rowFloats
  private val random = BarrierData.random(feeding, epoch, task, 1)
  private var held = 0
  private var chunk: Chunk = _
  private var nextRow = 0
  private val inputs = layout.featureShapes.map(_ => Tensor[Float]())
  val input: Activity = if (inputs.length == 1) inputs.head else T.array(inputs)
  val target: Tensor[Float] = Tensor[Float]()
  /** Rows handed out this epoch. */
  var delivered = 0L

  /** Fills `input` and `target` with up to `rows` rows; returns how many (0 once the epoch's rows are done). */
  def fill(rows: Int): Int = {
    val into = inputs.indices.map(i => inputs(i).resize(rows +: layout.featureShapes(i)).storage().array()) :+
      target.resize(rows +: layout.labelShape).storage().array()
    val sizes = layout.featureSizes :+ layout.labelSize
    var taken = 0
    while (taken < rows && topUp()) {
      val pick = random.nextInt(held)
      var offset = pick * rowFloats
      var i = 0
      while (i < sizes.length) {
        System.arraycopy(buffer, offset, into(i), taken * sizes(i), sizes(i))
        offset += sizes(i)
        i += 1
      }
      // the next incoming row fills the hole (one copy); once the rows run out, the last held row does
      if (hasIncoming) takeIncoming(pick)
      else {
        held -= 1
        if (pick != held) System.arraycopy(buffer, held * rowFloats, buffer, pick * rowFloats, rowFloats)
      }
      taken += 1
    }
    if (taken < rows) {
      inputs.indices.foreach(i => inputs(i).resize(taken +: layout.featureShapes(i)))
      target.resize(taken +: layout.labelShape)
    }
    delivered += taken
    taken
  }

  /** After the epoch's iterations: every row of the share was fed, as many as when the data was first read. */
  def checkAllFed(): Unit = {
    val (left, expected) = (topUp(), feeding.taskRows(task))
    BigwrapException.require(delivered == expected && !left, s"training task $task read ${delivered + held}" +
      s"${if (left) " or more" else ""} rows this epoch but $expected when the data was first read: the training " +
      "DataFrame does not give the same rows each time it is read; cache it, or use dataCache='auto'")
  }

  /** Takes rows in until the buffer is full or the chunks end; false when no row is left. */
  private def topUp(): Boolean = {
    while (held < capacity && hasIncoming) {
      takeIncoming(held)
      held += 1
    }
    held > 0
  }

  /** Copies the next incoming row into buffer slot `slot`. */
  private def takeIncoming(slot: Int): Unit = {
    var offset = slot * rowFloats
    var i = 0
    while (i < chunk.features.length) {
      val size = layout.featureSizes(i)
      System.arraycopy(chunk.features(i), nextRow * size, buffer, offset, size)
      offset += size
      i += 1
    }
    System.arraycopy(chunk.labels, nextRow * layout.labelSize, buffer, offset, layout.labelSize)
    nextRow += 1
  }

  private def hasIncoming: Boolean = {
    while ((chunk == null || nextRow >= chunk.rows) && chunks.hasNext) {
      chunk = chunks.next()
      nextRow = 0
    }
    chunk != null && nextRow < chunk.rows
  }
}

object TaskFeed {
  /** A task's shuffle buffer (up to ShuffleBufferBytes, a sub-batch at least), allocated once for all its epochs. */
  def buffer(feeding: BarrierFeeding, task: Int): Array[Float] = {
    val rowFloats = feeding.layout.rowFloats
    val capacity = math.max(feeding.perTask.toLong, math.min(BarrierData.ShuffleBufferBytes / (4L * rowFloats),
      feeding.taskRows(task))).max(1L).toInt
    new Array[Float](capacity * rowFloats)
  }
}
