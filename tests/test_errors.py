"""Bad input gets a clear Python error naming the column / layer / parameter, before Spark when possible."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.linalg import Vectors

import bigwrap
from bigwrap import layers


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


@pytest.mark.parametrize("overrides,error,pattern", [
    ({"featuresCol": "pixels"}, ValueError, r"features column 'pixels' is not in the DataFrame.*'features'"),
    ({"labelCol": "target"}, ValueError, r"label column 'target' is not in the DataFrame"),
    ({"labelCol": "text"}, TypeError, r"label column 'text' has type string.*StringIndexer"),
    ({"featuresCol": "text"}, TypeError, r"features column 'text' has type string"),
    ({"batchSize": 7}, ValueError, r"batchSize 7 must be a multiple of the 2 tasks"),
    ({"epochs": 0}, ValueError, r"epochs must be a positive integer"),
    ({"loss": "hinge"}, ValueError, r"unknown loss 'hinge'"),
    ({"loss": None}, ValueError, r"needs loss="),
    ({"optimizer": "lbfgs"}, ValueError, r"unknown optimizer 'lbfgs'"),
    ({"model": "not a model"}, TypeError, r"needs model= a bigwrap Sequential or Model, got str"),
    ({"model": _model(classes=1)}, ValueError, r"at least 2 output units"),
    ({"trainer": "horovod"}, ValueError, r"unknown trainer 'horovod'"),
    ({"numTasks": 3}, ValueError, r"numTasks 3 exceeds the 2 cores"),
    ({"numTasks": 2, "trainer": "bigdl"}, ValueError, r"numTasks applies to trainer='barrier'"),
    ({"verbose": 3}, ValueError, r"verbose must be 0, 1 or 2"),
])
def test_bad_settings_fail_before_any_spark_job(frame, no_spark_job, overrides, error, pattern):
    with no_spark_job, pytest.raises(error, match=pattern):
        _estimator(**overrides).fit(frame)


def test_vector_size_known_from_metadata_fails_before_any_spark_job(spark, no_spark_job):
    assembled = VectorAssembler(inputCols=["a", "b", "c"], outputCol="features").transform(
        spark.createDataFrame([(1.0, 2.0, 3.0, 0.0)], ["a", "b", "c", "label"]))
    with no_spark_job, pytest.raises(ValueError, match=r"features column 'features' holds vectors of size 3.*"
                                                       r"input shape \(None, 4\)"):
        _estimator().fit(assembled)


@pytest.mark.parametrize("rows,pattern", [
    ([([1.0, 2.0, 3.0], 0.0)], r"features column 'array' has a row of 3 values; the model needs 4"),
    ([(None, 0.0)], r"features column 'array' has a null value.*na.drop"),
    ([([1.0, float("nan"), 0.0, 0.0], 0.0)], r"features column 'array' has a non-finite value \(NaN\)"),
    ([([1.0, 2.0, 3.0, 4.0], 3.0)], r"label column 'label' has the value 3.0.*class indices 0..2"),
    ([([1.0, 2.0, 3.0, 4.0], 1.5)], r"label column 'label' has the value 1.5"),
    ([([1.0, 2.0, 3.0, 4.0], -1.0)], r"label column 'label' has the value -1.0"),
])
def test_bad_rows_are_named_by_the_jvm_pass(spark, rows, pattern):
    good = [([1.0, 2.0, 3.0, 4.0], float(i % 3)) for i in range(16)]
    frame = spark.createDataFrame(good + rows, "array array<double>, label double")
    with pytest.raises(ValueError, match=pattern) as raised:
        _estimator(featuresCol="array").fit(frame)
    _assert_clean(str(raised.value))


def test_transform_refuses_to_overwrite_columns(spark, frame):
    fitted = _estimator().fit(frame)
    with pytest.raises(ValueError, match=r"already has column\(s\) \['prediction'\]"):
        fitted.transform(frame.withColumn("prediction", frame.label))


def test_predict_checks_the_input_shape():
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 4\), got \(2, 5\)"):
        _model().predict(np.zeros((2, 5)))


@pytest.mark.parametrize("loss,label,pattern", [
    ("binary_crossentropy", "2.0", r"label column 'label' has the value 2.0; binary_crossentropy needs labels in \[0, 1\]"),
    ("categorical_crossentropy", "array(0.0, 1.5, 0.0)",
     r"label column 'label' has the value 1.5; categorical_crossentropy needs one-hot or probability labels"),
])
def test_labels_outside_zero_one_are_named(spark, loss, label, pattern):
    frame = spark.sql(f"SELECT array(1.0, 2.0, 3.0, 4.0) AS features, {label} AS label")
    units = 1 if loss == "binary_crossentropy" else 3
    model = bigwrap.Sequential([layers.Input((4,)), layers.Dense(units, activation="sigmoid")])
    with pytest.raises(ValueError, match=pattern) as raised:
        bigwrap.Estimator(model=model, loss=loss, batchSize=2, epochs=1, verbose=0).fit(frame)
    _assert_clean(str(raised.value))
