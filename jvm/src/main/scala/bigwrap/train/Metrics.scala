package bigwrap.train

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.dllib.feature.dataset.Sample
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractCriterion, AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.optim.{ValidationMethod, ValidationResult}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import org.apache.spark.rdd.RDD

/** A sum over samples and their count; `value` is the mean. */
final class MeanResult(val sum: Double, val count: Double) extends ValidationResult {
  def result(): (Float, Int) = ((sum / math.max(count, 1.0)).toFloat, count.toInt)
  def +(other: ValidationResult): ValidationResult = other match {
    case o: MeanResult => new MeanResult(sum + o.sum, count + o.count)
  }
  def format(): String = s"mean ${result()._1} over ${count.toLong}"
}

/** Positive and negative score histograms over [0, 1]; AUC by the trapezoid rule over the bins. */
final class HistogramResult(val positives: Array[Long], val negatives: Array[Long]) extends ValidationResult {
  def result(): (Float, Int) = {
    val p = positives.sum.toDouble
    val n = negatives.sum.toDouble
    // walk thresholds from high scores down: each bin adds a trapezoid to the ROC area
    var tp = 0.0
    var fp = 0.0
    var area = 0.0
    for (b <- positives.indices.reverse) {
      val (tp2, fp2) = (tp + positives(b), fp + negatives(b))
      area += (fp2 - fp) * (tp + tp2) / 2
      tp = tp2
      fp = fp2
    }
    ((if (p == 0 || n == 0) Double.NaN else area / (p * n)).toFloat, (p + n).toInt)
  }
  def +(other: ValidationResult): ValidationResult = other match {
    case o: HistogramResult => new HistogramResult(positives.zip(o.positives).map(t => t._1 + t._2),
      negatives.zip(o.negatives).map(t => t._1 + t._2))
  }
  def format(): String = s"auc ${result()._1}"
}

/**
 * Keras metric names over BigDL targets (class index targets are 1-based, see data.Target).
 * `task` is the loss's: multiclass (index or one-hot targets), binary or regression.
 */
final class Metric(val name: String, task: String, fromLogits: Boolean, criterion: AbstractCriterion[Activity, Activity, Float])
  extends ValidationMethod[Float] {

  private def rows(t: Tensor[Float]): Array[Array[Float]] = {
    val c = t.contiguous()
    val batch = c.size(1)
    val width = c.nElement() / batch
    val data = bigwrap.spec.Tensors.toArray(c)
    Array.tabulate(batch)(i => java.util.Arrays.copyOfRange(data, i * width, (i + 1) * width))
  }

  private def probability(v: Float): Double = if (fromLogits) 1.0 / (1.0 + math.exp(-v)) else v.toDouble

  /** The target's class (0-based) for a multiclass row: an index target or the argmax of a one-hot one. */
  private def targetClass(t: Array[Float]): Int = if (t.length == 1) t(0).toInt - 1 else t.indices.maxBy(t(_))

  def apply(output: Activity, target: Activity): ValidationResult = {
    val out = rows(output.toTensor[Float])
    val tgt = rows(target.toTensor[Float])
    val n = out.length.toDouble
    name match {
      case "loss" => new MeanResult(criterion.forward(output, target).toDouble * n, n)
      case "accuracy" if task == "multiclass" =>
        new MeanResult(out.indices.count(i => out(i).indices.maxBy(out(i)(_)) == targetClass(tgt(i))).toDouble, n)
      case "accuracy" =>
        val hits = out.indices.map(i => out(i).indices.count(j =>
          (probability(out(i)(j)) > 0.5) == (tgt(i)(j) > 0.5)).toDouble / out(i).length).sum
        new MeanResult(hits, n)
      case Metrics.TopK(k) =>
        new MeanResult(out.indices.count(i => out(i).indices.sortBy(j => -out(i)(j)).take(k).contains(targetClass(tgt(i)))).toDouble, n)
      case "auc" =>
        val bins = 10000
        val positives = new Array[Long](bins)
        val negatives = new Array[Long](bins)
        out.indices.foreach { i =>
          val bin = math.min((probability(out(i)(0)) * bins).toInt, bins - 1)
          if (tgt(i)(0) > 0.5) positives(bin) += 1 else negatives(bin) += 1
        }
        new HistogramResult(positives, negatives)
      case "mae" | "mse" =>
        val errors = out.indices.map { i =>
          out(i).indices.map { j =>
            val d = out(i)(j) - tgt(i)(j)
            if (name == "mae") math.abs(d) else d * d
          }.sum / out(i).length
        }
        new MeanResult(errors.sum, n)
    }
  }

  def format(): String = name
  override def clone(): ValidationMethod[Float] = new Metric(name, task, fromLogits, criterion.cloneCriterion())
}

object Metrics {
  private val Known = "^(loss|accuracy|auc|mae|mse|top_(\\d+)_accuracy)$".r

  private[train] object TopK {
    def unapply(s: String): Option[Int] =
      if (s.startsWith("top_") && s.endsWith("_accuracy")) scala.util.Try(s.drop(4).dropRight(9).toInt).toOption
      else None
  }

  /** Whether `name` is a metric bigwrap computes (whether it fits a model's task is checked by `apply`). */
  def isKnown(name: String): Boolean = Known.pattern.matcher(name).matches()

  /** Checks that each metric name fits the task and output size; returns the metrics, loss first. */
  def apply(names: Seq[String], task: String, fromLogits: Boolean, outputSize: Int,
      criterion: AbstractCriterion[Activity, Activity, Float]): Seq[Metric] = {
    ("loss" +: names.filter(_ != "loss")).map { name =>
      val fits = name match {
        case "loss" => true
        case "accuracy" => task != "regression"
        case "auc" => task == "binary" && outputSize == 1
        case "mae" | "mse" => task != "multiclass"
        case TopK(k) => task == "multiclass" && k >= 1 && k <= outputSize
        case _ => false
      }
      BigwrapException.require(fits, s"metric '$name' does not apply to a $task loss with $outputSize output unit(s) " +
        "(accuracy: classification; top_k_accuracy (e.g. top_5_accuracy): multiclass; auc: binary with 1 unit; " +
        "mae/mse: regression or binary)")
      new Metric(name, task, fromLogits, criterion)
    }
  }

  /** Each metric's mean over `samples`, forward passes in inference mode on the executors. */
  def evaluate(model: AbstractModule[Activity, Activity, Float], samples: RDD[Sample[Float]],
      metrics: Seq[Metric], batchSize: Int): Seq[(String, Double)] = {
    // BigDL splits the batch evenly over the partitions (and fails otherwise); files read by Spark's image source
    // come in many partitions. Rounding up changes no metric: all are means over every row.
    val partitions = samples.getNumPartitions
    val evenBatch = math.max(1, math.ceil(batchSize.toDouble / partitions).toInt) * partitions
    val results = model.evaluate(samples, metrics.toArray[ValidationMethod[Float]], Some(evenBatch))
    model.training()
    metrics.zip(results).map { case (m, (result, _)) => m.name -> result.result()._1.toDouble }
  }
}
