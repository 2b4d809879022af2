package bigwrap.nn

import com.intel.analytics.bigdl.dllib.nn.abstractnn.DataFormat
import com.intel.analytics.bigdl.dllib.tensor.Tensor

/**
 * Our NHWC Convolution (BigDL's weights, bias and gradients: weight (1, kh, kw, in, out), Keras' layout)
 * computed by oneDNN through bigwrap's native library, with bias and `activation` fused into the forward
 * pass. `pad` is BigDL's: -1 for TensorFlow/Keras "same", 0 for "valid". With `bf16` the convolutions
 * take bf16 activations and weights and produce fp32 where the CPU does bf16 in hardware. Without the
 * native library it is the BigDL convolution followed by the activation.
 */
final class NativeConv2D(nInputPlane: Int, nOutputPlane: Int, kernelW: Int, kernelH: Int, strideW: Int,
    strideH: Int, pad: Int, withBias: Boolean, val activation: FusedActivation, val bf16: Boolean)
  extends Convolution(nInputPlane, nOutputPlane, kernelW, kernelH, strideW, strideH, pad, pad, withBias,
    DataFormat.NHWC) {

  private val gradPre = new PreActivationGradient(activation)

  private def useBf16: Boolean = bf16 && NativeKernels.bf16

  /** The native kernels' shape array (NativeCalls.convForward) for this NHWC input. */
  private def geometry(input: Tensor[Float]): Array[Int] = {
    val (n, h, w) = (input.size(1), input.size(2), input.size(3))
    val (top, bottom, left, right) = getPadding(h, w)
    Array(n, h, w, nInputPlane, nOutputPlane, kernelH, kernelW, strideH, strideW, top, left, bottom, right,
      (h + top + bottom - kernelH) / strideH + 1, (w + left + right - kernelW) / strideW + 1)
  }

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    gradPre.invalidate()
    NativeKernels.calls match {
      case Some(native) if input.dim() == 4 =>
        val x = input.contiguous()
        val shape = geometry(x)
        output.resize(shape(0), shape(13), shape(14), nOutputPlane)
        native.convForward(shape, x.storage().array(), x.storageOffset() - 1, weight.storage().array(),
          weight.storageOffset() - 1, Storage.array(bias), Storage.offset(bias), output.storage().array(),
          output.storageOffset() - 1, activation.code, useBf16)
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
      case Some(native) if input.dim() == 4 =>
        gradInput.resizeAs(input)
        native.convGradInput(geometry(input), dz.storage().array(), dz.storageOffset() - 1, weight.storage().array(),
          weight.storageOffset() - 1, gradInput.storage().array(), gradInput.storageOffset() - 1, useBf16)
        gradInput
      case _ => super.updateGradInput(input, dz)
    }
  }

  override def accGradParameters(input: Tensor[Float], gradOutput: Tensor[Float]): Unit = {
    val dz = gradPre(output, gradOutput)
    gradPre.invalidate()
    NativeKernels.calls match {
      case Some(_) if scaleW == 0 && scaleB == 0 => // frozen: nothing to accumulate
      case Some(native) if input.dim() == 4 =>
        val x = input.contiguous()
        native.convGradParams(geometry(x), x.storage().array(), x.storageOffset() - 1, dz.storage().array(),
          dz.storageOffset() - 1, gradWeight.storage().array(), gradWeight.storageOffset() - 1,
          Storage.array(gradBias), Storage.offset(gradBias), scaleW.toFloat, scaleB.toFloat, useBf16)
        if (wRegularizer != null && scaleW != 0) wRegularizer.accRegularization(weight, gradWeight, scaleW)
        if (bRegularizer != null && scaleB != 0) bRegularizer.accRegularization(bias, gradBias, scaleB)
      case _ => super.accGradParameters(input, dz)
    }
  }

  override def toString: String = s"NativeConv2D($nInputPlane -> $nOutputPlane, ${kernelH}x$kernelW, " +
    s"${activation.name}${if (bf16) ", bf16" else ""})"
}
