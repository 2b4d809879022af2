"""Exceptions bigwrap raises besides Python's own ValueError / TypeError."""


class SetupError(RuntimeError):
    """The environment (Java, jars, Spark session) is not ready; the message says how to fix it."""


class JvmError(RuntimeError):
    """The JVM failed in a way bigwrap did not anticipate; `java_trace` holds the Java stack trace."""
