package bigwrap.nn

import java.nio.file.{Files, Path}
import java.util.concurrent.atomic.AtomicBoolean

import scala.util.control.NonFatal

import com.intel.analytics.bigdl.mkl.MKL
import org.apache.logging.log4j.LogManager

/** The JNI surface of native/ (native/src/jni.cpp): arrays are tensors' storages, offsets 0-based. */
final class NativeCalls private[nn] {
  @native def info(libraryPath: String): String
  @native def bf16Supported(): Boolean
  @native def setThreads(threads: Int): Unit
  @native def threads(): Int
  /** 0 auto, 1 MKL, 2 oneDNN (kernels.h `Gemm`). */
  @native def setGemm(mode: Int): Unit
  @native def gemmBackend(batch: Int, in: Int, out: Int, bf16: Boolean): String
  /** 0 auto, 1 NHWC, 2 any (kernels.h `ConvLayout`). */
  @native def setConvLayout(mode: Int): Unit
  /** 0 auto, 1 never, 2 always where it applies (kernels.h `ConvDirect`). */
  @native def setConvDirect(mode: Int): Unit
  @native def activationBackward(y: Array[Float], yo: Int, dy: Array[Float], dyo: Int, dz: Array[Float], dzo: Int,
      n: Int, activation: Int): Unit
  @native def denseForward(x: Array[Float], xo: Int, w: Array[Float], wo: Int, w16: Array[Short], b: Array[Float],
      bo: Int, y: Array[Float], yo: Int, batch: Int, in: Int, out: Int, activation: Int, bf16: Boolean): Unit
  @native def denseGradInput(dz: Array[Float], dzo: Int, w: Array[Float], wo: Int, w16: Array[Short],
      dx: Array[Float], dxo: Int, batch: Int, in: Int, out: Int, bf16: Boolean): Unit
  @native def denseGradParams(x: Array[Float], xo: Int, dz: Array[Float], dzo: Int, gw: Array[Float], gwo: Int,
      gb: Array[Float], gbo: Int, batch: Int, in: Int, out: Int, scaleW: Float, scaleB: Float, accumulate: Boolean,
      bf16: Boolean): Unit
  /** `shape`: n, h, w, c, filters, kh, kw, sh, sw, pad top, left, bottom, right, out h, out w. */
  @native def convForward(shape: Array[Int], x: Array[Float], xo: Int, w: Array[Float], wo: Int, b: Array[Float],
      bo: Int, y: Array[Float], yo: Int, activation: Int, bf16: Boolean): Unit
  @native def convGradInput(shape: Array[Int], dz: Array[Float], dzo: Int, w: Array[Float], wo: Int,
      dx: Array[Float], dxo: Int, bf16: Boolean): Unit
  @native def convGradParams(shape: Array[Int], x: Array[Float], xo: Int, dz: Array[Float], dzo: Int,
      gw: Array[Float], gwo: Int, gb: Array[Float], gbo: Int, scaleW: Float, scaleB: Float, bf16: Boolean): Unit
  /**
   * kernels.h `attention_forward`; `dims`: batch, steps, sources, heads, key dim, value dim. `kept` null without
   * dropout; `probabilities` and `kept` from offset 0.
   */
  @native def attentionForward(dims: Array[Int], scale: Float, q: Array[Float], qo: Int, k: Array[Float], ko: Int,
      v: Array[Float], vo: Int, allowed: Array[Boolean], kept: Array[Float], probabilities: Array[Float],
      y: Array[Float], yo: Int): Unit
  /** kernels.h `attention_backward`, after attentionForward on the same inputs; dq, dk, dv from offset 0. */
  @native def attentionBackward(dims: Array[Int], scale: Float, q: Array[Float], qo: Int, k: Array[Float], ko: Int,
      v: Array[Float], vo: Int, allowed: Array[Boolean], kept: Array[Float], probabilities: Array[Float],
      dy: Array[Float], dyo: Int, dq: Array[Float], dk: Array[Float], dv: Array[Float]): Unit
  /**
   * kernels.h `max_pool_tracked`; `shape`: n, h, w, c, pool h, pool w, stride h, stride w, top, left, out h, out w.
   * `sources` from offset 0, indices relative to xo.
   */
  @native def maxPoolTracked(shape: Array[Int], x: Array[Float], xo: Int, y: Array[Float], yo: Int,
      sources: Array[Int]): Unit
  /** kernels.h `layer_norm_forward`; `normalized` and `invStd` from offset 0. */
  @native def layerNormForward(x: Array[Float], xo: Int, gamma: Array[Float], go: Int, beta: Array[Float], bo: Int,
      y: Array[Float], yo: Int, normalized: Array[Float], invStd: Array[Float], rows: Int, size: Int,
      epsilon: Double): Unit
  /** kernels.h `layer_norm_grad_input`; `scratch` holds `size` floats. */
  @native def layerNormGradInput(dy: Array[Float], dyo: Int, gamma: Array[Float], go: Int, normalized: Array[Float],
      invStd: Array[Float], dx: Array[Float], dxo: Int, rows: Int, size: Int, scratch: Array[Float]): Unit
  /** kernels.h `layer_norm_grad_params`. */
  @native def layerNormGradParams(dy: Array[Float], dyo: Int, normalized: Array[Float], gradGamma: Array[Float],
      ggo: Int, gradBeta: Array[Float], gbo: Int, rows: Int, size: Int, scaleGamma: Float, scaleBeta: Float): Unit
  /**
   * kernels.h `sgd_step` on w[wo, wo + n), its gradient parts' arrays read from `offsets` (bigwrap.train.GradientParts);
   * `velocity` null without momentum.
   */
  @native def sgdStep(parts: Array[Array[Float]], offsets: Array[Int], scales: Array[Float], w: Array[Float], wo: Int,
      velocity: Array[Float], n: Int, bound: Float, rate: Float, decay: Float, momentum: Float, nesterov: Boolean): Unit
  /** kernels.h `adam_step` on w[wo, wo + n), as sgdStep. */
  @native def adamStep(parts: Array[Array[Float]], offsets: Array[Int], scales: Array[Float], w: Array[Float], wo: Int,
      m: Array[Float], v: Array[Float], n: Int, bound: Float, shrink: Float, step: Float, beta1: Float, beta2: Float,
      epsilon: Float): Unit
}

/**
 * Loads bigwrap's native kernels once per JVM (design §5), in place: from the path in the system property
 * `bigwrap.native.library` or the environment variable BIGWRAP_NATIVE_LIBRARY ("none" hides the library),
 * else from the first directory of `java.library.path` holding libbigwrap_native.so (bigwrap's Spark
 * settings put the installed package's `native/` there through spark.driver/executor.extraLibraryPath).
 * Its RPATH finds MKL and oneDNN relative to it. When it cannot load, Native* modules run BigDL's kernels
 * instead, and the JVM logs one warning.
 * Dense's GEMM backend is `bigwrap.native.gemm` / BIGWRAP_NATIVE_GEMM: "auto" (each layer shape on whichever
 * of MKL and oneDNN is measured faster on this CPU), "mkl" or "onednn".
 */
object NativeKernels {
  val LibraryProperty = "bigwrap.native.library"
  val LibraryEnv = "BIGWRAP_NATIVE_LIBRARY"
  private val LibraryName = "bigwrap_native"
  val GemmProperty = "bigwrap.native.gemm"
  val GemmEnv = "BIGWRAP_NATIVE_GEMM"
  val GemmModes: Seq[String] = Seq("auto", "mkl", "onednn")
  val ConvLayouts: Seq[String] = Seq("auto", "nhwc", "any")
  val ConvDirectModes: Seq[String] = Seq("auto", "never", "always")
  private val told = new AtomicBoolean(false)

  private lazy val loaded: Either[String, (NativeCalls, String)] = {
    val result = load()
    result.left.foreach(reason => LogManager.getLogger("bigwrap.native").warn(fallbackMessage(reason)))
    result
  }

  private def fallbackMessage(reason: String): String =
    s"native kernels unavailable ($reason); Dense and Conv2D run on BigDL's kernels instead"

  def available: Boolean = loaded.isRight

  /** The kernels, or None (after one logged warning per JVM) when the library could not load. */
  def calls: Option[NativeCalls] = loaded.right.toOption.map(_._1)

  /** Whether bf16 maths runs in hardware here; elsewhere a bf16 request computes in fp32. */
  lazy val bf16: Boolean = calls.exists(_.bf16Supported())

  /** Dense's GEMM backend in this JVM from now on: one of GemmModes. */
  def setGemm(mode: String): Unit = {
    val index = modeIndex(GemmProperty, GemmModes, mode)
    calls.foreach(_.setGemm(index))
  }

  /**
   * How Conv2D's backward data declares the input's gradient in this JVM from now on (native/src/conv.cpp says
   * why): "auto" (per shape, the one measured faster), "nhwc", or "any" (oneDNN's choice, then NHWC).
   */
  def setConvLayout(mode: String): Unit = {
    val index = modeIndex("conv layout", ConvLayouts, mode)
    calls.foreach(_.setConvLayout(index))
  }

  /**
   * Whether stride-1 Conv2D over few input channels takes its weight gradient from bigwrap's direct kernel
   * (native/src/conv_direct.cpp) in this JVM from now on: "auto" (per shape, measured against oneDNN), "never",
   * or "always" (where it applies).
   */
  def setConvDirect(mode: String): Unit = {
    val index = modeIndex("conv direct", ConvDirectModes, mode)
    calls.foreach(_.setConvDirect(index))
  }

  /** A mode's code for the native library: its index in `modes` (kernels.h's enums keep that order). */
  private def modeIndex(setting: String, modes: Seq[String], mode: String): Int = {
    require(modes.contains(mode), s"$setting must be one of ${modes.mkString(", ")}, got '$mode'")
    modes.indexOf(mode)
  }

  /** "mkl" or "onednn": the backend a Dense of this shape runs on, at the calling thread's thread count. */
  def gemmBackend(batch: Int, in: Int, out: Int, bf16: Boolean): Option[String] =
    calls.map(_.gemmBackend(batch, in, out, bf16 && this.bf16))

  /** The calling thread's kernel thread count (1 until set: a Spark task owns one core). */
  def setThreads(threads: Int): Unit = calls.foreach(_.setThreads(threads))

  /** Facts for diagnostics and tests, as JSON: versions, CPU support, the OpenMP runtimes in this process. */
  def info: String = loaded match {
    case Right((native, path)) => native.info(path).replaceFirst("^\\{", "{\"available\": true, ")
    case Left(reason) => s"""{"available": false, "reason": ${org.json4s.jackson.JsonMethods.compact(
      org.json4s.JString(reason))}}"""
  }

  /** Hands the user the fallback warning once per JVM (e.g. into a fit's progress record). */
  def reportUnavailableOnce(report: String => Unit): Unit =
    loaded.left.foreach(reason => if (told.compareAndSet(false, true)) report(fallbackMessage(reason)))

  private def load(): Either[String, (NativeCalls, String)] = {
    val requested = Option(System.getProperty(LibraryProperty)).orElse(Option(System.getenv(LibraryEnv)))
    requested.orElse(onLibraryPath) match {
      case None => Left(s"${System.mapLibraryName(LibraryName)} is not on java.library.path: start the JVM with " +
        "bigwrap's settings (bigwrap.session(), or `python -m bigwrap classpath` for spark-submit), which set " +
        "spark.driver.extraLibraryPath and spark.executor.extraLibraryPath")
      case Some("none") => Left(s"hidden by $LibraryProperty=none")
      case Some(path) =>
        // BigDL's MKL first: its libiomp5 becomes the process's OpenMP runtime, and our library (which needs
        // libiomp5.so by soname) binds to that copy instead of initialising a second one.
        MKL.isMKLLoaded
        try {
          System.load(Path.of(path).toAbsolutePath.toString)
          val native = new NativeCalls
          Option(System.getProperty(GemmProperty)).orElse(Option(System.getenv(GemmEnv))).foreach { mode =>
            native.setGemm(modeIndex(GemmProperty, GemmModes, mode))
          }
          Right((native, path))
        } catch {
          case e: LinkageError => Left(e.getMessage) // UnsatisfiedLinkError: a missing file or dependency
          case NonFatal(e) => Left(Option(e.getMessage).getOrElse(e.getClass.getName))
        }
    }
  }

  private def onLibraryPath: Option[String] =
    Option(System.getProperty("java.library.path")).toSeq.flatMap(_.split(java.io.File.pathSeparator))
      .filter(_.nonEmpty).map(dir => Path.of(dir, System.mapLibraryName(LibraryName)))
      .find(Files.isRegularFile(_)).map(_.toString)
}
