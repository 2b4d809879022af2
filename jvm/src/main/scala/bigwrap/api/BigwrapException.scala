package bigwrap.api

/**
 * An error whose message is written for the user. `kind` names the Python exception class the
 * bridge raises (ValueError, TypeError, RuntimeError, ...). It is Serializable (as every Throwable)
 * so that when it is thrown inside a Spark task it reaches the driver intact as the task's cause.
 */
class BigwrapException(val kind: String, message: String, cause: Throwable = null)
  extends RuntimeException(message, cause) {
  // Spark flattens task failures to text on some paths; this shape lets userFacing recover `kind`.
  override def toString: String = s"bigwrap.api.BigwrapException[$kind]: $getMessage"
}

object BigwrapException {
  def valueError(message: String): BigwrapException = new BigwrapException("ValueError", message)
  def typeError(message: String): BigwrapException = new BigwrapException("TypeError", message)
  def fileNotFound(message: String): BigwrapException = new BigwrapException("FileNotFoundError", message)
  def fileExists(message: String): BigwrapException = new BigwrapException("FileExistsError", message)
  def osError(message: String, cause: Throwable): BigwrapException = new BigwrapException("OSError", message, cause)
  def keyboardInterrupt(message: String): BigwrapException = new BigwrapException("KeyboardInterrupt", message)

  def require(condition: Boolean, message: => String): Unit =
    if (!condition) throw valueError(message)

  private val Flattened = """bigwrap\.api\.BigwrapException\[(\w+)\]: ([^\n]*)""".r.unanchored

  /** `t` and its causes, outermost first (at most 50). */
  private def causes(t: Throwable): List[Throwable] = Iterator.iterate(t)(_.getCause).takeWhile(_ != null).take(50).toList

  /** The user-facing error inside `t`, however deeply Spark wrapped it (a failed job's task), or null. */
  def within(t: Throwable): BigwrapException = {
    val chain = causes(t)
    chain.collectFirst { case b: BigwrapException => b }
      .orElse(chain.flatMap(c => Option(c.getMessage)).collectFirst {
        case Flattened(kind, msg) => new BigwrapException(kind, msg, t)
      })
      .orNull
  }

  /** `within(t)`, else an internal error naming the root cause. */
  def userFacing(t: Throwable): BigwrapException = Option(within(t)).getOrElse {
    val root = causes(t).last
    new BigwrapException("RuntimeError",
      s"the JVM failed: ${root.getClass.getName}: ${Option(root.getMessage).getOrElse("")}".trim, t)
  }
}
