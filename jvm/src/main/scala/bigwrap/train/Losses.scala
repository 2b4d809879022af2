package bigwrap.train

import bigwrap.api.BigwrapException
import bigwrap.data.{BinaryTarget, ClassIndexTarget, RegressionTarget, Target}
import com.intel.analytics.bigdl.Criterion
import com.intel.analytics.bigdl.dllib.nn.{BCECriterion, ClassNLLCriterion, CrossEntropyCriterion, MSECriterion}
import com.intel.analytics.bigdl.dllib.nn.abstractnn.TensorCriterion
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** Keras loss names → BigDL criteria, and the label each expects for a given model output. */
object Losses {
  val names: Seq[String] = Seq("sparse_categorical_crossentropy", "binary_crossentropy", "mse")

  def criterion(name: String, fromLogits: Boolean): Criterion[Float] = (name, fromLogits) match {
    case ("sparse_categorical_crossentropy", false) => ClassNLLCriterion[Float](logProbAsInput = false)
    case ("sparse_categorical_crossentropy", true) => CrossEntropyCriterion[Float]()
    case ("binary_crossentropy", false) => BCECriterion[Float]()
    case ("binary_crossentropy", true) => new BinaryCrossEntropyWithLogits()
    case ("mse", _) => MSECriterion[Float]()
    case _ => throw BigwrapException.valueError(s"unknown loss '$name' (known: ${names.mkString(", ")})")
  }

  def target(name: String, outputShape: Seq[Int]): Target = {
    BigwrapException.require(outputShape.size == 1,
      s"loss '$name' needs a model output of shape (units,), got ${outputShape.mkString("(", ", ", ")")}")
    name match {
      case "sparse_categorical_crossentropy" =>
        BigwrapException.require(outputShape.head >= 2,
          s"sparse_categorical_crossentropy needs an output of at least 2 classes, got ${outputShape.head}")
        ClassIndexTarget(outputShape.head, name)
      case "binary_crossentropy" => BinaryTarget(outputShape.head)
      case "mse" => RegressionTarget(outputShape.head)
      case _ => throw BigwrapException.valueError(s"unknown loss '$name' (known: ${names.mkString(", ")})")
    }
  }
}

/** Mean over all elements of log(1 + exp(x)) - x·y, computed stably (BigDL has no fused form). */
final class BinaryCrossEntropyWithLogits extends TensorCriterion[Float] {
  override def updateOutput(input: Tensor[Float], target: Tensor[Float]): Float = {
    val x = input.contiguous().storage().array()
    val xOff = input.contiguous().storageOffset() - 1
    val y = target.contiguous().storage().array()
    val yOff = target.contiguous().storageOffset() - 1
    val n = input.nElement()
    var sum = 0.0
    var i = 0
    while (i < n) {
      val xi = x(xOff + i).toDouble
      sum += math.max(xi, 0) - xi * y(yOff + i) + math.log1p(math.exp(-math.abs(xi)))
      i += 1
    }
    output = (sum / n).toFloat
    output
  }

  override def updateGradInput(input: Tensor[Float], target: Tensor[Float]): Tensor[Float] = {
    val n = input.nElement()
    gradInput.resizeAs(input).copy(input).apply1(v => (1.0 / (1.0 + math.exp(-v))).toFloat)
    gradInput.sub(target.view(input.size())).div(n.toFloat)
    gradInput
  }
}
