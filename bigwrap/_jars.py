"""Where the jars, the native library and the configuration files bigwrap hands to Spark live.

Two layouts: an installed wheel carries them inside the package (`bigwrap/jars/`, `bigwrap/native/`,
`bigwrap/resources/`); a source checkout builds them next to the sources (`make install`).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from .errors import SetupError

PACKAGE_DIR = Path(__file__).resolve().parent
LOG4J2_CONFIG = PACKAGE_DIR / "resources" / "log4j2.properties"
JAR_NAME = "bigwrap-jvm.jar"
NATIVE_LIBRARY_NAME = "libbigwrap_native.so"
_BIGDL_JAR_DIRS = ("bigdl/share/dllib/lib", "bigdl/share/core/lib")
# What a node installs besides bigwrap's wheel, without dependencies: BigDL's wheels pin pyspark 3.1.3, oneDNN's
# pins an intel-openmp older than MKL's (docs/cluster.md, "Installing on a cluster").
NO_DEPS_WHEELS = "bigdl-dllib-spark3==2.4.0 bigdl-core==2.4.0.dev0 onednn-cpu-iomp==2023.2.0"
_CHECKOUT = PACKAGE_DIR.parent


def _first_file(*candidates: Path) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def bigwrap_jar() -> Path | None:
    """Our JVM jar: $BIGWRAP_JVM_JAR, else the installed package's, else the checkout's build."""
    override = os.environ.get("BIGWRAP_JVM_JAR")
    return _first_file(*([Path(override)] if override else []), PACKAGE_DIR / "jars" / JAR_NAME,
                       _CHECKOUT / "jvm" / "build" / "libs" / JAR_NAME)


def native_library() -> Path | None:
    """Our JNI kernels (native/README.md), loaded where they lie (their directory goes on the JVMs' library
    path): their RPATH finds MKL and oneDNN relative to this file (the installed package's, else the
    checkout's build)."""
    return _first_file(PACKAGE_DIR / "native" / NATIVE_LIBRARY_NAME, _CHECKOUT / "native" / "build" / NATIVE_LIBRARY_NAME)


def bigdl_jars() -> list[Path]:
    """BigDL's dllib and core jars, found in the installed wheels' data (never by importing `bigdl`)."""
    for entry in sys.path:
        found = [jar for sub in _BIGDL_JAR_DIRS for jar in sorted((Path(entry) / sub).glob("*.jar"))]
        if len(found) >= 2:
            return found
    return []


def all_jars() -> list[Path]:
    """pyspark's own log4j2 jars first, so the 2021 log4j2 copy inside BigDL's fat jar never loads; then BigDL's
    and ours."""
    import pyspark

    own = bigwrap_jar()
    return sorted((Path(pyspark.__file__).parent / "jars").glob("log4j-*.jar")) + bigdl_jars() + ([own] if own else [])


def log_config_option(place: Callable[[Path], str] = str) -> str:
    """The JVM option that gives bigwrap's driver and executors its log configuration; `place` says where a
    JVM finds a file of this installation."""
    return f"-Dlog4j2.configurationFile=file:{place(LOG4J2_CONFIG)}"


def in_unpacked_copy(directory: str) -> Callable[[Path], str]:
    """Where a file of this Python environment (sys.prefix) lies in a copy of the environment unpacked at
    `directory`, relative to the JVM's working directory, as YARN unpacks `spark.archives=env.tar.gz#<directory>`
    into each container's."""
    prefix = Path(sys.prefix).resolve()

    def place(path: Path) -> str:
        try:
            return f"{directory}/{Path(path).resolve().relative_to(prefix)}"
        except ValueError:
            raise SetupError(f"{path} is not inside this Python environment ({prefix}), so a packed copy of the "
                             "environment would not hold it: pip install bigwrap's wheel into the environment you "
                             "pack (docs/cluster.md, \"Installing on a cluster\")") from None
    return place
