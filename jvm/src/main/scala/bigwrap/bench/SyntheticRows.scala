package bigwrap.bench

import java.util.SplittableRandom

import org.apache.spark.sql.{DataFrame, SparkSession}

/**
 * Big synthetic tables for the scale tests and bench/scale.py, generated on the executors (a Python
 * generator would cost minutes per GB): `features` holds `width` uniform floats in [0, 1), `label` is 1
 * when the first two features sum above 1, else 0 (a rule a small MLP learns in one epoch). Each row
 * is seeded by its id, so the same arguments give the same rows in any partitioning.
 */
object SyntheticRows {
  def frame(spark: SparkSession, rows: Long, width: Int, partitions: Int, seed: Long): DataFrame = {
    import spark.implicits._
    spark.range(0, rows, 1, partitions).map { id =>
      val random = new SplittableRandom(seed * 1000003L + id)
      val features = Array.fill(width)(random.nextDouble().toFloat)
      (features, if (features(0) + features(1) > 1) 1.0 else 0.0)
    }.toDF("features", "label")
  }

  /**
   * Writes `frame(...)` to `path` as uncompressed Parquet (random floats do not compress) in row groups of
   * 32 MB: a Parquet reader holds a whole row group per task, and Parquet's default 128 MB per task is a
   * quarter of a 1 GB heap on 2 cores before any work. Returns the bytes written.
   */
  def writeParquet(spark: SparkSession, path: String, rows: Long, width: Int, partitions: Int, seed: Long): Long = {
    frame(spark, rows, width, partitions, seed).write.option("compression", "none")
      .option("parquet.enable.dictionary", "false").option("parquet.block.size", 32L << 20).parquet(path)
    val dir = new org.apache.hadoop.fs.Path(path)
    dir.getFileSystem(spark.sparkContext.hadoopConfiguration).getContentSummary(dir).getLength
  }
}
