package bigwrap.spec

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.dllib.nn._
import com.intel.analytics.bigdl.dllib.nn.Graph.ModuleNode
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.json4s.{JBool, JObject}

/**
 * A weight of a built layer in Keras layout (the DSL's). `kerasView` turns BigDL's tensor (or its
 * gradient, which has the same layout) into a view in Keras layout, so reads and writes convert.
 */
final class WeightSlot(
    val name: String,
    val shape: Seq[Int],
    weight: () => Tensor[Float],
    gradient: () => Tensor[Float],
    kerasView: Tensor[Float] => Tensor[Float] = t => t,
    val trainable: Boolean = true) {
  def read(): Array[Float] = Tensors.toArray(kerasView(weight()))
  def readGradient(): Array[Float] = Tensors.toArray(kerasView(gradient()))
  def write(values: Tensor[Float]): Unit = kerasView(weight()).copy(values)
  /** The same weight under another name (a composite layer's sub-layer weights carry a prefix). */
  def renamed(to: String): WeightSlot = new WeightSlot(to, shape, weight, gradient, kerasView, trainable)
}

object WeightSlot {
  /** A weight BigDL keeps in Keras' layout up to a reshape (e.g. a leading group axis of size 1). */
  def reshaped(name: String, shape: Seq[Int], weight: () => Tensor[Float], gradient: () => Tensor[Float],
      trainable: Boolean = true): WeightSlot =
    new WeightSlot(name, shape, weight, gradient, _.view(shape.toArray), trainable)
}

/**
 * A tensor of the graph under construction: the node computing it, its shape without batch, and its Keras
 * mask if it has one (see Masks).
 */
final case class GraphTensor(node: ModuleNode[Float], shape: Seq[Int], mask: Option[Mask] = None)

/** A Keras mask over the steps of a (steps, ...) tensor: a (batch, steps) node of 1 (keep) and 0 (skip), built
 * when a layer first consumes it (so graphs hold no unused mask nodes). */
final class Mask(make: () => ModuleNode[Float]) {
  lazy val node: ModuleNode[Float] = make()
}

/** One call of a layer: its input tensors, their names for a call with named tensors, its call arguments. */
final case class LayerCall(inputs: Seq[GraphTensor], names: Seq[String] = Nil, arguments: JObject = JObject()) {
  def named(name: String): Option[GraphTensor] = names.indexOf(name) match {
    case -1 => None
    case i => Some(inputs(i))
  }

  def flag(argument: String): Boolean = arguments \ argument match {
    case JBool(value) => value
    case _ => false
  }
}

final case class BuiltLayer(output: GraphTensor, weights: Seq[WeightSlot])

/** Keras' supports_masking layers that keep the steps axis: their output has their (first) input's mask. */
trait PassesMask extends LayerBuilder {
  override def outputMask(layer: LayerSpec, call: LayerCall): Option[Mask] = Masks.first(call)
}

/** A layer called on one tensor, as most are: its builder takes that tensor, the count checked here. */
trait OneInput extends LayerBuilder {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer

  final def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = build(layer, single(layer, inputs))
}

/** A layer that is one BigDL module (made from its spec) on its one input, keeping the shape and the mask. */
final case class OneModule(module: LayerSpec => AbstractModule[_ <: Activity, _ <: Activity, Float])
    extends OneInput with PassesMask {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer =
    plain(in.shape, module(layer).setName(layer.name).inputs(in.node))
}

/** Builds one spec layer type into BigDL modules. One case object per layer type. */
trait LayerBuilder {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer

  /** Whether the layer skips masked steps (Keras' mask propagation, see Masks): its build reads its inputs' masks. */
  def consumesMask: Boolean = false

  /** The mask of the output of `layer`'s call: none, unless the layer makes one or passes one on. */
  def outputMask(layer: LayerSpec, call: LayerCall): Option[Mask] = None

  /** A call as the spec records it; layers called with named tensors override this. */
  def build(layer: LayerSpec, call: LayerCall): BuiltLayer = {
    BigwrapException.require(call.names.isEmpty,
      s"layer '${layer.name}' (${layer.className}) takes positional inputs, got named ones: ${call.names.mkString(", ")}")
    build(layer, call.inputs)
  }

  protected def single(layer: LayerSpec, inputs: Seq[GraphTensor]): GraphTensor = {
    BigwrapException.require(inputs.size == 1,
      s"layer '${layer.name}' (${layer.className}) takes one input, got ${inputs.size}")
    inputs.head
  }

  protected def requireRank(layer: LayerSpec, in: GraphTensor, rank: Int, example: String): Unit =
    BigwrapException.require(in.shape.size == rank,
      s"layer '${layer.name}' (${layer.className}) expects input of shape $example, got ${Tensors.shapeString(in.shape)}")

  /** A layer without weights. */
  protected def plain(shape: Seq[Int], node: ModuleNode[Float]): BuiltLayer = BuiltLayer(GraphTensor(node, shape), Nil)

  /** Reshapes keeping the batch axis, so graphs work for any batch size. */
  protected def reshape(name: String, shape: Seq[Int], from: ModuleNode[Float]): ModuleNode[Float] =
    InferReshape[Float]((-1 +: shape).toArray).setName(name).inputs(from)
}

object Tensors {
  def toArray(t: Tensor[Float]): Array[Float] = {
    val c = t.contiguous()
    val start = c.storageOffset() - 1
    java.util.Arrays.copyOfRange(c.storage().array(), start, start + c.nElement())
  }

  def shapeString(shape: Seq[Int]): String = shape.mkString("(", ", ", if (shape.size == 1) ",)" else ")")
}

object LayerBuilders {
  private val builders: Map[String, LayerBuilder] =
    CoreLayers.builders ++ ActivationLayers.builders ++ ConvolutionalLayers.builders ++ PoolingLayers.builders ++
      NormalizationLayers.builders ++ EmbeddingLayers.builders ++ RecurrentLayers.builders ++ MergingLayers.builders ++
      AttentionLayers.builders

  def supported: Seq[String] = builders.keys.toSeq.sorted

  def apply(layer: LayerSpec): LayerBuilder = builders.getOrElse(layer.className,
    throw BigwrapException.valueError(s"layer '${layer.name}': type '${layer.className}' is not supported by the JVM " +
      s"builder (supported: ${("InputLayer" +: supported).mkString(", ")})"))

  /** The spec of a layer nested in a wrapper's config (`{"class_name", "config"}`), named after the wrapper. */
  def nested(wrapper: LayerSpec, key: String): LayerSpec = {
    val inner = wrapper.config \ key
    val className = (inner \ "class_name").values match {
      case s: String => s
      case _ => throw BigwrapException.valueError(s"layer '${wrapper.name}': config `$key` needs a class_name")
    }
    val config = inner \ "config" match {
      case o: JObject => o
      case _ => JObject()
    }
    // a frozen wrapper freezes what it wraps (e.g. TimeDistributed(BatchNormalization) runs in inference mode)
    val frozen = if (wrapper.trainable) config else JObject(config.obj.filterNot(_._1 == "trainable") :+
      ("trainable" -> JBool(false)))
    LayerSpec(className, wrapper.name, frozen, Nil)
  }
}
