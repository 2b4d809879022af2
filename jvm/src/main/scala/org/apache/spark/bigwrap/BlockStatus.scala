package org.apache.spark.bigwrap

import org.apache.spark.SparkContext
import org.apache.spark.rdd.RDD
import org.apache.spark.storage.{BlockId, RDDBlockId}

/** What the block manager master knows: storage memory per executor, which cached partitions exist. */
object BlockStatus {
  /** The storage memory (bytes) of the block managers that run tasks: every executor's, not the driver's. */
  def executorStorageBytes(sc: SparkContext): Long = {
    val status = sc.env.blockManager.master.getMemoryStatus
    val executors = status.filter { case (id, _) => sc.isLocal || !id.isDriver }
    executors.values.map(_._1).sum
  }

  /** The partitions of the persisted `rdd` whose block no block manager holds (e.g. after a lost executor). */
  def missingPartitions(rdd: RDD[_]): Seq[Int] = {
    val ids = rdd.partitions.indices.map(p => RDDBlockId(rdd.id, p): BlockId).toArray
    rdd.sparkContext.env.blockManager.master.getLocations(ids).zipWithIndex.collect {
      case (locations, p) if locations.isEmpty => p
    }
  }
}
