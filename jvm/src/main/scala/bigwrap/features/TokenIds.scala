package bigwrap.features

import org.apache.spark.sql.DataFrame
import org.apache.spark.sql.functions.{col, udf}

/**
 * Token arrays → fixed-length id sequences with a fitted vocabulary, where `vocabulary(i)` has id i:
 * id 0 pads, id 1 stands for every token outside the vocabulary (Keras' TextVectorization ids).
 */
object TokenIds {
  val Padding = 0
  val OutOfVocabulary = 1

  /** Adds `outputCol`: array<int> of `maxLength` ids; null where the tokens are null. */
  def transform(df: DataFrame, inputCol: String, outputCol: String, vocabulary: Array[String], maxLength: Int,
      padStart: Boolean, truncateStart: Boolean): DataFrame = {
    // Broadcast once, not shipped inside every task's closure: vocabularies run to many thousands of tokens.
    val ids = df.sparkSession.sparkContext.broadcast(vocabulary.zipWithIndex.drop(2).toMap)
    val encode = udf((tokens: Seq[String]) =>
      if (tokens == null) null else TokenIds.encode(tokens, ids.value, maxLength, padStart, truncateStart))
    df.withColumn(outputCol, encode(col(inputCol)))
  }

  def encode(tokens: Seq[String], ids: Map[String, Int], maxLength: Int, padStart: Boolean,
      truncateStart: Boolean): Array[Int] = {
    val kept = if (truncateStart) tokens.takeRight(maxLength) else tokens.take(maxLength)
    val out = Array.fill(maxLength)(Padding)
    val start = if (padStart) maxLength - kept.length else 0
    kept.zipWithIndex.foreach { case (token, i) => out(start + i) = ids.getOrElse(token, OutOfVocabulary) }
    out
  }
}
