package bigwrap.spec

import scala.collection.mutable

import bigwrap.api.BigwrapException
import bigwrap.nn.SharedCall
import com.intel.analytics.bigdl.bigwrapaccess.BigDLAccess
import com.intel.analytics.bigdl.dllib.nn.{Graph, Input}
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.nn.Graph.ModuleNode
import com.intel.analytics.bigdl.dllib.tensor.{Storage, Tensor}
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** A BigDL graph built from a spec, with each spec layer's weights reachable in Keras layout. */
final class BuiltModel(
    val specJson: String,
    val spec: ModelSpec,
    val module: Graph[Float],
    val inputShapes: Seq[Seq[Int]],
    val outputShapes: Seq[Seq[Int]],
    layerWeights: Seq[(String, Seq[WeightSlot])],
    frozenModules: Seq[AbstractModule[Activity, Activity, Float]] = Nil,
    val kernels: KernelChoice = KernelChoice.Default,
    /** The shape (without batch) of every tensor the spec names: "layer" or "layer@k". */
    val tensorShapes: Map[String, Seq[Int]] = Map.empty) {

  /**
   * Where the frozen layers' weights lie in the module's flat parameter vector (BigDL's getParameters
   * order), as (offset, length) ranges: what trainers keep unchanged. Compacts the parameters if needed.
   */
  def frozenRanges: Seq[(Int, Int)] = if (frozenModules.isEmpty) Nil else {
    val (flat, _) = BigDLAccess.flatParameters(module)
    val ranges = for (m <- frozenModules; params = m.parameters(); if params != null; w <- params._1) yield {
      BigwrapException.require(w.storage() eq flat.storage(), s"a frozen weight of '${m.getName()}' is not part of " +
        "the model's flat parameters")
      (w.storageOffset() - flat.storageOffset(), w.nElement())
    }
    ranges.distinct.sortBy(_._1)
  }

  def weights: WeightSet = WeightSet.fromArrays(
    for ((layer, slots) <- layerWeights; slot <- slots) yield (layer, slot.name, slot.shape, slot.read()))

  /** The accumulated gradients of the trainable weights, in Keras layout and in `weights` order. */
  def gradients: WeightSet = WeightSet.fromArrays(
    for ((layer, slots) <- layerWeights; slot <- slots if slot.trainable)
      yield (layer, slot.name, slot.shape, slot.readGradient()))

  /** Sets every weight; all must be present with the Keras-layout shape the layer expects. */
  def setWeights(weights: WeightSet): Unit = {
    val given = weights.entries.map(e => (e.layer, e.name) -> e).toMap
    val expected = for ((layer, slots) <- layerWeights; slot <- slots) yield (layer, slot)
    val unknown = given.keySet -- expected.map { case (l, s) => (l, s.name) }
    BigwrapException.require(unknown.isEmpty,
      s"weights given for ${unknown.map { case (l, n) => s"$l/$n" }.mkString(", ")}, which the model does not have")
    expected.foreach { case (layer, slot) =>
      val entry = given.getOrElse((layer, slot.name),
        throw BigwrapException.valueError(s"no weight given for layer '$layer' ${slot.name}"))
      BigwrapException.require(entry.shape == slot.shape,
        s"layer '$layer' ${slot.name}: expected shape ${Tensors.shapeString(slot.shape)}, got ${Tensors.shapeString(entry.shape)}")
      // A view into the flat array, not a copy: a large model's weights are held once more at most.
      slot.write(Tensor[Float](Storage[Float](weights.data), entry.offset.toInt + 1, entry.shape.toArray))
    }
  }
}

object ModelBuilder {
  /**
   * `layer` built on fresh inputs of the call's shapes, as a graph module of its own, and the nodes it takes:
   * the call's tensors, then the masks of those the layer consumes.
   */
  private def subGraph(layer: LayerSpec, call: LayerCall, name: String): (Graph[Float], BuiltLayer, Seq[ModuleNode[Float]]) = {
    val builder = LayerBuilders(layer)
    val masked = if (builder.consumesMask) call.inputs.map(_.mask) else call.inputs.map(_ => None)
    val inputs = call.inputs.indices.map(i => Input[Float](s"$name/input$i"))
    val maskInputs = masked.zipWithIndex.collect { case (Some(_), i) => i -> Input[Float](s"$name/mask$i") }.toMap
    val fresh = call.inputs.indices.map { i =>
      GraphTensor(inputs(i), call.inputs(i).shape, maskInputs.get(i).map(node => new Mask(() => node)))
    }
    val built = builder.build(layer, call.copy(inputs = fresh))
    val graph = Graph[Float]((inputs ++ maskInputs.toSeq.sortBy(_._1).map(_._2)).toArray, Array(built.output.node))
    graph.setName(name)
    val sources = call.inputs.map(_.node) ++ masked.flatten.map(_.node)
    (graph, built, sources)
  }

  /** The model of `specJson`, its Dense and Conv2D layers on the `kernels` chosen. */
  def build(specJson: String, kernels: KernelChoice = KernelChoice.Default): BuiltModel =
    KernelChoice.during(kernels)(buildGraph(specJson))

  private def buildGraph(specJson: String): BuiltModel = {
    val spec = ModelSpec.parse(specJson)
    val tensors = mutable.LinkedHashMap[String, GraphTensor]()
    val inputNodes = mutable.LinkedHashMap[String, ModuleNode[Float]]()
    val layerWeights = mutable.ArrayBuffer[(String, Seq[WeightSlot])]()
    val frozen = mutable.ArrayBuffer[AbstractModule[Activity, Activity, Float]]()

    def resolve(layer: LayerSpec, ref: String): GraphTensor = tensors.getOrElse(ref,
      throw BigwrapException.valueError(s"layer '${layer.name}' takes '$ref' as input, but no earlier layer produces it"))

    spec.layers.foreach { layer =>
      if (layer.className == "InputLayer") {
        val shape = layer.ints("shape")
        BigwrapException.require(shape.nonEmpty && shape.forall(_ > 0),
          s"input '${layer.name}' needs a shape of positive sizes, got ${Tensors.shapeString(shape)}")
        val node = Input[Float](layer.name)
        inputNodes(layer.name) = node
        tensors(layer.name) = GraphTensor(node, shape)
      } else {
        BigwrapException.require(layer.inbound.nonEmpty, s"layer '${layer.name}' is never called (its `inbound` is empty)")
        val calls = layer.inbound.map(c => LayerCall(c.refs.map(resolve(layer, _)), c.names, c.arguments))
        val builder = LayerBuilders(layer)
        def masked(call: LayerCall, out: GraphTensor): GraphTensor = out.copy(mask = builder.outputMask(layer, call))
        if (calls.size == 1 && layer.trainable) {
          val built = builder.build(layer, calls.head)
          tensors(layer.name) = masked(calls.head, built.output)
          if (built.weights.nonEmpty) layerWeights += layer.name -> built.weights
        } else {
          // A shared or frozen layer: each call is its own sub-graph; calls after the first borrow the first's
          // weights. Freezing a sub-graph zeroes its weights' gradients (BigDL scales them by 0), so neither
          // regularizers nor gradient clipping see them; the trainers keep the weights themselves unchanged.
          val (owner, first, sources) = subGraph(layer, calls.head, layer.name)
          if (!layer.trainable) { owner.freeze(); frozen += owner }
          tensors(layer.name) = masked(calls.head, GraphTensor(owner.inputs(sources: _*), first.output.shape))
          if (first.weights.nonEmpty) layerWeights += layer.name -> first.weights
          calls.zipWithIndex.tail.foreach { case (call, k) =>
            val (copy, built, callSources) = subGraph(layer, call, s"${layer.name}@$k")
            if (!layer.trainable) copy.freeze()
            val node = new SharedCall(owner, copy).setName(s"${layer.name}@$k").inputs(callSources: _*)
            tensors(s"${layer.name}@$k") = masked(call, GraphTensor(node, built.output.shape))
          }
        }
      }
    }
    val inputs = spec.inputs.map { name =>
      inputNodes.getOrElse(name, throw BigwrapException.valueError(s"model input '$name' is not an InputLayer of the spec"))
    }
    val outputs = spec.outputs.map(ref => tensors.getOrElse(ref,
      throw BigwrapException.valueError(s"model output '$ref' is not produced by any layer")))
    val graph = Graph[Float](inputs.toArray, outputs.map(_.node).toArray)
    graph.setName(spec.name)
    new BuiltModel(specJson, spec, graph, spec.inputs.map(tensors(_).shape), outputs.map(_.shape), layerWeights.toList,
      frozen.toList, KernelChoice.inForce, tensors.map { case (ref, t) => ref -> t.shape }.toMap)
  }
}
