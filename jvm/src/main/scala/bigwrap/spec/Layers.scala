package bigwrap.spec

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.dllib.nn._
import com.intel.analytics.bigdl.dllib.nn.Graph.ModuleNode
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** A weight of a built layer, read and written in Keras layout (the DSL's layout). */
trait WeightSlot {
  def name: String
  def shape: Seq[Int]
  def read(): Array[Float]
  def write(values: Array[Float]): Unit
}

/** A tensor of the graph under construction: the node computing it and its shape without batch. */
final case class GraphTensor(node: ModuleNode[Float], shape: Seq[Int])

final case class BuiltLayer(output: GraphTensor, weights: Seq[WeightSlot])

/** Builds one spec layer type into BigDL modules. One case object per layer type. */
trait LayerBuilder {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer

  protected def single(layer: LayerSpec, inputs: Seq[GraphTensor]): GraphTensor = {
    BigwrapException.require(inputs.size == 1,
      s"layer '${layer.name}' (${layer.className}) takes one input, got ${inputs.size}")
    inputs.head
  }
}

object Tensors {
  def toArray(t: Tensor[Float]): Array[Float] = {
    val c = t.contiguous()
    val start = c.storageOffset() - 1
    java.util.Arrays.copyOfRange(c.storage().array(), start, start + c.nElement())
  }

  def shapeString(shape: Seq[Int]): String = shape.mkString("(", ", ", if (shape.size == 1) ",)" else ")")
}

/** A weight stored as-is (same layout in BigDL and Keras), e.g. a bias. */
final class PlainSlot(val name: String, tensor: () => Tensor[Float]) extends WeightSlot {
  def shape: Seq[Int] = tensor().size().toSeq
  def read(): Array[Float] = Tensors.toArray(tensor())
  def write(values: Array[Float]): Unit = tensor().copy(Tensor[Float](values, tensor().size()))
}

/** A 2-D weight that BigDL keeps as (out, in) and Keras as (in, out). */
final class TransposedSlot(val name: String, tensor: () => Tensor[Float]) extends WeightSlot {
  def shape: Seq[Int] = tensor().size().toSeq.reverse
  def read(): Array[Float] = Tensors.toArray(tensor().t())
  def write(values: Array[Float]): Unit = tensor().copy(Tensor[Float](values, shape.toArray).t())
}

object Activations {
  private val factories: Map[String, () => AbstractModule[Activity, Activity, Float]] = Map(
    "relu" -> (() => ReLU[Float]()),
    "sigmoid" -> (() => Sigmoid[Float]()),
    "tanh" -> (() => Tanh[Float]()),
    "softmax" -> (() => SoftMax[Float]()),
    "log_softmax" -> (() => LogSoftMax[Float]()))

  val names: Seq[String] = "linear" +: factories.keys.toSeq.sorted

  /** `node` followed by the named activation (none for "linear"). */
  def apply(name: String, layerName: String, node: ModuleNode[Float]): ModuleNode[Float] = name match {
    case "linear" => node
    case other =>
      val factory = factories.getOrElse(other, throw BigwrapException.valueError(
        s"layer '$layerName': unknown activation '$other' (known: ${names.mkString(", ")})"))
      factory().setName(s"$layerName/$other").inputs(node)
  }
}

case object DenseBuilder extends LayerBuilder {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val in = single(layer, inputs)
    BigwrapException.require(in.shape.size == 1,
      s"layer '${layer.name}' (Dense) expects input of shape (features,), got ${Tensors.shapeString(in.shape)}; " +
        "add a Flatten() before it")
    val units = layer.int("units")
    val useBias = layer.bool("use_bias")
    val linear = Linear[Float](in.shape.head, units, withBias = useBias).setName(layer.name)
    val out = Activations(layer.optString("activation").getOrElse("linear"), layer.name, linear.inputs(in.node))
    val kernel = new TransposedSlot("kernel", () => linear.weight)
    val slots = if (useBias) Seq(kernel, new PlainSlot("bias", () => linear.bias)) else Seq(kernel)
    BuiltLayer(GraphTensor(out, Seq(units)), slots)
  }
}

case object ActivationBuilder extends LayerBuilder {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val in = single(layer, inputs)
    val name = layer.string("activation")
    val node = if (name == "linear") Identity[Float]().setName(layer.name).inputs(in.node)
    else Activations(name, layer.name, in.node)
    BuiltLayer(GraphTensor(node, in.shape), Nil)
  }
}

case object DropoutBuilder extends LayerBuilder {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val in = single(layer, inputs)
    val rate = layer.double("rate")
    BigwrapException.require(rate >= 0 && rate < 1, s"layer '${layer.name}' (Dropout): rate must be in [0, 1), got $rate")
    BuiltLayer(GraphTensor(Dropout[Float](initP = rate).setName(layer.name).inputs(in.node), in.shape), Nil)
  }
}

case object FlattenBuilder extends LayerBuilder {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val in = single(layer, inputs)
    val size = in.shape.product
    val node = Reshape[Float](Array(size), Some(true)).setName(layer.name).inputs(in.node)
    BuiltLayer(GraphTensor(node, Seq(size)), Nil)
  }
}

object LayerBuilders {
  private val builders: Map[String, LayerBuilder] = Map(
    "Dense" -> DenseBuilder,
    "Activation" -> ActivationBuilder,
    "Dropout" -> DropoutBuilder,
    "Flatten" -> FlattenBuilder)

  def supported: Seq[String] = builders.keys.toSeq.sorted

  def apply(layer: LayerSpec): LayerBuilder = builders.getOrElse(layer.className,
    throw BigwrapException.valueError(s"layer '${layer.name}': type '${layer.className}' is not supported by the JVM " +
      s"builder (supported: ${("InputLayer" +: supported).mkString(", ")})"))
}
