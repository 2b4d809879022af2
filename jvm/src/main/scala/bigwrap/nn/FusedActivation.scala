package bigwrap.nn

import com.intel.analytics.bigdl.dllib.tensor.Tensor

/**
 * An activation a Native* layer applies to its own output (codes shared with native/src/kernels.h). The
 * backward pass needs only that output. `apply`/`gradient` are the JVM versions, for when the native
 * library is unavailable and the layer falls back to BigDL's kernels.
 */
sealed abstract class FusedActivation(val code: Int, val name: String) extends Serializable {
  protected def f(x: Float): Float
  /** d(output)/d(input) from the output y. */
  protected def derivative(y: Float): Float

  def apply(t: Tensor[Float]): Unit = if (this != FusedActivation.Linear) t.apply1(x => f(x))

  /** dz = dy * f'(y) */
  def gradient(y: Tensor[Float], dy: Tensor[Float], dz: Tensor[Float]): Tensor[Float] = {
    dz.resizeAs(dy).copy(dy)
    if (this != FusedActivation.Linear) dz.map(y, (g, out) => g * derivative(out))
    dz
  }
}

object FusedActivation {
  case object Linear extends FusedActivation(0, "linear") {
    protected def f(x: Float): Float = x
    protected def derivative(y: Float): Float = 1f
  }
  case object Relu extends FusedActivation(1, "relu") {
    protected def f(x: Float): Float = if (x > 0f) x else 0f
    protected def derivative(y: Float): Float = if (y > 0f) 1f else 0f
  }
  case object Sigmoid extends FusedActivation(2, "sigmoid") {
    protected def f(x: Float): Float = (1.0 / (1.0 + math.exp(-x))).toFloat
    protected def derivative(y: Float): Float = y * (1f - y)
  }
  case object Tanh extends FusedActivation(3, "tanh") {
    protected def f(x: Float): Float = math.tanh(x).toFloat
    protected def derivative(y: Float): Float = 1f - y * y
  }

  private val byName = Seq(Linear, Relu, Sigmoid, Tanh).map(a => a.name -> a).toMap

  /** The fusable activation of this name; None for one the layer's graph must apply as a module of its own. */
  def named(name: String): Option[FusedActivation] = byName.get(name)
}

/**
 * d(loss)/d(pre-activation) of a layer with a fused activation: computed once per backward pass (by
 * updateGradInput) and reused by accGradParameters; a forward pass invalidates it.
 */
private[nn] final class PreActivationGradient(activation: FusedActivation) extends Serializable {
  @transient private var buffer: Tensor[Float] = _
  @transient private var fresh = false

  def invalidate(): Unit = fresh = false

  def apply(output: Tensor[Float], gradOutput: Tensor[Float]): Tensor[Float] = {
    if (!fresh) {
      val dy = gradOutput.contiguous()
      buffer = (NativeKernels.calls, activation) match {
        case (_, FusedActivation.Linear) => dy
        case (Some(native), _) =>
          val dz = if (buffer == null || (buffer eq dy)) Tensor[Float]() else buffer
          dz.resizeAs(dy)
          native.activationBackward(output.storage().array(), output.storageOffset() - 1, dy.storage().array(),
            dy.storageOffset() - 1, dz.storage().array(), dz.storageOffset() - 1, dy.nElement(), activation.code)
          dz
        case (None, _) => activation.gradient(output, dy, if (buffer == null) Tensor[Float]() else buffer)
      }
      fresh = true
    }
    buffer
  }
}
