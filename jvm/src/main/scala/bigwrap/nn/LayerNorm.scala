package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.abstractnn.TensorModule
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * Keras' LayerNormalization over the last axis with a configurable epsilon (BigDL's LayerNormalization
 * fixes it): y = (x - mean) / sqrt(var + eps) * gamma + beta, per row of `size` values. Without `scale` gamma
 * stays ones and without `center` beta zeros (neither is then a parameter), so every row takes the same loops.
 * Rows are summed in float, as Keras and PyTorch do; the buffers are kept from call to call. With `native` (and
 * the library loaded) the passes run in native/src/layer_norm.cpp, else in the loops here.
 */
final class LayerNorm(size: Int, eps: Double, center: Boolean, scale: Boolean, native: Boolean)
  extends TensorModule[Float] {
  val gamma: Tensor[Float] = Tensor[Float](size).fill(1f)
  val beta: Tensor[Float] = Tensor[Float](size)
  val gradGamma: Tensor[Float] = Tensor[Float](size)
  val gradBeta: Tensor[Float] = Tensor[Float](size)
  private var normalized = new Array[Float](0)
  private var invStd = new Array[Float](0)
  private val scaledGradient = new Array[Float](size)
  @transient private lazy val calls = if (native) NativeKernels.calls else None

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    val x = input.contiguous()
    val rows = x.nElement() / size
    output.resizeAs(x)
    if (normalized.length < x.nElement()) normalized = new Array[Float](x.nElement())
    if (invStd.length < rows) invStd = new Array[Float](rows)
    val ((xs, xo), (ys, yo), (gs, go), (bs, bo)) = (raw(x), raw(output), raw(gamma), raw(beta))
    calls match {
      case Some(kernels) =>
        kernels.layerNormForward(xs, xo, gs, go, bs, bo, ys, yo, normalized, invStd, rows, size, eps)
      case None => forwardRows(xs, xo, ys, yo, gs, go, bs, bo, rows)
    }
    output
  }

  private def forwardRows(xs: Array[Float], xo: Int, ys: Array[Float], yo: Int, gs: Array[Float], go: Int,
      bs: Array[Float], bo: Int, rows: Int): Unit = {
    var r = 0
    while (r < rows) {
      val base = r * size
      val xb = xo + base // (separate vals: a tuple per row would box them)
      val yb = yo + base
      val mean = LayerNorm.sum(xs, xb, size) / size
      val inv = (1.0 / math.sqrt(LayerNorm.squaredDeviations(xs, xb, size, mean) / size + eps)).toFloat
      invStd(r) = inv
      var i = 0
      while (i < size) { normalized(base + i) = (xs(xb + i) - mean) * inv; i += 1 }
      i = 0
      while (i < size) { ys(yb + i) = normalized(base + i) * gs(go + i) + bs(bo + i); i += 1 }
      r += 1
    }
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] = {
    val dy = gradOutput.contiguous()
    val rows = dy.nElement() / size
    gradInput.resizeAs(input)
    val ((ds, dOff), (xs, xo), (gs, go)) = (raw(dy), raw(gradInput), raw(gamma))
    calls match {
      case Some(kernels) =>
        kernels.layerNormGradInput(ds, dOff, gs, go, normalized, invStd, xs, xo, rows, size, scaledGradient)
      case None => gradInputRows(ds, dOff, xs, xo, gs, go, rows)
    }
    gradInput
  }

  private def gradInputRows(ds: Array[Float], dOff: Int, xs: Array[Float], xo: Int, gs: Array[Float], go: Int,
      rows: Int): Unit = {
    val dn = scaledGradient
    var r = 0
    while (r < rows) {
      val base = r * size
      var i = 0
      while (i < size) { dn(i) = ds(dOff + base + i) * gs(go + i); i += 1 }
      val inv = invStd(r)
      val meanGradient = LayerNorm.sum(dn, 0, size) / size
      val meanDot = LayerNorm.dot(dn, 0, normalized, base, size) / size
      i = 0
      while (i < size) {
        xs(xo + base + i) = inv * (dn(i) - meanGradient - normalized(base + i) * meanDot)
        i += 1
      }
      r += 1
    }
  }

  override def accGradParameters(input: Tensor[Float], gradOutput: Tensor[Float]): Unit = {
    val dy = gradOutput.contiguous()
    val rows = dy.nElement() / size
    val (ds, dOff) = raw(dy)
    val (gg, ggo) = raw(gradGamma)
    val (gb, gbo) = raw(gradBeta)
    val (sw, sb) = (scaleW.toFloat, scaleB.toFloat)
    calls match {
      case Some(kernels) => kernels.layerNormGradParams(ds, dOff, normalized, gg, ggo, gb, gbo, rows, size, sw, sb)
      case None => paramRows(ds, dOff, gg, ggo, gb, gbo, rows, sw, sb)
    }
  }

  private def paramRows(ds: Array[Float], dOff: Int, gg: Array[Float], ggo: Int, gb: Array[Float], gbo: Int,
      rows: Int, sw: Float, sb: Float): Unit = {
    var r = 0
    while (r < rows) {
      var i = 0
      while (i < size) {
        val g = ds(dOff + r * size + i)
        gg(ggo + i) += sw * g * normalized(r * size + i)
        gb(gbo + i) += sb * g
        i += 1
      }
      r += 1
    }
  }

  override def parameters(): (Array[Tensor[Float]], Array[Tensor[Float]]) = {
    val pairs = (if (scale) Seq((gamma, gradGamma)) else Nil) ++ (if (center) Seq((beta, gradBeta)) else Nil)
    (pairs.map(_._1).toArray, pairs.map(_._2).toArray)
  }
}

/** Sums over a row in four running sums: one sum is a chain of dependent adds, four keep the CPU's adders busy. */
private object LayerNorm {
  def sum(a: Array[Float], ao: Int, n: Int): Float = {
    var s0 = 0f; var s1 = 0f; var s2 = 0f; var s3 = 0f
    var i = 0
    while (i + 3 < n) { s0 += a(ao + i); s1 += a(ao + i + 1); s2 += a(ao + i + 2); s3 += a(ao + i + 3); i += 4 }
    while (i < n) { s0 += a(ao + i); i += 1 }
    (s0 + s1) + (s2 + s3)
  }

  /** Σ (a[i] − mean)². */
  def squaredDeviations(a: Array[Float], ao: Int, n: Int, mean: Float): Float = {
    var s0 = 0f; var s1 = 0f; var s2 = 0f; var s3 = 0f
    var i = 0
    while (i + 3 < n) {
      val d0 = a(ao + i) - mean // (separate vals: a tuple would box them)
      val d1 = a(ao + i + 1) - mean
      val d2 = a(ao + i + 2) - mean
      val d3 = a(ao + i + 3) - mean
      s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3
      i += 4
    }
    while (i < n) { val d = a(ao + i) - mean; s0 += d * d; i += 1 }
    (s0 + s1) + (s2 + s3)
  }

  def dot(a: Array[Float], ao: Int, b: Array[Float], bo: Int, n: Int): Float = {
    var s0 = 0f; var s1 = 0f; var s2 = 0f; var s3 = 0f
    var i = 0
    while (i + 3 < n) {
      s0 += a(ao + i) * b(bo + i); s1 += a(ao + i + 1) * b(bo + i + 1)
      s2 += a(ao + i + 2) * b(bo + i + 2); s3 += a(ao + i + 3) * b(bo + i + 3)
      i += 4
    }
    while (i < n) { s0 += a(ao + i) * b(bo + i); i += 1 }
    (s0 + s1) + (s2 + s3)
  }
}
