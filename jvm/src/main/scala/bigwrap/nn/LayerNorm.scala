package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.abstractnn.TensorModule
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * Keras' LayerNormalization over the last axis with a configurable epsilon (BigDL's LayerNormalization
 * fixes it): y = (x - mean) / sqrt(var + eps) * gamma + beta, per row of `size` values.
 */
final class LayerNorm(size: Int, eps: Double, center: Boolean, scale: Boolean) extends TensorModule[Float] {
  val gamma: Tensor[Float] = Tensor[Float](size).fill(1f)
  val beta: Tensor[Float] = Tensor[Float](size)
  val gradGamma: Tensor[Float] = Tensor[Float](size)
  val gradBeta: Tensor[Float] = Tensor[Float](size)
  private var normalized = new Array[Float](0)
  private var invStd = new Array[Float](0)

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    val x = input.contiguous()
    val rows = x.nElement() / size
    output.resizeAs(x)
    normalized = new Array[Float](x.nElement())
    invStd = new Array[Float](rows)
    val (xs, xo) = raw(x)
    val (ys, yo) = raw(output)
    val (gs, go) = raw(gamma)
    val (bs, bo) = raw(beta)
    var r = 0
    while (r < rows) {
      val base = r * size
      var mean = 0.0
      var i = 0
      while (i < size) { mean += xs(xo + base + i); i += 1 }
      mean /= size
      var variance = 0.0
      i = 0
      while (i < size) { val d = xs(xo + base + i) - mean; variance += d * d; i += 1 }
      val inv = 1.0 / math.sqrt(variance / size + eps)
      invStd(r) = inv.toFloat
      i = 0
      while (i < size) {
        val n = ((xs(xo + base + i) - mean) * inv).toFloat
        normalized(base + i) = n
        ys(yo + base + i) = (if (scale) n * gs(go + i) else n) + (if (center) bs(bo + i) else 0f)
        i += 1
      }
      r += 1
    }
    output
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] = {
    val dy = gradOutput.contiguous()
    val rows = dy.nElement() / size
    gradInput.resizeAs(input)
    val (ds, dOff) = raw(dy)
    val (xs, xo) = raw(gradInput)
    val (gs, go) = raw(gamma)
    val dn = new Array[Double](size)
    var r = 0
    while (r < rows) {
      val base = r * size
      var sum = 0.0
      var dot = 0.0
      var i = 0
      while (i < size) {
        dn(i) = ds(dOff + base + i) * (if (scale) gs(go + i) else 1f)
        sum += dn(i)
        dot += dn(i) * normalized(base + i)
        i += 1
      }
      i = 0
      while (i < size) {
        xs(xo + base + i) = (invStd(r) * (dn(i) - sum / size - normalized(base + i) * dot / size)).toFloat
        i += 1
      }
      r += 1
    }
    gradInput
  }

  override def accGradParameters(input: Tensor[Float], gradOutput: Tensor[Float]): Unit = {
    val dy = gradOutput.contiguous()
    val rows = dy.nElement() / size
    val (ds, dOff) = raw(dy)
    val (gg, ggo) = raw(gradGamma)
    val (gb, gbo) = raw(gradBeta)
    var r = 0
    while (r < rows) {
      var i = 0
      while (i < size) {
        val g = ds(dOff + r * size + i)
        gg(ggo + i) += scaleW.toFloat * g * normalized(r * size + i)
        gb(gbo + i) += scaleB.toFloat * g
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
