package bigwrap.train

import bigwrap.nn.{NativeCalls, NativeKernels}
import com.intel.analytics.bigdl.bigwrapaccess.OptimizerAccess
import com.intel.analytics.bigdl.dllib.optim.{Adam, OptimMethod, SGD}
import com.intel.analytics.bigdl.dllib.optim.SGD.Default
import com.intel.analytics.bigdl.dllib.tensor.{Storage, Tensor}
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * The barrier trainer's optimizer step in one pass over a task's parameter slice: the gradient is summed from its
 * parts (GradientParts), clipped and applied by the method's rule, element by element, in the native library
 * (native/src/optim.cpp: vectorised; the JIT does not vectorise a loop whose arrays are indexed from different
 * offsets, as the slice of the flat weights is). BigDL's SGD and Adam take a pass over the slice per tensor
 * operation (Adam about nine, SGD with momentum three, after the summing and clipping pass), each reading and
 * writing arrays that no longer fit in cache. The rules and the history they keep are BigDL's (the same state-table
 * keys and counters), so the state saves, resumes and moves between trainers as before; the steps agree with
 * BigDL's to float rounding.
 */
private[train] object FusedSteps {
  /**
   * One step of `method` on weights[offset, offset + parts.length) from the gradient `parts`, each value clipped
   * to ±bound. False (nothing done) when the method has no fused rule or the native library is not loaded: the
   * caller runs `method.optimize`. `scratch` (parts.length values) holds the gradient where frozen weights need it
   * as an array.
   */
  def step(method: OptimMethod[Float], loss: Float, parts: GradientParts, bound: Float, weights: Array[Float],
      offset: Int, scratch: Array[Float]): Boolean = NativeKernels.calls.exists { native =>
    fusable(method) && { run(native, method, loss, parts, bound, weights, offset, scratch); true }
  }

  private def fusable(method: OptimMethod[Float]): Boolean = method match {
    case scheduled: Scheduled => fusable(scheduled.inner)
    case frozen: FrozenWeights => fusable(frozen.inner)
    case adamW: AdamW => fusable(adamW.inner)
    case m: Adam[Float @unchecked] => m.learningRateDecay == 0
    case m: SGD[Float @unchecked] => m.learningRateDecay == 0 && m.dampening == 0 && m.learningRates == null &&
      m.weightDecays == null && m.learningRateSchedule.isInstanceOf[Default]
    case _ => false
  }

  private def run(native: NativeCalls, method: OptimMethod[Float], loss: Float, parts: GradientParts, bound: Float,
      weights: Array[Float], offset: Int, scratch: Array[Float]): Unit = method match {
    case scheduled: Scheduled =>
      scheduled.beforeStep(loss)
      run(native, scheduled.inner, loss, parts, bound, weights, offset, scratch)
    case frozen: FrozenWeights =>
      parts.sumInto(scratch, bound)
      val slice = Tensor[Float](Storage(weights), offset + 1, Array(parts.length))
      frozen.holding(slice, Tensor[Float](scratch, Array(parts.length))) {
        run(native, frozen.inner, loss, GradientParts.of(scratch), Float.PositiveInfinity, weights, offset, scratch)
      }
    case adamW: AdamW =>
      adam(native, adamW.inner, (1.0 - adamW.inner.learningRate * adamW.weightDecay).toFloat, parts, bound, weights,
        offset)
    case m: Adam[Float @unchecked] => adam(native, m, 1f, parts, bound, weights, offset)
    case m: SGD[Float @unchecked] => sgd(native, m, parts, bound, weights, offset)
  }

  /** The state-table array `key` over the slice, zeros on the first step (BigDL's first step copies instead). */
  private def history(method: OptimMethod[Float], key: String, length: Int): Array[Float] = {
    val state = OptimizerAccess.state(method)
    val tensor = state.get[Tensor[Float]](key).getOrElse {
      val zeros = Tensor[Float](length)
      state(key) = zeros
      zeros
    }
    require(tensor.isContiguous() && tensor.storageOffset() == 1 && tensor.nElement() == length,
      s"optimizer history '$key' is not the slice's")
    tensor.storage().array()
  }

  private def sgd(native: NativeCalls, m: SGD[Float], parts: GradientParts, bound: Float, weights: Array[Float],
      offset: Int): Unit = {
    val state = OptimizerAccess.state(m)
    state("evalCounter") = state.getOrElse[Int]("evalCounter", 0) + 1 // as BigDL's Default schedule counts
    val velocity = if (m.momentum == 0) null else history(m, "dfdx", parts.length)
    native.sgdStep(parts.arrays, parts.offsets, parts.scales, weights, offset, velocity, parts.length, bound,
      (-m.learningRate).toFloat, m.weightDecay.toFloat, m.momentum.toFloat, m.nesterov)
  }

  /** Adam (BigDL's form: bias corrections folded into the step size), after scaling the weights by `shrink`. */
  private def adam(native: NativeCalls, m: Adam[Float], shrink: Float, parts: GradientParts, bound: Float,
      weights: Array[Float], offset: Int): Unit = {
    val state = OptimizerAccess.state(m)
    val (first, second) = (history(m, "s", parts.length), history(m, "r", parts.length))
    history(m, "denom", parts.length) // BigDL's scratch; kept so a BigDL step can resume from this state
    val timestep = state.getOrElse[Int]("evalCounter", 0) + 1
    state("evalCounter") = timestep
    val stepSize = -m.learningRate * math.sqrt(1 - math.pow(m.beta2, timestep)) / (1 - math.pow(m.beta1, timestep))
    native.adamStep(parts.arrays, parts.offsets, parts.scales, weights, offset, first, second, parts.length, bound,
      shrink, stepSize.toFloat, m.beta1.toFloat, m.beta2.toFloat, m.Epsilon.toFloat)
  }
}
