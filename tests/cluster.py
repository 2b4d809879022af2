"""A Spark standalone cluster on 127.0.0.1 (master + 2 one-core workers) from pyspark's own bin/spark-class.

Tests reach it from a separate Python process (a process has one SparkContext, and the test session's
is local). The processes are always torn down by PID, even when a test fails.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cluster process exited early:\n{log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"port {port} did not open in {timeout}s:\n{log.read_text()[-2000:]}")


class StandaloneCluster:
    def __init__(self, workdir: Path, workers: int = 2, cores: int = 1):
        self.workdir = workdir
        self.workers = workers
        self.cores = cores
        self.processes: list[subprocess.Popen] = []
        self.port = _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
               "SPARK_WORKER_DIR": str(self.workdir / f"{name}-work")}
        process = subprocess.Popen([str(SPARK_HOME / "bin" / "spark-class"), *args], env=env,
                                   stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def __enter__(self) -> "StandaloneCluster":
        try:
            master = self._start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                 "--port", str(self.port), "--webui-port", str(_free_port()))
            _wait_for_port(self.port, master, self.workdir / "master.log")
            for i in range(self.workers):
                self._start(f"worker{i}", "org.apache.spark.deploy.worker.Worker", self.url, "--host", "127.0.0.1",
                            "--cores", str(self.cores), "--memory", "2g", "--webui-port", str(_free_port()))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)  # the whole group: executors the workers started too
            process.wait(timeout=30)
        self.processes.clear()

    def run(self, code: str, timeout: int = 600, conf: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Runs `code` in a fresh Python process whose `spark` is a bigwrap session on this cluster, with `conf`
        added to its settings."""
        return run_python(code, self.url, {"spark.executor.cores": "1", "spark.cores.max": str(self.workers),
                                           "spark.executor.memory": "1g", **(conf or {})}, timeout)


def run_python(code: str, master: str, conf: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh Python process whose `spark` is a bigwrap session on `master` with `conf`
    (a process has one SparkContext: this one gets its own settings, e.g. a small heap)."""
    prelude = f"""
        import bigwrap
        spark = bigwrap.session({master!r}, conf={conf!r})
    """
    script = textwrap.dedent(prelude) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parent.parent)


def assert_succeeded(result: subprocess.CompletedProcess) -> str:
    """The run's whole output; on failure the message shows the first exceptions and causes, then the end."""
    output = result.stdout + result.stderr
    causes = "\n".join(line for line in output.splitlines() if "Exception" in line or "Caused" in line)
    assert result.returncode == 0, causes[:3000] + "\n...\n" + output[-1500:]
    return output
