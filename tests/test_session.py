"""Session set-up, quiet logs and the doctor (fresh JVMs)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

JUNK_LOG = Path("/tmp/${sys:logFilename}")


def _run(code: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *(["-c", textwrap.dedent(code)] if code else []), *args],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_a_fit_is_quiet_and_leaves_no_stray_log_file():
    JUNK_LOG.unlink(missing_ok=True)
    result = _run("""
        import bigwrap
        from bigwrap import layers
        from pyspark.ml.linalg import Vectors
        spark = bigwrap.session("local[2]")
        df = spark.createDataFrame([(Vectors.dense([float(i % 2)]), float(i % 2)) for i in range(64)], ["features", "label"])
        model = bigwrap.Sequential([layers.Input((1,)), layers.Dense(2, activation="softmax")])
        fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=16, epochs=2).fit(df)
        fitted.transform(df).count()
        print("done")
    """)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " INFO " not in output and "WARNING: sun.reflect" not in output
    # nothing but the fit's own progress (bar frames and epoch lines) and the script's "done"
    assert [line for line in output.splitlines() if line.strip() and not line.startswith("Epoch ")] == ["done"], output
    assert not JUNK_LOG.exists()


def test_doctor_reports_every_check_ok():
    result = _run("", "-m", "bigwrap", "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip().startswith("[")]
    assert len(lines) == 8 and all("[ok]" in line for line in lines), result.stdout
    assert "engine MklBlas" in result.stdout and "native kernels loaded: MKL" in result.stdout


def test_classpath_names_the_jars_and_log_config():
    result = _run("", "-m", "bigwrap", "classpath")
    assert result.returncode == 0
    assert "spark.driver.extraClassPath=" in result.stdout and "bigwrap-jvm.jar" in result.stdout
    assert "bigdl-dllib-spark_3.1.3-2.4.0-jar-with-dependencies.jar" in result.stdout
    assert "log4j2.configurationFile=file:" in result.stdout


def test_executor_settings_for_a_packed_environment_need_bigwrap_installed_in_it():
    # this checkout's jar lives outside the venv: a packed copy of the venv would not carry it
    result = _run("", "-m", "bigwrap", "classpath", "--executor-environment", "environment")
    assert result.returncode == 1
    assert "bigwrap-jvm.jar is not inside this Python environment" in result.stderr
    assert "pip install bigwrap's wheel into the environment you pack" in result.stderr


def test_a_standalone_master_without_core_settings_says_what_to_set():
    result = _run("""
        import bigwrap
        try:
            bigwrap.session("spark://127.0.0.1:7077")
        except bigwrap.SetupError as e:
            print("SETUP:", e)
    """)
    assert "SETUP: a standalone master needs spark.executor.cores and spark.cores.max" in result.stdout, result.stderr


def test_python_workers_run_the_drivers_interpreter_unless_the_user_names_one(tmp_path):
    # the first `python3` on PATH is a bare venv without pandas: pyspark's default worker would fail here
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    bare_python = str(bare / "bin" / "python3")
    assert subprocess.run([bare_python, "-c", "import pandas"], capture_output=True).returncode != 0
    env = {key: value for key, value in os.environ.items() if key != "PYSPARK_PYTHON"}
    env.update(PATH=f"{bare / 'bin'}:{os.environ['PATH']}", PYTHONUNBUFFERED="1")
    code = """
        import sys
        import pandas as pd
        from pyspark.sql import functions as F
        import bigwrap

        spark = bigwrap.session("local[1]")

        @F.pandas_udf("double")
        def doubled(values: pd.Series) -> pd.Series:
            return values * 2

        assert spark.sparkContext.pythonExec == sys.executable
        print("pandas udf:", [row[0] for row in spark.range(3).select(doubled("id")).collect()])
        spark.stop()
        spark = bigwrap.session("local[1]", conf={"spark.pyspark.python": sys.argv[1]})
        worker = F.udf(lambda _: sys.executable, "string")
        print("named worker:", spark.range(1).select(worker("id")).first()[0])
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), bare_python], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pandas udf: [0.0, 2.0, 4.0]" in result.stdout
    assert f"named worker: {bare_python}" in result.stdout
