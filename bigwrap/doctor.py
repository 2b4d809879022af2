"""`python -m bigwrap doctor`: each piece bigwrap needs, its status, and the fix when it is wrong."""
from __future__ import annotations

import json
import sys

from . import _jars, java
from .errors import SetupError

PYSPARK_VERSION = "3.5.9"


def _java() -> tuple[bool, str]:
    try:
        return True, java.check()
    except SetupError as e:
        return False, str(e)


def _pyspark() -> tuple[bool, str]:
    import pyspark

    if pyspark.__version__ != PYSPARK_VERSION:
        return False, f"pyspark {pyspark.__version__}; bigwrap needs {PYSPARK_VERSION}: pip install pyspark=={PYSPARK_VERSION}"
    return True, f"pyspark {pyspark.__version__}"


def _bigdl_jars() -> tuple[bool, str]:
    jars = _jars.bigdl_jars()
    if len(jars) < 2:
        return False, f"BigDL's jars are missing: pip install --no-deps {_jars.NO_DEPS_WHEELS}"
    return True, "BigDL jars: " + ", ".join(j.name for j in jars)


def _built(what: str, path, fix: str) -> tuple[bool, str]:
    return (True, f"{what}: {path}") if path is not None else (False, fix)


def _engine() -> list[tuple[bool, str]]:
    """The BigDL engine's start, then whether our native kernels loaded in that JVM (MKL and oneDNN found)."""
    from .runtime import bridge, session

    try:
        started = bridge(session("local[1]", app_name="bigwrap-doctor"))
    except Exception as e:  # report, never crash: this is the diagnostic tool
        return [(False, f"BigDL engine failed to start: {e}")]
    info = started.engine
    native = json.loads(started.call("PythonFacade.nativeKernelsInfo"))
    loaded = ((True, f"native kernels loaded: MKL {native['mkl']}, oneDNN {native['onednn']}, "
                     f"bf16 {'in hardware' if native['bf16'] else 'computed in fp32 (no CPU support)'}")
              if native["available"] else
              (False, f"native kernels did not load ({native['reason']}); Dense and Conv run on BigDL's kernels. "
                      f"Fix: pip install --no-deps {_jars.NO_DEPS_WHEELS}"))
    return [(True, f"BigDL engine {info['engine_type']}, {info['node_number']} node(s) x {info['core_number']} "
                   "core(s)"), loaded]


def main() -> int:
    print("bigwrap doctor")
    healthy = True
    checks = [lambda: (True, f"Python {sys.version.split()[0]}"), _java, _pyspark, _bigdl_jars,
              lambda: _built("bigwrap JVM jar", _jars.bigwrap_jar(), "bigwrap's JVM jar is not built: run "
                             "`make install` in the checkout (or set BIGWRAP_JVM_JAR)"),
              lambda: _built("native kernels", _jars.native_library(), "bigwrap's native kernels are not built: run "
                             "`make install` in the checkout")]
    for check in checks:
        ok, text = check()
        healthy &= ok
        print(f"  [{'ok' if ok else 'FAIL'}] {text}")
    if healthy:
        for ok, text in _engine():
            healthy &= ok
            print(f"  [{'ok' if ok else 'FAIL'}] {text}")
    else:
        print("  [skip] engine start (fix the failures above first)")
    return 0 if healthy else 1
