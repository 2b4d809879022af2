package bigwrap.train

import bigwrap.api.BigwrapException
import bigwrap.data.{BinaryTarget, ClassIndexTarget, ProbabilityTarget, RegressionTarget, Target}
import com.intel.analytics.bigdl.Criterion
import com.intel.analytics.bigdl.dllib.nn.{AbsCriterion, BCECriterion, MSECriterion}
import com.intel.analytics.bigdl.dllib.nn.abstractnn.TensorCriterion
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.json4s._

/** Keras loss names → BigDL criteria (or ours where BigDL has none), and the label each expects. */
object Losses {
  private implicit val formats: Formats = DefaultFormats
  val names: Seq[String] = Seq("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
    "mse", "mae", "huber")

  def task(name: String): String = name match {
    case "sparse_categorical_crossentropy" | "categorical_crossentropy" => "multiclass"
    case "binary_crossentropy" => "binary"
    case _ => "regression"
  }

  def criterion(config: JValue): Criterion[Float] = {
    val name = (config \ "name").extract[String]
    val fromLogits = (config \ "from_logits").extractOpt[Boolean].getOrElse(false)
    (name, fromLogits) match {
      case ("sparse_categorical_crossentropy", _) => new ClassIndexCrossEntropy(fromLogits)
      case ("categorical_crossentropy", _) => new SoftTargetCrossEntropy(fromLogits)
      case ("binary_crossentropy", false) => BCECriterion[Float]()
      case ("binary_crossentropy", true) => new BinaryCrossEntropyWithLogits()
      case ("mse", _) => MSECriterion[Float]()
      case ("mae", _) => AbsCriterion[Float]()
      case ("huber", _) => new Huber((config \ "delta").extractOpt[Double].getOrElse(1.0))
      case _ => throw BigwrapException.valueError(s"unknown loss '$name' (known: ${names.mkString(", ")})")
    }
  }

  def target(name: String, outputShape: Seq[Int]): Target = {
    BigwrapException.require(outputShape.size == 1,
      s"loss '$name' needs a model output of shape (units,), got ${outputShape.mkString("(", ", ", ")")}")
    name match {
      case "sparse_categorical_crossentropy" | "categorical_crossentropy" =>
        BigwrapException.require(outputShape.head >= 2,
          s"$name needs an output of at least 2 classes, got ${outputShape.head}")
        if (name == "categorical_crossentropy") ProbabilityTarget(outputShape.head)
        else ClassIndexTarget(outputShape.head, name)
      case "binary_crossentropy" => BinaryTarget(outputShape.head)
      case "mse" | "mae" | "huber" => RegressionTarget(outputShape.head)
      case _ => throw BigwrapException.valueError(s"unknown loss '$name' (known: ${names.mkString(", ")})")
    }
  }
}

/** An element-wise criterion, averaged over all elements, on contiguous float arrays. */
abstract class ElementwiseCriterion extends TensorCriterion[Float] {
  protected def loss(x: Double, y: Double): Double
  protected def gradient(x: Double, y: Double): Double

  override def updateOutput(input: Tensor[Float], target: Tensor[Float]): Float = {
    val x = bigwrap.spec.Tensors.toArray(input)
    val y = bigwrap.spec.Tensors.toArray(target)
    output = (x.indices.map(i => loss(x(i), y(i))).sum / x.length).toFloat
    output
  }

  override def updateGradInput(input: Tensor[Float], target: Tensor[Float]): Tensor[Float] = {
    val x = bigwrap.spec.Tensors.toArray(input)
    val y = bigwrap.spec.Tensors.toArray(target)
    gradInput = Tensor[Float](x.indices.map(i => (gradient(x(i), y(i)) / x.length).toFloat).toArray, input.size())
    gradInput
  }
}

/** Mean over all elements of log(1 + exp(x)) - x·y, computed stably (BigDL has no fused form). */
final class BinaryCrossEntropyWithLogits extends ElementwiseCriterion {
  protected def loss(x: Double, y: Double): Double = math.max(x, 0) - x * y + math.log1p(math.exp(-math.abs(x)))
  protected def gradient(x: Double, y: Double): Double = 1.0 / (1.0 + math.exp(-x)) - y
}

/** Keras' Huber: ½d² for |d| ≤ delta, else delta·(|d| − ½delta); BigDL's SmoothL1 is only delta = 1. */
final class Huber(delta: Double) extends ElementwiseCriterion {
  protected def loss(x: Double, y: Double): Double = {
    val d = math.abs(x - y)
    if (d <= delta) 0.5 * d * d else delta * (d - 0.5 * delta)
  }
  protected def gradient(x: Double, y: Double): Double = math.max(-delta, math.min(delta, x - y))
}

/**
 * Cross-entropy against one-hot or probability labels, mean over the batch of −Σ y·log p, from
 * probabilities (clipped as Keras does) or from logits (through a stable log-softmax).
 */
final class SoftTargetCrossEntropy(fromLogits: Boolean) extends TensorCriterion[Float] {
  private val epsilon = 1e-7

  private def logProbabilities(row: Array[Float]): Array[Double] =
    if (fromLogits) {
      val max = row.max
      val logSum = math.log(row.map(v => math.exp(v - max)).sum) + max
      row.map(_ - logSum)
    } else row.map(p => math.log(math.min(math.max(p.toDouble, epsilon), 1 - epsilon)))

  private def batches(input: Tensor[Float], target: Tensor[Float]) = {
    val n = input.size(1)
    val k = input.nElement() / n
    val x = bigwrap.spec.Tensors.toArray(input)
    val y = bigwrap.spec.Tensors.toArray(target)
    (n, k, x, y)
  }

  override def updateOutput(input: Tensor[Float], target: Tensor[Float]): Float = {
    val (n, k, x, y) = batches(input, target)
    val total = (0 until n).map { i =>
      val logP = logProbabilities(java.util.Arrays.copyOfRange(x, i * k, (i + 1) * k))
      -(0 until k).map(j => y(i * k + j) * logP(j)).sum
    }.sum
    output = (total / n).toFloat
    output
  }

  override def updateGradInput(input: Tensor[Float], target: Tensor[Float]): Tensor[Float] = {
    val (n, k, x, y) = batches(input, target)
    val grad = new Array[Float](x.length)
    (0 until n).foreach { i =>
      val row = java.util.Arrays.copyOfRange(x, i * k, (i + 1) * k)
      if (fromLogits) {
        val p = logProbabilities(row).map(math.exp)
        val mass = (0 until k).map(j => y(i * k + j).toDouble).sum
        (0 until k).foreach(j => grad(i * k + j) = ((p(j) * mass - y(i * k + j)) / n).toFloat)
      } else (0 until k).foreach { j =>
        val p = math.min(math.max(row(j).toDouble, epsilon), 1 - epsilon)
        grad(i * k + j) = (-y(i * k + j) / p / n).toFloat
      }
    }
    gradInput = Tensor[Float](grad, input.size())
    gradInput
  }
}

/**
 * Keras' sparse_categorical_crossentropy against 1-based class labels (as BigDL takes them), in one loop over the
 * rows. From probabilities it is BigDL's ClassNLLCriterion(logProbAsInput = false) float for float (each row's
 * probability of its class clipped to [1e-8, 1 − 1e-8], the mean of −log); from logits, log-softmax and NLL in one
 * (gradient (softmax − one-hot) / rows), as BigDL's CrossEntropyCriterion computes them in two. BigDL's criteria
 * hand each row to the JVM's model thread pool as a task of its own, forward and backward: a pool the training
 * tasks in one JVM share, so one task's loss waited on the other's.
 */
final class ClassIndexCrossEntropy(fromLogits: Boolean) extends TensorCriterion[Float] {
  private val (lowest, highest) = (1e-8f, 1f - 1e-8f)

  /** Per row: its class's 0-based index (labels are checked when rows are read; this guards any other caller). */
  private def classes(input: Tensor[Float], target: Tensor[Float]): Array[Int] = {
    BigwrapException.require(input.dim() == 2 && target.nElement() == input.size(1),
      s"sparse_categorical_crossentropy needs (rows, classes) scores and one label per row, got scores of shape " +
        s"${input.size().mkString("(", ", ", ")")} and ${target.nElement()} labels")
    val ids = target.contiguous()
    val (labels, offset) = (ids.storage().array(), ids.storageOffset() - 1)
    val (rows, k) = (input.size(1), input.size(2))
    val picked = new Array[Int](rows)
    var r = 0
    while (r < rows) {
      val label = labels(offset + r).toInt
      BigwrapException.require(label >= 1 && label <= k,
        s"sparse_categorical_crossentropy: label ${label - 1} is not a class index 0..${k - 1}")
      picked(r) = label - 1
      r += 1
    }
    picked
  }

  /** log Σ exp over row `r` of contiguous `x` (offset `xo`, `k` classes), shifted by the row's maximum. */
  private def logSumExp(x: Array[Float], xo: Int, r: Int, k: Int): Float = {
    var max = Float.NegativeInfinity
    var c = 0
    while (c < k) { max = math.max(max, x(xo + r * k + c)); c += 1 }
    var sum = 0.0
    c = 0
    while (c < k) { sum += math.exp(x(xo + r * k + c) - max); c += 1 }
    (max + math.log(sum)).toFloat
  }

  override def updateOutput(input: Tensor[Float], target: Tensor[Float]): Float = {
    val labels = classes(input, target)
    val x = input.contiguous()
    val (values, xo, k) = (x.storage().array(), x.storageOffset() - 1, input.size(2))
    var total = 0f
    for (r <- labels.indices) {
      val picked = values(xo + r * k + labels(r))
      total -= (if (fromLogits) picked - logSumExp(values, xo, r, k)
        else math.log(math.max(lowest, math.min(highest, picked))).toFloat)
    }
    output = total / labels.length
    output
  }

  override def updateGradInput(input: Tensor[Float], target: Tensor[Float]): Tensor[Float] = {
    val labels = classes(input, target)
    val x = input.contiguous()
    val (values, xo, k, rows) = (x.storage().array(), x.storageOffset() - 1, input.size(2), labels.length.toFloat)
    gradInput.resize(labels.length, k).zero()
    val (grad, go) = (gradInput.storage().array(), gradInput.storageOffset() - 1)
    for (r <- labels.indices) {
      if (fromLogits) {
        val shift = logSumExp(values, xo, r, k)
        var c = 0
        while (c < k) { grad(go + r * k + c) = math.exp(values(xo + r * k + c) - shift).toFloat / rows; c += 1 }
        grad(go + r * k + labels(r)) -= 1f / rows
      } else {
        val clipped = math.max(lowest, math.min(highest, values(xo + r * k + labels(r))))
        grad(go + r * k + labels(r)) = -1f / rows * (1f / clipped) // BigDL's order of operations
      }
    }
    gradInput
  }
}
