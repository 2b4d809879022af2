package bigwrap.nn

import com.intel.analytics.bigdl.dllib.nn.abstractnn.TensorModule
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.apache.commons.math3.special.Erf

/** Exact GELU, x·Φ(x) with the normal CDF through erf (Keras' default `approximate=False`); BigDL has none. */
final class Gelu extends TensorModule[Float] {
  private val invSqrt2 = 1.0 / math.sqrt(2.0)
  private val invSqrt2Pi = 1.0 / math.sqrt(2.0 * math.Pi)

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    output.resizeAs(input).copy(input)
    output.apply1(x => (x * 0.5 * (1.0 + Erf.erf(x * invSqrt2))).toFloat)
    output
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] = {
    gradInput.resizeAs(input).copy(input)
    gradInput.apply1(x => (0.5 * (1.0 + Erf.erf(x * invSqrt2)) + x * invSqrt2Pi * math.exp(-0.5 * x * x)).toFloat)
    gradInput.cmul(gradOutput)
    gradInput
  }
}
