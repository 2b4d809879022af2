package bigwrap.train

import java.util.concurrent.ConcurrentHashMap

import bigwrap.nn.NativeKernels
import bigwrap.spec.BuiltModel
import com.intel.analytics.bigdl.dllib.nn.abstractnn.Activity
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import com.intel.analytics.bigdl.dllib.utils.T
import com.intel.analytics.bigdl.mkl.MKL

/**
 * How the barrier trainer spreads a fit over each executor's cores: a task per core with single-threaded
 * kernels ("perCore"), or one task per executor whose kernels use all its cores ("perExecutor": no exchange
 * or sync between its cores, but only as fast as the kernels scale). "auto" times one iteration's forward
 * and backward pass of the model itself both ways on the driver and takes the faster.
 */
object TaskLayout {
  val Auto = "auto"
  val PerCore = "perCore"
  val PerExecutor = "perExecutor"
  val Modes: Seq[String] = Seq(Auto, PerCore, PerExecutor)

  /**
   * A task per core also pays a gradient exchange and a sync wait each iteration, which one task per executor
   * does not: measured at 5-15 % of an iteration on both bench models (bench/results), hence one task per
   * executor wins unless its multithreaded pass is more than this factor slower than a task's own pass.
   */
  val PerCoreOverhead = 1.1

  /** A choice and why: the tasks to run, the layout's name and the calibration's times (ms), if it ran. */
  final case class Choice(tasks: Int, layout: String, perCoreMs: Double = Double.NaN, perExecutorMs: Double = Double.NaN)

  private val calibrated = new ConcurrentHashMap[(String, String, Int, Int), Choice]()

  /**
   * The tasks of a fit on `executors` executors of `cores` cores each, for a global batch of `batchSize`
   * rows: `mode` forced, or "auto" (a layout the batch does not split evenly over is never chosen).
   */
  def choose(mode: String, built: BuiltModel, batchSize: Int, executors: Int, cores: Int): Choice = {
    val perCore = Choice(executors * cores, PerCore)
    val perExecutor = Choice(executors, PerExecutor)
    mode match {
      case PerCore => perCore
      case PerExecutor => perExecutor
      case _ if cores == 1 || batchSize % (executors * cores) != 0 => perExecutor
      case _ => calibrated.computeIfAbsent((built.specJson, built.kernels.toString, batchSize, cores),
        _ => calibrate(built, batchSize / executors, cores, perCore, perExecutor))
    }
  }

  /** Median ms of the forward + backward pass of `rows` rows with `threads` kernel threads. */
  private def passMs(built: BuiltModel, rows: Int, threads: Int): Double = {
    if (MKL.isMKLLoaded) MKL.setNumThreads(threads)
    NativeKernels.setThreads(threads)
    val model = InputGradients.skip(built.module.cloneModule()).training() // as the trainer runs it
    val inputs = built.inputShapes.map(shape => Tensor[Float]((rows +: shape).toArray).rand())
    val input: Activity = if (inputs.length == 1) inputs.head else T.array(inputs.toArray)
    val times = scala.collection.mutable.ArrayBuffer[Double]()
    val deadline = System.nanoTime() + 300000000L // at most ~0.3 s per layout, however slow the model
    while (times.length < 12 && (times.length < 3 || System.nanoTime() < deadline)) {
      val started = System.nanoTime()
      val output = model.forward(input)
      model.backward(input, output)
      times += (System.nanoTime() - started) / 1e6
    }
    times.drop(1).sorted.apply((times.length - 1) / 2) // the first pass allocates
  }

  private def calibrate(built: BuiltModel, executorRows: Int, cores: Int, perCore: Choice,
      perExecutor: Choice): Choice = {
    val mklThreads = if (MKL.isMKLLoaded) MKL.getNumThreads else 0
    val nativeThreads = NativeKernels.calls.map(_.threads())
    try {
      // Unmeasured first: the JIT compiles bigwrap's loops (softmax, pooling, ...) over the first passes, and
      // whichever layout went first paid for it (LeNet-5: 7.5 ms a pass per core measured cold, 5.8 in training).
      passMs(built, executorRows / cores, 1)
      val single = passMs(built, executorRows / cores, 1)
      val all = passMs(built, executorRows, cores)
      (if (all <= single * PerCoreOverhead) perExecutor else perCore).copy(perCoreMs = single, perExecutorMs = all)
    } catch {
      case _: Exception => perCore // a model random input cannot drive (e.g. embedding indices): the old default
    } finally {
      if (MKL.isMKLLoaded) MKL.setNumThreads(mklThreads)
      nativeThreads.foreach(NativeKernels.setThreads)
    }
  }
}
