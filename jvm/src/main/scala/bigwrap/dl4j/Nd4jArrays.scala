package bigwrap.dl4j

import java.io.{BufferedOutputStream, DataOutputStream, OutputStream}

/**
 * ND4J's binary array format (`Nd4j.write`, what ModelSerializer stores as coefficients.bin), written without
 * ND4J: a shape-information buffer then a data buffer, each `writeUTF(allocation mode)`, an int64 length,
 * `writeUTF(data type)` and big-endian elements (bigwrap/importers/dl4j/nd4j.py reads the same format).
 */
private[dl4j] object Nd4jArrays {
  private val Mode = "MIXED_DATA_TYPES"
  // ND4J's shape-information "extras" flag for a FLOAT array (ArrayOptionsHelper).
  private val FloatFlag = 8192L
  private val COrder = 'c'.toLong

  /** `values` as a [1, n] float32 row vector, the shape DL4J gives its flat parameter vector. */
  def writeRow(values: Array[Float], out: OutputStream): Unit = {
    val data = new DataOutputStream(new BufferedOutputStream(out, 1 << 16))
    val n = values.length.toLong
    val shapeInfo = Array(2L, 1L, n, n, 1L, FloatFlag, 1L, COrder)
    data.writeUTF(Mode)
    data.writeLong(shapeInfo.length.toLong)
    data.writeUTF("LONG")
    shapeInfo.foreach(data.writeLong)
    data.writeUTF(Mode)
    data.writeLong(n)
    data.writeUTF("FLOAT")
    values.foreach(data.writeFloat)
    data.flush()
  }
}
