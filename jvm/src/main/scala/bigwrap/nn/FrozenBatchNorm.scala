package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.abstractnn.TensorModule
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * A frozen BatchNormalization (Keras' `trainable=False`): inference mode in training too, i.e.
 * y = (x - moving_mean) / sqrt(moving_variance + eps) * gamma + beta over the last (channels) axis,
 * whatever the input's rank. Its statistics never move and its weights get no gradient.
 *
 * Ours because BigDL's batch normalization in evaluate mode back-propagates with its bias where the
 * inverse standard deviation belongs, and a frozen BN below trainable layers needs the right gradient.
 */
final class FrozenBatchNorm(channels: Int, eps: Double, affine: Boolean) extends TensorModule[Float] {
  val weight: Tensor[Float] = if (affine) Tensor[Float](channels).fill(1f) else null
  val bias: Tensor[Float] = if (affine) Tensor[Float](channels) else null
  val runningMean: Tensor[Float] = Tensor[Float](channels)
  val runningVar: Tensor[Float] = Tensor[Float](channels).fill(1f)
  private val gradWeight: Tensor[Float] = if (affine) Tensor[Float](channels) else null
  private val gradBias: Tensor[Float] = if (affine) Tensor[Float](channels) else null

  private def values(t: Tensor[Float], c: Int): Float = t.valueAt(c + 1)

  /** Per channel: y = x * scale + shift. */
  private def affineTerms(): (Array[Float], Array[Float]) = {
    val scale = new Array[Float](channels)
    val shift = new Array[Float](channels)
    var c = 0
    while (c < channels) {
      val inv = (1.0 / math.sqrt(values(runningVar, c) + eps)).toFloat
      val gamma = if (affine) values(weight, c) else 1f
      val beta = if (affine) values(bias, c) else 0f
      scale(c) = gamma * inv
      shift(c) = beta - values(runningMean, c) * gamma * inv
      c += 1
    }
    (scale, shift)
  }

  private def perChannel(in: Tensor[Float], out: Tensor[Float], scale: Array[Float], shift: Array[Float]): Tensor[Float] = {
    val x = in.contiguous()
    out.resizeAs(x)
    val ((xs, xo), (ys, yo)) = (raw(x), raw(out))
    val n = x.nElement()
    var i = 0
    while (i < n) {
      val c = i % channels
      ys(yo + i) = xs(xo + i) * scale(c) + (if (shift == null) 0f else shift(c))
      i += 1
    }
    out
  }

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    val (scale, shift) = affineTerms()
    perChannel(input, output, scale, shift)
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] =
    perChannel(gradOutput, gradInput, affineTerms()._1, null)

  override def parameters(): (Array[Tensor[Float]], Array[Tensor[Float]]) =
    if (affine) (Array(weight, bias), Array(gradWeight, gradBias)) else (Array(), Array())

  override def getExtraParameter(): Array[Tensor[Float]] = Array(runningMean, runningVar)
}
