package org.apache.spark.sql.bigwrap

import scala.collection.mutable

import _root_.bigwrap.infer.ModelFunction
import org.apache.spark.sql.{AnalysisException, Column, SparkSession}
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.analysis.TypeCheckResult
import org.apache.spark.sql.catalyst.expressions.{Alias, And, Attribute, AttributeReference, ConditionalExpression,
  Expression, GenericInternalRow, NamedExpression, PredicateHelper}
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenFallback
import org.apache.spark.sql.catalyst.expressions.aggregate.AggregateExpression
import org.apache.spark.sql.catalyst.plans.logical.{Aggregate, Filter, LogicalPlan, Project}
import org.apache.spark.sql.catalyst.rules.Rule
import org.apache.spark.sql.types.DataType

/** A call of a model's SQL function. Where it stays in the plan (see BatchModelCalls) it scores a row at a time. */
case class ModelCall(function: ModelFunction, children: Seq[Expression]) extends Expression with CodegenFallback {
  override def dataType: DataType = function.returnType
  override def nullable: Boolean = true
  override def prettyName: String = function.name
  override def toString: String = s"$prettyName(${children.mkString(", ")})"
  override def sql: String = s"$prettyName(${children.map(_.sql).mkString(", ")})"

  override def checkInputDataTypes(): TypeCheckResult = function.checkArguments(children.map(_.dataType))
    .map(TypeCheckResult.TypeCheckFailure).getOrElse(TypeCheckResult.TypeCheckSuccess)

  @transient private lazy val argumentTypes = children.map(_.dataType)

  override def eval(input: InternalRow): Any = {
    val arguments = children.map(_.eval(input)).toArray
    if (arguments.contains(null)) null else function.evaluate(new GenericInternalRow(arguments), argumentTypes)
  }

  override protected def withNewChildrenInternal(newChildren: IndexedSeq[Expression]): ModelCall =
    copy(children = newChildren)
}

object ModelCall {
  /** Registers `function` under its name in `spark`'s session, for SQL and `functions.call_function`. */
  def register(spark: SparkSession, function: ModelFunction): Unit = {
    AppendColumns.install(spark)
    spark.sessionState.functionRegistry.createOrReplaceTempFunction(function.name, (arguments: Seq[Expression]) => {
      // Spark resolves the arguments first: a wrong count or type is reported here, naming the function.
      function.checkArguments(arguments.map(_.dataType)).foreach(problem => throw new AnalysisException(problem))
      ModelCall(function, arguments)
    }, "scala_udf")
  }

  def column(function: ModelFunction, columns: Seq[Column]): Column = {
    AppendColumns.install(SparkSession.active)
    new Column(ModelCall(function, columns.map(_.expr)))
  }
}

/**
 * Turns model calls Spark would evaluate row by row into batched inference: a call in a SELECT list, a
 * WHERE clause or an aggregate function's input, whose arguments come from the node's input, becomes a
 * column that an AppendColumns node (the plan node of `transform`) adds below that node, scoring a batch of
 * rows per forward. GROUP BY expressions reach a SELECT list below the aggregate by Spark's own rules.
 * Calls of one model on the same arguments share a forward (`classify(f)` and `classify_probability(f)`).
 * Calls in a branch that may not run (CASE WHEN, IF, COALESCE), on lambda variables, or elsewhere in the
 * plan stay row by row. Runs last in the optimizer, so no rule needs to see through AppendColumns.
 */
object BatchModelCalls extends Rule[LogicalPlan] with PredicateHelper {
  override def apply(plan: LogicalPlan): LogicalPlan = plan.transformUp {
    case Project(list, child) if batchable(list, child).nonEmpty =>
      val (scored, replace) = scoreBelow(batchable(list, child), child)
      Project(list.map(replace(_).asInstanceOf[NamedExpression]), scored)
    case Filter(condition, child) if batchable(Seq(condition), child).nonEmpty =>
      // Conjuncts without calls filter first, so the rows they drop are never scored.
      val (withCalls, plain) = splitConjunctivePredicates(condition).partition(c => batchable(Seq(c), child).nonEmpty)
      val input = plain.reduceOption(And).map(Filter(_, child)).getOrElse(child)
      val (scored, replace) = scoreBelow(batchable(withCalls, child), input)
      Project(child.output, Filter(replace(withCalls.reduce(And)), scored))
    case Aggregate(grouping, aggregates, child) if batchable(aggregateInputs(aggregates), child).nonEmpty =>
      // Only an aggregate function's inputs are per input row; the rest of the list is per group.
      val (scored, replace) = scoreBelow(batchable(aggregateInputs(aggregates), child), child)
      val rewritten = aggregates.map(_.transformDown { case a: AggregateExpression => replace(a) })
      Aggregate(grouping, rewritten.map(_.asInstanceOf[NamedExpression]), scored)
  }

  private def aggregateInputs(aggregates: Seq[NamedExpression]): Seq[Expression] =
    aggregates.flatMap(_.collect { case a: AggregateExpression => a })

  private def batchable(expressions: Seq[Expression], child: LogicalPlan): Seq[ModelCall] = {
    def calls(e: Expression): Seq[ModelCall] = e match {
      case call: ModelCall if call.children.forall(argument => argument.deterministic &&
          argument.references.subsetOf(child.outputSet) && !argument.exists(_.isInstanceOf[ModelCall])) => Seq(call)
      case conditional: ConditionalExpression => conditional.alwaysEvaluatedInputs.flatMap(calls)
      case other => other.children.flatMap(calls)
    }
    expressions.flatMap(calls)
  }

  /** `input` with one AppendColumns per distinct (model, arguments), and a rewrite of calls into its columns. */
  private def scoreBelow(calls: Seq[ModelCall], input: LogicalPlan): (LogicalPlan, Expression => Expression) = {
    val columns = mutable.Map[Expression, Attribute]()
    val scored = calls.groupBy(call => (call.function.batchKey, call.children.map(_.canonicalized))).values.toSeq
      .sortBy(group => calls.indexOf(group.head)) // plans stay the same from run to run
      .foldLeft(input) { (plan, group) =>
        val function = group.head.function
        val arguments = group.head.children.map {
          case attribute: Attribute => attribute
          case expression => Alias(expression, s"${function.name}_argument")()
        }
        val aliases = arguments.collect { case alias: Alias => alias }
        val withArguments = if (aliases.isEmpty) plan else Project(plan.output ++ aliases, plan)
        val added = function.fields.map(f => AttributeReference(f.name, f.dataType, nullable = true)())
        group.foreach(call => columns(call.canonicalized) = added(call.function.column))
        AppendColumns(function.batched, arguments.map(_.toAttribute), added, withArguments)
      }
    val replace: Expression => Expression = _.transformUp {
      case call: ModelCall if columns.contains(call.canonicalized) => columns(call.canonicalized)
    }
    (scored, replace)
  }
}
