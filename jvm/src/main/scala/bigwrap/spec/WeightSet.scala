package bigwrap.spec

import java.nio.{ByteBuffer, ByteOrder}

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
  def slice(e: WeightEntry): Array[Float] = java.util.Arrays.copyOfRange(data, e.offset.toInt, e.offset.toInt + e.size)

  def indexJson: String = {
    val items = entries.map { e =>
      JObject("layer" -> JString(e.layer), "name" -> JString(e.name),
        "shape" -> JArray(e.shape.map(d => JInt(d)).toList), "offset" -> JInt(e.offset))
    }
    JsonMethods.compact(JObject("dtype" -> JString("float32"), "byte_order" -> JString("little"),
      "weights" -> JArray(items.toList)))
  }

  def bytes: Array[Byte] = {
    val buffer = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN)
    buffer.asFloatBuffer().put(data)
    buffer.array()
  }
}

object WeightSet {
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
    val root = JsonMethods.parse(indexJson)
    val entries = (root \ "weights").extract[List[JObject]].map { w =>
      WeightEntry((w \ "layer").extract[String], (w \ "name").extract[String],
        (w \ "shape").extract[List[Int]], (w \ "offset").extract[Long])
    }
    BigwrapException.require(bytes.length % 4 == 0, s"weight data has ${bytes.length} bytes, not a whole number of float32")
    val data = new Array[Float](bytes.length / 4)
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(data)
    entries.foreach { e =>
      BigwrapException.require(e.offset + e.size <= data.length,
        s"weight ${e.layer}/${e.name} runs past the end of the weight data")
    }
    WeightSet(entries, data)
  }
}
