package bigwrap.nn

import com.intel.analytics.bigdl.dllib.nn.Container
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.tensor.Tensor

/**
 * What `model.zeroGradParameters()` does before a training pass, without a pass over the gradients of the layers
 * whose backward can write them instead of adding to them (NativeLinear: its weight-gradient GEMM then runs with
 * beta 0), as PyTorch's `zero_grad(set_to_none=True)` saves its zeroing. For an MLP that is a write of the whole
 * gradient vector per iteration (0.13–0.22 ms of the bench MLP's 5–7 ms once compiled), and the GEMM no longer
 * reads the old values. Layers found through containers only; the others, and a layer whose gradients another
 * module adds to (SharedCall), are zeroed as before.
 */
final class GradientReset(model: AbstractModule[Activity, Activity, Float]) {
  private val writers = GradientReset.linearsIn(model).filterNot(_.gradientsShared)
  private val zeroed = {
    val written = writers.flatMap(_.parameters()._2) // by identity: a tensor's equals compares values
    model.parameters() match {
      case null => Seq.empty
      case (weights, gradients) => weights.zip(gradients).filterNot { case (_, g) => written.exists(_ eq g) }.toSeq
    }
  }

  /** Before a pass: every gradient is zero for the pass, or will be written by it. */
  def beforePass(): Unit = {
    zeroed.foreach { case (w, g) => g.resizeAs(w).zero() }
    writers.foreach(_.writeNextGradients())
  }

  /** After the backward pass: zeroes the gradients of a layer the pass did not reach (none, in a plain graph). */
  def afterPass(): Unit = writers.foreach(_.settleGradients())
}

object GradientReset {
  /** The NativeLinear layers in `module`, found through containers (a graph's or Sequential's modules). */
  private[nn] def linearsIn(module: AbstractModule[_, _, Float]): Seq[NativeLinear] = module match {
    case linear: NativeLinear => Seq(linear)
    case container: Container[_, _, Float @unchecked] => container.modules.toSeq.flatMap(linearsIn)
    case _ => Seq.empty
  }
}
