package bigwrap.api

import bigwrap.nn.NativeKernels
import bigwrap.io.WriteFaults

/**
 * Probes for tests and benchmarks only, kept off the objects Python's library calls (design §2).
 * Python reaches them with `Bridge.hook(name, ...)`.
 */
object TestHooks {
  /** Forces Dense's GEMM backend in this JVM ("auto", "mkl", "onednn"): benchmarks and equal-result tests. */
  def setNativeGemm(mode: String): Unit = NativeKernels.setGemm(mode)

  /** Forces how Conv2D's backward data declares its result ("auto", "nhwc", "any"): equal-result tests. */
  def setNativeConvLayout(mode: String): Unit = NativeKernels.setConvLayout(mode)

  /** Forces whether few-channel Conv2D's weight gradient is direct ("auto", "never", "always"): equal-result tests. */
  def setNativeConvDirect(mode: String): Unit = NativeKernels.setConvDirect(mode)

  /** The GEMM backend ("mkl" / "onednn") a Dense layer of this shape runs on here, on `threads` threads. */
  def nativeGemmBackend(batch: Int, in: Int, out: Int, bf16: Boolean, threads: Int): String = {
    NativeKernels.setThreads(threads)
    try NativeKernels.gemmBackend(batch, in, out, bf16).getOrElse("bigdl") finally NativeKernels.setThreads(1)
  }

  /** Modules the executors have built for this model's inference so far (see Predictor.modulesBuilt). */
  def modulesBuilt(handle: String): Long =
    Option(LiveModels.predictors.get(handle)).map(_.modulesBuilt).getOrElse(0L)

  /** Models loaded in this JVM (LiveModels): a test counts them over many fits to catch leaked handles. */
  def liveModels(): Int = LiveModels.models.size

  /** The next atomic save fails with an IOException (Python: OSError) `message` after writing `files` files. */
  def failNextSaveAfter(files: Int, message: String): Unit = WriteFaults.failAfter(files, message)

  /** The next atomic save that replaces a directory halts this JVM (exit code 9) between its two renames. */
  def haltNextSaveBetweenRenames(): Unit = WriteFaults.haltNextBetweenRenames()
}
