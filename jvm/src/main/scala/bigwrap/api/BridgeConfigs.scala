package bigwrap.api

import scala.collection.mutable

import bigwrap.features.ImageSpec
import bigwrap.infer.Predictions
import bigwrap.spec.WeightSet
import bigwrap.train.ResumeConfig
import org.json4s._
import org.json4s.jackson.JsonMethods

/** `fit`: the run's id (progress and cancel use it) and the checkpoint it resumes from; the rest is the estimator's. */
final case class FitRequest(runId: String, resume: Option[ResumeConfig])

/** `evaluate`: the loss and metrics of a model on a DataFrame, as validation computes them. */
final case class EvaluateConfig(loss: JObject, metrics: Seq[String], featuresCols: Seq[String], labelCol: String,
    batchSize: Int)

/** `transform`: a model's prediction (and probability) columns. */
final case class TransformConfig(featuresCols: Seq[String], predictions: Predictions, batchSize: Int)

/** `registerUdf`: a SQL function returning `output` ("prediction" or "probability"). */
final case class UdfConfig(predictions: Predictions, output: String, batchSize: Int)

/** `featurize`: a model's output flattened into the vector column `outputCol`. */
final case class FeaturizeConfig(featuresCols: Seq[String], outputCol: String, batchSize: Int)

/** `imagesToArrays`: decoded images as channels-last float arrays. */
final case class ImagesConfig(inputCol: String, outputCol: String, image: ImageSpec)

/** `tokensToIds`: token arrays as padded id sequences. */
final case class TokensConfig(inputCol: String, outputCol: String, vocabulary: Array[String], maxLength: Int,
    padBefore: Boolean, truncateBefore: Boolean)

/**
 * Every JSON config that crosses the bridge, parsed here into its case class (design §2). A missing
 * key, a key no call reads, or a value of the wrong type is an error naming the call and the key:
 * the two sides never disagree silently.
 */
object BridgeConfigs {
  private implicit val formats: Formats = DefaultFormats

  /** The fields of one config; `done` refuses the keys nothing read. */
  private final class Fields(call: String, json: JValue) {
    private val fields = json match {
      case JObject(entries) => entries.toMap
      case other => fail(s"the config is not a JSON object: ${JsonMethods.compact(other)}")
    }
    private val read = mutable.Set[String]()

    private def fail(problem: String): Nothing = throw BigwrapException.valueError(s"$call: $problem")

    def opt[A: Manifest](key: String): Option[A] = {
      read += key
      fields.get(key).filter(_ != JNull).map(value => try value.extract[A] catch {
        case _: Exception => fail(s"config key '$key' has the wrong type: ${JsonMethods.compact(value)}")
      })
    }

    def apply[A: Manifest](key: String): A = opt[A](key).getOrElse(fail(s"config key '$key' is missing"))

    def columns(key: String): Seq[String] = apply[JValue](key) match {
      case JString(column) => Seq(column)
      case other => other.extract[List[String]]
    }

    def done[A](value: A): A = {
      val unknown = fields.keySet -- read
      if (unknown.nonEmpty) fail(s"unknown config key(s) ${unknown.toSeq.sorted.map("'" + _ + "'").mkString(", ")}")
      value
    }
  }

  private def parse[A](call: String, json: String)(build: Fields => A): A = {
    val fields = new Fields(call, JsonMethods.parse(json))
    fields.done(build(fields))
  }

  private def predictions(f: Fields, columns: Boolean): Predictions = Predictions(f[String]("task"),
    f[Boolean]("from_logits"), if (columns) f[String]("prediction_col") else "prediction",
    if (columns) f[String]("probability_col") else "probability")

  /** Weights sent inline, or (when large: see Python's Bridge.sending) in the raw float32 file `path`; None for
   * neither. */
  def weights(indexJson: String, bytes: Array[Byte], path: String): Option[WeightSet] =
    Option(bytes).map(WeightSet.fromBytes(indexJson, _)).orElse(Option(path).map(WeightSet.fromFile(indexJson, _)))

  /** Floats sent inline, or (when large: see Python's Bridge.sending) in the raw float32 file `path`. */
  def floats(bytes: Array[Byte], path: String): Array[Float] =
    if (bytes != null) WeightSet.floats(bytes) else WeightSet.readFloats(path)

  def fit(json: String): FitRequest = parse("fit", json) { f =>
    FitRequest(f[String]("run_id"), f.opt[JValue]("resume").map { r =>
      val resume = new Fields("fit resume", r)
      resume.done(ResumeConfig(resume[String]("dir"), resume[Int]("epoch"), resume[Int]("iteration"),
        resume[List[JObject]]("history")))
    })
  }

  def evaluate(json: String): EvaluateConfig = parse("evaluate", json) { f =>
    EvaluateConfig(f[JObject]("loss"), f[List[String]]("metrics"), f.columns("features_col"), f[String]("label_col"),
      f[Int]("batch_size"))
  }

  def transform(json: String): TransformConfig = parse("transform", json) { f =>
    TransformConfig(f.columns("features_col"), predictions(f, columns = true), f[Int]("batch_size"))
  }

  def udf(json: String): UdfConfig = parse("registerUdf", json) { f =>
    UdfConfig(predictions(f, columns = false), f[String]("output"), f[Int]("batch_size"))
  }

  def featurize(json: String): FeaturizeConfig = parse("featurize", json) { f =>
    FeaturizeConfig(f.columns("features_col"), f[String]("output_col"), f[Int]("batch_size"))
  }

  def images(json: String): ImagesConfig = parse("imagesToArrays", json) { f =>
    val channels = f[Int]("channels")
    def perChannel(key: String, default: Float): Array[Float] =
      f.opt[List[Double]](key).map(_.map(_.toFloat).toArray).getOrElse(Array.fill(channels)(default))
    ImagesConfig(f[String]("input_col"), f[String]("output_col"), ImageSpec(f[Int]("height"), f[Int]("width"),
      channels, f[String]("channel_order") == "RGB", f[Double]("scale").toFloat, perChannel("mean", 0f),
      perChannel("std", 1f)))
  }

  def tokens(json: String): TokensConfig = parse("tokensToIds", json) { f =>
    TokensConfig(f[String]("input_col"), f[String]("output_col"), f[Array[String]]("vocabulary"),
      f[Int]("max_length"), f[String]("padding") == "pre", f[String]("truncating") == "pre")
  }
}
