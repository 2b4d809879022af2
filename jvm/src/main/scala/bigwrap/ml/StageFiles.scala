package bigwrap.ml

import java.nio.charset.StandardCharsets

import scala.util.control.NonFatal

import bigwrap.api.BigwrapException
import bigwrap.io.Storage
import bigwrap.spec.WeightSet
import org.json4s._
import org.json4s.jackson.JsonMethods

/** A model as it is saved: the spec JSON and the weights (docs/spec.md). */
final case class SavedModel(specJson: String, weights: WeightSet)

/**
 * A saved bigwrap stage (docs/persistence.md): Spark ML metadata JSON, the model, and for a fitted
 * model its training history (history.json, kept as it was written).
 */
final case class SavedStage(metadata: JObject, model: Option[SavedModel], history: Option[JValue]) {
  private implicit val formats: Formats = DefaultFormats

  def className: String = StageFiles.canonicalClass((metadata \ "class").extractOpt[String].getOrElse(""))
  def uid: String = (metadata \ "uid").extract[String]
  def paramMap: JValue = metadata \ "paramMap"
  /** The trained model's loss config (models only): it decides the output columns. */
  def loss: JValue = metadata \ "bigwrap" \ "loss"
}

/** Reads and writes the directory layout Python's bigwrap.persistence reads and writes, on any store (bigwrap.io). */
object StageFiles {
  private implicit val formats: Formats = DefaultFormats
  val Format = "bigwrap.stage"
  val Version = 1
  val ModelClass = "bigwrap.ml.BigwrapModel"
  val EstimatorClass = "bigwrap.ml.BigwrapEstimator"
  /** The Python module paths bigwrap 0.1 wrote as "class"; they name the same stages. */
  private val LegacyClasses = Map("bigwrap.fitted.EstimatorModel" -> ModelClass, "bigwrap.estimator.Estimator" -> EstimatorClass)

  def canonicalClass(name: String): String = LegacyClasses.getOrElse(name, name)

  /** A Python pickle (0x80, protocol 2-5) or a Java serialization stream, by its first bytes. */
  private def foreignObject(bytes: Array[Byte]): Option[String] =
    if (bytes.length >= 2 && (bytes(0) & 0xff) == 0x80 && bytes(1) >= 2 && bytes(1) <= 5) Some("a Python pickle")
    else if (bytes.length >= 4 && bytes.take(4).sameElements(Array(0xac, 0xed, 0x00, 0x05).map(_.toByte))) {
      Some("a Java-serialized object")
    } else None

  /** How load errors start: what was being loaded, and from where. */
  def loading(className: String, path: String): String = s"cannot load a ${className.split('.').last} from ${Storage.resolve(path)}"

  private def utf8(bytes: Array[Byte]): String = new String(bytes, StandardCharsets.UTF_8)

  private def describe(e: Throwable): String =
    Option(e.getMessage).flatMap(_.linesIterator.toStream.headOption).getOrElse(e.getClass.getSimpleName)

  /** The stage saved at `path`, which must hold a `expectedClass`; any problem names the path and the file. */
  def read(path: String, expectedClass: String): SavedStage = {
    val target = Storage.resolve(path)
    def fail(problem: String): Nothing = throw BigwrapException.valueError(s"${loading(expectedClass, path)}: $problem")
    val root = Storage.complete(target).getOrElse(fail(Storage.incomplete(target)))
    def file(name: String): Array[Byte] = {
      val f = root.child(name)
      if (!f.isFile) fail(s"$name is missing (the directory is not a complete saved bigwrap stage)")
      f.readBytes()
    }
    def text(name: String): String = {
      val bytes = file(name)
      foreignObject(bytes).foreach(kind => fail(s"$name holds $kind; bigwrap never loads pickled or " +
        "Java-serialized objects (loading one can run arbitrary code)"))
      utf8(bytes)
    }
    def json(name: String): JValue = try JsonMethods.parse(text(name)) catch {
      case e: BigwrapException => throw e
      case NonFatal(e) => fail(s"$name is not valid JSON (${describe(e)})")
    }
    val metadata = text("metadata/part-00000").linesIterator.find(_.trim.nonEmpty)
      .map(line => try JsonMethods.parse(line) catch { case NonFatal(_) => JNothing }) match {
      case Some(obj: JObject) => obj
      case _ => fail("metadata/part-00000 does not hold Spark ML metadata JSON")
    }
    val stageClass = (metadata \ "class").extractOpt[String].getOrElse(fail("the metadata has no \"class\""))
    if ((metadata \ "uid").extractOpt[String].isEmpty) fail("the metadata has no \"uid\"")
    val info = metadata \ "bigwrap"
    if (info == JNothing) fail(s"it holds a $stageClass, not a bigwrap stage")
    val format = (info \ "format").extractOpt[String]
    val version = (info \ "version").extractOpt[Int]
    if (!format.contains(Format) || !version.contains(Version)) {
      fail(s"it is not a saved bigwrap stage this version reads (format ${format.getOrElse("none")}, " +
        s"version ${version.getOrElse("none")}; this bigwrap reads $Format version $Version)")
    }
    if (canonicalClass(stageClass) != expectedClass) fail(s"it holds a $stageClass, not a $expectedClass")
    val model = (info \ "model").extractOpt[String].map { dir =>
      val (index, data) = (text(s"$dir/weights.json"), file(s"$dir/weights.bin"))
      val weights = try WeightSet.fromBytes(index, data) catch {
        case e: BigwrapException => fail(foreignObject(data).map(kind => s"$dir/weights.bin holds $kind")
          .getOrElse(s"$dir/weights.bin does not match $dir/weights.json: ${e.getMessage}"))
        case NonFatal(e) => fail(s"$dir/weights.json is not a weight index (${describe(e)})")
      }
      SavedModel(text(s"$dir/spec.json"), weights)
    }
    val history = if (expectedClass == ModelClass) Some(json("history.json")) else None
    SavedStage(metadata, model, history)
  }

  /** Writes `stage` at `path` whole or not at all (Storage.writeDirectory); an existing stage only with `overwrite`. */
  def write(stage: SavedStage, path: String, overwrite: Boolean): Unit = {
    val root = Storage.resolve(path)
    Storage.restoreInterrupted(root)
    BigwrapException.require(overwrite || !root.exists,
      s"$root already exists; use write.overwrite().save(path) to replace it")
    def bytes(text: String) = text.getBytes(StandardCharsets.UTF_8)
    val info = stage.metadata \ "bigwrap"
    val modelFiles = stage.model.toSeq.flatMap { m =>
      val dir = (info \ "model").extractOpt[String].getOrElse("model")
      Seq(s"$dir/spec.json" -> bytes(m.specJson), s"$dir/weights.json" -> bytes(m.weights.indexJson),
        s"$dir/weights.bin" -> m.weights.bytes)
    }
    Storage.writeDirectory(root, Seq(
      "metadata/part-00000" -> bytes(JsonMethods.compact(stage.metadata) + "\n"),
      "metadata/_SUCCESS" -> Array.emptyByteArray) ++
      modelFiles ++ stage.history.map(h => "history.json" -> bytes(JsonMethods.compact(h))))
  }

  /** Spark ML's metadata object for a bigwrap stage; `extra` goes into its "bigwrap" entry. */
  def metadata(className: String, instance: org.apache.spark.ml.param.Params, extra: JObject): JObject = JObject(
    "class" -> JString(className),
    "timestamp" -> JInt(System.currentTimeMillis()),
    "sparkVersion" -> JString(org.apache.spark.SPARK_VERSION),
    "uid" -> JString(instance.uid),
    "paramMap" -> ParamsJson.paramMap(instance),
    "defaultParamMap" -> ParamsJson.defaultParamMap(instance),
    "bigwrap" -> (JObject("format" -> JString(Format), "version" -> JInt(Version)) merge extra))
}
