// Run by tests/test_scala_interop.py through `python -m bigwrap shell`: trains from spec JSON with
// BigwrapEstimator (alone and inside a Pipeline), saves the models and their predictions for
// Python to load and compare, and checks ModelSpec.fromJson / BigwrapModel.toBigDL.
import java.nio.charset.StandardCharsets
import java.nio.file.{Files, Paths}

import bigwrap.ml.{BigwrapEstimator, BigwrapModel}
import bigwrap.spec.{ModelSpec, Tensors}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import org.apache.spark.ml.Pipeline
import org.apache.spark.ml.feature.VectorAssembler
import org.apache.spark.ml.linalg.Vector
import org.apache.spark.sql.SparkSession

object ScalaToPython {
  def run(spark: SparkSession, dir: String): Unit = {
    def read(name: String) = new String(Files.readAllBytes(Paths.get(s"$dir/$name")), StandardCharsets.UTF_8)
    val train = spark.read.parquet(s"$dir/train.parquet")
    val test = spark.read.parquet(s"$dir/test.parquet")

    val mlp = new BigwrapEstimator().setSpec(read("mlp_spec.json")).setLoss("sparse_categorical_crossentropy")
      .setOptimizer("""{"name": "adam", "learning_rate": 0.01}""").setBatchSize(64).setEpochs(8).setSeed(3)
    val mlpModel: BigwrapModel = mlp.fit(train)
    mlpModel.write.save(s"$dir/scala_mlp")
    mlp.write.save(s"$dir/scala_estimator")
    mlpModel.transform(test).drop("features").write.parquet(s"$dir/scala_mlp.parquet")

    val cnn = new BigwrapEstimator().setSpec(read("cnn_spec.json")).setLoss("sparse_categorical_crossentropy")
      .setOptimizer("""{"name": "adam", "learning_rate": 0.01}""").setBatchSize(64).setEpochs(6).setSeed(4)
      .setFeaturesCol("pixels").setVerbose(0)
    val unfitted = new Pipeline().setStages(Array(
      new VectorAssembler().setInputCols(Array("features")).setOutputCol("pixels"), cnn))
    unfitted.write.save(s"$dir/scala_cnn_unfitted")
    val pipeline = unfitted.fit(train)
    pipeline.write.save(s"$dir/scala_cnn_pipeline")
    pipeline.transform(test).drop("features", "pixels").write.parquet(s"$dir/scala_cnn.parquet")

    // BigDL directly: the trained graph's forward equals transform's probabilities; fromJson builds the spec.
    val rows = test.orderBy("id").limit(5).collect()
    val input = Tensor[Float](rows.flatMap(_.getAs[Vector]("features").toArray.map(_.toFloat)), Array(rows.length, 64))
    val forward = mlpModel.toBigDL.evaluate().forward(input).toTensor[Float]
    val fresh = ModelSpec.fromJson(read("mlp_spec.json")).evaluate().forward(input).toTensor[Float]
    Files.write(Paths.get(s"$dir/bigdl_forward.json"), (s"""{"ids": [${rows.map(_.getAs[Long]("id")).mkString(",")}], """ +
      s""""probabilities": [${Tensors.toArray(forward).mkString(",")}], """ +
      s""""fresh_shape": [${fresh.size().mkString(",")}]}""").getBytes(StandardCharsets.UTF_8))
  }
}

try { ScalaToPython.run(spark, sys.env("BIGWRAP_INTEROP_DIR")); System.exit(0) }
catch { case e: Throwable => e.printStackTrace(); System.exit(1) }
