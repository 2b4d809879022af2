package bigwrap.train

import bigwrap.api.BigwrapException
import bigwrap.spec.WeightSet
import com.intel.analytics.bigdl.bigwrapaccess.OptimizerAccess
import com.intel.analytics.bigdl.dllib.optim.OptimMethod
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.json4s._

/**
 * An optimizer's state, trainer-neutral: each per-parameter state tensor (Adam's "s" and "r",
 * SGD's momentum "dfdx", ...) as one array over the model's flat parameter vector, stored as a
 * WeightSet (layer "optimizer"), plus its counters ("evalCounter", "neval", "epoch", ...) typed.
 * Trainers that shard the optimizer split and join these arrays along the flat parameter vector.
 */
final case class OptimizerState(arrays: WeightSet, counters: Map[String, (String, Double)]) {
  /** Non-finite counters (e.g. BigDL's initial "Loss" = Infinity) are left out: JSON has no Infinity. */
  def countersJson: JObject = JObject(counters.toList.filter { case (_, (_, v)) => !v.isNaN && !v.isInfinite }.sortBy(_._1).map { case (k, (kind, v)) =>
    k -> JObject("type" -> JString(kind), "value" -> JDouble(v))
  })
}

object OptimizerState {
  private implicit val formats: Formats = DefaultFormats

  /** Joins the state of per-shard methods (in shard order) covering `parameterCount` values. */
  def join(shards: Seq[OptimMethod[Float]], parameterCount: Int): OptimizerState = {
    BigwrapException.require(shards.nonEmpty, "no optimizer state to save")
    def tables(m: OptimMethod[Float]) =
      (OptimizerAccess.state(innermost(m)), scheduled(m).map(_.scalars).getOrElse(Map.empty[String, Double]))
    val first = tables(shards.head)
    val keys = first._1.keySet.toSeq.map(_.toString).sorted
    val tensorKeys = keys.filter(k => first._1[Any](k).isInstanceOf[Tensor[_]] &&
      shards.map(m => tables(m)._1[Tensor[Float]](k).nElement()).sum == parameterCount)
    val arrays = WeightSet.fromArrays(tensorKeys.map { k =>
      val joined = shards.flatMap(m => bigwrap.spec.Tensors.toArray(tables(m)._1[Tensor[Float]](k))).toArray
      ("optimizer", k, Seq(parameterCount), joined)
    })
    val numbers = keys.flatMap { k =>
      first._1[Any](k) match {
        case v: Int => Some(k -> ("int", v.toDouble))
        case v: Float => Some(k -> ("float", v.toDouble))
        case v: Double => Some(k -> ("double", v))
        case _ => None
      }
    }
    val plateau = first._2.map { case (k, v) => s"schedule.$k" -> ("double", v) }
    OptimizerState(arrays, (numbers ++ plateau).toMap)
  }

  /** Copies of `template` holding this state cut into shards of the given (offset, length) ranges. */
  def split(template: OptimMethod[Float], state: OptimizerState, shards: Seq[(Int, Int)]): Seq[OptimMethod[Float]] =
    shards.map { case (offset, length) =>
      val method = template.clone()
      val table = OptimizerAccess.state(innermost(method))
      state.arrays.entries.foreach { e =>
        val values = java.util.Arrays.copyOfRange(state.arrays.data, e.offset.toInt + offset, e.offset.toInt + offset + length)
        table(e.name) = Tensor[Float](values, Array(length))
      }
      state.counters.foreach {
        case (k, _) if k.startsWith("schedule.") =>
        case (k, ("int", v)) => table(k) = v.toInt
        case (k, ("float", v)) => table(k) = v.toFloat
        case (k, (_, v)) => table(k) = v
      }
      scheduled(method).foreach(_.restoreScalars(state.counters.collect {
        case (k, (_, v)) if k.startsWith("schedule.") => k.stripPrefix("schedule.") -> v
      }))
      method
    }

  /** The schedule among `method`'s wrappers, whose plateau bookkeeping the state carries. */
  private def scheduled(method: OptimMethod[Float]): Option[Scheduled] = method match {
    case s: Scheduled => Some(s)
    case d: Delegating => scheduled(d.inner)
    case _ => None
  }

  /** The method whose table holds the history: wrappers (schedules, AdamW) delegate to it. */
  private def innermost(method: OptimMethod[Float]): OptimMethod[Float] = method match {
    case d: Delegating => innermost(d.inner)
    case other => other
  }

  def fromFiles(indexJson: String, bytes: Array[Byte]): OptimizerState = {
    val root = org.json4s.jackson.JsonMethods.parse(indexJson)
    val counters = (root \ "counters").extract[Map[String, JObject]].map { case (k, v) =>
      k -> ((v \ "type").extract[String], (v \ "value").extract[Double])
    }
    OptimizerState(WeightSet.fromBytes(indexJson, bytes), counters)
  }
}

/**
 * How the trainer-neutral layer reaches a trainer's optimizer state: the trainer installs `capture`
 * (joined state of the latest epoch) and reads `initial` (the state to resume from) when it starts.
 */
final class OptimizerStateLink(val initial: Option[OptimizerState]) {
  @volatile var capture: () => Option[OptimizerState] = () => None
}
