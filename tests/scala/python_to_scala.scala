// Run by tests/test_scala_interop.py in pyspark's bin/spark-shell (started with exactly what
// `python -m bigwrap classpath` prints): loads what Python saved, transforms the same parquet rows (and
// queries them through SQL functions and DataFrame expressions), and writes the predictions and the load errors of broken
// directories back for the test to check.
import java.nio.charset.StandardCharsets
import java.nio.file.{Files, Paths}

import bigwrap.ml.BigwrapModel
import org.apache.spark.ml.PipelineModel
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.functions.col
import org.json4s.JsonAST.{JObject, JString}
import org.json4s.jackson.JsonMethods

object PythonToScala {
  def run(spark: SparkSession, dir: String): Unit = {
    val data = spark.read.parquet(s"$dir/test.parquet")
    for (name <- Seq("mlp", "two_inputs")) {
      BigwrapModel.load(s"$dir/$name").transform(data).drop("features").write.parquet(s"$dir/from_python_$name.parquet")
    }
    PipelineModel.load(s"$dir/cnn_pipeline").transform(data).drop("features", "pixels")
      .write.parquet(s"$dir/from_python_cnn.parquet")
    // the MLP as SQL functions registered from Scala, called from SQL and in DataFrame expressions
    val mlp = BigwrapModel.load(s"$dir/mlp")
    mlp.registerUdf(spark, "classify")
    val classifyProbability = mlp.registerUdf(spark, "classify_probability", "probability")
    data.createOrReplaceTempView("digits")
    spark.sql("SELECT id, label, features, classify(features) AS prediction FROM digits")
      .select(col("id"), col("label"), col("prediction"), classifyProbability(col("features")).alias("probability"))
      .write.parquet(s"$dir/from_python_mlp_sql.parquet")
    val cases = new String(Files.readAllBytes(Paths.get(s"$dir/bad_cases.txt")), StandardCharsets.UTF_8).split("\n")
    val outcomes = cases.toList.map { name =>
      val outcome = try { BigwrapModel.load(s"$dir/bad/$name"); "loaded" } catch {
        case e: Throwable => s"${e.getClass.getName}: ${e.getMessage}"
      }
      name -> JString(outcome)
    }
    Files.write(Paths.get(s"$dir/load_errors.json"),
      JsonMethods.compact(JObject(outcomes)).getBytes(StandardCharsets.UTF_8))
  }
}

try { PythonToScala.run(spark, sys.env("BIGWRAP_INTEROP_DIR")); System.exit(0) }
catch { case e: Throwable => e.printStackTrace(); System.exit(1) }
