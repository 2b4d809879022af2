package bigwrap.features

import bigwrap.api.BigwrapException
import org.apache.spark.bigwrap.ImageDecoder
import org.apache.spark.ml.image.ImageSchema
import org.apache.spark.sql.{DataFrame, Row}
import org.apache.spark.sql.functions.{col, udf}
import org.apache.spark.sql.types.{BinaryType, StructType}

/**
 * How an image becomes model input: `height` × `width` (bilinear, half-pixel centres), `channels`
 * 1 (luma, ITU-R 601 weights) or 3 in `rgb` order (else BGR), values v·scale, then (v - mean) / std per channel.
 */
final case class ImageSpec(height: Int, width: Int, channels: Int, rgb: Boolean, scale: Float, mean: Array[Float],
    std: Array[Float])

/** Image struct columns (Spark's `image` data source) or encoded bytes (`binaryFile`) → channels-last float arrays. */
object Images {
  /** Adds `outputCol`: array<float> of height·width·channels values, channels-last; null for a null or undecodable image. */
  def transform(df: DataFrame, inputCol: String, outputCol: String, spec: ImageSpec): DataFrame = {
    val convert = df.schema(inputCol).dataType match {
      case struct: StructType if struct.fieldNames.sameElements(ImageSchema.imageFields) =>
        udf((image: Row) => if (image == null) null else fromStruct(image, spec))
      case BinaryType => udf((bytes: Array[Byte]) =>
        if (bytes == null) null else ImageDecoder.decode("", bytes).map(fromStruct(_, spec)).orNull)
      case other => throw BigwrapException.typeError(s"image column '$inputCol' has type ${other.simpleString}; " +
        "ImageTransformer reads the `image` column of spark.read.format('image') or the `content` column of " +
        "spark.read.format('binaryFile')")
    }
    df.withColumn(outputCol, convert(col(inputCol)))
  }

  /** A decoded image struct in Spark's image schema: origin, height, width, nChannels, mode, BGR(A) bytes row-major. */
  def fromStruct(image: Row, spec: ImageSpec): Array[Float] = {
    val height = image.getInt(1)
    val width = image.getInt(2)
    val sourceChannels = image.getInt(3)
    val data = image.getAs[Array[Byte]](5)
    if (height <= 0 || width <= 0 || data == null || data.length != height * width * sourceChannels) return null
    val pixels = toChannels(data, height * width, sourceChannels, spec)
    val resized = resize(pixels, height, width, spec.height, spec.width, spec.channels)
    var i = 0
    while (i < resized.length) {
      val c = i % spec.channels
      resized(i) = (resized(i) * spec.scale - spec.mean(c)) / spec.std(c)
      i += 1
    }
    resized
  }

  /** BGR(A) or gray bytes → `spec.channels` floats per pixel in the requested order (alpha dropped). */
  private def toChannels(data: Array[Byte], pixels: Int, source: Int, spec: ImageSpec): Array[Float] = {
    val out = new Array[Float](pixels * spec.channels)
    var p = 0
    while (p < pixels) {
      def at(k: Int): Float = (data(p * source + k) & 0xff).toFloat
      val (b, g, r) = if (source == 1) (at(0), at(0), at(0)) else (at(0), at(1), at(2))
      if (spec.channels == 1) out(p) = if (source == 1) b else 0.299f * r + 0.587f * g + 0.114f * b
      else {
        out(p * 3) = if (spec.rgb) r else b
        out(p * 3 + 1) = g
        out(p * 3 + 2) = if (spec.rgb) b else r
      }
      p += 1
    }
    out
  }

  /** Bilinear resampling with half-pixel centres (OpenCV's INTER_LINEAR, PyTorch's align_corners=False). */
  def resize(in: Array[Float], h: Int, w: Int, outH: Int, outW: Int, channels: Int): Array[Float] = {
    if (h == outH && w == outW) return in
    val out = new Array[Float](outH * outW * channels)
    def source(o: Int, size: Int, outSize: Int): (Int, Int, Float) = {
      val s = math.max((o + 0.5f) * size / outSize - 0.5f, 0f)
      val lo = math.min(s.toInt, size - 1)
      (lo, math.min(lo + 1, size - 1), s - lo)
    }
    for (y <- 0 until outH) {
      val (y0, y1, fy) = source(y, h, outH)
      for (x <- 0 until outW) {
        val (x0, x1, fx) = source(x, w, outW)
        for (c <- 0 until channels) {
          def v(yy: Int, xx: Int) = in((yy * w + xx) * channels + c)
          val top = v(y0, x0) * (1 - fx) + v(y0, x1) * fx
          val bottom = v(y1, x0) * (1 - fx) + v(y1, x1) * fx
          out((y * outW + x) * channels + c) = top * (1 - fy) + bottom * fy
        }
      }
    }
    out
  }
}
