package bigwrap.spec

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.dllib.nn._
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity}
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** Merge layers (layers/merging.py): BigDL's table modules over the inputs in call order. */
object MergingLayers {
  val builders: Map[String, LayerBuilder] = Map(
    "Add" -> ElementwiseMerge(() => CAddTable[Float]()),
    "Subtract" -> ElementwiseMerge(() => CSubTable[Float]()),
    "Multiply" -> ElementwiseMerge(() => CMulTable[Float]()),
    "Average" -> ElementwiseMerge(() => CAveTable[Float]()),
    "Maximum" -> ElementwiseMerge(() => CMaxTable[Float]()),
    "Concatenate" -> ConcatenateBuilder)
}

/** Keras' merge layers: the output's mask is the AND of the inputs' masks. */
trait MergesMasks extends LayerBuilder {
  override def outputMask(layer: LayerSpec, call: LayerCall): Option[Mask] = Masks.all(layer.name, call.inputs.flatMap(_.mask))
}

final case class ElementwiseMerge(module: () => AbstractModule[Activity, Activity, Float]) extends MergesMasks {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    BigwrapException.require(inputs.size >= 2 && inputs.forall(_.shape == inputs.head.shape),
      s"layer '${layer.name}' (${layer.className}) needs at least 2 inputs of one shape, got " +
        inputs.map(t => Tensors.shapeString(t.shape)).mkString(", "))
    BigwrapException.require(layer.className != "Subtract" || inputs.size == 2,
      s"layer '${layer.name}' (Subtract) takes exactly 2 inputs, got ${inputs.size}")
    plain(inputs.head.shape, module().setName(layer.name).inputs(inputs.map(_.node): _*))
  }
}

case object ConcatenateBuilder extends MergesMasks {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val rank = inputs.head.shape.size
    val given = layer.int("axis")
    val axis = if (given > 0) given - 1 else rank + given
    BigwrapException.require(axis >= 0 && axis < rank && inputs.forall(_.shape.size == rank) &&
      inputs.forall(t => t.shape.patch(axis, Nil, 1) == inputs.head.shape.patch(axis, Nil, 1)),
      s"layer '${layer.name}' (Concatenate) cannot join ${inputs.map(t => Tensors.shapeString(t.shape)).mkString(", ")} " +
        s"along axis $given")
    val shape = inputs.head.shape.updated(axis, inputs.map(_.shape(axis)).sum)
    plain(shape, JoinTable[Float](axis + 1, rank).setName(layer.name).inputs(inputs.map(_.node): _*))
  }
}
