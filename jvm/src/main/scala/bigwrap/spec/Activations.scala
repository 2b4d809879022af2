package bigwrap.spec

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.dllib.nn._
import com.intel.analytics.bigdl.dllib.nn.Graph.ModuleNode
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** The `activation=` strings layers take (bigwrap/activations.py), as BigDL modules. */
object Activations {
  private type Factory = () => AbstractModule[Activity, Activity, Float]
  private val factories: Map[String, Factory] = Map(
    "relu" -> (() => new bigwrap.nn.Relu()),
    "sigmoid" -> (() => Sigmoid[Float]()),
    "tanh" -> (() => Tanh[Float]()),
    "elu" -> (() => ELU[Float](1.0)),
    "softplus" -> (() => SoftPlus[Float]()),
    "softsign" -> (() => SoftSign[Float]()),
    // Keras 3's leaky_relu activation string uses negative_slope=0.2.
    "leaky_relu" -> (() => LeakyReLU[Float](0.2)),
    "gelu" -> (() => new bigwrap.nn.Gelu()),
    "hard_tanh" -> (() => HardTanh[Float]()),
    "relu6" -> (() => ReLU6[Float]()),
    // SELU is exactly scale * ELU(alpha) with Keras' constants.
    "selu" -> (() => Sequential[Float]().add(ELU[Float](1.6732632423543772848170429916717))
      .add(MulConstant[Float](1.0507009873554804934193349852946))))

  private val overLastAxis: Map[String, Factory] = Map(
    "softmax" -> (() => new bigwrap.nn.Softmax()),
    "log_softmax" -> (() => LogSoftMax[Float]()))

  val names: Seq[String] = "linear" +: (factories.keys ++ overLastAxis.keys ++ Seq("silu")).toSeq.sorted

  /** `node` (of `shape`, without batch) followed by the named activation (none for "linear"). */
  def apply(name: String, layerName: String, node: ModuleNode[Float], shape: Seq[Int]): ModuleNode[Float] =
    name match {
      case "linear" => node
      case "silu" =>
        // x · sigmoid(x): the input feeds both the gate and the product.
        val gate = Sigmoid[Float]().setName(s"$layerName/silu_gate").inputs(node)
        CMulTable[Float]().setName(s"$layerName/silu").inputs(node, gate)
      case other if overLastAxis.contains(other) && shape.size > 1 =>
        // BigDL's SoftMax on >2-D input normalises over the feature planes; Keras over the last axis.
        val rows = InferReshape[Float](Array(-1, shape.last)).setName(s"$layerName/$other/rows").inputs(node)
        val act = overLastAxis(other)().setName(s"$layerName/$other").inputs(rows)
        InferReshape[Float]((-1 +: shape).toArray).setName(s"$layerName/$other/back").inputs(act)
      case other =>
        val factory = factories.orElse(overLastAxis).applyOrElse(other, (_: String) => throw BigwrapException.valueError(
          s"layer '$layerName': unknown activation '$other' (known: ${names.mkString(", ")})"))
        factory().setName(s"$layerName/$other").inputs(node)
    }
}
