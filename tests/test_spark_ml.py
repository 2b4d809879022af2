"""The Estimator as a Spark ML citizen: CrossValidator, Pipeline, save/load, atomic save."""
from __future__ import annotations

import os

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

import bigwrap
from bigwrap import layers


def _mlp(hidden: int, inputs: int = 64, classes: int = 10):
    return bigwrap.Sequential([layers.Input((inputs,)), layers.Dense(hidden, activation="relu"),
                               layers.Dense(classes, activation="softmax")], name=f"mlp_{hidden}")


def test_every_setting_is_a_documented_param_with_a_default():
    estimator = bigwrap.Estimator()
    for param in estimator.params:
        assert param.doc, param.name
        if param.name not in ("model", "loss", "seed"):
            assert estimator.hasDefault(param), param.name
    names = {p.name for p in estimator.params}
    assert {"validationData", "validationSplit", "metrics", "earlyStopping", "monitor", "patience", "minDelta",
            "restoreBestWeights", "checkpointDir", "checkpointEvery", "resumeFrom", "logDir"} <= names


def test_cross_validator_over_learning_rate_and_hidden_units_on_digits(digits):
    train, test = digits
    bigwrap.set_random_seed(1)
    estimator = bigwrap.Estimator(loss="sparse_categorical_crossentropy", batchSize=64, epochs=10, seed=4,
                                  verbose=0)
    models = [_mlp(8), _mlp(64)]
    grid = (ParamGridBuilder()
            .addGrid(estimator.optimizer, [bigwrap.optimizers.Adam(0.0005), bigwrap.optimizers.Adam(0.01)])
            .addGrid(estimator.model, models).build())
    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    cv = CrossValidator(estimator=estimator, estimatorParamMaps=grid, evaluator=evaluator, numFolds=2,
                        parallelism=2, seed=7)
    fitted = cv.fit(train)
    assert len(fitted.avgMetrics) == 4
    best = grid[int(np.argmax(fitted.avgMetrics))]
    # the slow learning rate and the 8-unit model both underfit in 10 short epochs: the grid must see it
    assert best[estimator.optimizer] == bigwrap.optimizers.Adam(0.01) and best[estimator.model] is models[1]
    assert evaluator.evaluate(fitted.bestModel.transform(test)) >= 0.95


@pytest.fixture(scope="module")
def tabular(spark):
    rng = np.random.default_rng(21)
    x = rng.normal(loc=[5.0, -3.0, 100.0], scale=[1.0, 2.0, 30.0], size=(240, 3))
    y = ((x[:, 0] - 5) + (x[:, 1] + 3) / 2 > 0).astype(float)
    return spark.createDataFrame([(*map(float, r), float(t)) for r, t in zip(x, y)], ["a", "b", "c", "label"])


def _pipeline():
    model = bigwrap.Sequential([layers.Input((3,)), layers.Dense(8, activation="tanh"),
                                layers.Dense(2, activation="softmax")])
    return Pipeline(stages=[
        VectorAssembler(inputCols=["a", "b", "c"], outputCol="raw"),
        StandardScaler(inputCol="raw", outputCol="features", withMean=True),
        bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy",
                          optimizer=bigwrap.optimizers.Adam(0.05), batchSize=40, epochs=3, verbose=0, seed=2)])


def test_pipeline_fits_saves_loads_and_predicts_identically(tabular, tmp_path):
    pipeline = _pipeline()
    fitted = pipeline.fit(tabular)
    fitted.write().save(str(tmp_path / "pipeline_model"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline_model"))
    assert isinstance(loaded.stages[-1], bigwrap.EstimatorModel)
    before = fitted.transform(tabular).select("prediction", "probability").collect()
    after = loaded.transform(tabular).select("prediction", "probability").collect()
    assert before == after
    assert loaded.stages[-1].history.equals(fitted.stages[-1].history)
    # the unfitted pipeline (an Estimator with its untrained model and settings) round-trips too
    pipeline.write().save(str(tmp_path / "pipeline"))
    estimator = Pipeline.load(str(tmp_path / "pipeline")).getStages()[-1]
    original = pipeline.getStages()[-1]
    assert estimator.uid == original.uid
    assert estimator.getOrDefault("optimizer") == original.getOrDefault("optimizer")
    assert estimator.getOrDefault("model").to_json() == original.getOrDefault("model").to_json()
    for a, b in zip(estimator.getOrDefault("model").get_weights(), original.getOrDefault("model").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_saved_model_layout_is_metadata_spec_and_raw_float32_weights(tabular, tmp_path):
    fitted = _pipeline().fit(tabular).stages[-1]
    path = tmp_path / "model"
    fitted.save(str(path))
    assert sorted(os.listdir(path)) == ["_bigwrap_manifest.json", "history.json", "metadata", "model"]  # the manifest: written last (docs/persistence.md)
    assert sorted(os.listdir(path / "model")) == ["spec.json", "weights.bin", "weights.json"]
    kernel = np.frombuffer((path / "model" / "weights.bin").read_bytes(), dtype="<f4")[:3 * 8].reshape(3, 8)
    np.testing.assert_array_equal(kernel, fitted.model.get_weights()[0])
    with pytest.raises(FileExistsError, match="overwrite"):
        fitted.save(str(path))


def test_a_failure_during_save_leaves_the_earlier_model_loadable(tabular, tmp_path):
    fitted = _pipeline().fit(tabular).stages[-1]
    path = tmp_path / "model"
    fitted.save(str(path))
    retrained = bigwrap.EstimatorModel(model=bigwrap.model_from_json(fitted.model.to_json()),
                                       loss=fitted.loss)  # other (fresh) weights

    # the JVM's stage writer crashes after metadata/part-00000, metadata/_SUCCESS and model/spec.json
    bigwrap.runtime.bridge(tabular.sparkSession).hook("failNextSaveAfter", 3, "disk full (simulated)")
    with pytest.raises(OSError, match="simulated"):
        retrained.write().overwrite().save(str(path))
    assert os.listdir(tmp_path) == ["model"]  # no temporary directory left behind
    loaded = bigwrap.EstimatorModel.load(str(path))
    for a, b in zip(loaded.model.get_weights(), fitted.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    retrained.write().overwrite().save(str(path))
    replaced = bigwrap.EstimatorModel.load(str(path))
    np.testing.assert_array_equal(replaced.model.get_weights()[0], retrained.model.get_weights()[0])
