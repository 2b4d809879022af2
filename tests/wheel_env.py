"""The wheel a cluster node installs and a fresh venv holding it (the `wheel` and `node` fixtures in
tests/conftest.py, shared by tests/test_wheel.py and tests/test_yarn.py): `make wheel` builds it; the venv, outside
the checkout, installs it the way docs/cluster.md says, offline here, from the wheelhouse `make test` prepares."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bigwrap._jars import NO_DEPS_WHEELS

REPO = Path(__file__).resolve().parents[1]
WHEELHOUSE = REPO / "build" / "wheelhouse"


def run(command: list[str], cwd: Path, timeout: int = 600, env: dict[str, str] | None = None) \
        -> subprocess.CompletedProcess:
    # nothing of this checkout's environment leaks in (bigwrap.session() set PYSPARK_PYTHON in this process)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_PYTHON", "BIGWRAP_JVM_JAR")}
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**clean, "PYTHONUNBUFFERED": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", **(env or {})})
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def build_wheel() -> Path:
    run(["make", "-s", "wheel"], cwd=REPO, timeout=900)
    built = list((REPO / "dist").glob("bigwrap-*.whl"))
    assert len(built) == 1, built
    return built[0]


def install_node(wheel: Path, home: Path) -> Path:
    """A fresh venv at `home`/venv with the wheel installed, and no network (--no-index)."""
    run([sys.executable, "-m", "venv", str(home / "venv")], cwd=home)
    pip = [str(home / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
           "--find-links", str(WHEELHOUSE)]
    run(pip + [str(wheel)], cwd=home)
    run(pip + ["--no-deps", *NO_DEPS_WHEELS.split()], cwd=home)
    return home
