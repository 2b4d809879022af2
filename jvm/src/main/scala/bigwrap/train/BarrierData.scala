package bigwrap.train

import scala.util.Random

import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.feature.dataset.Sample
import org.apache.spark.Partitioner
import org.apache.spark.rdd.RDD
import org.apache.spark.storage.StorageLevel

/** One task's rows as ready float arrays (one per model input), in the order of their global batches. */
final case class TaskRows(features: Array[Array[Float]], labels: Array[Float], featureShapes: Array[Array[Int]],
    labelShape: Array[Int], rows: Int) {
  val featureSizes: Array[Int] = featureShapes.map(_.product)
  val labelSize: Int = labelShape.product
}

private final class TaskPartitioner(tasks: Int) extends Partitioner {
  def numPartitions: Int = tasks
  def getPartition(key: Any): Int = key.asInstanceOf[Int]
}

/**
 * Lays samples out for synchronous SGD with `tasks` tasks: a seeded permutation of all rows defines
 * the global batches of the first epoch, and task i holds the i-th sub-batch of every global batch.
 * So 1 task and N tasks see the same global batches in that epoch (later epochs shuffle within each
 * task, which keeps every row once per epoch without moving data between tasks).
 */
object BarrierData {
  /** The laid-out rows, their count, and a release for what recomputing lost partitions needs. */
  def layout(samples: RDD[Sample[Float]], tasks: Int, batchSize: Int, seed: Long): (RDD[TaskRows], Long, () => Unit) = {
    // One pass sizes the partitions; it gives both the row count and each row's global index
    // (what zipWithIndex computes, without a second conversion pass just to count).
    val starts = samples.mapPartitions(part => Iterator.single(part.size.toLong)).collect().scanLeft(0L)(_ + _)
    val count = starts.last
    require(count <= Int.MaxValue, s"$count rows exceed one permutation array")
    val order = new Array[Int](count.toInt)
    new Random(seed).shuffle((0 until count.toInt).toIndexedSeq).zipWithIndex.foreach { case (row, position) =>
      order(row) = position
    }
    val positions = samples.sparkContext.broadcast(order)
    val perTask = batchSize / tasks
    val rows = samples.mapPartitionsWithIndex { (partition, part) =>
      part.zipWithIndex.map { case (sample, i) =>
        val position = positions.value((starts(partition) + i).toInt)
        ((position % batchSize) / perTask, (position, sample))
      }
    }.partitionBy(new TaskPartitioner(tasks)).mapPartitions { iter =>
      val sorted = iter.map(_._2).toArray.sortBy(_._1).map(_._2)
      Iterator.single(pack(sorted))
    }.persist(StorageLevel.MEMORY_ONLY)
    rows.count()
    (rows, count, () => { rows.unpersist(blocking = false); positions.destroy() })
  }

  /** Copies the rows straight into one preallocated array per input: no per-row arrays, no regrowth. */
  private def pack(samples: Array[Sample[Float]]): TaskRows = {
    if (samples.isEmpty) return TaskRows(Array.empty, Array.empty, Array.empty, Array(0), 0)
    val first = samples.head
    val shapes = Array.tabulate(first.numFeature())(i => first.feature(i).size())
    val features = shapes.map(shape => new Array[Float](samples.length * shape.product))
    val labels = new Array[Float](samples.length * first.label().nElement())
    def copy(from: Tensor[Float], into: Array[Float], row: Int): Unit = {
      val source = from.contiguous()
      System.arraycopy(source.storage().array(), source.storageOffset() - 1, into, row * source.nElement(),
        source.nElement())
    }
    samples.indices.foreach { row =>
      features.indices.foreach(i => copy(samples(row).feature(i), features(i), row))
      copy(samples(row).label(), labels, row)
    }
    TaskRows(features, labels, shapes, first.label().size(), samples.length)
  }

  /** The local row order of `epoch` (1-based): as laid out first, then shuffled within the task. */
  def localOrder(rows: Int, epoch: Int, task: Int, seed: Long): Array[Int] =
    if (epoch == 1) Array.range(0, rows)
    else new Random(seed * 1000003L + epoch * 7919L + task).shuffle(Array.range(0, rows).toIndexedSeq).toArray
}
