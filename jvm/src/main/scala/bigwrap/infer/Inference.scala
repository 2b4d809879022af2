package bigwrap.infer

import bigwrap.api.BigwrapException
import bigwrap.data.ColumnReader
import bigwrap.spec.{BuiltModel, Tensors}
import com.intel.analytics.bigdl.dllib.nn.abstractnn.Activity
import com.intel.analytics.bigdl.mkl.MKL
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.utils.T
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.apache.spark.TaskContext
import org.apache.spark.broadcast.Broadcast
import org.apache.spark.sql.bigwrap.PartitionFunction
import org.apache.spark.sql.catalyst.{CatalystTypeConverters, InternalRow}
import org.apache.spark.sql.catalyst.expressions.{GenericInternalRow, JoinedRow, UnsafeProjection}
import org.apache.spark.sql.types.DataType
import org.apache.spark.util.LongAccumulator

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
}

/**
 * Batched forwards over a partition of Spark's internal rows: reads the features columns straight into
 * one float buffer per batch, runs the model once per batch, and appends `outputs`' columns. The model
 * comes from the executor's pool (built from the broadcast payload), held for the task's duration.
 * A null features value is an error, or with `nullsGiveNull` (SQL functions) gives null outputs.
 */
final class BatchInference(model: Broadcast[ModelPayload], columns: Seq[String], inputSizes: Seq[Int],
    outputSize: Int, outputs: Outputs, batchSize: Int, built: LongAccumulator, nullsGiveNull: Boolean = false)
  extends PartitionFunction {
  override def toString: String = s"bigwrap model ${model.id} in batches of $batchSize"

  def apply(rows: Iterator[InternalRow], inputs: Seq[Int], schema: Seq[DataType]): Iterator[InternalRow] = {
    val readers = columns.zip(inputs).zip(inputSizes).map { case ((column, position), size) =>
      (ColumnReader(column, position, size, "features"), schema(position))
    }
    val fields = outputs.fields(outputSize)
    val toCatalyst = fields.map(f => CatalystTypeConverters.createToCatalystConverter(f.dataType))
    val project = UnsafeProjection.create((schema ++ fields.map(_.dataType)).toArray)
    val joined = new JoinedRow()
    lazy val lease = ExecutorModels.leaseForTask(model.value, built)
    val nulls = new GenericInternalRow(fields.size)
    // The child may reuse one row object: a batch keeps copies (in an array: `grouped` gives Lists).
    rows.map(_.copy()).grouped(batchSize).flatMap { group =>
      val batch = group.toArray
      val scored = if (nullsGiveNull) batch.filter(row => inputs.forall(!row.isNullAt(_))) else batch
      val n = scored.length
      val input = new Array[Float](n * inputSizes.sum)
      var offset = 0
      readers.zip(inputSizes).foreach { case ((reader, dataType), size) =>
        var i = 0
        while (i < n) {
          System.arraycopy(reader.readInternal(scored(i), dataType), 0, input, offset + i * size, size)
          i += 1
        }
        offset += n * size
      }
      val out = if (n == 0) Array.emptyFloatArray else Inference.forward(lease, input, n)
      var next = 0 // scored rows are a subsequence of the batch's
      batch.iterator.map { row =>
        val appended = if (next < n && (scored(next) eq row)) {
          val values = outputs.values(java.util.Arrays.copyOfRange(out, next * outputSize, (next + 1) * outputSize))
          next += 1
          new GenericInternalRow(values.zip(toCatalyst).map { case (v, convert) => convert(v) }.toArray)
        } else nulls
        project(joined(row, appended))
      }
    }
  }
}

/**
 * Per-JVM pools of built models, one pool per payload: each concurrently running task uses a module of
 * its own (BigDL modules hold forward buffers), and every module after a pool's first shares the
 * first's weight storage, so an executor holds the weights once however many cores it has. Pooled
 * modules drop their gradient buffers.
 */
object ExecutorModels {
  private val MaxPools = 8

  private final class Pool {
    val idle = new java.util.concurrent.ConcurrentLinkedQueue[BuiltModel]()
    var weights: Array[Tensor[Float]] = _
  }

  private val pools = new java.util.LinkedHashMap[String, Pool](16, 0.75f, true) {
    override def removeEldestEntry(e: java.util.Map.Entry[String, Pool]): Boolean = size() > MaxPools
  }

  private def pool(id: String): Pool = pools.synchronized(pools.computeIfAbsent(id, _ => new Pool))

  /** An idle model of `payload`, or a new one (counted in `built`). Give it back when done. */
  def borrow(payload: ModelPayload, built: LongAccumulator): BuiltModel = {
    val p = pool(payload.id)
    Option(p.idle.poll()).getOrElse {
      val model = payload.build()
      model.module.evaluate()
      val (weights, gradients) = model.module.parameters()
      gradients.filter(_ != null).foreach(_.set()) // forwards never use them (an Embedding's is as large as its table)
      p.synchronized {
        if (p.weights == null) p.weights = weights
        else weights.zip(p.weights).foreach { case (mine, shared) => mine.set(shared) }
      }
      built.add(1)
      model
    }
  }

  def giveBack(payload: ModelPayload, model: BuiltModel): Unit = pool(payload.id).idle.offer(model)

  /** A model held by the running task until it completes. */
  def leaseForTask(payload: ModelPayload, built: LongAccumulator): BuiltModel = {
    val model = borrow(payload, built)
    Option(TaskContext.get()).foreach { task =>
      // MKL would use every core of the machine in each task's thread; a task owns `cpus` of them.
      if (MKL.isMKLLoaded) MKL.setNumThreads(task.cpus())
      task.addTaskCompletionListener[Unit](_ => giveBack(payload, model))
    }
    model
  }
}
