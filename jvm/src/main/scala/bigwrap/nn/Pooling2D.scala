package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.abstractnn.TensorModule
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * Pooling windows over channels-last (batch, height, width, channels) input, worked in loops over the storage.
 * BigDL's NHWC poolings hand each image to Engine.model's thread pool as a tensor of its own (a select, a future
 * and an error message built per image); in LeNet-5 that cost more than both convolutions. `pads` are (top,
 * bottom, left, right) cells outside the image: windows are clipped to the image, so a padded cell never counts
 * and every window holds at least one cell.
 */
abstract class WindowPool2D(poolH: Int, poolW: Int, strideH: Int, strideW: Int, pads: Seq[Int])
  extends TensorModule[Float] {
  protected val Seq(top, bottom, left, right) = pads
  require(top < poolH && bottom < poolH && left < poolW && right < poolW,
    s"padding $pads must be smaller than the pool ${poolH}x$poolW")

  protected def outHeight(height: Int): Int = (height + top + bottom - poolH) / strideH + 1
  protected def outWidth(width: Int): Int = (width + left + right - poolW) / strideW + 1
  /** The window's first and (exclusive) last row of the image, for output row `oh`; likewise columns. */
  protected def rowsFrom(oh: Int): Int = math.max(oh * strideH - top, 0)
  protected def rowsUntil(oh: Int, height: Int): Int = math.min(oh * strideH - top + poolH, height)
  protected def columnsFrom(ow: Int): Int = math.max(ow * strideW - left, 0)
  protected def columnsUntil(ow: Int, width: Int): Int = math.min(ow * strideW - left + poolW, width)

  override def toString: String =
    s"${getClass.getSimpleName}(${poolH}x$poolW, stride ${strideH}x$strideW, pads ${pads.mkString(",")})"
}

/**
 * Max pooling: each window's maximum is a branch-free `max` over the channels, read in storage order; in training
 * the forward pass also records, with selects, where each maximum came from, so backward is one scatter. Each
 * output's gradient goes to the first cell of its window, in row-major order, that holds the maximum: BigDL's
 * and PyTorch's tie rule. A NaN in a window gives NaN (as in PyTorch). Inference (nothing to record) pools in
 * passes over whole rows instead, which the JIT vectorises even with few channels: per output row, the maximum
 * over the window's input rows, then over each window's columns as shifted copies of that row (padded cells hold
 * -inf and never win), then each window's value picked out (LeNet-5's first pooling: 0.58 → 0.29 ms per 64
 * images). Recording sources the same way measured slower than the window walk here (the JIT vectorises no
 * select of an int by a float comparison), but not in native/src/pooling.cpp, which the training pass runs on
 * with `native` (and the library loaded).
 */
final class MaxPool2D(poolH: Int, poolW: Int, strideH: Int, strideW: Int, pads: Seq[Int], native: Boolean)
  extends WindowPool2D(poolH, poolW, strideH, strideW, pads) {
  @transient private lazy val calls = if (native) NativeKernels.calls else None
  /** Per output value, the input value (index within the batch) its maximum came from; valid while `tracked`. */
  private var sources = Array.emptyIntArray
  private var tracked = false

  /** The inference pass's maxima of one output row: over its input rows (padded width), then over each window. */
  private var rowMax, windowMax = Array.emptyFloatArray

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    if (isTraining()) poolTracked(input.contiguous()) else poolRows(input.contiguous())
    output
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] = {
    val x = input.contiguous()
    if (!tracked) poolTracked(x) // a forward in evaluation mode: find the sources now
    gradInput.resizeAs(x).zero()
    val dy = gradOutput.contiguous()
    val ((dyArray, dyOffset), (dx, dxOffset)) = (raw(dy), raw(gradInput))
    var i = 0
    val n = output.nElement()
    while (i < n) { dx(dxOffset + sources(i)) += dyArray(dyOffset + i); i += 1 }
    gradInput
  }

  private def poolRows(x: Tensor[Float]): Unit = {
    val (batch, height, width, channels) = (x.size(1), x.size(2), x.size(3), x.size(4))
    val (outH, outW) = (outHeight(height), outWidth(width))
    output.resize(batch, outH, outW, channels)
    tracked = false
    val padded = (left + width + right) * channels
    if (rowMax.length < padded) {
      rowMax = Array.fill(padded)(Float.NegativeInfinity)
      windowMax = new Array[Float](padded)
    }
    val rowFloats = width * channels
    val spans = (left + width + right - poolW + 1) * channels // windowMax's length: a value per window start
    val ((in, inOffset), (out, outOffset)) = (raw(x), raw(output))
    val into = left * channels
    var image = 0
    while (image < batch) {
      val imageStart = inOffset + image * height * rowFloats
      var oh = 0
      while (oh < outH) {
        val h1 = rowsUntil(oh, height)
        var h = rowsFrom(oh)
        System.arraycopy(in, imageStart + h * rowFloats, rowMax, into, rowFloats)
        h += 1
        while (h < h1) {
          val row = imageStart + h * rowFloats
          var j = 0
          while (j < rowFloats) { rowMax(into + j) = math.max(rowMax(into + j), in(row + j)); j += 1 }
          h += 1
        }
        System.arraycopy(rowMax, 0, windowMax, 0, spans)
        var k = 1
        while (k < poolW) {
          val shift = k * channels
          var j = 0
          while (j < spans) { windowMax(j) = math.max(windowMax(j), rowMax(j + shift)); j += 1 }
          k += 1
        }
        val outRow = outOffset + (image * outH + oh) * outW * channels
        var ow = 0
        while (ow < outW) {
          val from = ow * strideW * channels
          val to = outRow + ow * channels
          var c = 0
          while (c < channels) { out(to + c) = windowMax(from + c); c += 1 }
          ow += 1
        }
        oh += 1
      }
      image += 1
    }
  }

  /** The training pass: the maxima and, per output value, the input cell each came from. */
  private def poolTracked(x: Tensor[Float]): Unit = {
    val (batch, height, width, channels) = (x.size(1), x.size(2), x.size(3), x.size(4))
    val (outH, outW) = (outHeight(height), outWidth(width))
    output.resize(batch, outH, outW, channels)
    if (sources.length < output.nElement()) sources = new Array[Int](output.nElement())
    tracked = true
    val ((in, inOffset), (out, outOffset)) = (raw(x), raw(output))
    calls match {
      case Some(kernels) => kernels.maxPoolTracked(Array(batch, height, width, channels, poolH, poolW, strideH,
        strideW, top, left, outH, outW), in, inOffset, out, outOffset, sources)
      case None => walkWindows(in, inOffset, out, outOffset, batch, height, width, channels, outH, outW)
    }
  }

  private def walkWindows(in: Array[Float], inOffset: Int, out: Array[Float], outOffset: Int, batch: Int,
      height: Int, width: Int, channels: Int, outH: Int, outW: Int): Unit = {
    var image = 0
    while (image < batch) {
      val imageStart = image * height * width * channels // relative to the input's offset
      var oh = 0
      while (oh < outH) {
        val h0 = rowsFrom(oh)
        val h1 = rowsUntil(oh, height)
        var ow = 0
        while (ow < outW) {
          val w0 = columnsFrom(ow)
          val w1 = columnsUntil(ow, width)
          val o = ((image * outH + oh) * outW + ow) * channels
          val ob = outOffset + o
          val first = imageStart + (h0 * width + w0) * channels
          System.arraycopy(in, inOffset + first, out, ob, channels)
          var c = 0
          while (c < channels) { sources(o + c) = first + c; c += 1 }
          var h = h0
          while (h < h1) {
            var w = if (h == h0) w0 + 1 else w0
            while (w < w1) {
              val p = imageStart + (h * width + w) * channels
              val pb = inOffset + p
              c = 0
              while (c < channels) {
                val v = in(pb + c)
                val best = out(ob + c)
                // selects, not branches: which cell wins is data, unpredictable
                sources(o + c) = if (v > best) p + c else sources(o + c)
                out(ob + c) = math.max(best, v)
                c += 1
              }
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
}

/**
 * Average pooling: the sum of each window's cells inside the image, divided by their number (Keras' "same" and
 * explicit padding that is not counted leave padded cells out; padding that counts is applied as zeros before
 * this module),
 * or the sum itself without `divide` (LPPooling2D's Σ|x|^p).
 */
final class AveragePool2D(poolH: Int, poolW: Int, strideH: Int, strideW: Int, pads: Seq[Int], divide: Boolean)
  extends WindowPool2D(poolH, poolW, strideH, strideW, pads) {

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    val x = input.contiguous()
    val (batch, height, width, channels) = (x.size(1), x.size(2), x.size(3), x.size(4))
    val (outH, outW) = (outHeight(height), outWidth(width))
    output.resize(batch, outH, outW, channels).zero()
    val ((in, inOffset), (out, outOffset)) = (raw(x), raw(output))
    var image = 0
    while (image < batch) {
      val imageStart = inOffset + image * height * width * channels
      var oh = 0
      while (oh < outH) {
        val h0 = rowsFrom(oh)
        val h1 = rowsUntil(oh, height)
        var ow = 0
        while (ow < outW) {
          val w0 = columnsFrom(ow)
          val w1 = columnsUntil(ow, width)
          val ob = outOffset + ((image * outH + oh) * outW + ow) * channels
          var h = h0
          while (h < h1) {
            var w = w0
            while (w < w1) {
              val pb = imageStart + (h * width + w) * channels
              var c = 0
              while (c < channels) { out(ob + c) += in(pb + c); c += 1 }
              w += 1
            }
            h += 1
          }
          if (divide) {
            val cells = ((h1 - h0) * (w1 - w0)).toFloat
            var c = 0
            while (c < channels) { out(ob + c) /= cells; c += 1 }
          }
          ow += 1
        }
        oh += 1
      }
      image += 1
    }
    output
  }

  // The window walk of updateOutput, kept apart: one walk for both directions (a flag in the channel loop) and a
  // walk taking a function per window each measured 25-33 % slower on one thread.
  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] = {
    val (batch, height, width, channels) = (input.size(1), input.size(2), input.size(3), input.size(4))
    val (outH, outW) = (outHeight(height), outWidth(width))
    gradInput.resize(batch, height, width, channels).zero()
    val dy = gradOutput.contiguous()
    val ((dyArray, dyOffset), (dx, dxOffset)) = (raw(dy), raw(gradInput))
    var image = 0
    while (image < batch) {
      val imageStart = dxOffset + image * height * width * channels
      var oh = 0
      while (oh < outH) {
        val h0 = rowsFrom(oh)
        val h1 = rowsUntil(oh, height)
        var ow = 0
        while (ow < outW) {
          val w0 = columnsFrom(ow)
          val w1 = columnsUntil(ow, width)
          val ob = dyOffset + ((image * outH + oh) * outW + ow) * channels
          val share = if (divide) 1f / ((h1 - h0) * (w1 - w0)) else 1f
          var h = h0
          while (h < h1) {
            var w = w0
            while (w < w1) {
              val pb = imageStart + (h * width + w) * channels
              var c = 0
              while (c < channels) { dx(pb + c) += dyArray(ob + c) * share; c += 1 }
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
    gradInput
  }
}
