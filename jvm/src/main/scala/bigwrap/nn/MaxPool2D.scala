package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.abstractnn.TensorModule
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * Max pooling of channels-last (batch, height, width, channels) input in loops over the storage. BigDL's NHWC
 * SpatialMaxPooling works each image as a tensor of its own on Engine.model's thread pool (a select, a future and
 * an error message built per image) and branches on every value: in LeNet-5 that cost more than both
 * convolutions. Here each window's maximum is a branch-free `max` over the channels, read in storage order.
 *
 * `pads` are (top, bottom, left, right) cells outside the image that never win (each window is clipped to the
 * image), so every window holds at least one cell. Backward routes each output's gradient to the first cell of
 * its window, in row-major order, that holds the maximum: BigDL's tie rule. A NaN in a window gives NaN (as
 * PyTorch's pooling does) and routes no gradient.
 */
final class MaxPool2D(poolH: Int, poolW: Int, strideH: Int, strideW: Int, pads: Seq[Int])
  extends TensorModule[Float] {
  private val Seq(top, bottom, left, right) = pads
  require(top < poolH && bottom < poolH && left < poolW && right < poolW,
    s"padding $pads must be smaller than the pool ${poolH}x$poolW")

  private def outHeight(height: Int): Int = (height + top + bottom - poolH) / strideH + 1
  private def outWidth(width: Int): Int = (width + left + right - poolW) / strideW + 1

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    val x = input.contiguous()
    val (batch, height, width, channels) = (x.size(1), x.size(2), x.size(3), x.size(4))
    val (outH, outW) = (outHeight(height), outWidth(width))
    output.resize(batch, outH, outW, channels)
    val ((in, inOffset), (out, outOffset)) = (raw(x), raw(output))
    var image = 0
    while (image < batch) {
      val imageStart = inOffset + image * height * width * channels
      var oh = 0
      while (oh < outH) {
        val h0 = math.max(oh * strideH - top, 0)
        val h1 = math.min(oh * strideH - top + poolH, height)
        var ow = 0
        while (ow < outW) {
          val w0 = math.max(ow * strideW - left, 0)
          val w1 = math.min(ow * strideW - left + poolW, width)
          val o = outOffset + ((image * outH + oh) * outW + ow) * channels
          System.arraycopy(in, imageStart + (h0 * width + w0) * channels, out, o, channels)
          var h = h0
          while (h < h1) {
            var w = if (h == h0) w0 + 1 else w0
            while (w < w1) {
              val p = imageStart + (h * width + w) * channels
              var c = 0
              while (c < channels) { out(o + c) = math.max(out(o + c), in(p + c)); c += 1 }
              w += 1
            }
            h += 1
          }
          ow += 1
        }
        oh += 1
      }
      image += 1
    }
    output
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] = {
    val x = input.contiguous()
    val dy = gradOutput.contiguous()
    val (batch, height, width, channels) = (x.size(1), x.size(2), x.size(3), x.size(4))
    val (outH, outW) = (outHeight(height), outWidth(width))
    gradInput.resizeAs(x).zero()
    val ((in, inOffset), (out, outOffset)) = (raw(x), raw(output))
    val ((dyArray, dyOffset), (dx, dxOffset)) = (raw(dy), raw(gradInput))
    var image = 0
    while (image < batch) {
      val imageStart = image * height * width * channels // relative to both input and gradInput
      var oh = 0
      while (oh < outH) {
        val h0 = math.max(oh * strideH - top, 0)
        val h1 = math.min(oh * strideH - top + poolH, height)
        var ow = 0
        while (ow < outW) {
          val w0 = math.max(ow * strideW - left, 0)
          val w1 = math.min(ow * strideW - left + poolW, width)
          val o = ((image * outH + oh) * outW + ow) * channels
          var c = 0
          while (c < channels) {
            val max = out(outOffset + o + c)
            var winner = -1
            var h = h0
            while (winner < 0 && h < h1) {
              var w = w0
              while (winner < 0 && w < w1) {
                val p = imageStart + (h * width + w) * channels + c
                if (in(inOffset + p) == max) winner = p
                w += 1
              }
              h += 1
            }
            if (winner >= 0) dx(dxOffset + winner) += dyArray(dyOffset + o + c)
            c += 1
          }
          ow += 1
        }
        oh += 1
      }
      image += 1
    }
    gradInput
  }

  override def toString: String = s"MaxPool2D(${poolH}x$poolW, stride ${strideH}x$strideW, pads ${pads.mkString(",")})"
}
