package bigwrap.infer

import java.util.concurrent.ConcurrentLinkedQueue

import bigwrap.api.BigwrapException
import bigwrap.data.{ColumnKind, ColumnReader}
import bigwrap.spec.{BuiltModel, KernelChoice, ModelBuilder, Tensors, WeightSet}
import com.intel.analytics.bigdl.dllib.nn.abstractnn.Activity
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.utils.T
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.apache.spark.TaskContext
import org.apache.spark.ml.linalg.{SQLDataTypes, Vectors}
import org.apache.spark.sql.{DataFrame, Encoders, Row}
import org.apache.spark.sql.types.{DataType, DoubleType, StructField, StructType}

/** The part of a model that travels to executors: rebuilt there from the spec, never Java-serialized modules. */
final case class ModelPayload(id: String, specJson: String, weights: WeightSet,
    kernels: KernelChoice = KernelChoice.Default)

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

  /**
   * The model's input for `batch` rows: `values` holds each input's block (batch × its shape, row-major)
   * one after the other, in the order of the model's inputs. Several inputs make a BigDL Table.
   */
  def inputActivity(model: BuiltModel, values: Array[Float], batch: Int): Activity = {
    val sizes = model.inputShapes.map(batch.toLong * _.product)
    BigwrapException.require(values.length == sizes.sum,
      s"got ${values.length} values for $batch rows of input shape(s) " +
        model.inputShapes.map(Tensors.shapeString).mkString(", "))
    val offsets = sizes.scanLeft(0L)(_ + _)
    val tensors = model.inputShapes.indices.map { i =>
      val block = java.util.Arrays.copyOfRange(values, offsets(i).toInt, offsets(i + 1).toInt)
      Tensor[Float](block, (batch +: model.inputShapes(i)).toArray)
    }
    if (tensors.size == 1) tensors.head else T.array(tensors.toArray)
  }

  /** Inference-mode forward of a batch laid out as `inputActivity` describes. */
  def forward(model: BuiltModel, input: Array[Float], batch: Int): Array[Float] = model.synchronized {
    val activity = inputActivity(model, input, batch)
    model.module.evaluate()
    Tensors.toArray(model.module.forward(activity).toTensor[Float])
  }

  /** Appends the output columns to `df`, running batched forwards inside the executors. */
  def transform(df: DataFrame, payload: ModelPayload, inputShapes: Seq[Seq[Int]], outputSize: Int,
      featuresCols: Seq[String], output: OutputSpec, batchSize: Int): DataFrame = {
    BigwrapException.require(batchSize > 0, s"inference batch size must be positive, got $batchSize")
    val taken = output.fields(outputSize).map(_.name).filter(df.columns.contains)
    BigwrapException.require(taken.isEmpty, s"the DataFrame already has column(s) ${taken.mkString(", ")}; " +
      "choose other output column names or drop them")
    BigwrapException.require(featuresCols.size == inputShapes.size,
      s"the model has ${inputShapes.size} inputs but ${featuresCols.size} features column(s) were given")
    val readers = featuresCols.zip(inputShapes).map { case (column, shape) =>
      ColumnReader(column, df.schema.fieldIndex(column), ColumnKind.of(df.schema, column, "features"), shape.product,
        "features")
    }
    val schema = StructType(df.schema.fields ++ output.fields(outputSize))
    val broadcast = df.sparkSession.sparkContext.broadcast(payload)
    val rowSizes = inputShapes.map(_.product)
    df.mapPartitions { rows =>
      val model = ExecutorModels.borrow(broadcast.value)
      Option(TaskContext.get()).foreach(_.addTaskCompletionListener[Unit](_ => ExecutorModels.giveBack(broadcast.value.id, model)))
      rows.grouped(batchSize).flatMap { batch =>
        val input = new Array[Float](batch.size * rowSizes.sum)
        var offset = 0
        readers.zip(rowSizes).foreach { case (reader, size) =>
          batch.iterator.zipWithIndex.foreach { case (row, i) =>
            System.arraycopy(reader.read(row), 0, input, offset + i * size, size)
          }
          offset += batch.size * size
        }
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
    val model = ModelBuilder.build(payload.specJson, payload.kernels)
    model.setWeights(payload.weights)
    model.module.evaluate()
    model
  }

  def giveBack(id: String, model: BuiltModel): Unit = pool(id).offer(model)
}
