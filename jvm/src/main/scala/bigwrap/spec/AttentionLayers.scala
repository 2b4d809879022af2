package bigwrap.spec

import bigwrap.api.BigwrapException
import bigwrap.nn.Attention
import com.intel.analytics.bigdl.dllib.nn.{CAddTable, Dropout}
import com.intel.analytics.bigdl.dllib.nn.Graph.ModuleNode
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.json4s._

/** Attention and the keras_hub Transformer blocks built on it (layers/attention.py). */
object AttentionLayers {
  val builders: Map[String, LayerBuilder] = Map(
    "MultiHeadAttention" -> MultiHeadAttentionBuilder, "TransformerEncoder" -> TransformerEncoderBuilder)

  /** A layer spec made from `fields`, named `name`: how composite layers build their sub-layers. */
  def spec(className: String, name: String, fields: (String, JValue)*): LayerSpec =
    LayerSpec(className, name, JObject(fields.toList), Nil)
}

case object MultiHeadAttentionBuilder extends LayerBuilder {
  override def consumesMask: Boolean = true
  override def outputMask(layer: LayerSpec, call: LayerCall): Option[Mask] = call.named("query").getOrElse(call.inputs.head).mask

  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer =
    build(layer, LayerCall(inputs, Seq("query", "value", "key", "attention_mask").take(inputs.size)))

  override def build(layer: LayerSpec, call: LayerCall): BuiltLayer = {
    def input(name: String): GraphTensor = call.named(name).getOrElse(throw BigwrapException.valueError(
      s"layer '${layer.name}' (MultiHeadAttention) needs `$name`"))
    val (query, value) = (input("query"), input("value"))
    val key = call.named("key")
    Seq(Some(query), Some(value), key).flatten.foreach(t => requireRank(layer, t, 2, "(steps, features)"))
    val heads = layer.int("num_heads")
    val keyDim = layer.int("key_dim")
    val valueDim = if (layer.has("value_dim")) layer.int("value_dim") else keyDim
    val useBias = layer.bool("use_bias")
    val outDim = if (layer.has("output_shape")) layer.int("output_shape") else query.shape.last
    def project(name: String, in: GraphTensor, dim: Int) = DenseBuilder.dense(s"${layer.name}/$name", in, heads * dim,
      useBias, "linear", null, Seq(in.shape.last, heads, dim), s"${name}_", Some(Seq(heads, dim)))
    val (q, qSlots) = project("query", query, keyDim)
    val (k, kSlots) = project("key", key.getOrElse(value), keyDim)
    val (v, vSlots) = project("value", value, valueDim)
    // Keras ignores the key's mask when there is no key; otherwise value and key masks both apply.
    val sourceMask = Masks.all(s"${layer.name}/source", (value.mask ++ key.flatMap(_.mask)).toSeq)
    val attentionMask = call.named("attention_mask")
    val masks: Seq[ModuleNode[Float]] = query.mask.map(_.node).toSeq ++ sourceMask.map(_.node) ++ attentionMask.map(_.node)
    val core = new Attention(heads, keyDim, valueDim, call.flag("use_causal_mask"), layer.double("dropout"),
      query.mask.isDefined, sourceMask.isDefined, attentionMask.isDefined, KernelChoice.inForce.native)
    val attended = core.setName(s"${layer.name}/attention").inputs((Seq(q.node, k.node, v.node) ++ masks): _*)
    val (out, outSlots) = DenseBuilder.dense(s"${layer.name}/attention_output", GraphTensor(attended, query.shape.init :+ heads * valueDim),
      outDim, useBias, "linear", null, Seq(heads, valueDim, outDim), "attention_output_")
    BuiltLayer(out, qSlots ++ kSlots ++ vSlots ++ outSlots)
  }
}

/** keras_hub's TransformerEncoder from the MultiHeadAttention, LayerNormalization and Dense builders. */
case object TransformerEncoderBuilder extends OneInput with PassesMask {
  override def consumesMask: Boolean = true

  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    requireRank(layer, in, 2, "(steps, features)")
    val features = in.shape.last
    val heads = layer.int("num_heads")
    val dropout = layer.double("dropout")
    val normalizeFirst = layer.bool("normalize_first")
    val epsilon = JDouble(layer.double("layer_norm_epsilon"))
    val slots = scala.collection.mutable.Map[String, Seq[WeightSlot]]()
    def sub(prefix: String, spec: LayerSpec, call: LayerCall): GraphTensor = {
      val built = LayerBuilders(spec).build(spec, call)
      slots(prefix) = built.weights.map(s => s.renamed(s"${prefix}_${s.name}"))
      built.output
    }
    def norm(prefix: String, x: GraphTensor): GraphTensor = sub(prefix, AttentionLayers.spec("LayerNormalization",
      s"${layer.name}/$prefix", "epsilon" -> epsilon, "center" -> JBool(true), "scale" -> JBool(true)), LayerCall(Seq(x)))
    def drop(name: String, x: GraphTensor): GraphTensor =
      if (dropout == 0) x else x.copy(node = Dropout[Float](initP = dropout).setName(s"${layer.name}/$name").inputs(x.node))
    def residual(name: String, x: GraphTensor, skip: GraphTensor): GraphTensor =
      x.copy(node = CAddTable[Float]().setName(s"${layer.name}/$name").inputs(x.node, skip.node))

    val attentionIn = if (normalizeFirst) norm("self_attention_layer_norm", in) else in
    // The block's input mask reaches the attention through its query and value, as in keras_hub.
    val masked = attentionIn.copy(mask = in.mask)
    val attention = AttentionLayers.spec("MultiHeadAttention", s"${layer.name}/self_attention_layer",
      "num_heads" -> JInt(heads), "key_dim" -> JInt(features / heads), "value_dim" -> JInt(features / heads),
      "dropout" -> JDouble(dropout), "use_bias" -> JBool(true))
    val attended = sub("self_attention_layer", attention, LayerCall(Seq(masked, masked), Seq("query", "value")))
    val afterAttention = residual("attention_residual", drop("self_attention_dropout", attended), in)
    val x = if (normalizeFirst) afterAttention else norm("self_attention_layer_norm", afterAttention)
    val ffIn = if (normalizeFirst) norm("feedforward_layer_norm", x) else x
    val intermediate = sub("feedforward_intermediate_dense", AttentionLayers.spec("Dense",
      s"${layer.name}/feedforward_intermediate_dense", "units" -> JInt(layer.int("intermediate_dim")),
      "activation" -> JString(layer.string("activation")), "use_bias" -> JBool(true)), LayerCall(Seq(ffIn)))
    val projected = sub("feedforward_output_dense", AttentionLayers.spec("Dense", s"${layer.name}/feedforward_output_dense",
      "units" -> JInt(features), "activation" -> JString("linear"), "use_bias" -> JBool(true)), LayerCall(Seq(intermediate)))
    val afterFeedForward = residual("feedforward_residual", drop("feedforward_dropout", projected), x)
    val out = if (normalizeFirst) afterFeedForward else norm("feedforward_layer_norm", afterFeedForward)
    // keras_hub's weight order: attention, its norm, the feed-forward norm, then the two Dense layers.
    val order = Seq("self_attention_layer", "self_attention_layer_norm", "feedforward_layer_norm",
      "feedforward_intermediate_dense", "feedforward_output_dense")
    BuiltLayer(out, order.flatMap(slots))
  }
}
