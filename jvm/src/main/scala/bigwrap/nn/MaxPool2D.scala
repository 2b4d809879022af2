package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.abstractnn.TensorModule
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * Max pooling of channels-last (batch, height, width, channels) input in loops over the storage. BigDL's NHWC
 * SpatialMaxPooling works each image as a tensor of its own on Engine.model's thread pool (a select, a future and
 * an error message built per image) and branches on every value: in LeNet-5 that cost more than both
 * convolutions. Here each window's maximum is a branch-free `max` over the channels, read in storage order; in
 * training the forward pass also records where each maximum came from, so backward is one scatter.
 *
 * `pads` are (top, bottom, left, right) cells outside the image that never win (each window is clipped to the
 * image), so every window holds at least one cell. Each output's gradient goes to the first cell of its window, in
 * row-major order, that holds the maximum: BigDL's and PyTorch's tie rule. A NaN in a window gives NaN (as in
 * PyTorch).
 */
final class MaxPool2D(poolH: Int, poolW: Int, strideH: Int, strideW: Int, pads: Seq[Int])
  extends TensorModule[Float] {
  private val Seq(top, bottom, left, right) = pads
  require(top < poolH && bottom < poolH && left < poolW && right < poolW,
    s"padding $pads must be smaller than the pool ${poolH}x$poolW")

  /** Per output value, the input value (index within the batch) its maximum came from; valid while `tracked`. */
  private var sources = Array.emptyIntArray
  private var tracked = false

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    pool(input.contiguous(), track = isTraining())
    output
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] = {
    val x = input.contiguous()
    if (!tracked) pool(x, track = true) // a forward in evaluation mode: find the sources now
    gradInput.resizeAs(x).zero()
    val dy = gradOutput.contiguous()
    val ((dyArray, dyOffset), (dx, dxOffset)) = (raw(dy), raw(gradInput))
    var i = 0
    val n = output.nElement()
    while (i < n) { dx(dxOffset + sources(i)) += dyArray(dyOffset + i); i += 1 }
    gradInput
  }

  private def pool(x: Tensor[Float], track: Boolean): Unit = {
    val (batch, height, width, channels) = (x.size(1), x.size(2), x.size(3), x.size(4))
    val outH = (height + top + bottom - poolH) / strideH + 1
    val outW = (width + left + right - poolW) / strideW + 1
    output.resize(batch, outH, outW, channels)
    if (track && sources.length < output.nElement()) sources = new Array[Int](output.nElement())
    tracked = track
    val ((in, inOffset), (out, outOffset)) = (raw(x), raw(output))
    var image = 0
    while (image < batch) {
      val imageStart = image * height * width * channels // relative to the input's offset
      var oh = 0
      while (oh < outH) {
        val h0 = math.max(oh * strideH - top, 0)
        val h1 = math.min(oh * strideH - top + poolH, height)
        var ow = 0
        while (ow < outW) {
          val w0 = math.max(ow * strideW - left, 0)
          val w1 = math.min(ow * strideW - left + poolW, width)
          val o = ((image * outH + oh) * outW + ow) * channels
          val ob = outOffset + o
          val first = imageStart + (h0 * width + w0) * channels
          System.arraycopy(in, inOffset + first, out, ob, channels)
          if (track) { var c = 0; while (c < channels) { sources(o + c) = first + c; c += 1 } }
          var h = h0
          while (h < h1) {
            var w = if (h == h0) w0 + 1 else w0
            while (w < w1) {
              val p = imageStart + (h * width + w) * channels
              val pb = inOffset + p
              var c = 0
              if (track) while (c < channels) {
                val v = in(pb + c)
                val best = out(ob + c)
                // selects, not branches: which cell wins is data, unpredictable
                sources(o + c) = if (v > best) p + c else sources(o + c)
                out(ob + c) = math.max(best, v)
                c += 1
              }
              else while (c < channels) { out(ob + c) = math.max(out(ob + c), in(pb + c)); c += 1 }
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
  }

  override def toString: String = s"MaxPool2D(${poolH}x$poolW, stride ${strideH}x$strideW, pads ${pads.mkString(",")})"
}
