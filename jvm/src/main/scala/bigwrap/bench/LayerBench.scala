package bigwrap.bench

import bigwrap.nn.{Convolution, FusedActivation, NativeConv2D, NativeKernels, NativeLinear}
import com.intel.analytics.bigdl.dllib.nn.{Linear, ReLU, Sequential}
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity, DataFormat}
import com.intel.analytics.bigdl.dllib.nn.mkldnn
import com.intel.analytics.bigdl.dllib.nn.mkldnn.Phase.TrainingPhase
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import com.intel.analytics.bigdl.dllib.utils.Engine
import com.intel.analytics.bigdl.mkl.{MKL, Memory}
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * bench/native.py's per-layer timer, run in a JVM of its own (no Spark): forward + backward of one layer
 * with its activation, per kernel variant, on a fixed number of threads. MKL-DNN needs BigDL's engine type
 * set for the whole JVM, so bench/native.py runs `mkldnn` in a separate JVM (-Dbigdl.engineType=mkldnn).
 *
 * Argument: {"threads": n, "iterations": n, "warmup": n, "variants": [...], "layers": [{"name", "kind":
 * "dense"|"conv", "batch", "in", "out"} or {..., "h", "w", "c", "f", "k", "same"}]}. Prints one JSON
 * object: {"layers": [{"name", "variant", "ms" (median), "gflops" (at the median), "best_gflops"}], "native":
 * NativeKernels.info}.
 */
object LayerBench {
  private implicit val formats: Formats = DefaultFormats

  private final case class Layer(name: String, kind: String, batch: Int, in: Int, out: Int, h: Int, w: Int, c: Int,
      f: Int, k: Int, same: Boolean) {
    def inputShape: Array[Int] = if (kind == "dense") Array(batch, in) else Array(batch, h, w, c)
    private def outSide(side: Int) = if (same) side else side - k + 1
    /** Multiply-adds of forward (x1), backward data (x1) and backward weights (x1), as FLOPs. */
    def flops: Double = 3 * 2.0 * (if (kind == "dense") batch.toDouble * in * out
    else batch.toDouble * outSide(h) * outSide(w) * f * c * k * k)
  }

  /** BigDL's engine in local mode, it, MKL and the native kernels on the config's `threads`. */
  private[bench] def startEngine(config: JValue): Unit = {
    val threads = (config \ "threads").extract[Int]
    System.setProperty("bigdl.localMode", "true")
    System.setProperty("bigdl.coreNumber", threads.toString)
    Engine.init
    MKL.setNumThreads(threads)
    NativeKernels.setThreads(threads)
  }

  def main(args: Array[String]): Unit = {
    val config = JsonMethods.parse(args(0))
    startEngine(config)
    val iterations = (config \ "iterations").extract[Int]
    val warmup = (config \ "warmup").extract[Int]
    val layers = (config \ "layers").extract[List[JObject]].map { l =>
      def int(key: String) = (l \ key).extractOpt[Int].getOrElse(0)
      Layer((l \ "name").extract[String], (l \ "kind").extract[String], int("batch"), int("in"), int("out"),
        int("h"), int("w"), int("c"), int("f"), int("k"), (l \ "same").extractOpt[Boolean].getOrElse(false))
    }
    val variants = (config \ "variants").extract[List[String]]
    val rows = layers.flatMap { layer =>
      // Variants take turns, iteration by iteration, so a noisy neighbour slows them alike.
      val runs = variants.map(v => if (v == "mkldnn") new MklDnnRun(layer) else new ModuleRun(module(layer, v), layer.inputShape))
      runs.foreach(run => (0 until warmup).foreach(_ => run.step()))
      val samples = Array.fill(runs.size)(Array.newBuilder[Double])
      for (_ <- 0 until iterations; (run, k) <- runs.zipWithIndex) samples(k) += run.step()
      variants.zip(samples).map { case (variant, times) =>
        val sorted = times.result().sorted
        val (ms, best) = (sorted(sorted.length / 2), sorted.head)
        JObject("name" -> JString(layer.name), "variant" -> JString(variant), "ms" -> JDouble(ms),
          "gflops" -> JDouble(layer.flops / ms / 1e6), "best_gflops" -> JDouble(layer.flops / best / 1e6))
      }
    }
    val native = JsonMethods.parse(NativeKernels.info)
    println(JsonMethods.compact(JObject("layers" -> JArray(rows), "native" -> native)))
  }

  private def module(l: Layer, variant: String): AbstractModule[Activity, Activity, Float] = {
    val bf16 = variant == "native-bf16"
    val m: AbstractModule[Activity, Activity, Float] = (l.kind, variant) match {
      case ("dense", "bigdl") => Sequential[Float]().add(Linear[Float](l.in, l.out)).add(ReLU[Float]())
      case ("dense", _) => new NativeLinear(l.in, l.out, true, FusedActivation.Relu, bf16)
      case (_, "bigdl") => Sequential[Float]().add(new Convolution(l.c, l.f, l.k, l.k, 1, 1, if (l.same) -1 else 0,
        if (l.same) -1 else 0, true, DataFormat.NHWC)).add(ReLU[Float]())
      case _ => new NativeConv2D(l.c, l.f, l.k, l.k, 1, 1, if (l.same) -1 else 0, true, FusedActivation.Relu, bf16)
    }
    m.asInstanceOf[AbstractModule[Activity, Activity, Float]].training()
  }

  /** One timed forward + backward of a layer, in milliseconds. */
  private[bench] trait Run { def step(): Double }

  private[bench] final class ModuleRun(m: AbstractModule[Activity, Activity, Float], shape: Array[Int]) extends Run {
    private val input = Tensor[Float](shape).rand()
    private val gradOutput = m.forward(input).toTensor[Float].clone().rand()

    def step(): Double = {
      val start = System.nanoTime()
      m.forward(input)
      m.backward(input, gradOutput)
      (System.nanoTime() - start) / 1e6
    }
  }

  /** BigDL's MKL-DNN engine: its own modules, NC / NCHW layouts, run on its dedicated DNN thread. */
  private final class MklDnnRun(l: Layer) extends Run {
    private val (shape, format) = if (l.kind == "dense") (Array(l.batch, l.in), Memory.Format.nc)
    else (Array(l.batch, l.c, l.h, l.w), Memory.Format.nchw)
    private val pad = if (l.same) (l.k - 1) / 2 else 0
    private val model = mkldnn.Sequential().add(mkldnn.Input(shape, format))
      .add(if (l.kind == "dense") mkldnn.Linear(l.in, l.out) else mkldnn.SpatialConvolution(l.c, l.f, l.k, l.k, 1, 1,
        pad, pad))
      .add(mkldnn.ReLU()).add(mkldnn.Output(format))
    private var run: ModuleRun = _
    onDnnThread {
      model.training()
      model.compile(TrainingPhase)
      run = new ModuleRun(model.asInstanceOf[AbstractModule[Activity, Activity, Float]], shape)
    }

    private def onDnnThread(body: => Unit): Unit = Engine.dnnComputing.invokeAndWait2(Array(() => body))

    def step(): Double = {
      var ms = 0.0
      onDnnThread { ms = run.step() }
      ms
    }
  }
}
