package bigwrap.spec

import bigwrap.api.BigwrapException
import com.intel.analytics.bigdl.dllib.nn.Graph
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * One call of a layer: the tensor references it takes and, for a call with named tensors (spec version 2,
 * `{"inputs": {name: ref}, "arguments": {...}}`), their names and the call's non-tensor arguments.
 */
final case class CallSpec(refs: Seq[String], names: Seq[String] = Nil, arguments: JObject = JObject())

/** One layer of the spec: its Keras-style class, unique name, constructor config, and calls. */
final case class LayerSpec(className: String, name: String, config: JObject, inbound: Seq[CallSpec]) {
  private implicit val formats: Formats = DefaultFormats

  def has(key: String): Boolean = config.values.contains(key) && config \ key != JNull

  def int(key: String): Int = field(key)(_.extract[Int])
  def double(key: String): Double = field(key)(_.extract[Double])
  def bool(key: String): Boolean = field(key)(_.extract[Boolean])
  def string(key: String): String = field(key)(_.extract[String])
  def ints(key: String): Seq[Int] = field(key)(_.extract[Seq[Int]])
  def intPairs(key: String): Seq[Seq[Int]] = field(key)(_.extract[Seq[Seq[Int]]])
  def optString(key: String): Option[String] = if (has(key)) Some(string(key)) else None

  /** Keras' `trainable` (absent means true): a frozen layer's weights never change in training. */
  def trainable: Boolean = !has("trainable") || bool("trainable")

  private def field[A](key: String)(read: JValue => A): A = {
    val value = config \ key
    if (value == JNothing) {
      throw BigwrapException.valueError(s"layer '$name' ($className): the spec has no `$key` in its config")
    }
    try read(value) catch {
      case _: MappingException => throw BigwrapException.valueError(
        s"layer '$name' ($className): config `$key` has an unexpected value ${JsonMethods.compact(value)}")
    }
  }
}

/**
 * The model spec (docs/spec.md): the graph only, never weights. A tensor reference is a layer name
 * (the output of that layer's first call) or "name@k" (the output of its k-th call, from 0).
 */
final case class ModelSpec(name: String, layers: Seq[LayerSpec], inputs: Seq[String], outputs: Seq[String])

object ModelSpec {
  val Format = "bigwrap.model"
  /** 2 added calls with named tensors; a spec without them is written as version 1. */
  val SupportedVersions: Set[Int] = Set(1, 2)
  private implicit val formats: Formats = DefaultFormats

  /**
   * The BigDL graph a spec JSON describes, for users who want BigDL directly: inputs and outputs as in
   * the spec (images channels-last), weights from BigDL's initialisation of each layer. A trained
   * model's graph: `bigwrap.ml.BigwrapModel.load(path).toBigDL`.
   */
  def fromJson(json: String): Graph[Float] = ModelBuilder.build(json).module

  /** The spec JSON parsed and checked (format, version, unique layer names); layers are built by ModelBuilder. */
  def parse(json: String): ModelSpec = {
    val root = try JsonMethods.parse(json) catch {
      case e: Exception => throw BigwrapException.valueError(s"the model spec is not valid JSON: ${e.getMessage}")
    }
    val format = (root \ "format").extractOpt[String]
    BigwrapException.require(format.contains(Format),
      s"""not a bigwrap model spec: expected "format": "$Format", got ${format.getOrElse("nothing")}""")
    val version = (root \ "version").extractOpt[Int].getOrElse(-1)
    BigwrapException.require(SupportedVersions.contains(version),
      s"model spec version $version is not supported by this bigwrap (supported: ${SupportedVersions.mkString(", ")})")
    val layers = (root \ "layers").extractOpt[List[JObject]].getOrElse(Nil).map { layer =>
      LayerSpec(
        className = (layer \ "class_name").extract[String],
        name = (layer \ "name").extract[String],
        config = (layer \ "config").extractOpt[JObject].getOrElse(JObject()),
        inbound = (layer \ "inbound").extractOpt[List[JValue]].getOrElse(Nil).map(call(_, version)))
    }
    BigwrapException.require(layers.nonEmpty, "the model spec has no layers")
    val duplicated = layers.groupBy(_.name).collect { case (n, ls) if ls.size > 1 => n }
    BigwrapException.require(duplicated.isEmpty, s"layer names must be unique; repeated: ${duplicated.mkString(", ")}")
    ModelSpec(
      name = (root \ "name").extractOpt[String].getOrElse("model"),
      layers = layers,
      inputs = (root \ "inputs").extract[List[String]],
      outputs = (root \ "outputs").extract[List[String]])
  }

  private def call(value: JValue, version: Int): CallSpec = value match {
    case JArray(refs) => CallSpec(refs.map(_.extract[String]))
    case JObject(_) if version >= 2 =>
      val inputs = (value \ "inputs") match {
        case JObject(fields) => fields.map { case (name, ref) => name -> ref.extract[String] }
        case _ => throw BigwrapException.valueError(s"a call with named tensors needs `inputs`: ${JsonMethods.compact(value)}")
      }
      val arguments = (value \ "arguments") match {
        case o: JObject => o
        case _ => JObject()
      }
      CallSpec(inputs.map(_._2), inputs.map(_._1), arguments)
    case other => throw BigwrapException.valueError(s"spec version $version: a call in `inbound` must be a list of " +
      s"tensor references${if (version >= 2) " or {\"inputs\": ..., \"arguments\": ...}" else ""}, got ${JsonMethods.compact(other)}")
  }
}
