"""Estimator.fit → EstimatorModel.transform on real Spark with BigDL's DistriOptimizer."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import Estimator as SparkEstimator
from pyspark.ml import Model as SparkModel
from pyspark.ml.linalg import Vectors

import bigwrap
from bigwrap import layers


def _accuracy(predictions):
    return predictions.selectExpr("avg(cast(prediction = label as double))").first()[0]


def _digits_mlp():
    return bigwrap.Sequential([layers.Input((64,)), layers.Dense(64, activation="relu"),
                               layers.Dense(10, activation="softmax")])


@pytest.fixture(scope="module", params=["barrier", "bigdl"])
def fitted_digits(request, digits):
    train, _ = digits
    bigwrap.set_random_seed(0)
    estimator = bigwrap.Estimator(model=_digits_mlp(), loss="sparse_categorical_crossentropy",
                                  optimizer=bigwrap.optimizers.Adam(0.01), batchSize=64, epochs=8, seed=3,
                                  verbose=0, trainer=request.param)
    return estimator, estimator.fit(train)


def test_digits_mlp_reaches_95_percent(digits, fitted_digits):
    _, test = digits
    estimator, fitted = fitted_digits
    assert isinstance(estimator, SparkEstimator) and isinstance(fitted, SparkModel)
    predictions = fitted.transform(test)
    assert predictions.columns == ["features", "label", "prediction", "probability"]
    assert _accuracy(predictions) >= 0.95


def test_history_has_one_decreasing_row_per_epoch(fitted_digits):
    _, fitted = fitted_digits
    history = fitted.history
    assert list(history["epoch"]) == list(range(1, 9))
    assert history["loss"].iloc[-1] < history["loss"].iloc[0] / 3
    assert (history["samples_per_second"] > 0).all()


def test_fit_leaves_the_estimators_model_untouched(fitted_digits):
    estimator, fitted = fitted_digits
    untrained = estimator.getOrDefault("model")
    assert fitted.model is not untrained
    assert not np.allclose(untrained.get_weights()[0], fitted.model.get_weights()[0])


def test_predict_agrees_with_transform_probabilities(digits, fitted_digits):
    _, test = digits
    _, fitted = fitted_digits
    rows = fitted.transform(test).select("features", "probability", "prediction").limit(40).collect()
    x = np.array([r.features.toArray() for r in rows], dtype=np.float32)
    probabilities = fitted.model.predict(x)
    np.testing.assert_allclose(probabilities, np.array([r.probability.toArray() for r in rows]), atol=1e-6)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), [r.prediction for r in rows])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_array_columns_of_doubles_and_floats_train_and_predict(spark):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(float)
    doubles = spark.createDataFrame([(r.tolist(), float(t)) for r, t in zip(x.astype(float), y)], ["f", "y"])
    floats = doubles.selectExpr("cast(f as array<float>) as f", "y")
    for frame in (doubles, floats):
        model = bigwrap.Sequential([layers.Input((4,)), layers.Dense(8, activation="tanh"),
                                    layers.Dense(2, activation="softmax")])
        fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", featuresCol="f",
                                   labelCol="y", optimizer=bigwrap.optimizers.Adam(0.05), batchSize=40,
                                   epochs=10, verbose=0).fit(frame)
        accuracy = fitted.transform(frame).selectExpr("avg(cast(prediction = y as double))").first()[0]
        assert accuracy >= 0.9


def test_binary_crossentropy_gives_two_class_probabilities(spark):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(400, 3))
    y = (x @ [1.0, -2.0, 0.5] > 0).astype(float)
    frame = spark.createDataFrame([(Vectors.dense(r), float(t)) for r, t in zip(x, y)], ["features", "label"])
    model = bigwrap.Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid")])
    fitted = bigwrap.Estimator(model=model, loss="binary_crossentropy", optimizer=bigwrap.optimizers.Adam(0.1),
                               batchSize=40, epochs=10, verbose=0).fit(frame)
    out = fitted.transform(frame)
    assert _accuracy(out) >= 0.95
    first = out.first()
    assert len(first.probability) == 2 and first.probability[0] + first.probability[1] == pytest.approx(1.0)


def test_mse_regression_reaches_r2_of_095(spark):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(1000, 5))
    y = x @ np.array([1.5, -2.0, 0.5, 3.0, -1.0]) + 0.7 + rng.normal(scale=0.1, size=1000)
    frame = spark.createDataFrame([(Vectors.dense(r), float(t)) for r, t in zip(x, y)], ["features", "label"])
    train, test = frame.randomSplit([0.8, 0.2], seed=2)
    model = bigwrap.Sequential([layers.Input((5,)), layers.Dense(1)])
    fitted = bigwrap.Estimator(model=model, loss="mse", optimizer=bigwrap.optimizers.SGD(0.05, momentum=0.9),
                               batchSize=32, epochs=10, verbose=0).fit(train)
    predictions = fitted.transform(test)
    assert predictions.columns == ["features", "label", "prediction"]
    label, prediction = np.array(predictions.select("label", "prediction").collect()).T
    residual = ((label - prediction) ** 2).sum()
    total = ((label - label.mean()) ** 2).sum()
    assert 1 - residual / total >= 0.95


def test_verbose_2_prints_one_line_per_epoch(spark, capsys):
    frame = spark.createDataFrame([(Vectors.dense([float(i % 2)]), float(i % 2)) for i in range(64)],
                                  ["features", "label"])
    model = bigwrap.Sequential([layers.Input((1,)), layers.Dense(2, activation="softmax")])
    bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=16, epochs=3,
                      verbose=2).fit(frame)
    lines = [line for line in capsys.readouterr().out.split("\n") if line.startswith("Epoch ")]
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=16, epochs=2,
                      verbose=0).fit(frame)
    assert "Epoch" not in capsys.readouterr().out
