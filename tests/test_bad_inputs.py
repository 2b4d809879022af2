"""The bad-input catalogue: each case asserts the Python exception type and that the message names the
problem (column, layer, parameter, path) and says what to do; never a Py4J/Java trace as the message.
Cases the schema, the DSL or the arguments can decide fail before any Spark job (job-group probe)."""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql.types import DoubleType, StructField, StructType

import bigwrap
from bigwrap import layers, optimizers

_VECTORS = StructType([StructField("features", VectorUDT()), StructField("label", DoubleType())])


def _model(inputs=4, classes=3):
    return bigwrap.Sequential([layers.Input((inputs,)), layers.Dense(classes, activation="softmax")])


def _estimator(**overrides):
    settings = dict(model=_model(), loss="sparse_categorical_crossentropy", batchSize=8, epochs=1, verbose=0)
    settings.update(overrides)
    return bigwrap.Estimator(**settings)


@pytest.fixture(scope="module")
def frame(spark):
    rows = [(Vectors.dense([float(i), 1.0, 2.0, 3.0]), [float(i), 1.0, 2.0, 3.0], float(i % 3), "cat")
            for i in range(24)]
    return spark.createDataFrame(rows, ["features", "array", "label", "text"]).cache()


def _assert_clean(message: str):
    assert "at org." not in message and "Py4J" not in message and "\n\tat " not in message


def test_probe_sees_jobs(frame, no_spark_job):
    with pytest.raises(AssertionError, match="expected no Spark job"):
        with no_spark_job:
            frame.count()


# -- settings, columns and types: decided from the schema, before any Spark job ----------------------
@pytest.mark.parametrize("overrides,error,pattern", [
    ({"featuresCol": "pixels"}, ValueError, r"features column 'pixels' is not in the DataFrame.*'features'"),
    ({"labelCol": "target"}, ValueError, r"label column 'target' is not in the DataFrame"),
    ({"labelCol": "text"}, TypeError, r"label column 'text' has type string.*StringIndexer"),
    ({"featuresCol": "text"}, TypeError, r"features column 'text' has type string"),
    ({"batchSize": 7}, ValueError, r"batchSize 7 must be a multiple of the 2 tasks"),
    ({"batchSize": 0}, ValueError, r"batchSize must be a positive integer, got 0"),
    ({"batchSize": -8}, ValueError, r"batchSize must be a positive integer, got -8"),
    ({"epochs": 0}, ValueError, r"epochs must be a positive integer"),
    ({"loss": "hinge"}, ValueError, r"unknown loss 'hinge'"),
    ({"loss": None}, ValueError, r"needs loss="),
    ({"optimizer": "lbfgs"}, ValueError, r"unknown optimizer 'lbfgs'"),
    ({"model": "not a model"}, TypeError, r"needs model= a bigwrap Sequential or Model, got str"),
    ({"model": _model(classes=1)}, ValueError, r"at least 2 output units"),
    ({"trainer": "horovod"}, ValueError, r"unknown trainer 'horovod'"),
    ({"numTasks": 3}, ValueError, r"numTasks 3 exceeds the 2 cores"),
    ({"numTasks": 2, "trainer": "bigdl"}, ValueError, r"numTasks applies to trainer='barrier'"),
    ({"taskLayout": "perThread"}, ValueError, r"taskLayout must be one of auto, perCore, perExecutor, got 'perThread'"),
    ({"taskLayout": "perCore", "numTasks": 2}, ValueError, r"taskLayout='perCore' needs trainer='barrier' and numTasks"),
    ({"dataCache": "ssd"}, ValueError, r"dataCache must be one of auto, memory, disk, none, got 'ssd'"),
    ({"dataCache": "disk", "trainer": "bigdl"}, ValueError, r"dataCache='disk' needs trainer='barrier'"),
    ({"verbose": 3}, ValueError, r"verbose must be 0, 1 or 2"),
])
def test_bad_settings_fail_before_any_spark_job(frame, no_spark_job, overrides, error, pattern):
    with no_spark_job, pytest.raises(error, match=pattern):
        _estimator(**overrides).fit(frame)


@pytest.mark.parametrize("sql,pattern", [
    ("SELECT map('a', 1.0) AS features, 0.0 AS label", r"features column 'features' has type map<string,"),
    ("SELECT named_struct('a', 1.0) AS features, 0.0 AS label", r"features column 'features' has type struct<"),
])
def test_unsupported_feature_types_are_named(spark, no_spark_job, sql, pattern):
    dataset = spark.sql(sql)
    with no_spark_job, pytest.raises(TypeError, match=pattern + r".*ml Vector .*array<double>"):
        _estimator().fit(dataset)


def test_vector_size_known_from_metadata_fails_before_any_spark_job(spark, no_spark_job):
    assembled = VectorAssembler(inputCols=["a", "b", "c"], outputCol="features").transform(
        spark.createDataFrame([(1.0, 2.0, 3.0, 0.0)], ["a", "b", "c", "label"]))
    with no_spark_job, pytest.raises(ValueError, match=r"features column 'features' holds vectors of size 3.*"
                                                       r"input shape \(None, 4\)"):
        _estimator().fit(assembled)


# -- bad rows: found by the JVM in the same pass that converts the data -------------------------------
@pytest.mark.parametrize("rows,pattern", [
    ([([1.0, 2.0, 3.0], 0.0)], r"features column 'array' has a row of 3 values; the model needs 4"),
    ([([1.0, 2.0, 3.0, 4.0, 5.0], 0.0), ([1.0, 2.0], 1.0)], r"features column 'array' has a row of (5|2) values"),
    ([(None, 0.0)], r"features column 'array' has a null value.*na.drop"),
    ([([1.0, float("nan"), 0.0, 0.0], 0.0)], r"features column 'array' has a non-finite value \(NaN\)"),
    ([([1.0, float("inf"), 0.0, 0.0], 0.0)], r"features column 'array' has a non-finite value \(Infinity\)"),
    ([([1.0, 0.0, 0.0, -1e39], 0.0)], r"features column 'array' has a non-finite value \(-Infinity\)"),
    ([([1.0, 2.0, 3.0, 4.0], 3.0)], r"label column 'label' has the value 3.0.*class indices 0..2"),
    ([([1.0, 2.0, 3.0, 4.0], 1.5)], r"label column 'label' has the value 1.5"),
    ([([1.0, 2.0, 3.0, 4.0], -1.0)], r"label column 'label' has the value -1.0"),
    ([([1.0, 2.0, 3.0, 4.0], None)], r"label column 'label' has a null value.*na.drop"),
])
def test_bad_rows_are_named_by_the_jvm_pass(spark, rows, pattern):
    good = [([1.0, 2.0, 3.0, 4.0], float(i % 3)) for i in range(16)]
    dataset = spark.createDataFrame(good + rows, "array array<double>, label double")
    with pytest.raises(ValueError, match=pattern) as raised:
        _estimator(featuresCol="array").fit(dataset)
    _assert_clean(str(raised.value))


def test_the_largest_smallest_and_signed_zero_floats_are_finite(spark):
    """The check finds NaN and ±Inf by their exponent bits: the extremes of the finite floats pass it."""
    extremes = [([3.4028235e38, -3.4028235e38, 1e-45, -0.0], 0.0)] * 4
    dataset = spark.createDataFrame(extremes, "array array<float>, label double")
    fitted = _estimator(featuresCol="array").fit(dataset)
    assert len(fitted.transform(dataset).collect()) == 4


@pytest.mark.parametrize("bad,pattern", [
    (None, r"features column 'features' has a null value"),
    (Vectors.dense([1.0, float("nan"), 3.0, 4.0]), r"features column 'features' has a non-finite value \(NaN\)"),
    (Vectors.dense([1.0, 3.0, 4.0]), r"features column 'features' has a row of 3 values; the model needs 4"),
])
def test_bad_vectors_are_named_by_the_jvm_pass(spark, bad, pattern):
    good = [(Vectors.dense([1.0, 2.0, 3.0, 4.0]), float(i % 3)) for i in range(16)]
    with pytest.raises(ValueError, match=pattern) as raised:
        _estimator().fit(spark.createDataFrame(good + [(bad, 0.0)], _VECTORS))
    _assert_clean(str(raised.value))


def test_an_empty_dataframe_is_named(frame):
    with pytest.raises(ValueError, match=r"the training DataFrame is empty") as raised:
        _estimator().fit(frame.limit(0))
    _assert_clean(str(raised.value))


@pytest.mark.parametrize("loss,label,pattern", [
    ("binary_crossentropy", "2.0", r"label column 'label' has the value 2.0; binary_crossentropy needs labels in \[0, 1\]"),
    ("categorical_crossentropy", "array(0.0, 1.5, 0.0)",
     r"label column 'label' has the value 1.5; categorical_crossentropy needs one-hot or probability labels"),
])
def test_labels_outside_zero_one_are_named(spark, loss, label, pattern):
    dataset = spark.sql(f"SELECT array(1.0, 2.0, 3.0, 4.0) AS features, {label} AS label")
    units = 1 if loss == "binary_crossentropy" else 3
    model = bigwrap.Sequential([layers.Input((4,)), layers.Dense(units, activation="sigmoid")])
    with pytest.raises(ValueError, match=pattern) as raised:
        bigwrap.Estimator(model=model, loss=loss, batchSize=2, epochs=1, verbose=0).fit(dataset)
    _assert_clean(str(raised.value))


# -- the model: layer arguments, graph shapes, optimizer arguments (pure Python) ------------------------
def _graph(build):
    def run():
        a, b = layers.Input((4, 2)), layers.Input((5, 3))
        return build(a, b)
    return run


@pytest.mark.parametrize("build,pattern", [
    (lambda: layers.Dense(0), r"\(Dense\): expected a positive integer for `units`, got 0"),
    (lambda: layers.Dense(-3), r"\(Dense\): expected a positive integer for `units`, got -3"),
    (lambda: layers.Dense(3, activation="swishy"), r"\(Dense\): unknown activation 'swishy'; expected one of"),
    (lambda: layers.Conv2D(4, 3, padding="full"), r"\(Conv2D\): expected `padding` to be one of 'valid', 'same'"),
    (lambda: layers.Conv2D(4, 0), r"\(Conv2D\): expected a positive integer .* for `kernel_size`, got 0"),
    (lambda: layers.Dropout(1.5), r"\(Dropout\): expected `rate` in \[0, 1\), got 1.5"),
    (_graph(lambda a, b: layers.Add()([a, b])), r"'add\w*' \(Add\) needs inputs of one shape"),
    (_graph(lambda a, b: layers.Concatenate(axis=-1)([a, b])), r"\(Concatenate\) cannot join .* along axis -1"),
    (_graph(lambda a, b: (lambda dense: bigwrap.Model(a, dense(dense(a))))(layers.Dense(2))),
     r"layer 'dense\w*' takes an input computed from its own output"),
    (lambda: bigwrap.Sequential([layers.Input((4,)), layers.Conv2D(4, 3)]),
     r"\(Conv2D\) expects input of shape \(None, height, width, channels\), got \(None, 4\)"),
    (lambda: bigwrap.Sequential([layers.Input((4,)), layers.Reshape((3, 2))]),
     r"\(Reshape\) cannot reshape input of shape \(None, 4\) \(4 values\) to \(None, 3, 2\)"),
    (lambda: optimizers.Adam(learning_rate=-1), r"Adam: expected a positive number for `learning_rate`, got -1"),
    (lambda: optimizers.SGD(momentum=-0.5), r"SGD: expected `momentum` in \[0, 1\), got -0.5"),
    (lambda: optimizers.Adam(beta_1=1.5), r"Adam: expected `beta_1` in \[0, 1\), got 1.5"),
])
def test_bad_model_arguments_name_the_layer_or_parameter(build, pattern):
    with pytest.raises(ValueError, match=pattern):
        build()


def test_inference_batch_size_must_be_positive(frame, no_spark_job):
    fitted = bigwrap.EstimatorModel(model=_model(), loss="sparse_categorical_crossentropy")
    with no_spark_job, pytest.raises(ValueError, match=r"inferenceBatchSize must be positive, got 0"):
        fitted.copy({fitted.inferenceBatchSize: 0}).transform(frame)


def test_transform_refuses_to_overwrite_columns(frame):
    fitted = bigwrap.EstimatorModel(model=_model(), loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"already has column\(s\) \['prediction'\]"):
        fitted.transform(frame.withColumn("prediction", frame.label))


def test_predict_checks_the_input_shape():
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 4\), got \(2, 5\)"):
        _model().predict(np.zeros((2, 5)))


# -- saved model directories ----------------------------------------------------------------------
def _write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def _edit_json(path, change):
    with open(path) as f:
        content = json.load(f)
    change(content)
    _write(path, json.dumps(content))


def _replace_with_pickle(path):
    shutil.rmtree(path)
    os.makedirs(path)
    _write(os.path.join(path, "model.pkl"), pickle.dumps({"weights": [1.0, 2.0]}))


def _weights_of_another_model(path):
    bigwrap.EstimatorModel(model=_model(inputs=6), loss="sparse_categorical_crossentropy").save(path + "-other")
    for name in ("weights.json", "weights.bin"):
        shutil.copy(os.path.join(path + "-other", "model", name), os.path.join(path, "model", name))


_WEIGHTS = os.path.join("model", "weights.bin")
_CORRUPTIONS = {
    "missing": (lambda p: shutil.rmtree(p), FileNotFoundError, r"no saved bigwrap stage at .*/stage: the path does not exist"),
    "a file": (lambda p: (shutil.rmtree(p), _write(p, "hello")), ValueError, r"/stage is a file, not a saved bigwrap stage"),
    "foreign": (lambda p: shutil.rmtree(os.path.join(p, "metadata")), ValueError,
                r"/stage is not a saved bigwrap stage: it has no metadata/part-00000 \(it holds \['history.json', 'model'\]\)"),
    "truncated weights": (lambda p: _write(os.path.join(p, _WEIGHTS), open(os.path.join(p, _WEIGHTS), "rb").read()[:-8]),
                          ValueError, r"model/weights.bin does not match .*weights.json: weight \w+/bias runs past the end "
                                      r"of the weight data: it needs values 12..15, the data holds 13; the weights are "
                                      r"truncated or corrupted"),
    "truncated metadata": (lambda p: _write(os.path.join(p, "metadata", "part-00000"), '{"class": "bigw'), ValueError,
                           r"metadata/part-00000 is corrupted: it is not valid JSON"),
    "corrupted spec": (lambda p: _write(os.path.join(p, "model", "spec.json"), os.urandom(32) + b"\xff"), ValueError,
                       r"model/spec.json is corrupted: it is not valid JSON"),
    "missing spec": (lambda p: os.remove(os.path.join(p, "model", "spec.json")), ValueError,
                     r"model/spec.json is missing: the saved directory is incomplete"),
    "wrong stage version": (lambda p: _edit_json(os.path.join(p, "metadata", "part-00000"),
                                                 lambda m: m["bigwrap"].update(version=99)), ValueError,
                            r"/stage is not a saved bigwrap stage this version reads \(format 'bigwrap.stage', version 99\)"),
    "wrong spec version": (lambda p: _edit_json(os.path.join(p, "model", "spec.json"), lambda m: m.update(version=7)),
                           ValueError, r"model/spec.json: model spec version 7 is not supported"),
    "weights of another model": (_weights_of_another_model, ValueError,
                                 r"the data holds|the weights have no .* for layer|does not match"),
    "pickle directory": (_replace_with_pickle, ValueError,
                         r"/stage/model.pkl holds a Python pickle; bigwrap never loads pickled or Java-serialized"),
    "pickle as weights": (lambda p: _write(os.path.join(p, _WEIGHTS), pickle.dumps(list(range(50)))), ValueError,
                          r"model/weights.bin holds a Python pickle"),
    "java object as metadata": (lambda p: _write(os.path.join(p, "metadata", "part-00000"),
                                                 b"\xac\xed\x00\x05sr\x00\x11java.util.HashMap"), ValueError,
                                r"metadata/part-00000 holds a Java-serialized object"),
}


@pytest.mark.parametrize("case", list(_CORRUPTIONS))
def test_a_damaged_or_foreign_model_directory_is_named(spark, tmp_path, case):
    corrupt, error, pattern = _CORRUPTIONS[case]
    path = str(tmp_path / "stage")
    bigwrap.EstimatorModel(model=_model(), loss="sparse_categorical_crossentropy").save(path)
    corrupt(path)
    with pytest.raises(error, match=pattern) as raised:
        bigwrap.EstimatorModel.load(path)
    _assert_clean(str(raised.value))


# -- the runtime: a session without our jars, Java missing or too old (fresh processes) ----------------
def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_a_session_without_the_jars_says_how_to_fix_it():
    result = _python("""
        from pyspark.sql import SparkSession
        SparkSession.builder.master("local[1]").getOrCreate()
        import bigwrap
        try:
            bigwrap.session()
        except bigwrap.SetupError as e:
            print("SETUP:", e)
    """)
    assert "SETUP: the active SparkSession does not have bigwrap's jars" in result.stdout, result.stderr
    assert "bigwrap.session()" in result.stdout and "python -m bigwrap classpath" in result.stdout


def _fake_java(directory, banner: str) -> str:
    os.makedirs(os.path.join(directory, "bin"))
    java = os.path.join(directory, "bin", "java")
    _write(java, f"#!/bin/sh\necho '{banner}' >&2\n")
    os.chmod(java, 0o755)
    return str(directory)


@pytest.mark.parametrize("java,pattern", [
    ("1.8", r"/bin/java is Java 8; bigwrap needs Java 17 or newer: install OpenJDK 17"),
    ("11", r"/bin/java is Java 11; bigwrap needs Java 17 or newer"),
    ("no java here", r"JAVA_HOME is .*, but .*/bin/java is not an executable"),
    ("not on PATH", r"Java was not found: JAVA_HOME is unset and there is no `java` on PATH; install OpenJDK 17"),
])
def test_java_missing_or_too_old_is_named_before_spark_starts(tmp_path, java, pattern):
    if java == "not on PATH":
        env = {"JAVA_HOME": "", "PATH": os.path.dirname(sys.executable)}
    elif java == "no java here":
        env = {"JAVA_HOME": str(tmp_path)}
    else:
        env = {"JAVA_HOME": _fake_java(tmp_path / "jdk", f'openjdk version "{java}.0.1" 2020-01-01')}
    result = _python("""
        import bigwrap
        try:
            bigwrap.session("local[1]")
        except bigwrap.SetupError as e:
            print("SETUP:", e)
    """, env)
    assert result.returncode == 0, result.stderr[-2000:]
    message = result.stdout.partition("SETUP: ")[2]
    assert message, result.stdout + result.stderr[-2000:]
    assert re.search(pattern, message), message
