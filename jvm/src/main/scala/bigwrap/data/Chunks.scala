package bigwrap.data

import java.io.{Externalizable, ObjectInput, ObjectOutput}
import java.nio.{ByteBuffer, ByteOrder}

import scala.reflect.ClassTag

import com.intel.analytics.bigdl.dllib.feature.dataset.Sample
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.apache.spark.{NarrowDependency, Partition, TaskContext}
import org.apache.spark.rdd.RDD
import org.apache.spark.sql.DataFrame

/** The shape of one row: each model input's, and the label's (as BigDL's target). */
final case class RowLayout(featureShapes: Array[Array[Int]], labelShape: Array[Int]) {
  val featureSizes: Array[Int] = featureShapes.map(_.product)
  val labelSize: Int = labelShape.product
  /** Floats per row, features and label. */
  val rowFloats: Int = featureSizes.sum + labelSize
}

/**
 * About a MB of rows packed as float arrays: one row-major array per model input, one for the
 * labels. The unit the block manager stores (in memory, or serialized on local disk) and tasks
 * stream. Externalizable so that Java serialization writes the floats in bulk, not one by one.
 */
final class Chunk(var features: Array[Array[Float]], var labels: Array[Float], var rows: Int) extends Externalizable {
  def this() = this(null, null, 0)

  override def writeExternal(out: ObjectOutput): Unit = {
    out.writeInt(rows)
    out.writeInt(features.length)
    val bytes = Chunk.pieceBuffer()
    (features :+ labels).foreach { values =>
      out.writeInt(values.length)
      Chunk.pieces(values.length) { (from, length) =>
        bytes.clear()
        bytes.asFloatBuffer().put(values, from, length)
        out.write(bytes.array(), 0, length * 4)
      }
    }
  }

  override def readExternal(in: ObjectInput): Unit = {
    rows = in.readInt()
    val bytes = Chunk.pieceBuffer()
    val arrays = Array.fill(in.readInt() + 1) {
      val values = new Array[Float](in.readInt())
      Chunk.pieces(values.length) { (from, length) =>
        in.readFully(bytes.array(), 0, length * 4)
        bytes.clear()
        bytes.asFloatBuffer().get(values, from, length)
      }
      values
    }
    features = arrays.init
    labels = arrays.last
  }
}

private object Chunk {
  /** Floats cross the stream in pieces of this many: no second copy of a whole chunk in the heap. */
  private val PieceFloats = 16384

  def pieceBuffer(): ByteBuffer = ByteBuffer.allocate(PieceFloats * 4).order(ByteOrder.LITTLE_ENDIAN)

  def pieces(count: Int)(f: (Int, Int) => Unit): Unit = {
    var from = 0
    while (from < count) {
      val length = math.min(PieceFloats, count - from)
      f(from, length)
      from += length
    }
  }
}

/** DataFrame rows → chunks on the executors, validating every row in the same pass. */
object Chunks {
  /** What a chunk aims at: big enough that per-chunk costs vanish, small enough to stream in a small heap. */
  val TargetBytes: Int = 1 << 20

  /**
   * Each partition of `df` becomes a stream of chunks, read from Spark's internal rows (no Row objects,
   * no per-value boxing). A DataFrame of fewer than `minPartitions` partitions is first spread over at least
   * that many (Spread), so that every training task gets rows. Nothing is computed until the RDD is.
   */
  def fromDataFrame(df: DataFrame, featuresCols: Seq[String], featureShapes: Seq[Seq[Int]], labelCol: String,
      target: Target, minPartitions: Int = 1): (RDD[Chunk], RowLayout) = {
    val featureTypes = featuresCols.map(column => Columns.numericType(df.schema, column, "features"))
    val labelType = Columns.numericType(df.schema, labelCol, "label")
    val layout = RowLayout(featureShapes.map(_.toArray).toArray, Array(target.size))
    val features = featuresCols.zip(layout.featureSizes).zipWithIndex.map { case ((column, size), i) =>
      (ColumnReader(column, i, size, "features"), featureTypes(i))
    }.toArray
    val labels = ColumnReader(labelCol, featuresCols.size, target.size, "label")
    val perChunk = math.max(1, TargetBytes / (4 * layout.rowFloats))
    val selected = df.select((featuresCols :+ labelCol).map(df.col): _*)
    val rows = selected.queryExecution.toRdd match {
      case few if few.getNumPartitions < minPartitions =>
        new Spread(few, math.ceil(minPartitions.toDouble / math.max(1, few.getNumPartitions)).toInt)
      case enough => enough
    }
    val chunks = rows.mapPartitions { part =>
      new Iterator[Chunk] {
        def hasNext: Boolean = part.hasNext
        def next(): Chunk = {
          val into = layout.featureSizes.map(size => new Array[Float](perChunk * size))
          val labelValues = new Array[Float](perChunk * layout.labelSize)
          var n = 0
          while (n < perChunk && part.hasNext) {
            val row = part.next()
            var i = 0
            while (i < features.length) {
              val (reader, dataType) = features(i)
              System.arraycopy(reader.readInternal(row, dataType), 0, into(i), n * layout.featureSizes(i),
                layout.featureSizes(i))
              i += 1
            }
            System.arraycopy(target.toBigDL(labels.readInternal(row, labelType), labelCol), 0, labelValues,
              n * layout.labelSize, layout.labelSize)
            n += 1
          }
          if (n == perChunk) new Chunk(into, labelValues, n)
          else new Chunk(into.zip(layout.featureSizes).map { case (a, size) => java.util.Arrays.copyOf(a, n * size) },
            java.util.Arrays.copyOf(labelValues, n * layout.labelSize), n)
        }
      }
    }
    (chunks, layout)
  }

  /** The rows of `chunks` as BigDL samples, made one at a time as they are read. */
  def toSamples(chunks: RDD[Chunk], layout: RowLayout): RDD[Sample[Float]] = chunks.flatMap { chunk =>
    def slice(values: Array[Float], row: Int, size: Int, shape: Array[Int]) =
      Tensor[Float](java.util.Arrays.copyOfRange(values, row * size, (row + 1) * size), shape)
    Iterator.range(0, chunk.rows).map { row =>
      val label = slice(chunk.labels, row, layout.labelSize, layout.labelShape)
      val inputs = layout.featureShapes.indices.map(i =>
        slice(chunk.features(i), row, layout.featureSizes(i), layout.featureShapes(i)))
      if (inputs.size == 1) Sample[Float](inputs.head, label) else Sample[Float](inputs.toArray, label)
    }
  }
}

private final class SpreadPartition(val index: Int, val source: Partition, val way: Int) extends Partition

/**
 * Each partition of `source` dealt round-robin over `ways` partitions, without a shuffle: row i of source
 * partition p goes to partition p * ways + i % ways. The same rows land in the same places every time they
 * are read (a shuffle would hand them over in whatever order its map outputs arrive, and a seed must give the
 * same batches every run), and a lost partition is recomputed from the source alone: a barrier stage that
 * recomputed a lost shuffle output would fail the whole SparkContext (its stage does not depend on the shuffle).
 */
private final class Spread[T: ClassTag](source: RDD[T], ways: Int) extends RDD[T](source.sparkContext,
    Seq(new NarrowDependency[T](source) { def getParents(partition: Int): Seq[Int] = Seq(partition / ways) })) {
  override protected def getPartitions: Array[Partition] =
    source.partitions.flatMap(p => (0 until ways).map(way => new SpreadPartition(p.index * ways + way, p, way)))

  override protected def getPreferredLocations(split: Partition): Seq[String] =
    source.preferredLocations(split.asInstanceOf[SpreadPartition].source)

  override def compute(split: Partition, context: TaskContext): Iterator[T] = {
    val spread = split.asInstanceOf[SpreadPartition]
    var row = -1L
    source.iterator(spread.source, context).filter { _ => row += 1; row % ways == spread.way }
  }
}
