package bigwrap.nn

import com.intel.analytics.bigdl.dllib.nn.SpatialConvolution
import com.intel.analytics.bigdl.dllib.nn.abstractnn.DataFormat
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * BigDL's SpatialConvolution, able to take batches of changing size in training: BigDL 2.4 sizes its
 * per-batch weight- and bias-gradient buffers on the first backward pass and never again, so a later batch of
 * another size (a trainer's short last batch) fails in accGradParameters with "invalid size". Groups (BigDL has
 * them in NCHW only) make depthwise convolutions.
 */
class Convolution(nInputPlane: Int, nOutputPlane: Int, kernelW: Int, kernelH: Int, strideW: Int, strideH: Int,
    padW: Int, padH: Int, withBias: Boolean, format: DataFormat, groups: Int = 1)
  extends SpatialConvolution[Float](nInputPlane, nOutputPlane, kernelW, kernelH, strideW, strideH, padW, padH,
    nGroup = groups, withBias = withBias, format = format) {

  override def accGradParameters(input: Tensor[Float], gradOutput: Tensor[Float]): Unit = {
    if (input.dim() == 4) {
      val batch = input.size(1)
      if (gradWeightMMInBatch != null && gradWeightMMInBatch.size(1) != batch) gradWeightMMInBatch = null
      if (withBias && gradientBiasMT.nElement() != 0 && gradientBiasMT.size(1) != batch) {
        gradientBiasMT.resize(Array(batch, nOutputPlane))
      }
    }
    super.accGradParameters(input, gradOutput)
  }
}
