"""The wheel a cluster node installs (the `wheel` and `node` fixtures, tests/wheel_env.py): installed the way
docs/cluster.md says in a fresh venv outside the checkout, where the doctor and a fit run."""
from __future__ import annotations

import json
import shlex
import subprocess
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

import bigwrap

from .wheel_env import run as _run

pytestmark = pytest.mark.slow

CARRIED = ["bigwrap/jars/bigwrap-jvm.jar", "bigwrap/native/libbigwrap_native.so",
           "bigwrap/resources/log4j2.properties"]


def test_the_wheel_carries_the_jar_the_native_library_and_the_log_configuration(wheel, tmp_path):
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    assert wheel.name == f"bigwrap-{bigwrap.__version__}-py3-none-{platform}.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert set(CARRIED) <= set(archive.namelist())
        library = Path(archive.extract("bigwrap/native/libbigwrap_native.so", tmp_path))
    dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    [rpath] = [line.split("[", 1)[1].rstrip("]") for line in dynamic.splitlines() if "(RPATH)" in line]
    # MKL and oneDNN are found relative to the library, never through a path into the build machine
    assert rpath and all(entry.startswith("$ORIGIN/") for entry in rpath.split(":")), rpath


def test_the_doctor_finds_everything_in_the_installed_package(node):
    doctor = _run([str(node / "venv" / "bin" / "python"), "-m", "bigwrap", "doctor"], cwd=node).stdout
    checks = [line for line in doctor.splitlines() if line.strip().startswith("[")]
    assert len(checks) == 8 and all("[ok]" in line for line in checks), doctor
    site = str(node / "venv" / "lib")
    assert f"bigwrap JVM jar: {site}" in doctor and f"native kernels: {site}" in doctor, doctor
    assert "native kernels loaded: MKL" in doctor


def test_a_model_fits_in_the_fresh_venv_on_the_installed_native_kernels(node):
    script = """
        import json
        import numpy as np
        from pyspark.ml.linalg import Vectors
        import bigwrap
        from bigwrap import layers, live_models
        from bigwrap.runtime import bridge

        spark = bigwrap.session("local[2]")
        rng = np.random.default_rng(0)
        x = rng.normal(size=(512, 8))
        y = (x[:, 0] + x[:, 1] > 0).astype(float)
        frame = spark.createDataFrame([(Vectors.dense(r), float(t)) for r, t in zip(x, y)], ["features", "label"])
        bigwrap.set_random_seed(1)
        model = bigwrap.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"),
                                    layers.Dense(2, activation="softmax")])
        fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", kernels="native",
                                   optimizer=bigwrap.optimizers.Adam(0.02), batchSize=64, epochs=8, verbose=0,
                                   seed=1).fit(frame)
        accuracy = fitted.transform(frame).selectExpr("avg(cast(prediction = label as double))").first()[0]
        handle = live_models.handle(fitted.model, bridge(spark), fitted._kernels())
        print(json.dumps({"package": bigwrap.__file__, "accuracy": accuracy,
                          "native": json.loads(bridge(spark).call("PythonFacade.nativeKernelsInfo")),
                          "kernels": json.loads(bridge(spark).call("LiveModels.kernels", handle))}))
    """
    result = _run([str(node / "venv" / "bin" / "python"), "-c", textwrap.dedent(script)], cwd=node)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    site = str(node / "venv" / "lib")
    assert report["package"].startswith(site), report
    assert report["native"]["available"] and report["native"]["library"].startswith(site), report
    assert report["kernels"]["kernels"] == "native", report
    assert report["accuracy"] >= 0.9, report


def test_executor_settings_for_a_packed_copy_of_the_environment_point_inside_it(node):
    """`classpath --executor-environment environment`: what YARN containers see after unpacking
    spark.archives=env.tar.gz#environment. Each executor path must name a file of the packed environment."""
    venv = node / "venv"
    printed = _run([str(venv / "bin" / "python"), "-m", "bigwrap", "classpath", "--executor-environment",
                    "environment"], cwd=node).stdout
    arguments = shlex.split(printed)
    assert arguments == printed.split()  # nothing to quote: `$(python -m bigwrap classpath ...)` works
    settings = dict(pair.split("=", 1) for flag, pair in zip(arguments, arguments[1:]) if flag == "--conf")
    classpath = settings["spark.executor.extraClassPath"].split(":")
    [log_config] = [o.split("=", 1)[1].removeprefix("file:") for o in settings["spark.executor.extraJavaOptions"].split()]
    library_path = settings["spark.executor.extraLibraryPath"]
    assert any(p.endswith("/bigwrap/jars/bigwrap-jvm.jar") for p in classpath)
    assert library_path.endswith("/bigwrap/native") and log_config.endswith("/log4j2.properties")
    for path in classpath + [log_config, library_path, settings["spark.pyspark.python"]]:
        assert path.startswith("environment/") and (venv / path.removeprefix("environment/")).exists(), path
    assert settings["spark.driver.extraClassPath"].startswith(str(venv))  # the driver keeps its own paths
