package org.apache.spark.sql.bigwrap

import _root_.bigwrap.api.BigwrapException
import org.apache.spark.rdd.RDD
import org.apache.spark.sql.{DataFrame, Dataset, SparkSession, Strategy}
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.{Attribute, AttributeReference, AttributeSet}
import org.apache.spark.sql.catalyst.plans.logical.{LogicalPlan, UnaryNode}
import org.apache.spark.sql.execution.{SparkPlan, UnaryExecNode}
import org.apache.spark.sql.types.{DataType, StructField}

/**
 * Computes appended columns a partition at a time from Spark's internal rows: `inputs` are the positions
 * of the columns it reads, `schema` the types of all input columns. It returns each input row followed
 * by the new columns' values.
 */
trait PartitionFunction extends Serializable {
  def apply(rows: Iterator[InternalRow], inputs: Seq[Int], schema: Seq[DataType]): Iterator[InternalRow]
}

/**
 * The child's rows with `added` columns appended by `function`. A plan node of its own (rather than
 * Dataset.mapPartitions over Rows) so that wide columns are never converted to boxed Scala values and
 * back, and so that it works unchanged in Structured Streaming, where no RDD can be taken.
 */
case class AppendColumns(function: PartitionFunction, inputs: Seq[Attribute], added: Seq[Attribute],
    child: LogicalPlan) extends UnaryNode {
  override def output: Seq[Attribute] = child.output ++ added
  override def producedAttributes: AttributeSet = AttributeSet(added)
  override protected def stringArgs: Iterator[Any] = Iterator(function, inputs, added)
  override protected def withNewChildInternal(newChild: LogicalPlan): AppendColumns = copy(child = newChild)
}

case class AppendColumnsExec(function: PartitionFunction, inputs: Seq[Attribute], added: Seq[Attribute],
    child: SparkPlan) extends UnaryExecNode {
  override def output: Seq[Attribute] = child.output ++ added
  override def producedAttributes: AttributeSet = AttributeSet(added)
  override protected def stringArgs: Iterator[Any] = Iterator(function, inputs, added)
  override protected def withNewChildInternal(newChild: SparkPlan): AppendColumnsExec = copy(child = newChild)

  override protected def doExecute(): RDD[InternalRow] = {
    // Bound by expression id: the optimizer and streaming's per-batch rewiring may rebuild the child.
    val positions = inputs.map { a =>
      val i = child.output.indexWhere(_.exprId == a.exprId)
      require(i >= 0, s"column ${a.name} is missing from the input of $function")
      i
    }
    val (fn, schema) = (function, child.output.map(_.dataType))
    child.execute().mapPartitionsInternal(rows => fn(rows, positions, schema))
  }
}

object AppendColumnsStrategy extends Strategy {
  override def apply(plan: LogicalPlan): Seq[SparkPlan] = plan match {
    case AppendColumns(function, inputs, added, child) =>
      AppendColumnsExec(function, inputs, added, planLater(child)) :: Nil
    case _ => Nil
  }
}

object AppendColumns {
  /** `df` (batch or streaming) with `fields` appended, computed by `function` from the columns `inputs`. */
  def apply(df: DataFrame, inputs: Seq[String], fields: Seq[StructField], function: PartitionFunction): DataFrame = {
    val spark = df.sparkSession
    install(spark)
    val output = df.queryExecution.analyzed.output
    val attributes = inputs.map { name =>
      output.filter(_.name == name) match {
        case Seq(a) => a
        case found => throw BigwrapException.valueError(s"expected one column named '$name' in the DataFrame, " +
          s"found ${found.size} (columns: ${df.columns.mkString(", ")})")
      }
    }
    val added = fields.map(f => AttributeReference(f.name, f.dataType, f.nullable)())
    Dataset.ofRows(spark, AppendColumns(function, attributes, added, df.logicalPlan))
  }

  /**
   * Registers, once per session, the planning strategy and the rule that batches SQL functions' calls
   * (both carry over to streaming's incremental plans).
   */
  def install(spark: SparkSession): Unit = spark.experimental.synchronized {
    val experimental = spark.experimental
    if (!experimental.extraStrategies.contains(AppendColumnsStrategy)) {
      experimental.extraStrategies = experimental.extraStrategies :+ AppendColumnsStrategy
    }
    if (!experimental.extraOptimizations.contains(BatchModelCalls)) {
      experimental.extraOptimizations = experimental.extraOptimizations :+ BatchModelCalls
    }
  }
}
