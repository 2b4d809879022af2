package bigwrap.train

import scala.util.Random

import bigwrap.spec.Tensors
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
    val indexed = samples.zipWithIndex()
    val count = indexed.count()
    require(count <= Int.MaxValue, s"$count rows exceed one permutation array")
    val order = new Array[Int](count.toInt)
    new Random(seed).shuffle((0 until count.toInt).toIndexedSeq).zipWithIndex.foreach { case (row, position) =>
      order(row) = position
    }
    val positions = samples.sparkContext.broadcast(order)
    val perTask = batchSize / tasks
    val rows = indexed.map { case (sample, row) =>
      val position = positions.value(row.toInt)
      ((position % batchSize) / perTask, (position, sample))
    }.partitionBy(new TaskPartitioner(tasks)).mapPartitions { iter =>
      val sorted = iter.map(_._2).toArray.sortBy(_._1).map(_._2)
      Iterator.single(pack(sorted))
    }.persist(StorageLevel.MEMORY_ONLY)
    rows.count()
    (rows, count, () => { rows.unpersist(blocking = false); positions.destroy() })
  }

  private def pack(samples: Array[Sample[Float]]): TaskRows = {
    if (samples.isEmpty) return TaskRows(Array.empty, Array.empty, Array.empty, Array(0), 0)
    val inputs = samples.head.numFeature()
    val features = Array.tabulate(inputs)(i => samples.flatMap(s => Tensors.toArray(s.feature(i))))
    val labels = samples.flatMap(s => Tensors.toArray(s.label()))
    TaskRows(features, labels, Array.tabulate(inputs)(i => samples.head.feature(i).size()),
      samples.head.label().size(), samples.length)
  }

  /** The local row order of `epoch` (1-based): as laid out first, then shuffled within the task. */
  def localOrder(rows: Int, epoch: Int, task: Int, seed: Long): Array[Int] =
    if (epoch == 1) Array.range(0, rows)
    else new Random(seed * 1000003L + epoch * 7919L + task).shuffle(Array.range(0, rows).toIndexedSeq).toArray
}
