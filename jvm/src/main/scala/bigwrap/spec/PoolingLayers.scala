package bigwrap.spec

import bigwrap.nn.{AveragePool2D, MaskedMean, MaxPool2D}
import com.intel.analytics.bigdl.dllib.nn._
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat

/**
 * Max/Average pooling 1D and 2D on channels-last input through bigwrap's MaxPool2D / AveragePool2D, whose windows
 * stay inside the image (Keras' "same" padding is never counted in averages); 1D pools a (1, steps, channels)
 * image. Explicit padding (PyTorch's, ONNX's): max pooling pads with the lowest float, so a padded cell never
 * wins; an average counting the pad pools zeros; one not counting it pools inside the image.
 * LPPooling2D is (Σ|x|^p)^(1/p): the average pooling's window sums without the division.
 * Global pooling reduces the spatial axes with Mean / Max.
 */
object PoolingLayers {
  val builders: Map[String, LayerBuilder] = Map(
    "MaxPooling1D" -> PoolBuilder(1, max = true), "MaxPooling2D" -> PoolBuilder(2, max = true),
    "AveragePooling1D" -> PoolBuilder(1, max = false), "AveragePooling2D" -> PoolBuilder(2, max = false),
    "LPPooling2D" -> LPPoolBuilder,
    "GlobalAveragePooling1D" -> GlobalPoolBuilder(1, max = false),
    "GlobalAveragePooling2D" -> GlobalPoolBuilder(2, max = false),
    "GlobalMaxPooling1D" -> GlobalPoolBuilder(1, max = true),
    "GlobalMaxPooling2D" -> GlobalPoolBuilder(2, max = true))

  /** A pooling module's (top, bottom, left, right) for `padding`: Keras' "same" split, else none. */
  def samePads(image: Seq[Int], pool: Seq[Int], strides: Seq[Int], padding: String): Seq[Int] =
    if (padding != "same") Seq(0, 0, 0, 0)
    else image.indices.flatMap { axis =>
      val (before, after) = ConvolutionalLayers.samePadding(image(axis), pool(axis), strides(axis))
      Seq(before, after)
    }
}

final case class PoolBuilder(rank: Int, max: Boolean) extends WindowBuilder {
  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val (in, as2d) = windowInput(layer, inputs)
    val pool = as2d(layer.ints("pool_size"))
    val strides = as2d(layer.ints("strides"))
    val explicit = ConvolutionalLayers.explicitPadding(layer, rank)
    val padding = ConvolutionalLayers.windowMode(layer, explicit)
    val countPad = layer.has("count_include_pad") && layer.bool("count_include_pad")
    val image = ConvolutionalLayers.padded(as2d(in.shape.init), explicit)
    val out = ConvolutionalLayers.windowOutput(layer, in, image, "pool", pool, strides, padding)
    val asImage = if (rank == 1) reshape(s"${layer.name}/as_image", 1 +: in.shape, in.node) else in.node
    // an average that leaves explicit padding out pools inside the image; every other explicit padding is applied
    val outside = explicit.filter(_ => !max && !countPad)
    val source = if (outside.isDefined) asImage
    else ConvolutionalLayers.applyPadding(layer.name, asImage, explicit, if (max) -Float.MaxValue else 0.0)
    val pads = outside.map(_.flatMap { case (before, after) => Seq(before, after) })
      .getOrElse(PoolingLayers.samePads(image, pool, strides, padding))
    val module = if (max) new MaxPool2D(pool(0), pool(1), strides(0), strides(1), pads, KernelChoice.inForce.native)
    else new AveragePool2D(pool(0), pool(1), strides(0), strides(1), pads, divide = true)
    val pooled = module.setName(layer.name).inputs(source)
    val outShape = (if (rank == 1) out.tail else out) :+ in.shape.last
    plain(outShape, if (rank == 1) reshape(s"${layer.name}/as_sequence", outShape, pooled) else pooled)
  }
}

case object LPPoolBuilder extends OneInput {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    requireRank(layer, in, 3, "(height, width, channels)")
    val Seq(ph, pw) = layer.ints("pool_size")
    val Seq(sh, sw) = layer.ints("strides")
    val padding = layer.string("padding")
    val p = layer.double("p")
    val out = ConvolutionalLayers.windowOutput(layer, in, in.shape.take(2), "pool", Seq(ph, pw), Seq(sh, sw), padding)
    val magnitude = Abs[Float]().setName(s"${layer.name}/abs").inputs(in.node)
    val powered = Power[Float](p).setName(s"${layer.name}/pow").inputs(magnitude)
    val pads = PoolingLayers.samePads(in.shape.take(2), Seq(ph, pw), Seq(sh, sw), padding)
    val summed = new AveragePool2D(ph, pw, sh, sw, pads, divide = false).setName(s"${layer.name}/sum").inputs(powered)
    plain(out :+ in.shape(2), Power[Float](1.0 / p).setName(layer.name).inputs(summed))
  }
}

final case class GlobalPoolBuilder(rank: Int, max: Boolean) extends WindowBuilder {
  override def consumesMask: Boolean = rank == 1 && !max  // Keras' GlobalAveragePooling1D averages unmasked steps

  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val (in, _) = windowInput(layer, inputs)
    val channels = in.shape.last
    // Keras averages a masked sequence over its unmasked steps only (and GlobalMaxPooling1D ignores masks).
    if (rank == 1 && !max && in.mask.isDefined) {
      return plain(Seq(channels), new MaskedMean().setName(layer.name).inputs(in.node, in.mask.get.node))
    }
    val cells = in.shape.init.product
    val rows = reshape(s"${layer.name}/cells", Seq(cells, channels), in.node)
    val reduce = if (max) Max[Float](1, 2) else Mean[Float](1, 2, squeeze = true)
    plain(Seq(channels), reduce.setName(layer.name).inputs(rows))
  }
}
