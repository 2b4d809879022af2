package bigwrap.nn

import bigwrap.api.BigwrapException
import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.LookupTable
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * An Embedding's table: BigDL's LookupTable (its weight, gradient and 1-based ids) with the rows copied out and
 * their gradients added back in loops over the storage. BigDL's works each id through tensors of its own and,
 * backward, builds two error messages per id before checking it: a tenth of a Transformer's training step. An id
 * outside the table is an error naming the layer.
 */
final class TokenTable(vocabulary: Int, dim: Int) extends LookupTable[Float](vocabulary, dim) {
  /** The 0-based row of each id in `ids` (1-based floats). */
  private def rows(ids: Tensor[Float]): Array[Int] = {
    val (values, offset) = raw(ids)
    Array.tabulate(ids.nElement()) { i =>
      val row = values(offset + i).toInt - 1
      if (row < 0 || row >= vocabulary || row + 1 != values(offset + i)) throw BigwrapException.valueError(
        s"layer '${getName()}' (Embedding) got the token id ${values(offset + i) - 1}; its table has ids 0..${vocabulary - 1}")
      row
    }
  }

  override def updateOutput(input: Tensor[Float]): Tensor[Float] = {
    val ids = input.contiguous()
    val picked = rows(ids)
    output.resize(ids.size() :+ dim)
    val ((table, to), (out, oo)) = (raw(weight), raw(output))
    var i = 0
    while (i < picked.length) { System.arraycopy(table, to + picked(i) * dim, out, oo + i * dim, dim); i += 1 }
    output
  }

  override def accGradParameters(input: Tensor[Float], gradOutput: Tensor[Float]): Unit = if (scaleW != 0) {
    val picked = rows(input.contiguous())
    val ((grad, go), (dy, dyo)) = (raw(gradWeight), raw(gradOutput.contiguous()))
    val scale = scaleW.toFloat
    var i = 0
    while (i < picked.length) {
      val row = go + picked(i) * dim
      val from = dyo + i * dim
      var d = 0
      while (d < dim) { grad(row + d) += scale * dy(from + d); d += 1 }
      i += 1
    }
    if (wRegularizer != null) wRegularizer.accRegularization(weight, gradWeight, scaleW)
  }
}
