package bigwrap.nn

import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * A second (third, ...) call of a shared layer. A BigDL graph holds each module once, so the call runs
 * `copy`, a module of the same structure, whose weights and gradients are re-pointed at `owner`'s
 * before every pass: optimizers flatten and move parameters, so the pointers are only valid per pass.
 * It reports no parameters of its own, so the optimizer sees each shared weight exactly once and the
 * gradients of every call add up in the owner's.
 */
final class SharedCall(owner: AbstractModule[Activity, Activity, Float],
    copy: AbstractModule[Activity, Activity, Float]) extends AbstractModule[Activity, Activity, Float] {
  GradientReset.linearsIn(owner).foreach(_.gradientsShared = true) // the copy adds to their gradients

  private def tie(): Unit = {
    val (weights, grads) = owner.parameters()
    val (copyWeights, copyGrads) = copy.parameters()
    weights.indices.foreach { i =>
      copyWeights(i).set(weights(i))
      copyGrads(i).set(grads(i))
    }
  }

  override def updateOutput(input: Activity): Activity = {
    tie()
    output = copy.forward(input)
    output
  }

  override def updateGradInput(input: Activity, gradOutput: Activity): Activity = {
    tie()
    gradInput = copy.updateGradInput(input, gradOutput)
    gradInput
  }

  override def accGradParameters(input: Activity, gradOutput: Activity): Unit = {
    tie()
    copy.accGradParameters(input, gradOutput)
  }

  override def training(): this.type = { copy.training(); super.training() }
  override def evaluate(): this.type = { copy.evaluate(); super.evaluate() }
}
