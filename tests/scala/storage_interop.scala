// Run by tests/test_storage.py in pyspark's bin/spark-shell with bigwrap's settings, the s3a connector and the
// loopback S3 endpoint: loads what Python saved to HDFS and S3 (BIGWRAP_STORE_MODELS: name=url,...), transforms the
// same rows, writes the predictions back to a local directory (BIGWRAP_INTEROP_DIR), and saves the first model to
// BIGWRAP_SCALA_SAVES (HDFS) for Python to load.
import bigwrap.ml.BigwrapModel
import org.apache.spark.ml.{PipelineModel, Transformer}
import org.apache.spark.sql.SparkSession

object StorageInterop {
  def run(spark: SparkSession, dir: String, models: Seq[(String, String)], scalaSaves: String): Unit = {
    val rows = spark.read.parquet(s"$dir/rows.parquet")
    for ((name, url) <- models) {
      val model: Transformer = if (name.startsWith("pipeline")) PipelineModel.load(url) else BigwrapModel.load(url)
      model.transform(rows).select("id", "probability").write.parquet(s"$dir/scala_$name.parquet")
    }
    BigwrapModel.load(models.head._2).write.overwrite().save(scalaSaves)
  }
}

try {
  val models = sys.env("BIGWRAP_STORE_MODELS").split(",").toSeq.map { entry =>
    val Array(name, url) = entry.split("=", 2)
    name -> url
  }
  StorageInterop.run(spark, sys.env("BIGWRAP_INTEROP_DIR"), models, sys.env("BIGWRAP_SCALA_SAVES"))
  System.exit(0)
} catch { case e: Throwable => e.printStackTrace(); System.exit(1) }
