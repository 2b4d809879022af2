package bigwrap.train

/**
 * A task's slice of an iteration's gradient, never summed into an array of its own: value k is
 * Σ_p scales(p)·arrays(p)(offsets(p) + k). The parts are each task's gradient in this JVM (the mean over its rows,
 * as the criterion gives it) weighted by its share of the iteration's rows, and, between executors, the sum that
 * crossed (over its rows) weighted by 1 / all rows. The optimizer step reads the parts in its one pass (FusedSteps,
 * native/src/optim.cpp): no pass to scale each task's gradient to a sum, none to copy and add them into one array.
 * The arrays and offsets are fixed for an epoch; the scales change with each iteration's rows.
 */
private[train] final class GradientParts(val arrays: Array[Array[Float]], val offsets: Array[Int], val length: Int) {
  val scales = new Array[Float](arrays.length)

  /** The slice's gradient into `out`, each value clipped to ±bound (a NaN stays NaN), as the native steps take it. */
  def sumInto(out: Array[Float], bound: Float): Unit = {
    java.util.Arrays.fill(out, 0, length, 0f)
    for (p <- arrays.indices) {
      val (part, offset, scale) = (arrays(p), offsets(p), scales(p))
      var k = 0
      while (k < length) { out(k) += scale * part(offset + k); k += 1 }
    }
    var k = 0
    while (k < length) { out(k) = if (out(k) > bound) bound else if (out(k) < -bound) -bound else out(k); k += 1 }
  }
}

private[train] object GradientParts {
  /** One array holding the slice's gradient as it is. */
  def of(gradient: Array[Float]): GradientParts = {
    val parts = new GradientParts(Array(gradient), Array(0), gradient.length)
    parts.scales(0) = 1f
    parts
  }
}
