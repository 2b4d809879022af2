package bigwrap.infer

import java.util.concurrent.ConcurrentLinkedQueue

import bigwrap.api.BigwrapException
import bigwrap.data.{ColumnKind, ColumnReader}
import bigwrap.spec.{BuiltModel, ModelBuilder, Tensors, WeightSet}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.apache.spark.TaskContext
import org.apache.spark.ml.linalg.{SQLDataTypes, Vectors}
import org.apache.spark.sql.{DataFrame, Encoders, Row}
import org.apache.spark.sql.types.{DataType, DoubleType, StructField, StructType}

/** The part of a model that travels to executors: rebuilt there from the spec, never Java-serialized modules. */
final case class ModelPayload(id: String, specJson: String, weights: WeightSet)

/** How raw model outputs become prediction (and probability) columns. */
final case class OutputSpec(task: String, fromLogits: Boolean, predictionCol: String, probabilityCol: String) {
  def fields(outputSize: Int): Seq[StructField] = task match {
    case "multiclass" => Seq(StructField(predictionCol, DoubleType), StructField(probabilityCol, SQLDataTypes.VectorType))
    case "binary" if outputSize == 1 =>
      Seq(StructField(predictionCol, DoubleType), StructField(probabilityCol, SQLDataTypes.VectorType))
    case "binary" =>
      Seq(StructField(predictionCol, SQLDataTypes.VectorType), StructField(probabilityCol, SQLDataTypes.VectorType))
    case "regression" => Seq(StructField(predictionCol, valueType(outputSize)))
    case other => throw BigwrapException.valueError(s"unknown task '$other' (multiclass, binary, regression)")
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

object Inference {
  def softmax(raw: Array[Float]): Array[Double] = {
    val max = raw.max
    val e = raw.map(v => math.exp(v - max))
    val sum = e.sum
    e.map(_ / sum)
  }

  /** Inference-mode forward of a batch laid out row-major as `batch × inputShape`. */
  def forward(model: BuiltModel, input: Array[Float], batch: Int): Array[Float] = model.synchronized {
    val expected = batch.toLong * model.inputShapes.head.product
    BigwrapException.require(input.length == expected,
      s"predict got ${input.length} values for $batch rows of shape ${Tensors.shapeString(model.inputShapes.head)}")
    model.module.evaluate()
    val shape = (batch +: model.inputShapes.head).toArray
    Tensors.toArray(model.module.forward(Tensor[Float](input, shape)).toTensor[Float])
  }

  /** Appends the output columns to `df`, running batched forwards inside the executors. */
  def transform(df: DataFrame, payload: ModelPayload, inputShape: Seq[Int], outputSize: Int,
      featuresCol: String, output: OutputSpec, batchSize: Int): DataFrame = {
    BigwrapException.require(batchSize > 0, s"inference batch size must be positive, got $batchSize")
    val taken = output.fields(outputSize).map(_.name).filter(df.columns.contains)
    BigwrapException.require(taken.isEmpty, s"the DataFrame already has column(s) ${taken.mkString(", ")}; " +
      "choose other output column names or drop them")
    val reader = ColumnReader(featuresCol, df.schema.fieldIndex(featuresCol),
      ColumnKind.of(df.schema, featuresCol, "features"), inputShape.product, "features")
    val schema = StructType(df.schema.fields ++ output.fields(outputSize))
    val broadcast = df.sparkSession.sparkContext.broadcast(payload)
    val rowSize = inputShape.product
    df.mapPartitions { rows =>
      val model = ExecutorModels.borrow(broadcast.value)
      Option(TaskContext.get()).foreach(_.addTaskCompletionListener[Unit](_ => ExecutorModels.giveBack(broadcast.value.id, model)))
      rows.grouped(batchSize).flatMap { batch =>
        val input = new Array[Float](batch.size * rowSize)
        batch.iterator.zipWithIndex.foreach { case (row, i) => System.arraycopy(reader.read(row), 0, input, i * rowSize, rowSize) }
        val out = forward(model, input, batch.size)
        batch.iterator.zipWithIndex.map { case (row, i) =>
          Row.fromSeq(row.toSeq ++ output.values(java.util.Arrays.copyOfRange(out, i * outputSize, (i + 1) * outputSize)))
        }
      }
    }(Encoders.row(schema))
  }
}

/** Per-JVM pools of built models, so each task uses its own module (BigDL modules hold buffers). */
object ExecutorModels {
  private val MaxModels = 8
  private val pools = new java.util.LinkedHashMap[String, ConcurrentLinkedQueue[BuiltModel]](16, 0.75f, true) {
    override def removeEldestEntry(e: java.util.Map.Entry[String, ConcurrentLinkedQueue[BuiltModel]]): Boolean =
      size() > MaxModels
  }

  private def pool(id: String): ConcurrentLinkedQueue[BuiltModel] = pools.synchronized {
    var q = pools.get(id)
    if (q == null) { q = new ConcurrentLinkedQueue[BuiltModel](); pools.put(id, q) }
    q
  }

  def borrow(payload: ModelPayload): BuiltModel = Option(pool(payload.id).poll()).getOrElse {
    val model = ModelBuilder.build(payload.specJson)
    model.setWeights(payload.weights)
    model.module.evaluate()
    model
  }

  def giveBack(id: String, model: BuiltModel): Unit = pool(id).offer(model)
}
