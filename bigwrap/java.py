"""Finding the Java that Spark will start (JAVA_HOME first, then PATH, as spark-class does) and
checking it before any JVM starts: a missing or old Java otherwise surfaces as pyspark's
"Java gateway process exited" with no hint of the cause."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

from .errors import SetupError

MINIMUM_MAJOR = 17  # the stack bigwrap is built and tested on (docs/getting-started.md, "Pinned stack")
_INSTALL = "install OpenJDK 17 (e.g. apt-get install openjdk-17-jdk-headless)"


def executable() -> str:
    home = os.environ.get("JAVA_HOME")
    if home:
        java = os.path.join(home, "bin", "java")
        if not os.access(java, os.X_OK):
            raise SetupError(f"JAVA_HOME is {home}, but {java} is not an executable: point JAVA_HOME at a JDK "
                             f"{MINIMUM_MAJOR} or newer, or unset it to use the `java` on PATH")
        return java
    java = shutil.which("java")
    if java is None:
        raise SetupError(f"Java was not found: JAVA_HOME is unset and there is no `java` on PATH; {_INSTALL} "
                         "or set JAVA_HOME")
    return java


def check() -> str:
    """The Java's `-version` line when it is new enough, else a SetupError saying what to do."""
    java = executable()
    try:
        banner = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SetupError(f"{java} -version failed ({e}); {_INSTALL}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', banner)
    if match is None:
        raise SetupError(f"{java} -version did not print a Java version; {_INSTALL}")
    major = int(match.group(2)) if match.group(1) == "1" else int(match.group(1))  # "1.8.0" is Java 8
    if major < MINIMUM_MAJOR:
        raise SetupError(f"{java} is Java {major}; bigwrap needs Java {MINIMUM_MAJOR} or newer: {_INSTALL} and "
                         "put it first (JAVA_HOME or PATH)")
    return banner.splitlines()[0]
