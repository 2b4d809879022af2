package bigwrap.infer

import bigwrap.api.BigwrapException
import org.apache.spark.ml.linalg.{SQLDataTypes, Vectors}
import org.apache.spark.sql.types.{DataType, DoubleType, StructField}

/** How a model's raw output for one row becomes the columns (or the SQL function value) inference adds. */
sealed trait Outputs extends Serializable {
  def fields(outputSize: Int): Seq[StructField]

  /** One value per field, as Scala values (Double, ml Vector). */
  def values(raw: Array[Float]): Seq[Any]
}

/**
 * Predictions of a model trained for `task` (multiclass, binary, regression): `prediction` (the class
 * index, the 0/1 decisions, or the value) and, for classification, `probability` (ml Vector).
 */
final case class Predictions(task: String, fromLogits: Boolean, predictionCol: String = "prediction",
    probabilityCol: String = "probability") extends Outputs {
  BigwrapException.require(Set("multiclass", "binary", "regression").contains(task),
    s"unknown task '$task' (multiclass, binary, regression)")

  def fields(outputSize: Int): Seq[StructField] = {
    val probability = StructField(probabilityCol, SQLDataTypes.VectorType)
    task match {
      case "multiclass" => Seq(StructField(predictionCol, DoubleType), probability)
      case "binary" => Seq(StructField(predictionCol, valueType(outputSize)), probability)
      case _ => Seq(StructField(predictionCol, valueType(outputSize)))
    }
  }

  private def valueType(size: Int): DataType = if (size == 1) DoubleType else SQLDataTypes.VectorType

  def values(raw: Array[Float]): Seq[Any] = task match {
    case "multiclass" =>
      val probs = if (fromLogits) Inference.softmax(raw) else raw.map(_.toDouble)
      Seq(probs.indices.maxBy(probs).toDouble, Vectors.dense(probs))
    case "binary" =>
      val p = raw.map(v => if (fromLogits) 1.0 / (1.0 + math.exp(-v)) else v.toDouble)
      if (p.length == 1) Seq(if (p(0) > 0.5) 1.0 else 0.0, Vectors.dense(1.0 - p(0), p(0)))
      else Seq(Vectors.dense(p.map(v => if (v > 0.5) 1.0 else 0.0)), Vectors.dense(p))
    case _ => Seq(if (raw.length == 1) raw(0).toDouble else Vectors.dense(raw.map(_.toDouble)))
  }
}

/** The model's output itself, flattened into one ml Vector column: a featurizer's activations. */
final case class Activations(outputCol: String) extends Outputs {
  def fields(outputSize: Int): Seq[StructField] = Seq(StructField(outputCol, SQLDataTypes.VectorType))

  def values(raw: Array[Float]): Seq[Any] = Seq(Vectors.dense(raw.map(_.toDouble)))
}
