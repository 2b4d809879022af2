package bigwrap.train

import com.intel.analytics.bigdl.bigwrapaccess.OptimizerAccess
import com.intel.analytics.bigdl.dllib.optim.OptimMethod
import com.intel.analytics.bigdl.dllib.tensor.Tensor

/**
 * Runs `inner` on one slice of the flat parameter vector and leaves the values at `frozen` (offset,
 * length ranges within the slice) exactly as they were. A zero gradient is not enough: weight decay,
 * momentum and Adam's moments move a weight without one. Both trainers wrap each shard's method.
 */
final class FrozenWeights(val inner: OptimMethod[Float], frozen: Array[(Int, Int)]) extends Delegating {
  // Trainers write their counters (neval, epoch) into the outermost method's table; schedules read them there.
  OptimizerAccess.shareState(this, inner)

  override def optimize(feval: Tensor[Float] => (Float, Tensor[Float]),
      parameter: Tensor[Float]): (Tensor[Float], Array[Float]) = {
    val (loss, gradient) = feval(parameter)
    holding(parameter, gradient)(inner.optimize(_ => (loss, gradient), parameter))
  }

  /** Runs `step` (of `inner`) with the frozen ranges' gradient zeroed, then puts their weights back as they were. */
  def holding[A](parameter: Tensor[Float], gradient: Tensor[Float])(step: => A): A = {
    def part(t: Tensor[Float], range: (Int, Int)) = t.narrow(1, range._1 + 1, range._2)
    val kept = frozen.map(range => part(parameter, range).clone())
    frozen.foreach(range => part(gradient, range).zero())
    val result = step
    frozen.zip(kept).foreach { case (range, values) => part(parameter, range).copy(values) }
    result
  }
}

object FrozenWeights {
  /**
   * `method` for the slice [start, start + length) of the flat parameters, given the frozen ranges of the
   * whole vector: wrapped when some of them fall in the slice, as it is otherwise.
   */
  def forSlice(method: OptimMethod[Float], frozen: Seq[(Int, Int)], start: Int, length: Int): OptimMethod[Float] = {
    val local = frozen.flatMap { case (offset, size) =>
      val from = math.max(offset, start)
      val until = math.min(offset + size, start + length)
      if (until > from) Some((from - start, until - from)) else None
    }
    if (local.isEmpty) method else new FrozenWeights(method, local.toArray)
  }
}
