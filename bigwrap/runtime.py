"""The Spark session bigwrap needs, and the narrow bridge to the JVM (design §2, §5)."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import py4j.protocol
from py4j.java_gateway import JavaPackage
from py4j.protocol import Py4JError, Py4JJavaError
from pyspark import SparkContext
from pyspark.sql import SparkSession

from . import _jars, java
from . import spec as spec_format
from .errors import JvmError, SetupError

# BigDL's recommended settings (its spark-bigdl.conf) plus a console free of Spark's stage bar.
_ENGINE_CONF = {
    # In local mode every executor lives in the driver JVM; pyspark's 1g default cannot hold real data.
    "spark.driver.memory": "4g",
    "spark.shuffle.reduceLocality.enabled": "false",
    "spark.scheduler.minRegisteredResourcesRatio": "1.0",
    "spark.speculation": "false",
    "spark.ui.showConsoleProgress": "false",
    # A barrier stage waits for enough free slots (e.g. a replacement executor); check every 2 s, not 15 s.
    "spark.scheduler.barrier.maxConcurrentTasksCheck.interval": "2s",
    "spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures": "90",
}
_CLUSTER_KEYS = ("spark.executor.cores", "spark.cores.max")
# settings where the user's value is added to bigwrap's, with the separator each takes
_JOINED = {"spark.driver.extraJavaOptions": " ", "spark.executor.extraJavaOptions": " ",
           "spark.driver.extraLibraryPath": ":", "spark.executor.extraLibraryPath": ":",
           "spark.driver.extraClassPath": ":", "spark.executor.extraClassPath": ":"}  # e.g. a store's connector jars
_FIX = ("create the session with bigwrap.session(), or pass the jars yourself: "
        "`python -m bigwrap classpath` prints the --conf arguments for spark-submit / spark-shell")

_bridge_lock = threading.Lock()
# Floats (weights, inputs, predictions, gradients) cross the bridge through a temporary file above these sizes.
# Py4J sends bytes as base64 text in its command line (~10 ms a MB, and a ~20 ms stall on a message of several TCP
# segments; it fails at 256 MiB), and decodes a byte array the JVM returns one byte at a time in Python (~170 ns a
# byte: 0.1-0.35 s for an MLP's 2 MB of weights). A file carries those 2 MB in 5-7 ms.
_INLINE_SENT_BYTES = 64 * 2**10
_INLINE_RECEIVED_BYTES = 8 * 2**10


def spark_conf(conf: dict[str, str] | None = None, executor_environment: str | None = None) -> dict[str, str]:
    """The Spark settings bigwrap needs, merged with the user's `conf` (Java options and library paths are
    joined).
    `executor_environment`: executors run in a copy of this Python environment unpacked at that directory
    (shipped with spark.archives=env.tar.gz#<directory>), so their paths and Python point into it."""
    jars = _jars.all_jars()
    if _jars.bigwrap_jar() is None:
        raise SetupError("bigwrap's JVM jar is not built: run `make install` in the bigwrap checkout "
                         "(or set BIGWRAP_JVM_JAR to the jar's path)")
    if not _jars.bigdl_jars():
        raise SetupError(f"BigDL's jars are not installed: pip install --no-deps {_jars.NO_DEPS_WHEELS} "
                         "(or run `make install`)")
    on_executors = _jars.in_unpacked_copy(executor_environment) if executor_environment else str
    merged = {**_ENGINE_CONF,
              "spark.driver.extraClassPath": ":".join(str(j) for j in jars),
              "spark.executor.extraClassPath": ":".join(on_executors(j) for j in jars),
              "spark.driver.extraJavaOptions": _jars.log_config_option(),
              "spark.executor.extraJavaOptions": _jars.log_config_option(on_executors)}
    library = _jars.native_library()
    if library is not None:  # the JVMs' java.library.path, where bigwrap.nn.NativeKernels finds the kernels
        merged["spark.driver.extraLibraryPath"] = str(library.parent)
        merged["spark.executor.extraLibraryPath"] = on_executors(library.parent)
    if executor_environment:
        merged["spark.pyspark.python"] = f"{executor_environment}/bin/python"
        merged["spark.pyspark.driver.python"] = sys.executable
    for key, value in (conf or {}).items():
        merged[key] = f"{merged[key]}{_JOINED[key]}{value}" if key in _JOINED and key in merged else str(value)
    return merged


def session(master: str | None = None, app_name: str = "bigwrap", conf: dict[str, str] | None = None) -> SparkSession:
    """A SparkSession ready for bigwrap: our jars on the classpaths, quiet logs, BigDL's Engine up.

    Python workers run this interpreter unless `conf` has spark.pyspark.python or PYSPARK_PYTHON is set.
    If a session is already active it is checked and returned as it is (`master`, `app_name` and
    `conf` apply only when a new session starts). `master` defaults to local[*], except in a script run
    by spark-submit, whose --master and --conf (with `python -m bigwrap classpath`'s) make the session.
    """
    active = SparkSession.getActiveSession()
    if active is None and master is None and "PYSPARK_GATEWAY_PORT" in os.environ:
        # pyspark's launcher (spark-submit) started the JVM with its settings: setting a master here would win
        active = SparkSession.builder.config(map=conf or {}).getOrCreate()
    elif active is None:
        master = master or "local[*]"
        settings = spark_conf(conf)
        if SparkContext._gateway is None:  # the JVM is not started yet: make sure it can be
            java.check()
        if master.startswith("spark://"):
            missing = [key for key in _CLUSTER_KEYS if key not in settings]
            if missing:
                raise SetupError(f"a standalone master needs {' and '.join(missing)} in conf: BigDL sizes its "
                                 "engine from them, e.g. conf={'spark.executor.cores': '1', 'spark.cores.max': '2'}")
        # Python workers (UDFs) run the user's spark.pyspark.python, else PYSPARK_PYTHON (Spark's order), else this
        # driver's interpreter, not pyspark's default of the first `python3` on PATH, which may lack its packages
        settings["spark.pyspark.python"] = (settings.get("spark.pyspark.python") or os.environ.get("PYSPARK_PYTHON")
                                            or sys.executable)
        # pyspark reads only the environment variable when it starts the context from this process
        os.environ["PYSPARK_PYTHON"] = settings["spark.pyspark.python"]
        active = SparkSession.builder.master(master).appName(app_name).config(map=settings).getOrCreate()
    bridge(active)
    return active


def bridge(spark: SparkSession | None = None) -> "Bridge":
    """The JVM bridge of `spark` (default: the active session, else a new bigwrap.session())."""
    spark = spark or SparkSession.getActiveSession() or session()
    context = spark.sparkContext
    with _bridge_lock:
        if getattr(context, "_bigwrap_bridge", None) is None:
            context._bigwrap_bridge = Bridge(spark)
        return context._bigwrap_bridge


class Bridge:
    """Coarse calls into the Scala objects of `bigwrap.api` (design §2); Java failures arrive as Python exceptions."""

    def __init__(self, spark: SparkSession):
        self.spark = spark
        self._api = spark.sparkContext._jvm.bigwrap.api
        facade = self._api.PythonFacade
        if isinstance(facade, JavaPackage):
            raise SetupError(f"the active SparkSession does not have bigwrap's jars on its classpath: {_FIX}")
        self._objects = {"PythonFacade": facade}  # each lookup of a class by name is a round trip to the JVM
        self.engine: dict[str, Any] = json.loads(self.call("PythonFacade.init"))
        _raise_bigwrap_errors_from_spark_actions()

    def call(self, method: str, *args: Any) -> Any:
        """`Object.method` of a bigwrap.api object, e.g. call("LiveModels.predict", handle, data, rows)."""
        owner, name = method.split(".")
        if owner not in self._objects:
            self._objects[owner] = getattr(self._api, owner)
        return self._invoke(self._objects[owner], name, args)

    def hook(self, method: str, *args: Any) -> Any:
        """A probe of bigwrap.api.TestHooks, for tests and benchmarks (not what the library calls)."""
        return self.call(f"TestHooks.{method}", *args)

    def call_with_model(self, method: str, before: tuple, model, after: tuple, spec_indent: int | None = None) -> Any:
        """`method(*before, spec, weight index, weight bytes, weight file, *after)` for a DSL `model`, the weights
        as `sending` passes them; all four null without a model."""
        if model is None:
            return self.call(method, *before, None, None, None, None, *after)
        index, data = spec_format.encode_weights(model._weight_entries())
        with self.sending(data) as (inline, path):
            return self.call(method, *before, model.to_json(indent=spec_indent), index, inline, path, *after)

    @staticmethod
    @contextlib.contextmanager
    def sending(data: bytes) -> Iterator[tuple[bytes | None, str | None]]:
        """Little-endian float32 `data` as the (bytes, file path) argument pair of a JVM call (BridgeConfigs.floats
        and .weights take it): inline when small, else the path of a temporary file, gone after the call."""
        if len(data) <= _INLINE_SENT_BYTES:
            yield data, None
            return
        with tempfile.NamedTemporaryFile(prefix="bigwrap-floats-", suffix=".bin") as f:
            f.write(data)
            f.flush()
            yield None, f.name

    def receive(self, floats) -> bytes:
        """The little-endian float32 bytes of a JVM FloatsOut (weights, predictions, gradients): inline when they
        are few, else through a temporary file it writes."""
        if self._invoke(floats, "byteCount", ()) <= _INLINE_RECEIVED_BYTES:
            return bytes(self._invoke(floats, "bytes", ()))
        with tempfile.NamedTemporaryFile(prefix="bigwrap-floats-", suffix=".bin") as f:
            self._invoke(floats, "writeFile", (f.name,))
            return Path(f.name).read_bytes()

    def receive_weights(self, weights) -> tuple[str, bytes]:
        """The index and data of a JVM WeightSet."""
        return self._invoke(weights, "indexJson", ()), self.receive(self._invoke(weights, "toPython", ()))

    def model_weights(self, handle: str) -> tuple[str, bytes]:
        """The weight index and data of the JVM model `handle`."""
        return self.receive_weights(self.call("LiveModels.weights", handle))

    def _invoke(self, target: Any, method: str, args: tuple) -> Any:
        try:
            return getattr(target, method)(*args)
        except Py4JJavaError as e:
            # the exception BigwrapException.userFacing finds in the Java one, however deeply Spark wrapped it (an
            # unforeseen failure is a JvmError), with the Java trace on `.java_trace`
            raise _python_error(self._api.BigwrapException.userFacing(e.java_exception), e) from None
        except Py4JError as e:
            raise JvmError(f"lost contact with the JVM during {method}: {e}; restart the SparkSession") from None


# BigwrapException's kinds (bigwrap.api.BigwrapException) and the Python exception each arrives as.
_KINDS = {"ValueError": ValueError, "TypeError": TypeError, "RuntimeError": JvmError,
          "KeyboardInterrupt": KeyboardInterrupt, "OSError": OSError, "FileExistsError": FileExistsError,
          "FileNotFoundError": FileNotFoundError}


def _python_error(java: Any, failure: Py4JJavaError) -> Exception:
    """The Python exception of a JVM BigwrapException, with the whole Java trace on `.java_trace`."""
    error = _KINDS.get(java.kind(), JvmError)(java.getMessage())
    error.java_trace = str(failure)
    return error


def _raise_bigwrap_errors_from_spark_actions() -> None:
    """Actions the user calls on bigwrap's DataFrames (`fitted.transform(df).collect()`, a SQL function's query)
    fail in Py4J, not in the bridge: their jobs' BigwrapExceptions (an Embedding id outside its table) are raised
    as the same Python exceptions, other failures as before. pyspark wraps `py4j.protocol.get_return_value`
    (anew with every SparkSession) to turn SQL errors into Python ones; this wraps that function first."""
    original = py4j.protocol.get_return_value
    if getattr(original, "_bigwrap", False):
        return

    def get_return_value(*args: Any) -> Any:
        try:
            return original(*args)
        except Py4JJavaError as e:
            try:
                java = SparkContext._jvm.bigwrap.api.BigwrapException.within(e.java_exception)
            except Py4JError:  # a later session without bigwrap's jars: the failure as it came
                java = None
            if java is None:
                raise
            raise _python_error(java, e) from None

    get_return_value._bigwrap = True
    py4j.protocol.get_return_value = get_return_value
    from pyspark.errors.exceptions.captured import install_exception_handler

    install_exception_handler()  # pyspark's wrapper, around this one from now on
