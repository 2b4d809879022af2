package bigwrap.data

import bigwrap.api.BigwrapException
import org.apache.spark.ml.linalg.{SQLDataTypes, Vector}
import org.apache.spark.sql.Row
import org.apache.spark.sql.types.{ArrayType, NumericType, StructType}

/** How a DataFrame column holds numbers. */
sealed trait ColumnKind extends Serializable
case object VectorColumn extends ColumnKind
case object ArrayColumn extends ColumnKind
case object ScalarColumn extends ColumnKind

object ColumnKind {
  def of(schema: StructType, column: String, role: String): ColumnKind = {
    BigwrapException.require(schema.fieldNames.contains(column),
      s"$role column '$column' is not in the DataFrame (columns: ${schema.fieldNames.mkString(", ")})")
    schema(column).dataType match {
      case SQLDataTypes.VectorType => VectorColumn
      case ArrayType(_: NumericType, _) => ArrayColumn
      case _: NumericType => ScalarColumn
      case other => throw BigwrapException.typeError(
        s"$role column '$column' has type ${other.simpleString}; use an ml Vector, an array of numbers or a number")
    }
  }
}

/** Reads one column of a row as float32 values, checking nulls, length and finiteness. */
final case class ColumnReader(column: String, position: Int, kind: ColumnKind, size: Int, role: String) {
  def read(row: Row): Array[Float] = {
    if (row.isNullAt(position)) throw BigwrapException.valueError(
      s"$role column '$column' has a null value; drop or fill nulls first, e.g. df.na.drop(subset=['$column'])")
    val values = kind match {
      case VectorColumn =>
        val v = row.getAs[Vector](position)
        val out = new Array[Float](v.size)
        v.foreachActive((i, x) => out(i) = x.toFloat)
        out
      case ArrayColumn =>
        val seq = row.getSeq[Any](position)
        val out = new Array[Float](seq.length)
        var i = 0
        seq.foreach { x =>
          if (x == null) throw BigwrapException.valueError(s"$role column '$column' has an array with a null element")
          out(i) = x.asInstanceOf[Number].floatValue()
          i += 1
        }
        out
      case ScalarColumn => Array(row.getAs[Number](position).floatValue())
    }
    if (values.length != size) throw BigwrapException.valueError(
      s"$role column '$column' has a row of ${values.length} values; the model needs $size " +
        s"(${values.take(5).mkString("[", ", ", if (values.length > 5) ", ...]" else "]")})")
    var i = 0
    while (i < values.length) {
      if (values(i).isNaN || values(i).isInfinite) throw BigwrapException.valueError(
        s"$role column '$column' has a non-finite value (${values(i)}); clean NaN/Inf values before using it")
      i += 1
    }
    values
  }
}

/** What the loss expects of a label, and how a 0-based user label becomes BigDL's target. */
sealed trait Target extends Serializable {
  def size: Int
  def toBigDL(values: Array[Float], column: String): Array[Float]
}

/** A class index 0..numClasses-1 for users; BigDL's ClassNLL wants 1-based indices. */
final case class ClassIndexTarget(numClasses: Int, loss: String) extends Target {
  def size: Int = 1
  def toBigDL(values: Array[Float], column: String): Array[Float] = {
    val v = values(0)
    if (v != math.rint(v) || v < 0 || v >= numClasses) throw BigwrapException.valueError(
      s"label column '$column' has the value $v; $loss needs integer class indices 0..${numClasses - 1} " +
        s"(the model's output has $numClasses classes)")
    Array(v + 1f)
  }
}

/** Labels that must lie in [0, 1]; `requirement` says which loss needs that. */
private object UnitInterval {
  def check(values: Array[Float], column: String, requirement: String): Array[Float] = {
    values.foreach { v =>
      if (v < 0 || v > 1) throw BigwrapException.valueError(s"label column '$column' has the value $v; $requirement")
    }
    values
  }
}

final case class BinaryTarget(size: Int) extends Target {
  def toBigDL(values: Array[Float], column: String): Array[Float] =
    UnitInterval.check(values, column, "binary_crossentropy needs labels in [0, 1]")
}

final case class RegressionTarget(size: Int) extends Target {
  def toBigDL(values: Array[Float], column: String): Array[Float] = values
}

/** A probability (or one-hot) vector over `size` classes, for categorical_crossentropy. */
final case class ProbabilityTarget(size: Int) extends Target {
  def toBigDL(values: Array[Float], column: String): Array[Float] =
    UnitInterval.check(values, column, "categorical_crossentropy needs one-hot or probability labels in [0, 1]")
}
