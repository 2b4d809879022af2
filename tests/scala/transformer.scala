// Run by tests/test_transformer.py in spark-shell: loads the Transformer encoder Python trained and saved,
// transforms the same token-id rows, and writes the predictions back for the test to compare.
import bigwrap.ml.BigwrapModel
import org.apache.spark.sql.SparkSession

object TransformerFromPython {
  def run(spark: SparkSession, dir: String): Unit =
    BigwrapModel.load(s"$dir/model").transform(spark.read.parquet(s"$dir/test.parquet")).drop("features")
      .write.parquet(s"$dir/from_scala.parquet")
}

try { TransformerFromPython.run(spark, sys.env("BIGWRAP_INTEROP_DIR")); System.exit(0) }
catch { case e: Throwable => e.printStackTrace(); System.exit(1) }
