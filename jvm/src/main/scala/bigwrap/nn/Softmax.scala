package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.SoftMax
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * Softmax over the classes of (rows, classes) input, the only shape a bigwrap graph gives it (Activations
 * reshapes anything else to rows), in loops over the storage. BigDL's SoftMax clones its input twice, works each
 * row through a tensor of its own and, backward, allocates three tensors a call: on a classifier's last layer
 * that costs more than the layer's GEMM. The same maths (shift by the row's maximum, exp, divide by the sum);
 * other input goes to BigDL's.
 */
final class Softmax extends SoftMax[Float] {
  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    if (input.dim() != 2 || !input.isContiguous()) return super.updateOutput(input)
    val (rows, classes) = (input.size(1), input.size(2))
    output.resize(rows, classes)
    val ((x, xo), (y, yo)) = (raw(input), raw(output))
    var r = 0
    while (r < rows) {
      val in = xo + r * classes // (separate vals: a tuple per row would box its Ints)
      val out = yo + r * classes
      var max = Float.NegativeInfinity
      var c = 0
      while (c < classes) { max = math.max(max, x(in + c)); c += 1 }
      Softmax.shiftedExpOverSum(x, in, y, out, classes, max, Float.NegativeInfinity)
      r += 1
    }
    output
  }

  /** dL/dx = y ⊙ (dL/dy − Σ y ⊙ dL/dy), per row. */
  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] = {
    if (input.dim() != 2 || !gradOutput.isContiguous() || !output.isSameSizeAs(gradOutput)) {
      return super.updateGradInput(input, gradOutput)
    }
    val (rows, classes) = (output.size(1), output.size(2))
    gradInput.resize(rows, classes)
    val ((y, yo), (g, go), (d, dOffset)) = (raw(output), raw(gradOutput), raw(gradInput))
    var r = 0
    while (r < rows) {
      val yr = yo + r * classes
      val gr = go + r * classes
      val dr = dOffset + r * classes
      var dot = 0f
      var c = 0
      while (c < classes) { dot += y(yr + c) * g(gr + c); c += 1 }
      c = 0
      while (c < classes) { d(dr + c) = y(yr + c) * (g(gr + c) - dot); c += 1 }
      r += 1
    }
    gradInput
  }
}

private[nn] object Softmax {
  /** to[i] = exp(from[i] − max) / Σ of them, over n values (a row's softmax given its maximum); 0 below `floor`. */
  def shiftedExpOverSum(from: Array[Float], fromOffset: Int, to: Array[Float], toOffset: Int, n: Int, max: Float,
      floor: Float): Unit = {
    var sum = 0f
    var i = 0
    while (i < n) {
      val shifted = from(fromOffset + i) - max
      val e = if (shifted < floor) 0f else math.exp(shifted).toFloat
      to(toOffset + i) = e
      sum += e
      i += 1
    }
    i = 0
    while (i < n) { to(toOffset + i) /= sum; i += 1 }
  }
}
