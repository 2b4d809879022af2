package bigwrap.dl4j

import org.json4s._

import Dl4jLayers.{activation, ints, layer, Call, Converted, Layer}

/** Conv2D, 2-D pooling and global pooling as DL4J's NHWC layers. */
private[dl4j] object Convolutions {
  private def image(call: Call): (Int, Int, Int) = call.input match {
    case Seq(h, w, c) => (h, w, c)
    case other => call.refuse(s"takes images (height, width, channels), got ${other.mkString("(", ", ", ")")}")
  }

  // Keras "same" and DL4J's ConvolutionMode.Same pad alike (out = ceil(in / stride), the smaller half first).
  private def mode(call: Call): JString = JString(if (call.layer.string("padding") == "same") "Same" else "Truncate")

  def conv2d(call: Call): Converted = {
    val (_, _, nIn) = image(call)
    val nOut = call.layer.int("filters")
    val Seq(kh, kw) = call.layer.ints("kernel_size")
    val useBias = call.layer.bool("use_bias")
    val json = layer("ConvolutionLayer", call, "nin" -> JInt(nIn), "nout" -> JInt(nOut), "kernelSize" -> ints(Seq(kh, kw)),
      "stride" -> ints(call.layer.ints("strides")), "padding" -> ints(Seq(0, 0)),
      "dilation" -> ints(call.layer.ints("dilation_rate")), "convolutionMode" -> mode(call), "hasBias" -> JBool(useBias),
      "cnn2dDataFormat" -> JString("NHWC"), "cudnnAlgoMode" -> JString("PREFER_FASTEST"),
      "activationFn" -> activation(call, call.layer.string("activation")))
    // Keras (kh, kw, in, out) → DL4J 'c' [out, in, kh, kw], after the bias.
    val kernel = call.weight("kernel")
    val weights = new Array[Float](kernel.length)
    for (a <- 0 until kh; b <- 0 until kw; i <- 0 until nIn; o <- 0 until nOut)
      weights(((o * nIn + i) * kh + a) * kw + b) = kernel(((a * kw + b) * nIn + i) * nOut + o)
    Layer(json, (if (useBias) call.weight("bias") else Array.empty[Float]) ++ weights)
  }

  def pooling(call: Call): Converted = {
    image(call)
    val kind = if (call.layer.className == "MaxPooling2D") "MAX" else "AVG"
    // Keras averages over the cells inside the input only: avgPoolIncludePadInDivisor = false.
    Layer(layer("SubsamplingLayer", call, "poolingType" -> JString(kind),
      "kernelSize" -> ints(call.layer.ints("pool_size")), "stride" -> ints(call.layer.ints("strides")),
      "padding" -> ints(Seq(0, 0)), "dilation" -> ints(Seq(1, 1)), "convolutionMode" -> mode(call),
      "avgPoolIncludePadInDivisor" -> JBool(false), "eps" -> JDouble(1e-8), "pnorm" -> JInt(0),
      "cnn2dDataFormat" -> JString("NHWC")), Array.empty)
  }

  def globalPooling(call: Call): Converted = {
    val kind = if (call.layer.className.startsWith("GlobalMax")) "MAX" else "AVG"
    // Every position axis of DL4J's NHWC images ([1, 2]) or NWC sequences ([1]).
    val positions = if (call.input.size == 3) Seq(1, 2) else Seq(1)
    Layer(layer("GlobalPoolingLayer", call, "poolingType" -> JString(kind), "poolingDimensions" -> ints(positions),
      "collapseDimensions" -> JBool(true), "pnorm" -> JInt(2)), Array.empty)
  }
}
