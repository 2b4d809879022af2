package bigwrap.nn

import com.intel.analytics.bigdl.dllib.nn.Linear
import com.intel.analytics.bigdl.dllib.optim.Regularizer
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * BigDL's Linear (same fp32 weight, bias and gradients, so getParameters, both trainers and the weight
 * slots see no difference) computed by bigwrap's native GEMM with bias and `activation` fused in. With
 * `bf16` the GEMMs take bf16 inputs and accumulate in fp32 where the CPU does bf16 in hardware; the
 * master weights stay fp32. Without the native library it is BigDL's Linear followed by the activation.
 */
final class NativeLinear(inputSize: Int, outputSize: Int, withBias: Boolean, val activation: FusedActivation,
    val bf16: Boolean, wRegularizer: Regularizer[Float] = null)
  extends Linear[Float](inputSize, outputSize, withBias, wRegularizer) {

  @transient private var weight16: Array[Short] = _
  private val gradPre = new PreActivationGradient(activation)
  /** Set by GradientReset in place of zeroing: the gradients hold an earlier pass's values, to be overwritten. */
  private var gradientsStale = false
  /** Another module adds to this one's gradients (a SharedCall of it): GradientReset zeroes them. */
  private[nn] var gradientsShared = false

  private[nn] def writeNextGradients(): Unit = gradientsStale = true

  /** Zeroes the gradients if no backward pass has written them since writeNextGradients. */
  private[nn] def settleGradients(): Unit = if (gradientsStale) {
    gradientsStale = false
    gradWeight.zero()
    if (gradBias != null) gradBias.zero()
  }

  private def useBf16: Boolean = bf16 && NativeKernels.bf16

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    gradPre.invalidate()
    NativeKernels.calls match {
      case Some(native) if input.dim() == 2 =>
        val x = input.contiguous()
        val batch = x.size(1)
        output.resize(batch, outputSize)
        if (useBf16 && (weight16 == null || weight16.length != weight.nElement())) {
          weight16 = new Array[Short](weight.nElement())
        }
        native.denseForward(x.storage().array(), x.storageOffset() - 1, weight.storage().array(),
          weight.storageOffset() - 1, if (useBf16) weight16 else null, Storage.array(bias), Storage.offset(bias),
          output.storage().array(), output.storageOffset() - 1, batch, inputSize, outputSize, activation.code, useBf16)
        output
      case _ =>
        super.updateOutput(input)
        activation(output)
        output
    }
  }

  override def updateGradInput(input: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] = {
    val dz = gradPre(output, gradOutput)
    NativeKernels.calls match {
      case Some(native) if input.dim() == 2 =>
        gradInput.resizeAs(input)
        native.denseGradInput(dz.storage().array(), dz.storageOffset() - 1, weight.storage().array(),
          weight.storageOffset() - 1, if (useBf16) weight16 else null, gradInput.storage().array(),
          gradInput.storageOffset() - 1, input.size(1), inputSize, outputSize, useBf16)
        gradInput
      case _ => super.updateGradInput(input, dz)
    }
  }

  override def accGradParameters(input: Tensor[Float], gradOutput: Tensor[Float]): Unit = {
    val dz = gradPre(output, gradOutput)
    gradPre.invalidate()
    NativeKernels.calls match {
      case Some(_) if scaleW == 0 && scaleB == 0 => settleGradients() // frozen: nothing to accumulate
      case Some(native) if input.dim() == 2 =>
        val x = input.contiguous()
        gradWeight.resize(outputSize, inputSize)
        if (withBias) gradBias.resize(outputSize)
        native.denseGradParams(x.storage().array(), x.storageOffset() - 1, dz.storage().array(),
          dz.storageOffset() - 1, gradWeight.storage().array(), gradWeight.storageOffset() - 1,
          Storage.array(gradBias), Storage.offset(gradBias), x.size(1), inputSize, outputSize, scaleW.toFloat,
          scaleB.toFloat, !gradientsStale, useBf16)
        gradientsStale = false
        if (wRegularizer != null && scaleW != 0) wRegularizer.accRegularization(weight, gradWeight, scaleW)
        if (bRegularizer != null && scaleB != 0) bRegularizer.accRegularization(bias, gradBias, scaleB)
      case _ =>
        settleGradients()
        super.accGradParameters(input, dz)
    }
  }

  override def toString: String =
    s"NativeLinear($inputSize -> $outputSize, ${activation.name}${if (bf16) ", bf16" else ""})"
}

/** A tensor's storage array and 0-based offset; `array` and `offset` give null and 0 for an absent tensor (no bias). */
private[nn] object Storage {
  def raw(t: Tensor[Float]): (Array[Float], Int) = (t.storage().array(), t.storageOffset() - 1)
  def array(t: Tensor[Float]): Array[Float] = if (t == null) null else t.storage().array()
  def offset(t: Tensor[Float]): Int = if (t == null) 0 else t.storageOffset() - 1
}
