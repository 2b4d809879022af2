package bigwrap.spec

import bigwrap.api.BigwrapException
import bigwrap.nn.{PositionTable, TokenTable}
import com.intel.analytics.bigdl.dllib.nn.AddConstant
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/** Token and position embeddings (layers/embedding.py). */
object EmbeddingLayers {
  val builders: Map[String, LayerBuilder] = Map(
    "Embedding" -> EmbeddingBuilder, "PositionEmbedding" -> PositionEmbeddingBuilder)
}

case object EmbeddingBuilder extends OneInput {
  /** With `mask_zero`, id 0 is padding: a mask the layers after it that consume masks read. */
  override def outputMask(layer: LayerSpec, call: LayerCall): Option[Mask] =
    if (layer.has("mask_zero") && layer.bool("mask_zero")) Some(Masks.of(layer, call.inputs.head, 0f)) else None

  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    requireRank(layer, in, 1, "(steps,) of token ids")
    val (vocabulary, dim) = (layer.int("input_dim"), layer.int("output_dim"))
    // Users give 0-based ids; BigDL's LookupTable (TokenTable's base) counts from 1.
    val shifted = AddConstant[Float](1.0).setName(s"${layer.name}/one_based").inputs(in.node)
    val table = new TokenTable(vocabulary, dim).setName(layer.name)
    BuiltLayer(GraphTensor(table.inputs(shifted), Seq(in.shape.head, dim)),
      Seq(new WeightSlot("embeddings", Seq(vocabulary, dim), () => table.weight, () => table.gradWeight)))
  }
}

case object PositionEmbeddingBuilder extends OneInput {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    requireRank(layer, in, 2, "(steps, features)")
    val length = layer.int("sequence_length")
    BigwrapException.require(in.shape.head <= length, s"layer '${layer.name}' (PositionEmbedding) has positions for " +
      s"$length steps but got input of shape ${Tensors.shapeString(in.shape)}")
    val table = new PositionTable(length, in.shape.last)
    table.setName(layer.name)
    BuiltLayer(GraphTensor(table.inputs(in.node), in.shape),
      Seq(new WeightSlot("embeddings", Seq(length, in.shape.last), () => table.embeddings, () => table.gradEmbeddings)))
  }
}
