package bigwrap.api

import bigwrap.features.{Images, TokenIds}
import org.apache.spark.sql.DataFrame

/** The data preparation stages' JVM work: images to arrays, tokens to padded ids. */
private[api] object DataPrep {
  /** Adds a column of channels-last float arrays decoded from an image struct or binary column (ImageTransformer). */
  def imagesToArrays(df: DataFrame, config: ImagesConfig): DataFrame =
    Images.transform(df, config.inputCol, config.outputCol, config.image)

  /** Adds a column of padded token-id sequences from a token-array column (TokenSequencerModel). */
  def tokensToIds(df: DataFrame, c: TokensConfig): DataFrame =
    TokenIds.transform(df, c.inputCol, c.outputCol, c.vocabulary, c.maxLength, c.padBefore, c.truncateBefore)
}
