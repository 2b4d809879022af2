package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, TensorModule}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import com.intel.analytics.bigdl.dllib.utils.{T, Table}

/** Per step of a (batch, steps, features...) tensor: 1 where some value differs from `value`, else 0. */
private object StepValues {
  def keep(input: Tensor[Float], value: Float): (Tensor[Float], Array[Boolean]) = {
    val x = input.contiguous()
    val steps = x.size(1) * (if (x.dim() > 1) x.size(2) else 1)
    val width = x.nElement() / math.max(steps, 1)
    val (a, o) = raw(x)
    (x, Array.tabulate(steps) { s =>
      var i = 0
      var differs = false
      while (i < width && !differs) { differs = a(o + s * width + i) != value; i += 1 }
      differs
    })
  }
}

/**
 * The Keras mask of a tensor as a (batch, steps) tensor of 1 and 0: for token ids (batch, steps) whether each
 * id differs from `value` (Embedding's mask_zero), for (batch, steps, features) whether any feature does
 * (Masking). No gradient flows back through a mask.
 */
final class StepMask(value: Float) extends TensorModule[Float] {
  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    val (_, keep) = StepValues.keep(input, value)
    output.resize(input.size(1), input.size(2))
    val (a, o) = raw(output)
    keep.indices.foreach(i => a(o + i) = if (keep(i)) 1f else 0f)
    output
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] =
    gradInput.resizeAs(input).zero()
}

/** Keras' Masking layer: the steps whose features all equal `value` become zeros. */
final class MaskSteps(value: Float) extends TensorModule[Float] {
  private var keep = Array.emptyBooleanArray

  private def apply(from: Tensor[Float], to: Tensor[Float]): Tensor[Float] = {
    val x = from.contiguous()
    to.resizeAs(x).copy(x)
    val width = x.nElement() / keep.length
    val (a, o) = raw(to)
    keep.indices.foreach(s => if (!keep(s)) java.util.Arrays.fill(a, o + s * width, o + (s + 1) * width, 0f))
    to
  }

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    keep = StepValues.keep(input, value)._2
    apply(input, output)
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] =
    apply(gradOutput, gradInput)
}

/** Keras' GlobalAveragePooling1D with a mask: table (x (batch, steps, channels), mask (batch, steps)) → the
 * mean over the unmasked steps, (batch, channels). */
final class MaskedMean extends AbstractModule[Table, Tensor[Float], Float] {
  override def updateOutput(input: Table): Tensor[Float] = {
    val x = input[Tensor[Float]](1).contiguous()
    val m = input[Tensor[Float]](2).contiguous()
    val (batch, steps, channels) = (x.size(1), x.size(2), x.size(3))
    output.resize(batch, channels).zero()
    val (xs, xo) = raw(x)
    val (ms, mo) = raw(m)
    val (ys, yo) = raw(output)
    var b = 0
    while (b < batch) {
      var count = 0f
      var s = 0
      while (s < steps) {
        val w = ms(mo + b * steps + s)
        count += w
        if (w != 0f) { var c = 0; while (c < channels) { ys(yo + b * channels + c) += w * xs(xo + (b * steps + s) * channels + c); c += 1 } }
        s += 1
      }
      var c = 0
      while (c < channels) { ys(yo + b * channels + c) /= count; c += 1 }
      b += 1
    }
    output
  }

  override def updateGradInput(input: Table, gradOutput: Tensor[Float]): Table = {
    val x = input[Tensor[Float]](1)
    val m = input[Tensor[Float]](2).contiguous()
    val dy = gradOutput.contiguous()
    val (batch, steps, channels) = (x.size(1), x.size(2), x.size(3))
    val dx = Tensor[Float](batch, steps, channels)
    val (ds, dOff) = raw(dx)
    val (ms, mo) = raw(m)
    val (gs, go) = raw(dy)
    var b = 0
    while (b < batch) {
      var count = 0f
      var s = 0
      while (s < steps) { count += ms(mo + b * steps + s); s += 1 }
      s = 0
      while (s < steps) {
        val w = ms(mo + b * steps + s) / count
        var c = 0
        while (c < channels) { ds(dOff + (b * steps + s) * channels + c) = w * gs(go + b * channels + c); c += 1 }
        s += 1
      }
      b += 1
    }
    gradInput = T(dx, Tensor[Float]().resizeAs(m).zero())
    gradInput
  }
}

/** keras_hub's PositionEmbedding: for (batch, steps, features) input, rows 0..steps-1 of `embeddings`
 * (sequenceLength, features) for every batch row. The input's values are not used (zero gradient). */
final class PositionTable(sequenceLength: Int, features: Int) extends TensorModule[Float] {
  val embeddings: Tensor[Float] = Tensor[Float](sequenceLength, features)
  val gradEmbeddings: Tensor[Float] = Tensor[Float](sequenceLength, features)

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    val (batch, steps) = (input.size(1), input.size(2))
    output.resize(batch, steps, features)
    val rows = embeddings.narrow(1, 1, steps)
    (1 to batch).foreach(b => output.select(1, b).copy(rows))
    output
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] =
    gradInput.resizeAs(input).zero()

  override def accGradParameters(input: Tensor[Float], gradOutput: Tensor[Float]): Unit = {
    val rows = gradEmbeddings.narrow(1, 1, input.size(2))
    (1 to input.size(1)).foreach(b => rows.add(scaleW.toFloat, gradOutput.select(1, b)))
  }

  override def parameters(): (Array[Tensor[Float]], Array[Tensor[Float]]) =
    (Array(embeddings), Array(gradEmbeddings))
}
