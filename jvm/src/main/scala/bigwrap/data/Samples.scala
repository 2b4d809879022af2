package bigwrap.data

import com.intel.analytics.bigdl.dllib.feature.dataset.Sample
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.apache.spark.rdd.RDD
import org.apache.spark.sql.DataFrame

/** DataFrame → BigDL samples on the executors, validating every row in the same pass. */
object Samples {
  def fromDataFrame(
      df: DataFrame,
      featuresCol: String,
      featureShape: Seq[Int],
      labelCol: String,
      target: Target): RDD[Sample[Float]] = {
    val features = ColumnReader(featuresCol, 0, ColumnKind.of(df.schema, featuresCol, "features"),
      featureShape.product, "features")
    val labels = ColumnReader(labelCol, 1, ColumnKind.of(df.schema, labelCol, "label"), target.size, "label")
    val shape = featureShape.toArray
    val labelShape = Array(target.size)
    df.select(featuresCol, labelCol).rdd.map { row =>
      Sample[Float](Tensor[Float](features.read(row), shape),
        Tensor[Float](target.toBigDL(labels.read(row), labelCol), labelShape))
    }
  }
}
