package bigwrap.train

import bigwrap.api.BigwrapException
import bigwrap.data.{Chunk, Chunks, RowLayout, Target}
import com.intel.analytics.bigdl.dllib.feature.dataset.Sample
import org.apache.spark.SparkContext
import org.apache.spark.bigwrap.BlockStatus
import org.apache.spark.rdd.RDD
import org.apache.spark.sql.DataFrame
import org.apache.spark.storage.StorageLevel
import org.json4s._

/**
 * Where converted rows live between epochs (Estimator Param `dataCache`; design §3b). "auto" keeps them
 * in storage memory as objects when they fit half of it (MEMORY_AND_DISK: a partition that does not fit
 * after all goes to disk) and on local disk otherwise (DISK_ONLY), where the OS page cache is the memory
 * tier: big data through the memory store would be unrolled into the heap, beside the source reader's
 * own buffers. "memory" keeps objects and never spills (a partition that does not fit is re-read from
 * the source); "disk" keeps everything on local disk; "none" stores nothing and re-reads the source.
 */
object DataCache {
  val Modes: Seq[String] = Seq("auto", "memory", "disk", "none")
  val Default = "auto"

  /** The storage level of `mode`; "auto" weighs the rows' `bytes` against the executors' storage memory. */
  def level(mode: String, bytes: => Long, storageMemory: => Long): StorageLevel = mode match {
    case "auto" => if (bytes <= storageMemory / 2) StorageLevel.MEMORY_AND_DISK else StorageLevel.DISK_ONLY
    case "memory" => StorageLevel.MEMORY_ONLY
    case "disk" => StorageLevel.DISK_ONLY
    case "none" => StorageLevel.NONE
    case other => throw BigwrapException.valueError(s"dataCache must be one of ${Modes.mkString(", ")}; got '$other'")
  }
}

/**
 * A fit's training or validation DataFrame with the columns and shapes to read: as packed chunks stored
 * per `mode`, or as BigDL samples (for DistriOptimizer, which caches them itself).
 */
final class TrainingData(df: DataFrame, featuresCols: Seq[String], featureShapes: Seq[Seq[Int]], labelCol: String,
    target: Target, val mode: String, chosenLevel: Option[StorageLevel] = None) {
  @volatile var report: Option[JObject] = None

  def sparkContext: SparkContext = df.sparkSession.sparkContext
  lazy val count: Long = df.count()
  private def rowFloats = featureShapes.map(_.product).sum + target.size
  /** Where this data's chunks are stored: `chosenLevel` (validation takes the training data's), else per `mode`. */
  lazy val level: StorageLevel = chosenLevel.getOrElse(DataCache.level(mode, count * 4L * rowFloats,
    BlockStatus.executorStorageBytes(sparkContext)))

  /** Every row as a BigDL sample, made on the executors as the rows are read (nothing stored: BigDL caches them). */
  def samples: RDD[Sample[Float]] = {
    val (rows, layout) = Chunks.fromDataFrame(df, featuresCols, featureShapes, labelCol, target)
    Chunks.toSamples(rows, layout)
  }

  /** Chunks persisted at this mode's level, computed (and stored) when first read. */
  def chunks(minPartitions: Int = 1): (RDD[Chunk], RowLayout) = {
    val (chunks, layout) = Chunks.fromDataFrame(df, featuresCols, featureShapes, labelCol, target, minPartitions)
    (if (level == StorageLevel.NONE) chunks else chunks.persist(level).setName(s"bigwrap rows (dataCache=$mode)"),
      layout)
  }

  /** Validation data: samples made from stored chunks as they are read; the release unpersists them. */
  def evaluationSamples(): (RDD[Sample[Float]], () => Unit) = {
    val (stored, layout) = chunks()
    (Chunks.toSamples(stored, layout), () => stored.unpersist(blocking = false))
  }

  /**
   * Converts and stores every partition once, in a normal Spark job that also checks every row and counts
   * each partition's rows: all the driver keeps is one number per partition.
   */
  def store(minPartitions: Int, warn: String => Unit): StoredChunks = {
    val (stored, layout) = chunks(minPartitions)
    val rows = stored.mapPartitions(part => Iterator.single(part.map(_.rows.toLong).sum)).collect()
    val result = new StoredChunks(stored, layout, rows)
    val (cached, memory, disk) = result.storage
    if (mode == "memory" && cached < rows.length) warn(s"${rows.length - cached} of ${rows.length} partitions of " +
      "the training rows do not fit in storage memory and are re-read from the source every epoch; " +
      "dataCache='auto' spills them to local disk instead")
    report = Some(JObject("data_cache" -> JString(mode), "storage_level" -> JString(level.description),
      "rows" -> JInt(rows.sum), "partitions" -> JInt(rows.length), "memory_bytes" -> JInt(memory),
      "disk_bytes" -> JInt(disk)))
    result
  }

  /**
   * For trainers that hold every row in memory as BigDL samples: refuses, before any long job, data that
   * cannot fit in the executors' storage memory, or a `mode` that asks for disk.
   */
  def requireInMemory(trainer: String): Unit = {
    BigwrapException.require(mode == "auto" || mode == "memory", s"trainer='$trainer' holds every training row " +
      s"in memory; dataCache='$mode' needs trainer='barrier'")
    val rowBytes = 4L * rowFloats + SampleOverheadBytes
    val needed = count * rowBytes
    val budget = BlockStatus.executorStorageBytes(sparkContext)
    BigwrapException.require(needed <= budget, f"trainer='$trainer' caches every training row in memory: " +
      f"~${needed / 1e6}%,.0f MB for $count%,d rows, over the ${budget / 1e6}%,.0f MB of storage memory the " +
      "executors have; use trainer='barrier', which streams data bigger than memory (or give executors more memory)")
  }

  /** A BigDL ArraySample's own objects: the sample, its float array and shape arrays. */
  private val SampleOverheadBytes = 96L
}

/** Stored training chunks: `partitionRows` is the only per-data state the driver holds. */
final class StoredChunks(val chunks: RDD[Chunk], val layout: RowLayout, val partitionRows: Array[Long]) {
  /** Cached partitions, bytes in memory and bytes on disk, as the block manager master reports them. */
  def storage: (Int, Long, Long) = chunks.sparkContext.getRDDStorageInfo.find(_.id == chunks.id)
    .map(info => (info.numCachedPartitions, info.memSize, info.diskSize)).getOrElse((0, 0L, 0L))

  /**
   * Before an epoch is retried: recomputes the partitions whose blocks went with a lost executor in a
   * normal job, which also reruns lost shuffle outputs of the source (a barrier stage only reads). With
   * nothing stored that is a pass over every partition.
   */
  def restore(): Unit = {
    val missing = if (chunks.getStorageLevel == StorageLevel.NONE) chunks.partitions.indices
      else BlockStatus.missingPartitions(chunks)
    if (missing.nonEmpty) chunks.sparkContext.runJob(chunks, (part: Iterator[Chunk]) => part.foreach(_ => ()), missing)
  }

  def release(): Unit = chunks.unpersist(blocking = false)
}
