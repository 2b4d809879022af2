package org.apache.spark.bigwrap

import org.apache.spark.ml.image.ImageSchema
import org.apache.spark.sql.Row

/** Spark's own image decoder (`private[spark]`), so that image files read as bytes decode exactly as the `image` data source decodes them. */
object ImageDecoder {
  /** The image struct (origin, height, width, nChannels, mode, data as BGR(A) bytes), or None if undecodable. */
  def decode(origin: String, bytes: Array[Byte]): Option[Row] = ImageSchema.decode(origin, bytes).map(_.getStruct(0))
}
