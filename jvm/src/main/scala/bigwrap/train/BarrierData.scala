package bigwrap.train

import scala.util.Random

import bigwrap.spec.Tensors
import com.intel.analytics.bigdl.dllib.feature.dataset.Sample
import org.apache.spark.Partitioner
import org.apache.spark.rdd.RDD
import org.apache.spark.storage.StorageLevel

/** One task's rows as ready float arrays, in the order of the global batches they belong to. */
final case class TaskRows(features: Array[Float], labels: Array[Float], featureShape: Array[Int],
    labelShape: Array[Int]) {
  val featureSize: Int = featureShape.product
  val labelSize: Int = labelShape.product
  def rows: Int = if (featureSize == 0) 0 else features.length / featureSize
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
  def layout(samples: RDD[Sample[Float]], tasks: Int, batchSize: Int, seed: Long): (RDD[TaskRows], Long) = {
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
    positions.destroy()
    (rows, count)
  }

  private def pack(samples: Array[Sample[Float]]): TaskRows = {
    if (samples.isEmpty) return TaskRows(Array.empty, Array.empty, Array(0), Array(0))
    val featureShape = samples.head.feature().size()
    val labelShape = samples.head.label().size()
    val features = samples.flatMap(s => Tensors.toArray(s.feature()))
    val labels = samples.flatMap(s => Tensors.toArray(s.label()))
    TaskRows(features, labels, featureShape, labelShape)
  }

  /** The local row order of `epoch` (1-based): as laid out first, then shuffled within the task. */
  def localOrder(rows: Int, epoch: Int, task: Int, seed: Long): Array[Int] =
    if (epoch == 1) Array.range(0, rows)
    else new Random(seed * 1000003L + epoch * 7919L + task).shuffle(Array.range(0, rows).toIndexedSeq).toArray
}
