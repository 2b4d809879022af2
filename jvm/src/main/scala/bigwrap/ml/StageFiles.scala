package bigwrap.ml

import java.nio.charset.StandardCharsets

import scala.util.control.NonFatal

import bigwrap.api.BigwrapException
import bigwrap.io.{Location, Storage}
import bigwrap.spec.WeightSet
import org.json4s._
import org.json4s.jackson.JsonMethods

/** A model as it is saved: the spec JSON and the weights (docs/spec.md). */
final case class SavedModel(specJson: String, weights: WeightSet, specFile: Option[String] = None)

/**
 * A saved bigwrap stage (docs/persistence.md): Spark ML metadata JSON, the model, and for a fitted
 * model its training history (history.json, kept as it was written), for a Python stage its learned state.
 */
final case class SavedStage(metadata: JObject, model: Option[SavedModel], history: Option[JValue],
                            state: Option[JValue] = None) {
  private implicit val formats: Formats = DefaultFormats

  def uid: String = (metadata \ "uid").extract[String]
  def paramMap: JValue = metadata \ "paramMap"
}

/** The one reader and writer of saved stages' directories, Scala's and Python's (through the bridge), on any store (bigwrap.io). */
object StageFiles {
  private implicit val formats: Formats = DefaultFormats
  val Format = "bigwrap.stage"
  val Version = 1
  val ModelClass = "bigwrap.ml.BigwrapModel"
  val EstimatorClass = "bigwrap.ml.BigwrapEstimator"
  /** The Python module paths bigwrap 0.1 wrote as "class"; they name the same stages. */
  private val LegacyClasses = Map("bigwrap.fitted.EstimatorModel" -> ModelClass, "bigwrap.estimator.Estimator" -> EstimatorClass)

  /** A Python pickle (0x80, protocol 2-5) or a Java serialization stream, by its first bytes. */
  private[ml] def foreignObject(bytes: Array[Byte]): Option[String] =
    if (bytes.length >= 2 && (bytes(0) & 0xff) == 0x80 && bytes(1) >= 2 && bytes(1) <= 5) Some("a Python pickle")
    else if (bytes.length >= 4 && bytes.take(4).sameElements(Array(0xac, 0xed, 0x00, 0x05).map(_.toByte))) {
      Some("a Java-serialized object")
    } else None

  /** How load errors start: what was being loaded, and from where. */
  def loading(className: String, path: String): String = s"cannot load a ${className.split('.').last} from ${Storage.resolve(path)}"

  private[ml] def describe(e: Throwable): String =
    Option(e.getMessage).flatMap(_.linesIterator.toStream.headOption).getOrElse(e.getClass.getSimpleName)

  private[ml] val MetadataFile = "metadata/part-00000"

  /** The stage saved at `path`, which must hold a `expectedClass`; any problem names the path and the file. */
  def read(path: String, expectedClass: String): SavedStage = {
    val target = Storage.resolve(path)
    def fail(problem: String, error: String => BigwrapException = BigwrapException.valueError): Nothing =
      throw error(s"${loading(expectedClass, path)}: $problem")
    lazy val root: Location = Storage.complete(target).getOrElse {
      if (!target.exists) {
        fail(s"no saved bigwrap stage at $target: the path does not exist (no such directory)", BigwrapException.fileNotFound)
      }
      if (target.isFile) fail(s"$target is a file, not a saved bigwrap stage (a directory)")
      fail(Storage.incomplete(target))
    }
    val files = new SavedFiles(root, fail(_))
    import files.{json, parsed, refuse, text}
    if (!root.child(MetadataFile).isFile) {
      val children = root.children  // one listing: on an object store each is a request
      children.filter(_.isFile).foreach(f => foreignObject(f.readBytes()).foreach(refuse(f.name, _)))
      val present = children.map(_.name).filter(_ != Storage.ManifestName).sorted
      val holds = if (present.isEmpty) "nothing" else present.map(n => s"'$n'").mkString("[", ", ", "]")
      fail(s"$root is not a saved bigwrap stage: it has no $MetadataFile (it holds $holds)")
    }
    val metadata = text(MetadataFile).linesIterator.find(_.trim.nonEmpty).map(parsed(MetadataFile, _)) match {
      case Some(obj: JObject) => obj
      case _ => fail(s"$MetadataFile does not hold Spark ML metadata JSON")
    }
    val stageClass = (metadata \ "class").extractOpt[String].getOrElse(fail("the metadata has no \"class\""))
    if ((metadata \ "uid").extractOpt[String].isEmpty) fail("the metadata has no \"uid\"")
    val info = metadata \ "bigwrap"
    if (info == JNothing) fail(s"it holds a $stageClass, not a bigwrap stage")
    val format = (info \ "format").extractOpt[String]
    val version = (info \ "version").extractOpt[Int]
    if (!format.contains(Format) || !version.contains(Version)) {
      fail(s"$root is not a saved bigwrap stage this version reads (format ${format.map(f => s"'$f'").getOrElse("None")}, " +
        s"version ${version.getOrElse("None")}); this bigwrap reads $Format version $Version")
    }
    if (LegacyClasses.getOrElse(stageClass, stageClass) != expectedClass)
      fail(s"it holds a $stageClass, not a $expectedClass")
    val model = (info \ "model").extractOpt[String].map(dir => files.model(s"$dir/"))
    val state = (info \ "state").extractOpt[String].map(json)
    val history = if (expectedClass == ModelClass) Some(json("history.json")) else None
    SavedStage(metadata, model, history, state)
  }

  /**
   * Writes a stage's files at `path` whole or not at all (Storage.writeDirectory; an existing stage only
   * with `overwrite`): `metadataJson` as metadata/part-00000, the model as (spec, weight index, weights), and
   * the history and learned state, each text as given, where the metadata's "bigwrap" entry says.
   */
  def writeParts(path: String, overwrite: Boolean, metadataJson: String, model: Option[(String, String, WeightSet)],
                 historyJson: Option[String], stateJson: Option[String]): Unit = {
    val root = Storage.resolve(path)
    Storage.restoreInterrupted(root)
    if (!overwrite && root.exists) {
      throw BigwrapException.fileExists(s"$root already exists; use write().overwrite().save(path) to replace it")
    }
    def bytes(text: String) = text.getBytes(StandardCharsets.UTF_8)
    val info = JsonMethods.parse(metadataJson) \ "bigwrap"
    val modelFiles = model.toSeq.flatMap { case (spec, index, weights) =>
      val dir = (info \ "model").extractOpt[String].getOrElse("model")
      Seq(s"$dir/spec.json" -> bytes(spec), s"$dir/weights.json" -> bytes(index), s"$dir/weights.bin" -> weights.bytes)
    }
    val stateFile = stateJson.map(s => (info \ "state").extractOpt[String].getOrElse("state.json") -> bytes(s))
    try Storage.writeDirectory(root, Seq(s"$MetadataFile" -> bytes(metadataJson + "\n"), "metadata/_SUCCESS" -> Array.emptyByteArray) ++
      modelFiles ++ historyJson.map(h => "history.json" -> bytes(h)) ++ stateFile)
    catch { case e: java.io.IOException => throw BigwrapException.osError(s"cannot save at $root: ${describe(e)}", e) }
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

/**
 * The files of a saved directory `root` (a stage, or a checkpoint), each checked as it is read: a missing
 * file, a pickled or Java-serialized object, invalid JSON or weights that do not match their index is
 * `fail`ed with a message naming the file.
 */
private[bigwrap] final class SavedFiles(findRoot: => Location, fail: String => Nothing) {
  private lazy val root = findRoot

  def refuse(name: String, kind: String): Nothing = fail(s"${root.child(name)} holds $kind; bigwrap never loads " +
    "pickled or Java-serialized objects (loading one can run arbitrary code). Save models with bigwrap " +
    "(fitted.save(path)) or import them (bigwrap.from_onnx / from_torch / from_dl4j)")

  def file(name: String): Array[Byte] = {
    val f = root.child(name)
    if (!f.isFile) fail(s"$f is missing: the saved directory is incomplete or was altered")
    f.readBytes()
  }

  def text(name: String): String = {
    val bytes = file(name)
    StageFiles.foreignObject(bytes).foreach(refuse(name, _))
    new String(bytes, StandardCharsets.UTF_8)
  }

  def parsed(name: String, content: String): JValue = try JsonMethods.parse(content) catch {
    case NonFatal(e) => fail(s"${root.child(name)} is corrupted: it is not valid JSON (${StageFiles.describe(e)})" +
      (if (name == StageFiles.MetadataFile) s"; $name does not hold Spark ML metadata JSON" else ""))
  }

  def json(name: String): JValue = parsed(name, text(name))

  /** The spec and weights under `prefix` ("model/", or "" for the root), the weights checked against their index. */
  def model(prefix: String): SavedModel = {
    val spec = text(s"${prefix}spec.json")
    parsed(s"${prefix}spec.json", spec)
    val (indexName, dataName) = (s"${prefix}weights.json", s"${prefix}weights.bin")
    val index = JsonMethods.compact(json(indexName))
    val data = file(dataName)
    def mismatch(problem: String): Nothing = {
      StageFiles.foreignObject(data).foreach(refuse(dataName, _))
      fail(s"${root.child(dataName)} does not match $indexName: $problem; the weights are truncated or corrupted")
    }
    val weights = try WeightSet.fromBytes(index, data) catch { case NonFatal(e) => mismatch(StageFiles.describe(e)) }
    val described = weights.entries.map(_.size.toLong).sum
    if (described != weights.data.length) mismatch(s"the data holds ${weights.data.length} values, the index describes $described")
    SavedModel(spec, weights, Some(root.child(s"${prefix}spec.json").toString))
  }
}
