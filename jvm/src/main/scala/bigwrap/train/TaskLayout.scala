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

  /** The fastest ms of the forward + backward pass of `rows` rows with `threads` kernel threads. */
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
    times.drop(1).min // the first pass allocates
  }

  private def calibrate(built: BuiltModel, executorRows: Int, cores: Int, perCore: Choice,
      perExecutor: Choice): Choice = {
    val mklThreads = if (MKL.isMKLLoaded) MKL.getNumThreads else 0
    val nativeThreads = NativeKernels.calls.map(_.threads())
    try {
      // Each layout unmeasured first: the JIT compiles bigwrap's loops (softmax, pooling, ...) over the first passes
      // (LeNet-5: 7.5 ms a pass per core measured cold, 5.8 in training), and the multithreaded layout's first
      // passes also start its threads and time the native library's GEMM backends for its shapes.
      passMs(built, executorRows / cores, 1)
      val single = passMs(built, executorRows / cores, 1)
      passMs(built, executorRows, cores)
      val all = passMs(built, executorRows, cores)
      // One task per executor when its multithreaded pass over the executor's rows is as fast as one task's pass
      // over its share. Beyond that the layouts' costs come out even: a task per core pays a gradient exchange and
      // sync waits each iteration; one task per executor runs its feed and optimizer step on one core (the bench MLP
      // on 2 cores: 0.55 ms of the first per 128 rows, 1.0 of the second per 256). Each layout's fastest pass counts,
      // its speed without interference: a multithreaded pass loses most to any other thread on the machine (its
      // median ranged from 1.1 to 4.5 times a task's pass at fit start, while the JIT compiled), and in training it
      // does too (its compute took 1.4 times a task's: the bench MLP trained 1.2-1.5 times faster a task per core).
      (if (all <= single) perExecutor else perCore).copy(perCoreMs = single, perExecutorMs = all)
    } catch {
      case _: Exception => perCore // a model random input cannot drive (e.g. embedding indices): the old default
    } finally {
      if (MKL.isMKLLoaded) MKL.setNumThreads(mklThreads)
      nativeThreads.foreach(NativeKernels.setThreads)
    }
  }
}
