package bigwrap.spec

import bigwrap.api.BigwrapException
import bigwrap.nn.{Convolution, FusedActivation, NativeConv2D}
import com.intel.analytics.bigdl.dllib.nn._
import com.intel.analytics.bigdl.dllib.nn.Graph.ModuleNode
import com.intel.analytics.bigdl.dllib.nn.abstractnn.{AbstractModule, Activity, DataFormat}
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import org.json4s.JString

/**
 * Convolution layers (layers/convolutional.py) on channels-last tensors. BigDL's NHWC convolution keeps the kernel as (1, kh, kw, in, out), Keras' layout behind a group
 * axis; its "SAME" padding (pad = -1) is TensorFlow's, which Keras uses. Dilated and grouped (depthwise)
 * convolutions exist in BigDL only as NCHW, so those paths transpose in and out.
 */
object ConvolutionalLayers {
  val builders: Map[String, LayerBuilder] = Map(
    "Conv1D" -> ConvBuilder(1), "Conv2D" -> ConvBuilder(2),
    "DepthwiseConv2D" -> DepthwiseBuilder(separable = false), "SeparableConv2D" -> DepthwiseBuilder(separable = true),
    "ZeroPadding2D" -> ZeroPadding2DBuilder, "Cropping2D" -> Cropping2DBuilder, "UpSampling2D" -> UpSampling2DBuilder)

  def outputLength(length: Int, kernel: Int, stride: Int, padding: String, dilation: Int = 1): Int =
    if (padding == "same") (length + stride - 1) / stride else (length - dilation * (kernel - 1) - 1) / stride + 1

  /**
   * The output length of each spatial axis of `image` as `window` (a "kernel" or "pool") slides over it; an
   * error naming the layer when the window does not fit.
   */
  def windowOutput(layer: LayerSpec, in: GraphTensor, image: Seq[Int], what: String, window: Seq[Int],
      strides: Seq[Int], padding: String, dilation: Seq[Int] = Seq(1, 1)): Seq[Int] = {
    val out = image.indices.map(i => outputLength(image(i), window(i), strides(i), padding, dilation(i)))
    BigwrapException.require(out.forall(_ > 0), s"layer '${layer.name}' (${layer.className}): $what " +
      s"${window.mkString("x")} does not fit input ${Tensors.shapeString(in.shape)} with padding '$padding'")
    out
  }

  /** (before, after) zeros for Keras/TensorFlow "same": the odd one goes after. */
  def samePadding(length: Int, kernel: Int, stride: Int, dilation: Int = 1): (Int, Int) = {
    val out = (length + stride - 1) / stride
    val total = math.max((out - 1) * stride + dilation * (kernel - 1) + 1 - length, 0)
    (total / 2, total - total / 2)
  }

  /**
   * BigDL's grouped kernel (groups, out / groups, in / groups, kh, kw) seen as Keras' (kh, kw, in / groups, out),
   * without kh for Conv1D: the group and filter axes are adjacent in BigDL's storage, so they merge into one.
   */
  def groupedKerasView(t: Tensor[Float], rank: Int): Tensor[Float] = {
    val Array(groups, perGroup, inputs, kh, kw) = t.size()
    val Array(_, filterStride, inputStride, rowStride, columnStride) = t.stride()
    val (size, stride) =
      if (rank == 1) (Array(kw, inputs, groups * perGroup), Array(columnStride, inputStride, filterStride))
      else (Array(kh, kw, inputs, groups * perGroup), Array(rowStride, columnStride, inputStride, filterStride))
    Tensor[Float](t.storage(), t.storageOffset(), size, stride)
  }

  /** NHWC ↔ NCHW with the batch axis first. */
  def toNCHW(name: String, from: ModuleNode[Float]): ModuleNode[Float] =
    Contiguous[Float]().setName(s"$name/nchw").inputs(
      Transpose[Float](Array((2, 4), (3, 4))).setName(s"$name/nchw_t").inputs(from))

  def toNHWC(name: String, from: ModuleNode[Float]): ModuleNode[Float] =
    Contiguous[Float]().setName(s"$name/nhwc").inputs(
      Transpose[Float](Array((2, 4), (2, 3))).setName(s"$name/nhwc_t").inputs(from))

  /** Padding of NHWC input along H (axis 1 without batch) and W (axis 2) with `value` (zeros by default). */
  def padHW(name: String, from: ModuleNode[Float], top: Int, bottom: Int, left: Int, right: Int,
      value: Double = 0.0): ModuleNode[Float] = {
    val pads = Seq((1, -top), (1, bottom), (2, -left), (2, right)).filter(_._2 != 0)
    pads.zipWithIndex.foldLeft(from) { case (node, ((dim, pad), i)) =>
      Padding[Float](dim, pad, 3, value).setName(s"$name/pad$i").inputs(node)
    }
  }

  /**
   * A window layer's explicit `padding` as (before, after) cells per axis of its 2-D image (a 1-D layer's
   * image is (1, steps)), or None for Keras' "valid" / "same".
   */
  def explicitPadding(layer: LayerSpec, rank: Int): Option[Seq[(Int, Int)]] = layer.config \ "padding" match {
    case JString(_) => None
    case _ =>
      val pairs = layer.intPairs("padding").map {
        case Seq(before, after) => (before, after)
        case other => throw BigwrapException.valueError(s"layer '${layer.name}' (${layer.className}): padding " +
          s"${other.mkString("[", ", ", "]")} is not a (before, after) pair")
      }
      Some(if (rank == 1) (0, 0) +: pairs else pairs)
  }

  /** `padding` once explicit cells have been added to the input: "valid"; else the layer's string. */
  def windowMode(layer: LayerSpec, explicit: Option[Seq[(Int, Int)]]): String =
    if (explicit.isDefined) "valid" else layer.string("padding")

  /** `image` (an input's 2-D spatial shape) grown by explicit padding. */
  def padded(image: Seq[Int], explicit: Option[Seq[(Int, Int)]]): Seq[Int] =
    explicit.fold(image)(_.zip(image).map { case ((before, after), n) => n + before + after })

  /** `node` (NHWC) with explicit padding filled with `value`. */
  def applyPadding(name: String, node: ModuleNode[Float], explicit: Option[Seq[(Int, Int)]],
      value: Double = 0.0): ModuleNode[Float] = explicit match {
    case Some(Seq((top, bottom), (left, right))) => padHW(s"$name/explicit", node, top, bottom, left, right, value)
    case _ => node
  }
}

/** A convolution or pooling window of rank 1 or 2; a 1-D window runs as a 2-D one over a (1, steps, channels) image. */
trait WindowBuilder extends LayerBuilder {
  def rank: Int

  /** The layer's one input, of rank `rank` + 1, and `as2d`, which makes a per-axis setting 2-D. */
  protected def windowInput(layer: LayerSpec, inputs: Seq[GraphTensor]): (GraphTensor, Seq[Int] => Seq[Int]) = {
    val in = single(layer, inputs)
    requireRank(layer, in, rank + 1, if (rank == 1) "(steps, channels)" else "(height, width, channels)")
    (in, v => if (rank == 1) 1 +: v else v)
  }
}

final case class ConvBuilder(rank: Int) extends WindowBuilder {
  import ConvolutionalLayers._

  def build(layer: LayerSpec, inputs: Seq[GraphTensor]): BuiltLayer = {
    val (in, as2d) = windowInput(layer, inputs)
    val kernel = as2d(layer.ints("kernel_size"))
    val strides = as2d(layer.ints("strides"))
    val dilation = as2d(layer.ints("dilation_rate"))
    val explicit = explicitPadding(layer, rank)
    val padding = windowMode(layer, explicit)
    val useBias = layer.bool("use_bias")
    val filters = layer.int("filters")
    val image = padded(as2d(in.shape.init), explicit)
    val channels = in.shape.last
    val out = windowOutput(layer, in, image, "kernel", kernel, strides, padding, dilation)
    val source = applyPadding(layer.name,
      if (rank == 1) reshape(s"${layer.name}/as_image", 1 +: in.shape, in.node) else in.node, explicit)
    val activation = layer.optString("activation").getOrElse("linear")
    val groups = if (layer.has("groups")) layer.int("groups") else 1
    val kerasKernel = layer.ints("kernel_size") ++ Seq(channels / groups, filters)
    val kernels = KernelChoice.inForce
    val native = kernels.native && dilation.forall(_ == 1) && groups == 1 // ours: undilated, ungrouped
    // Native kernels fuse the activations they know; any other follows as a module of its own.
    val fused = if (native) FusedActivation.named(activation) else None

    // BigDL's grouped and dilated convolutions are NCHW only, without "same": those pad here and transpose.
    def viaNCHW(conv: AbstractModule[_ <: Activity, _ <: Activity, Float], stride: Seq[Int], dilated: Seq[Int]) = {
      val Seq((top, bottom), (left, right)) = image.indices.map(i =>
        if (padding == "same") samePadding(image(i), kernel(i), stride(i), dilated(i)) else (0, 0))
      toNHWC(layer.name, conv.inputs(toNCHW(layer.name, padHW(layer.name, source, top, bottom, left, right))))
    }

    val (convOut, kernelSlot, biasSlot) = if (groups > 1) {
      // its kernel is (groups, filters / groups, channels / groups, kh, kw)
      val conv = new Convolution(channels, filters, kernel(1), kernel(0), strides(1), strides(0), 0, 0, useBias,
        DataFormat.NCHW, groups).setName(layer.name)
      (viaNCHW(conv, strides, Seq(1, 1)),
        new WeightSlot("kernel", kerasKernel, () => conv.weight, () => conv.gradWeight, groupedKerasView(_, rank)),
        new WeightSlot("bias", Seq(filters), () => conv.bias, () => conv.gradBias))
    } else if (dilation.forall(_ == 1)) {
      val pad = if (padding == "same") -1 else 0
      val conv = (if (native) {
        new NativeConv2D(channels, filters, kernel(1), kernel(0), strides(1), strides(0), pad, useBias,
          fused.getOrElse(FusedActivation.Linear), kernels.bf16)
      } else {
        new Convolution(channels, filters, kernel(1), kernel(0), strides(1), strides(0), pad, pad, useBias,
          DataFormat.NHWC)
      }).setName(layer.name)
      (conv.inputs(source),
        WeightSlot.reshaped("kernel", kerasKernel, () => conv.weight, () => conv.gradWeight),
        new WeightSlot("bias", Seq(filters), () => conv.bias, () => conv.gradBias))
    } else {
      val conv = SpatialDilatedConvolution[Float](channels, filters, kernel(1), kernel(0), 1, 1, 0, 0,
        dilation(1), dilation(0)).setName(layer.name)
      // (out, in, kh, kw) → (kh, kw, in, out), dropping kh = 1 for Conv1D.
      val view = (t: Tensor[Float]) => {
        val k = t.transpose(1, 3).transpose(2, 4).transpose(3, 4)
        if (rank == 1) k.select(1, 1) else k
      }
      (viaNCHW(conv, Seq(1, 1), dilation),
        new WeightSlot("kernel", kerasKernel, () => conv.weight, () => conv.gradWeight, view),
        new WeightSlot("bias", Seq(filters), () => conv.bias, () => conv.gradBias))
    }
    if (!useBias) {
      BigwrapException.require(dilation.forall(_ == 1),
        s"layer '${layer.name}' (${layer.className}): BigDL's dilated convolution always has a bias; " +
          "use_bias=False needs dilation_rate=1")
    }
    val outShape = (if (rank == 1) out.tail else out) :+ filters
    val shaped = if (rank == 1) reshape(s"${layer.name}/as_sequence", outShape, convOut) else convOut
    val activated = if (fused.isDefined) shaped else Activations(activation, layer.name, shaped, outShape)
    BuiltLayer(GraphTensor(activated, outShape), if (useBias) Seq(kernelSlot, biasSlot) else Seq(kernelSlot))
  }
}

case object ZeroPadding2DBuilder extends OneInput {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    requireRank(layer, in, 3, "(height, width, channels)")
    val Seq(Seq(top, bottom), Seq(left, right)) = layer.intPairs("padding")
    val node = ConvolutionalLayers.padHW(layer.name, in.node, top, bottom, left, right)
    val named = Identity[Float]().setName(layer.name).inputs(node)
    plain(Seq(in.shape(0) + top + bottom, in.shape(1) + left + right, in.shape(2)), named)
  }
}

case object UpSampling2DBuilder extends OneInput {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    requireRank(layer, in, 3, "(height, width, channels)")
    val size = layer.ints("size")
    val node = UpSampling2D[Float](size.toArray, DataFormat.NHWC).setName(layer.name).inputs(in.node)
    plain(Seq(in.shape(0) * size(0), in.shape(1) * size(1), in.shape(2)), node)
  }
}

/**
 * DepthwiseConv2D, and SeparableConv2D (the same followed by a 1x1 convolution): a convolution with one group per
 * input channel, whose group g yields channels g·depth_multiplier ... g·depth_multiplier + depth_multiplier - 1,
 * Keras' order. BigDL keeps its kernel as (groups, depth_multiplier, 1, kh, kw).
 */
final case class DepthwiseBuilder(separable: Boolean) extends OneInput {
  import ConvolutionalLayers._

  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    requireRank(layer, in, 3, "(height, width, channels)")
    val Seq(kh, kw) = layer.ints("kernel_size")
    val Seq(sh, sw) = layer.ints("strides")
    val explicit = explicitPadding(layer, 2)
    val padding = windowMode(layer, explicit)
    val multiplier = layer.int("depth_multiplier")
    val useBias = layer.bool("use_bias")
    val channels = in.shape(2)
    val out = windowOutput(layer, in, padded(in.shape.take(2), explicit), "kernel", Seq(kh, kw), Seq(sh, sw), padding)
    val pad = if (padding == "same") -1 else 0
    val depthwiseName = if (separable) s"${layer.name}/depthwise" else layer.name
    val depthwise = new Convolution(channels, channels * multiplier, kw, kh, sw, sh, pad, pad,
      withBias = useBias && !separable, DataFormat.NCHW, groups = channels).setName(depthwiseName)
    val source = applyPadding(layer.name, in.node, explicit)
    val depthwiseNode = toNHWC(depthwiseName, depthwise.inputs(toNCHW(depthwiseName, source)))
    // (groups, m, 1, kh, kw) → (kh, kw, groups, m)
    val depthwiseView = (t: Tensor[Float]) => t.select(3, 1).transpose(1, 3).transpose(2, 4)
    val kernelName = if (separable) "depthwise_kernel" else "kernel"
    val depthwiseKernel = new WeightSlot(kernelName, Seq(kh, kw, channels, multiplier), () => depthwise.weight,
      () => depthwise.gradWeight, depthwiseView)
    val (node, filters, slots) = if (!separable) {
      val bias = new WeightSlot("bias", Seq(channels * multiplier), () => depthwise.bias, () => depthwise.gradBias)
      (depthwiseNode, channels * multiplier, if (useBias) Seq(depthwiseKernel, bias) else Seq(depthwiseKernel))
    } else {
      val filters = layer.int("filters")
      val pointwise = new Convolution(channels * multiplier, filters, 1, 1, 1, 1, 0, 0, useBias, DataFormat.NHWC)
        .setName(layer.name)
      val pointwiseKernel = WeightSlot.reshaped("pointwise_kernel", Seq(1, 1, channels * multiplier, filters),
        () => pointwise.weight, () => pointwise.gradWeight)
      val bias = new WeightSlot("bias", Seq(filters), () => pointwise.bias, () => pointwise.gradBias)
      (pointwise.inputs(depthwiseNode), filters,
        if (useBias) Seq(depthwiseKernel, pointwiseKernel, bias) else Seq(depthwiseKernel, pointwiseKernel))
    }
    val outShape = out :+ filters
    val activated = Activations(layer.optString("activation").getOrElse("linear"), layer.name, node, outShape)
    BuiltLayer(GraphTensor(activated, outShape), slots)
  }
}

case object Cropping2DBuilder extends OneInput {
  def build(layer: LayerSpec, in: GraphTensor): BuiltLayer = {
    requireRank(layer, in, 3, "(height, width, channels)")
    val Seq(Seq(top, bottom), Seq(left, right)) = layer.intPairs("cropping")
    val shape = Seq(in.shape(0) - top - bottom, in.shape(1) - left - right, in.shape(2))
    BigwrapException.require(shape.forall(_ > 0),
      s"layer '${layer.name}' (Cropping2D): cropping leaves nothing of input ${Tensors.shapeString(in.shape)}")
    val crop = Cropping2D[Float](Array(top, bottom), Array(left, right), DataFormat.NHWC).setName(layer.name)
    plain(shape, crop.inputs(in.node))
  }
}
