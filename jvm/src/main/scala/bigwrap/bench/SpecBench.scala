package bigwrap.bench

import bigwrap.spec.{KernelChoice, ModelBuilder}
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * bench/transformer.py's per-layer timer, in a JVM of its own (no Spark): forward + backward of a model spec
 * (e.g. one MultiHeadAttention) built on each kernel choice, on a fixed number of threads.
 *
 * Argument: {"spec": {...}, "input": [batch, dims...], "threads": n, "iterations": n, "warmup": n,
 * "kernels": [{"kernels": ..., "precision": ...}]}. Prints {"runs": [{"kernels", "precision", "ms" (median)}]}.
 */
object SpecBench {
  private implicit val formats: Formats = DefaultFormats

  def main(args: Array[String]): Unit = {
    val config = JsonMethods.parse(args(0))
    LayerBench.startEngine(config)
    val spec = JsonMethods.compact(config \ "spec")
    val shape = (config \ "input").extract[List[Int]].toArray
    val (iterations, warmup) = ((config \ "iterations").extract[Int], (config \ "warmup").extract[Int])
    val runs = (config \ "kernels").extract[List[JValue]].map { choice =>
      val kernels = KernelChoice.fromJson(choice)
      val run = new LayerBench.ModuleRun(ModelBuilder.build(spec, kernels).module.training(), shape)
      (0 until warmup).foreach(_ => run.step())
      val times = Array.fill(iterations)(run.step()).sorted
      JObject("kernels" -> JString(kernels.kernels), "precision" -> JString(kernels.precision),
        "ms" -> JDouble(times(times.length / 2)))
    }
    println(JsonMethods.compact(JObject("runs" -> JArray(runs))))
  }
}
