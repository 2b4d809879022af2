"""Where the jars and configuration files bigwrap puts on Spark's classpaths live."""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
LOG4J2_CONFIG = PACKAGE_DIR / "resources" / "log4j2.properties"
_BIGDL_JAR_DIRS = ("bigdl/share/dllib/lib", "bigdl/share/core/lib")


def bigwrap_jar() -> Path | None:
    """Our JVM jar: $BIGWRAP_JVM_JAR, else the one `make install` builds next to the package."""
    override = os.environ.get("BIGWRAP_JVM_JAR")
    candidates = [Path(override)] if override else []
    candidates.append(PACKAGE_DIR.parent / "jvm" / "build" / "libs" / "bigwrap-jvm.jar")
    return next((p for p in candidates if p.is_file()), None)


def bigdl_jars() -> list[Path]:
    """BigDL's dllib and core jars, found in the installed wheels' data (never by importing `bigdl`)."""
    for entry in sys.path:
        found = [jar for sub in _BIGDL_JAR_DIRS for jar in sorted((Path(entry) / sub).glob("*.jar"))]
        if len(found) >= 2:
            return found
    return []


def pyspark_log4j_jars() -> list[Path]:
    """pyspark's own log4j2 jars: listed first, so the 2021 log4j2 copy inside BigDL's fat jar never loads."""
    import pyspark

    return sorted((Path(pyspark.__file__).parent / "jars").glob("log4j-*.jar"))


def all_jars() -> list[Path]:
    own = bigwrap_jar()
    return pyspark_log4j_jars() + bigdl_jars() + ([own] if own else [])
