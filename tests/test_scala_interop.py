"""Scala interop: the same model, the same files, the same predictions in spark-shell.

Two spark-shell runs: pyspark's own bin/spark-shell started with exactly what `python -m bigwrap
classpath` prints (Python → Scala), and `python -m bigwrap shell` (Scala → Python). The scripts are
in tests/scala/; they talk to the test through files in one directory (BIGWRAP_INTEROP_DIR).
"""
from __future__ import annotations

import json
import os
import pickle
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import functions as F

import bigwrap
from bigwrap import layers
from bigwrap.__main__ import classpath_args, spark_shell_command

SCRIPTS = Path(__file__).parent / "scala"


def _mlp():
    return bigwrap.Sequential([layers.Input((64,)), layers.Dense(32, activation="relu"),
                               layers.Dense(10, activation="softmax")], name="mlp")


def _cnn():
    return bigwrap.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(6, 3, activation="relu"),
                               layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10, activation="softmax")],
                              name="cnn")


def _two_inputs():
    """Two inputs (both fed from `features`, so featuresCol is a list), merged: the multi-input path."""
    left, right = layers.Input((64,)), layers.Input((64,))
    merged = layers.Concatenate()([layers.Dense(8, activation="tanh")(left), layers.Dense(8, activation="relu")(right)])
    return bigwrap.Model([left, right], layers.Dense(10, activation="softmax")(merged), name="two_inputs")


def _estimator(model, **settings):
    settings = {"loss": "sparse_categorical_crossentropy", "optimizer": bigwrap.optimizers.Adam(0.01),
                "batchSize": 64, "verbose": 0, "seed": 5, **settings}
    return bigwrap.Estimator(model=model, **settings)


@pytest.fixture(scope="module")
def interop(spark, digits, tmp_path_factory):
    """The shared directory: train/test parquet (test rows with an id) and the two model specs."""
    directory = tmp_path_factory.mktemp("interop")
    train, test = digits
    train.write.parquet(str(directory / "train.parquet"))
    test.withColumn("id", F.monotonically_increasing_id()).write.parquet(str(directory / "test.parquet"))
    (directory / "mlp_spec.json").write_text(_mlp().to_json())
    (directory / "cnn_spec.json").write_text(_cnn().to_json())
    return directory


def _run(command, directory: Path, shell: bool = False) -> None:
    env = {**os.environ, "BIGWRAP_INTEROP_DIR": str(directory)}
    result = subprocess.run(command, shell=shell, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def _assert_same_predictions(spark, ours, theirs_path: Path) -> None:
    """Same output columns, identical classes, probabilities within 1e-6, row by row (by id)."""
    theirs = spark.read.parquet(str(theirs_path))
    assert sorted(theirs.columns) == sorted(c for c in ours.columns if c not in ("features", "pixels"))
    a = ours.select("id", "prediction", "probability").orderBy("id").collect()
    b = theirs.select("id", "prediction", "probability").orderBy("id").collect()
    assert [r.id for r in a] == [r.id for r in b] and len(a) == 360
    assert [r.prediction for r in a] == [r.prediction for r in b]
    difference = np.abs(np.array([r.probability.toArray() for r in a]) - np.array([r.probability.toArray() for r in b]))
    assert difference.max() <= 1e-6


def _accuracy(frame) -> float:
    return frame.select(F.avg((F.col("prediction") == F.col("label")).cast("double"))).first()[0]


def _copy_with(source: Path, target: Path, damage) -> None:
    shutil.copytree(source, target)
    damage(target)


def _broken_directories(bad: Path, mlp_dir: Path) -> dict[str, str | None]:
    """Directories in `bad` (and their names in `bad_cases.txt` beside it), each with a pattern of what
    its load error must say, or None when it must load."""
    _copy_with(mlp_dir, bad / "truncated", lambda d: (d / "model/weights.bin").write_bytes(
        (d / "model/weights.bin").read_bytes()[:1000]))
    _copy_with(mlp_dir, bad / "garbled", lambda d: (d / "metadata/part-00000").write_bytes(b"\x00\x01 not json"))
    _copy_with(mlp_dir, bad / "pickled", lambda d: (d / "metadata/part-00000").write_bytes(
        pickle.dumps({"class": "bigwrap.ml.BigwrapModel"}, protocol=4)))
    _copy_with(mlp_dir, bad / "no_spec", lambda d: (d / "model/spec.json").unlink())
    _copy_with(mlp_dir, bad / "bad_spec", lambda d: (d / "model/spec.json").write_text(
        json.dumps({**json.loads((d / "model/spec.json").read_text()), "version": 99})))
    _copy_with(mlp_dir, bad / "legacy", lambda d: (d / "metadata/part-00000").write_text(
        (d / "metadata/part-00000").read_text().replace("bigwrap.ml.BigwrapModel", "bigwrap.fitted.EstimatorModel")))
    shutil.copytree(mlp_dir, bad / ".interrupted.old-5f3a")  # a save killed between its two renames
    VectorAssembler(inputCols=["a"], outputCol="b").save(str(bad / "foreign"))
    _estimator(_mlp(), epochs=1).save(str(bad / "estimator"))
    cases = {
        "truncated": r"model/weights.bin does not match model/weights.json: weight dense\w*/kernel runs past the end",
        "garbled": "metadata/part-00000 does not hold Spark ML metadata JSON",
        "pickled": "metadata/part-00000 holds a Python pickle; bigwrap never loads pickled or Java-serialized objects",
        "no_spec": "model/spec.json is missing",
        "bad_spec": "the saved model does not build: model spec version 99 is not supported",
        "foreign": "it holds a org.apache.spark.ml.feature.VectorAssembler, not a bigwrap stage",
        "estimator": "it holds a bigwrap.ml.BigwrapEstimator, not a bigwrap.ml.BigwrapModel",
        "missing": "no such directory",
        "legacy": None,  # bigwrap 0.1's class name
        "interrupted": None,  # restored from .interrupted.old-5f3a
    }
    (bad.parent / "bad_cases.txt").write_text("\n".join(cases))
    return cases


@pytest.mark.spark_shell
def test_models_trained_in_python_predict_identically_in_spark_shell(spark, digits, interop):
    train, _ = digits
    bigwrap.set_random_seed(11)
    _estimator(_mlp(), epochs=2).fit(train).save(str(interop / "mlp"))
    _estimator(_two_inputs(), epochs=1, featuresCol=["features", "features"]).fit(train).save(str(interop / "two_inputs"))
    cnn = Pipeline(stages=[VectorAssembler(inputCols=["features"], outputCol="pixels"),
                           _estimator(_cnn(), epochs=1, featuresCol="pixels")]).fit(train)
    cnn.write().save(str(interop / "cnn_pipeline"))  # with Spark's JVM writer: Scala's PipelineModel.load reads it
    assert json.loads((interop / "cnn_pipeline/metadata/part-00000").read_text())["class"] == \
        "org.apache.spark.ml.PipelineModel"
    expected = _broken_directories(interop / "bad", interop / "mlp")

    printed = subprocess.run([sys.executable, "-m", "bigwrap", "classpath"], capture_output=True, text=True,
                             check=True).stdout.strip()
    spark_shell = spark_shell_command([])[0]
    _run(f"{spark_shell} {printed} --master local[2] -i {SCRIPTS / 'python_to_scala.scala'}", interop, shell=True)

    test = spark.read.parquet(str(interop / "test.parquet"))
    for name in ("mlp", "two_inputs"):
        _assert_same_predictions(spark, bigwrap.EstimatorModel.load(str(interop / name)).transform(test),
                                 interop / f"from_python_{name}.parquet")
    _assert_same_predictions(spark, PipelineModel.load(str(interop / "cnn_pipeline")).transform(test),
                             interop / "from_python_cnn.parquet")
    _assert_same_predictions(spark, bigwrap.EstimatorModel.load(str(interop / "mlp")).transform(test),
                             interop / "from_python_mlp_sql.parquet")  # SQL functions registered in Scala
    outcomes = json.loads((interop / "load_errors.json").read_text())
    assert set(outcomes) == set(expected)
    for name, message in outcomes.items():
        if expected[name] is None:
            assert message == "loaded", message
            continue
        assert message.startswith("bigwrap.api.BigwrapException: "), message
        assert f"cannot load a BigwrapModel from {interop / 'bad' / name}: " in message, message
        assert re.search(expected[name], message), message
    assert (interop / "bad" / "interrupted").is_dir() and not (interop / "bad" / ".interrupted.old-5f3a").exists()


@pytest.mark.spark_shell
def test_models_trained_in_spark_shell_load_and_predict_identically_in_python(spark, interop):
    _run([sys.executable, "-m", "bigwrap", "shell", "--master", "local[2]", "-i",
          str(SCRIPTS / "scala_to_python.scala")], interop)
    test = spark.read.parquet(str(interop / "test.parquet"))

    mlp = bigwrap.EstimatorModel.load(str(interop / "scala_mlp"))
    predicted = mlp.transform(test)
    _assert_same_predictions(spark, predicted, interop / "scala_mlp.parquet")
    assert _accuracy(predicted) >= 0.9 and list(mlp.history.epoch) == list(range(1, 9))
    spec = json.loads((interop / "mlp_spec.json").read_text())
    assert json.loads(mlp.model.to_json()) == spec

    cnn = PipelineModel.load(str(interop / "scala_cnn_pipeline"))
    assert isinstance(cnn.stages[-1], bigwrap.EstimatorModel) and cnn.stages[-1].getFeaturesCol() == "pixels"
    predicted = cnn.transform(test)
    _assert_same_predictions(spark, predicted, interop / "scala_cnn.parquet")
    assert _accuracy(predicted) >= 0.85

    unfitted = Pipeline.load(str(interop / "scala_cnn_unfitted")).getStages()[-1]
    assert isinstance(unfitted, bigwrap.Estimator) and unfitted.getFeaturesCol() == "pixels"
    assert json.loads(unfitted.getOrDefault("model").to_json()) == json.loads((interop / "cnn_spec.json").read_text())

    estimator = bigwrap.Estimator.load(str(interop / "scala_estimator"))
    assert estimator.getOrDefault("batchSize") == 64 and estimator.getOrDefault("epochs") == 8
    assert bigwrap.optimizers.get(estimator.getOrDefault("optimizer")) == bigwrap.optimizers.Adam(0.01)
    assert json.loads(estimator.getOrDefault("model").to_json()) == spec

    # BigDL directly: the trained graph's forward gives transform's probabilities; fromJson builds the spec
    bigdl = json.loads((interop / "bigdl_forward.json").read_text())
    rows = {r.id: r.probability.toArray() for r in mlp.transform(test).select("id", "probability").collect()}
    expected = np.array([rows[i] for i in bigdl["ids"]])
    np.testing.assert_allclose(np.array(bigdl["probabilities"]).reshape(expected.shape), expected, atol=1e-6)
    assert bigdl["fresh_shape"] == [5, 10]


def test_shell_runs_pyspark_spark_shell_with_exactly_the_classpath_arguments():
    printed = shlex.join(classpath_args())
    command = spark_shell_command(["--master", "local[1]"])
    assert command == [command[0], *printed.split(), "--master", "local[1]"]
    assert Path(command[0]).name == "spark-shell" and os.access(command[0], os.X_OK)
    # nothing to quote: the printed arguments also work through $(python -m bigwrap classpath)
    assert shlex.split(printed) == printed.split()
    assert "spark.driver.extraClassPath=" in printed and "spark.shuffle.reduceLocality.enabled=false" in printed


def test_pipelines_saved_by_pyspark_python_writer_load_under_old_and_new_class_names(spark, tmp_path):
    """Pipelines with Python-only stages (and every pipeline bigwrap 0.1 saved) use pyspark's Python
    writer, which records each stage's class; both the shared name and bigwrap 0.1's resolve."""
    from pyspark.ml.pipeline import PipelineModelWriter

    df = spark.createDataFrame([([float(i % 2), 1.0], float(i % 2)) for i in range(32)], ["features", "label"])
    model = bigwrap.Sequential([layers.Input((2,)), layers.Dense(2, activation="softmax")])
    fitted = Pipeline(stages=[_estimator(model, epochs=1, batchSize=16)]).fit(df)
    PipelineModelWriter(fitted).save(str(tmp_path / "new"))
    stage_metadata = next((tmp_path / "new" / "stages").iterdir()) / "metadata" / "part-00000"
    assert json.loads(stage_metadata.read_text())["class"] == "bigwrap.ml.BigwrapModel"
    shutil.copytree(tmp_path / "new", tmp_path / "old")
    old_metadata = next((tmp_path / "old" / "stages").iterdir()) / "metadata" / "part-00000"
    old_metadata.write_text(old_metadata.read_text().replace("bigwrap.ml.BigwrapModel", "bigwrap.fitted.EstimatorModel"))
    expected = fitted.transform(df).select("probability").collect()
    for name in ("new", "old"):
        loaded = PipelineModel.load(str(tmp_path / name))
        assert isinstance(loaded.stages[0], bigwrap.EstimatorModel)
        assert loaded.transform(df).select("probability").collect() == expected
