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
      featuresCols: Seq[String],
      featureShapes: Seq[Seq[Int]],
      labelCol: String,
      target: Target): RDD[Sample[Float]] = {
    val features = featuresCols.zip(featureShapes).zipWithIndex.map { case ((column, shape), i) =>
      Columns.numericType(df.schema, column, "features")
      ColumnReader(column, i, shape.product, "features")
    }
    Columns.numericType(df.schema, labelCol, "label")
    val labels = ColumnReader(labelCol, featuresCols.size, target.size, "label")
    val shapes = featureShapes.map(_.toArray)
    val labelShape = Array(target.size)
    // Several inputs become a multi-feature Sample, which BigDL batches into a Table for the graph.
    df.select((featuresCols :+ labelCol).map(df.col): _*).rdd.map { row =>
      val label = Tensor[Float](target.toBigDL(labels.read(row), labelCol), labelShape)
      val inputs = features.zip(shapes).map { case (reader, shape) => Tensor[Float](reader.read(row), shape) }
      if (inputs.size == 1) Sample[Float](inputs.head, label) else Sample[Float](inputs.toArray, label)
    }
  }
}
