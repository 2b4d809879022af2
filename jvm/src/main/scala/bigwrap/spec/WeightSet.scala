package bigwrap.spec

import java.nio.{ByteBuffer, ByteOrder}
import java.nio.channels.FileChannel
import java.nio.file.{Paths, StandardOpenOption}

import bigwrap.api.BigwrapException
import org.json4s._
import org.json4s.jackson.JsonMethods

/** One named weight tensor in Keras layout, at `offset` floats into the flat data. */
final case class WeightEntry(layer: String, name: String, shape: Seq[Int], offset: Long) {
  def size: Int = shape.product
}

/**
 * All weights of a model as one flat float32 array plus an index: the bulk form in which weights
 * cross the Py4J bridge and the form they take on disk (index JSON + little-endian float32 file).
 */
final case class WeightSet(entries: Seq[WeightEntry], data: Array[Float]) {
  def indexJson: String = {
    val items = entries.map { e =>
      JObject("layer" -> JString(e.layer), "name" -> JString(e.name),
        "shape" -> JArray(e.shape.map(d => JInt(d)).toList), "offset" -> JInt(e.offset))
    }
    JsonMethods.compact(JObject("dtype" -> JString("float32"), "byte_order" -> JString("little"),
      "weights" -> JArray(items.toList)))
  }

  def bytes: Array[Byte] = WeightSet.toBytes(data)

  def toPython: FloatsOut = new FloatsOut(data)
}

/**
 * Floats on their way to Python (weights, predictions, gradients): Python takes `bytes` when they are few and
 * otherwise has them written to a file, because Py4J decodes a byte array one byte at a time in Python.
 */
final class FloatsOut(data: Array[Float]) {
  def byteCount: Long = data.length * 4L

  def bytes: Array[Byte] = WeightSet.toBytes(data)

  /** The data as a raw little-endian float32 file at `path` (`WeightSet.fromFile` reads it), in 4 MB chunks. */
  def writeFile(path: String): Unit = {
    val channel = FileChannel.open(Paths.get(path), StandardOpenOption.WRITE, StandardOpenOption.CREATE,
      StandardOpenOption.TRUNCATE_EXISTING)
    try {
      val buffer = ByteBuffer.allocate(1 << 22).order(ByteOrder.LITTLE_ENDIAN)
      var written = 0
      while (written < data.length) {
        val n = math.min(buffer.capacity / 4, data.length - written)
        buffer.clear()
        buffer.asFloatBuffer().put(data, written, n)
        buffer.limit(n * 4)
        while (buffer.hasRemaining) channel.write(buffer)
        written += n
      }
    } finally channel.close()
  }
}

object WeightSet {
  /** Little-endian float32 bytes, the layout of every tensor crossing the bridge (design §2), and back. */
  def toBytes(values: Array[Float]): Array[Byte] = {
    val buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN)
    buffer.asFloatBuffer().put(values)
    buffer.array()
  }

  def floats(bytes: Array[Byte]): Array[Float] = {
    val values = new Array[Float](bytes.length / 4)
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values)
    values
  }
  private implicit val formats: Formats = DefaultFormats

  def fromArrays(entries: Seq[(String, String, Seq[Int], Array[Float])]): WeightSet = {
    val offsets = entries.scanLeft(0L)((acc, e) => acc + e._4.length)
    val data = new Array[Float](offsets.last.toInt)
    val index = entries.zip(offsets).map { case ((layer, name, shape, values), offset) =>
      System.arraycopy(values, 0, data, offset.toInt, values.length)
      WeightEntry(layer, name, shape, offset)
    }
    WeightSet(index, data)
  }

  def fromBytes(indexJson: String, bytes: Array[Byte]): WeightSet = {
    BigwrapException.require(bytes.length % 4 == 0, s"weight data has ${bytes.length} bytes, not a whole number of float32")
    indexed(indexJson, floats(bytes))
  }

  /** Weights whose data is the raw little-endian float32 file at `path` (as persistence writes weights.bin). */
  def fromFile(indexJson: String, path: String): WeightSet = indexed(indexJson, readFloats(path))

  /** The raw little-endian float32 file at `path` (FloatsOut.writeFile writes one), read in 4 MB chunks. */
  def readFloats(path: String): Array[Float] = {
    val channel = FileChannel.open(Paths.get(path), StandardOpenOption.READ)
    try {
      val size = channel.size()
      BigwrapException.require(size % 4 == 0, s"float32 file $path has $size bytes, not a whole number of float32")
      BigwrapException.require(size / 4 < Int.MaxValue,
        s"float32 file $path holds ${size / 4} floats; a JVM array holds at most ${Int.MaxValue - 1}")
      val data = new Array[Float]((size / 4).toInt)
      val buffer = ByteBuffer.allocate(1 << 22).order(ByteOrder.LITTLE_ENDIAN)
      var filled = 0
      while (filled < data.length) {
        buffer.clear()
        while (buffer.hasRemaining && channel.read(buffer) >= 0) {}
        buffer.flip()
        val floats = buffer.asFloatBuffer()
        BigwrapException.require(floats.hasRemaining, s"float32 file $path ended early")
        val n = floats.remaining()
        floats.get(data, filled, n)
        filled += n
      }
      data
    } finally channel.close()
  }

  private def indexed(indexJson: String, data: Array[Float]): WeightSet = {
    val root = JsonMethods.parse(indexJson)
    val entries = (root \ "weights").extract[List[JObject]].map { w =>
      WeightEntry((w \ "layer").extract[String], (w \ "name").extract[String],
        (w \ "shape").extract[List[Int]], (w \ "offset").extract[Long])
    }
    entries.foreach { e =>
      BigwrapException.require(e.offset + e.size <= data.length,
        s"weight ${e.layer}/${e.name} runs past the end of the weight data: it needs values ${e.offset}..${e.offset + e.size}, " +
        s"the data holds ${data.length}")
    }
    WeightSet(entries, data)
  }
}
