package bigwrap.data

import bigwrap.api.BigwrapException
import org.apache.spark.ml.linalg.{SQLDataTypes, Vector}
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData
import org.apache.spark.sql.catalyst.util.ArrayData
import org.apache.spark.unsafe.bitset.BitSetMethods
import org.apache.spark.sql.types.{ArrayType, DataType, Decimal, DoubleType, FloatType, NumericType, StructType,
  UserDefinedType}

/** The numeric column types bigwrap reads: ml Vector, arrays of numbers, numbers. */
object Columns {
  /** The type of `column`, checked to be one bigwrap reads; else an error naming the column. */
  def numericType(schema: StructType, column: String, role: String): DataType = {
    BigwrapException.require(schema.fieldNames.contains(column),
      s"$role column '$column' is not in the DataFrame (columns: ${schema.fieldNames.mkString(", ")})")
    val dataType = schema(column).dataType
    unreadable(s"$role column '$column'", dataType).foreach(problem => throw BigwrapException.typeError(problem))
    dataType
  }

  /** Why `what`, of type `dataType`, cannot be read, if it cannot. */
  def unreadable(what: String, dataType: DataType): Option[String] = dataType match {
    case SQLDataTypes.VectorType | ArrayType(_: NumericType, _) | _: NumericType => None
    case other => Some(s"$what has type ${other.simpleString}; use an ml Vector, an array of numbers or a number")
  }

  private[data] val VectorUDT = SQLDataTypes.VectorType.asInstanceOf[UserDefinedType[Vector]]
}

/** Reads one column of Spark's internal rows as float32 values (without boxing every number), checking nulls,
 * length and finiteness. */
final case class ColumnReader(column: String, position: Int, size: Int, role: String) {
  /** The column of an internal row whose schema gives it `dataType` (one of `Columns.numericType`). */
  def readInternal(row: InternalRow, dataType: DataType): Array[Float] = {
    if (row.isNullAt(position)) throw nullValue()
    checked(dataType match {
      case SQLDataTypes.VectorType => toFloats(Columns.VectorUDT.deserialize(row.getStruct(position, 4)))
      case ArrayType(element, containsNull) =>
        val array = row.getArray(position)
        if (containsNull && hasNull(array)) throw nullElement()
        element match {
          case FloatType => array.toFloatArray()
          case DoubleType => array.toDoubleArray().map(_.toFloat)
          case other => Array.tabulate(array.numElements())(i => internalNumber(array.get(i, other)))
        }
      case other => Array(internalNumber(row.get(position, other)))
    })
  }

  /** A number as internal rows hold it: boxed primitives, or Spark's Decimal (SQL literals such as 2.0). */
  private def internalNumber(value: Any): Float = value match {
    case d: Decimal => d.toFloat
    case n => n.asInstanceOf[Number].floatValue()
  }

  private def hasNull(array: ArrayData): Boolean = array match {
    // Spark's own arrays keep a bit per element in front of the values: test 64 elements per word.
    case unsafe: UnsafeArrayData =>
      BitSetMethods.anySet(unsafe.getBaseObject, unsafe.getBaseOffset + 8, (unsafe.numElements() + 63) / 64)
    case other => (0 until other.numElements()).exists(other.isNullAt)
  }

  private def toFloats(v: Vector): Array[Float] = {
    val out = new Array[Float](v.size)
    v.foreachActive((i, x) => out(i) = x.toFloat)
    out
  }

  private def nullValue() = BigwrapException.valueError(
    s"$role column '$column' has a null value; drop or fill nulls first, e.g. df.na.drop(subset=['$column'])")

  private def nullElement() = BigwrapException.valueError(s"$role column '$column' has an array with a null element")

  private def checked(values: Array[Float]): Array[Float] = {
    if (values.length != size) throw BigwrapException.valueError(
      s"$role column '$column' has a row of ${values.length} values; the model needs $size " +
        s"(${values.take(5).mkString("[", ", ", if (values.length > 5) ", ...]" else "]")})")
    // NaN and ±Inf are the floats whose exponent bits are all ones: adding one to that field carries into the
    // sign bit only for them. Or-ed over the row without a branch: 0.5 µs a 784-value row, where a test and throw
    // per value took 1.3 (the JIT vectorises neither).
    var signs = 0
    var i = 0
    while (i < values.length) {
      signs |= (java.lang.Float.floatToRawIntBits(values(i)) & 0x7f800000) + 0x00800000
      i += 1
    }
    if (signs < 0) {
      val bad = values.find(v => v.isNaN || v.isInfinite).get
      throw BigwrapException.valueError(
        s"$role column '$column' has a non-finite value ($bad); clean NaN/Inf values before using it")
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
