package bigwrap.spec

import scala.util.DynamicVariable

import bigwrap.api.BigwrapException
import bigwrap.nn.NativeKernels
import org.json4s._
import org.json4s.jackson.JsonMethods

/**
 * Which kernels Dense and Conv2D are built on: BigDL's, or bigwrap's native ones (native/) in fp32 or bf16.
 * It is a build option, not part of the spec: the same spec and weights train and predict on either.
 */
final case class KernelChoice(native: Boolean, bf16: Boolean) {
  def kernels: String = if (native) "native" else "bigdl"
  def precision: String = if (bf16) "bf16" else "fp32"
  def toJson: String = JsonMethods.compact(JObject("kernels" -> JString(kernels), "precision" -> JString(precision)))
}

object KernelChoice {
  val BigDL: KernelChoice = KernelChoice(native = false, bf16 = false)
  /** The stages' default kernels and precision, which Python reads (the faster at equal accuracy, bench/native.py). */
  val Default: KernelChoice = KernelChoice(native = true, bf16 = false)
  val Kernels: Seq[String] = Seq("native", "bigdl")
  val Precisions: Seq[String] = Seq("fp32", "bf16")
  private val building = new DynamicVariable[KernelChoice](Default)

  /** `{"kernels": "native"|"bigdl", "precision": "fp32"|"bf16"}`; an absent key takes Default's value. */
  def fromJson(value: JValue): KernelChoice = {
    def field(key: String, allowed: Seq[String]): String = value \ key match {
      case JNothing | JNull => allowed.head
      case JString(s) if allowed.contains(s) => s
      case other => throw BigwrapException.valueError(
        s"$key must be one of ${allowed.map("'" + _ + "'").mkString(", ")}, got ${JsonMethods.compact(other)}")
    }
    val native = field("kernels", Kernels) == "native"
    val bf16 = field("precision", Precisions) == "bf16"
    BigwrapException.require(native || !bf16, "precision='bf16' needs kernels='native' (BigDL's kernels are fp32)")
    KernelChoice(native, bf16)
  }

  def fromJson(json: String): KernelChoice = fromJson(JsonMethods.parse(json))

  /** Runs `body` (a model build) with `choice` in force for the layer builders. */
  def during[A](choice: KernelChoice)(body: => A): A = building.withValue(choice)(body)

  /** The choice of the build in progress; native kernels only where this JVM loaded the library. */
  def inForce: KernelChoice = {
    val choice = building.value
    if (choice.native && !NativeKernels.available) BigDL else choice
  }
}
