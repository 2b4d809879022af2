package bigwrap.infer

import bigwrap.data.{ColumnReader, Columns}
import org.apache.spark.broadcast.Broadcast
import org.apache.spark.sql.Column
import org.apache.spark.sql.bigwrap.{ModelCall, PartitionFunction}
import org.apache.spark.sql.catalyst.{CatalystTypeConverters, InternalRow}
import org.apache.spark.sql.types.{DataType, StructField}
import org.apache.spark.util.LongAccumulator

/**
 * A model as the SQL function `name`: one argument per model input (ml Vector, numeric array or number),
 * returning the `column`-th of `predictions`' fields; null when an argument is null. Apply it to
 * columns for DataFrame expressions: `classify(col("features"))`.
 *
 * Calls in SELECT lists, WHERE clauses, GROUP BYs and aggregate functions' inputs are scored in batches
 * of `batchSize` rows (the optimizer rule `BatchModelCalls` turns them into the plan node `transform`
 * uses); calls elsewhere (a branch of CASE WHEN, a lambda, a join condition) are evaluated a row at a time.
 */
final class ModelFunction private[infer] (model: Broadcast[ModelPayload], val name: String, inputSizes: Seq[Int],
    outputSize: Int, val predictions: Predictions, val column: Int, batchSize: Int, built: LongAccumulator)
  extends Serializable {
  val fields: Seq[StructField] = predictions.fields(outputSize)
  def returnType: DataType = fields(column).dataType

  /** Calls with the same key compute the same outputs from the same arguments: one forward serves them all. */
  def batchKey: (Long, String, Boolean) = (model.id, predictions.task, predictions.fromLogits)

  private def argumentName(i: Int) = s"$name argument ${i + 1}"
  private val readers = inputSizes.zipWithIndex.map { case (size, i) =>
    ColumnReader(argumentName(i), i, size, "features")
  }
  @transient private lazy val toCatalyst = CatalystTypeConverters.createToCatalystConverter(returnType)

  def apply(columns: Column*): Column = ModelCall.column(this, columns)

  /** What is wrong with arguments of these types, if anything. */
  def checkArguments(types: Seq[DataType]): Option[String] =
    if (types.size != inputSizes.size) {
      Some(s"$name takes ${inputSizes.size} argument(s), one per model input; got ${types.size}")
    } else {
      types.indices.view.flatMap(i => Columns.unreadable(argumentName(i), types(i))).headOption
    }

  /** Scores partitions in batches, appending all of `fields`; rows with a null argument get nulls. */
  def batched: PartitionFunction = new BatchInference(model, inputSizes.indices.map(argumentName), inputSizes,
    outputSize, predictions, batchSize, built, nullsGiveNull = true)

  /** One row's value (Spark's internal form) from its non-null arguments, whose types are `types`. */
  def evaluate(arguments: InternalRow, types: Seq[DataType]): Any = {
    val input = readers.zip(types).flatMap { case (reader, t) => reader.readInternal(arguments, t) }.toArray
    val payload = model.value
    val module = ExecutorModels.borrow(payload, built)
    try toCatalyst(predictions.values(Inference.forward(module, input, 1))(column))
    finally ExecutorModels.giveBack(payload, module)
  }
}
