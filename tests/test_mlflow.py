"""bigwrap.mlflow against a real MLflow tracking store (SQLite backend, local artifact store)."""
from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from pyspark.ml.linalg import Vectors

import bigwrap
import bigwrap.mlflow
from bigwrap import layers

EPOCHS = 3


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tracking server's store on disk: runs, metrics and the model registry in SQLite, artifacts in files."""
    root = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        experiment = mlflow.create_experiment("bigwrap-tests", artifact_location=(root / "artifacts").as_uri())
        patch.setenv("MLFLOW_EXPERIMENT_ID", experiment)
        yield mlflow.MlflowClient()


@pytest.fixture(scope="module")
def data(spark):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(320, 8))
    y = (x[:, 0] - x[:, 3] > 0).astype(float)
    frame = lambda rows, labels: spark.createDataFrame(
        [(Vectors.dense(r), float(t)) for r, t in zip(rows, labels)], ["features", "label"]).cache()
    return frame(x[:256], y[:256]), frame(x[256:], y[256:]), x[256:]


@pytest.fixture(scope="module")
def autologged(store, data):
    """One autologged fit: the run it logged, and the fitted model fit returned."""
    train, validation, _ = data
    bigwrap.set_random_seed(3)
    model = bigwrap.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"),
                                layers.Dense(2, activation="softmax")])
    bigwrap.mlflow.autolog()
    try:
        fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy",
                                   optimizer=bigwrap.optimizers.Adam(0.02), batchSize=32, epochs=EPOCHS,
                                   validationData=validation, metrics=["accuracy"], verbose=0, seed=1).fit(train)
    finally:
        bigwrap.mlflow.autolog(disable=True)
    return mlflow.last_active_run(), fitted


def _outputs(frame) -> pd.DataFrame:
    rows = frame.select("prediction", "probability").collect()
    return pd.DataFrame({"prediction": [r[0] for r in rows], "probability": [r[1].toArray().tolist() for r in rows]})


def test_autolog_records_params_and_per_epoch_history(store, autologged):
    run, fitted = autologged
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["loss"] == "sparse_categorical_crossentropy" and params["optimizer"] == "adam"
    assert float(params["optimizer.learning_rate"]) == pytest.approx(0.02)
    assert params["batchSize"] == "32" and params["epochs"] == str(EPOCHS) and params["metrics"] == "accuracy"
    assert params["model.params"] == str(fitted.model.count_params())
    for name in ("loss", "val_loss", "val_accuracy", "samples_per_second"):
        history = store.get_metric_history(run.info.run_id, name)
        assert [m.step for m in history] == list(range(1, EPOCHS + 1)), name
        assert [m.value for m in history] == pytest.approx(list(fitted.history[name])), name


def test_the_autologged_model_loads_as_bigwrap_and_as_pyfunc_and_predicts_identically(autologged, data):
    run, fitted = autologged
    _, validation, rows = data
    uri = f"runs:/{run.info.run_id}/model"
    expected = _outputs(fitted.transform(validation))
    loaded = bigwrap.mlflow.load_model(uri)
    assert isinstance(loaded, bigwrap.EstimatorModel) and loaded.history.equals(fitted.history)
    pd.testing.assert_frame_equal(_outputs(loaded.transform(validation)), expected)
    as_pyfunc = mlflow.pyfunc.load_model(uri)
    pd.testing.assert_frame_equal(as_pyfunc.predict(pd.DataFrame({"features": list(rows)})), expected)
    # a model of one 1-D input also takes one numeric column per feature
    columns = pd.DataFrame(rows, columns=[f"x{i}" for i in range(8)])
    pd.testing.assert_frame_equal(as_pyfunc.predict(columns), expected)
    assert expected["prediction"].tolist() != [expected["prediction"][0]] * len(expected)  # not a constant model


def test_log_model_registers_a_version_that_loads_both_ways(store, autologged, data):
    _, fitted = autologged
    _, validation, rows = data
    with mlflow.start_run():
        info = bigwrap.mlflow.log_model(fitted, "classifier", registered_model_name="bigwrap-separable")
    assert info.registered_model_version == 1
    expected = _outputs(fitted.transform(validation))
    for uri in (info.model_uri, "models:/bigwrap-separable/1"):
        pd.testing.assert_frame_equal(_outputs(bigwrap.mlflow.load_model(uri).transform(validation)), expected)
        pd.testing.assert_frame_equal(mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"features": list(rows)})),
                                      expected)


def test_pyfunc_input_that_fits_no_model_input_is_refused_by_name(autologged):
    run, _ = autologged
    as_pyfunc = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    with pytest.raises(ValueError, match=r"reads column\(s\) \['features'\] holding \[8\] values per row"):
        as_pyfunc.predict(pd.DataFrame({"x": [1.0, 2.0]}))


def test_a_second_fit_in_one_run_warns_instead_of_failing(store, data):
    """MLflow refuses to change a run's param: autologging says so, and the fit still returns its model."""
    train, _, _ = data
    model = bigwrap.Sequential([layers.Input((8,)), layers.Dense(2, activation="softmax")])
    estimator = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=32, epochs=1,
                                  verbose=0)
    bigwrap.mlflow.autolog(log_models=False)
    try:
        with mlflow.start_run() as run:
            estimator.fit(train)
            with pytest.warns(RuntimeWarning, match="autolog could not log params"):
                fitted = estimator.copy({estimator.batchSize: 64}).fit(train)
    finally:
        bigwrap.mlflow.autolog(disable=True)
    assert isinstance(fitted, bigwrap.EstimatorModel)
    assert store.get_run(run.info.run_id).data.params["batchSize"] == "32"


def test_disabled_autolog_logs_nothing(store, data):
    train, _, _ = data
    before = len(store.search_runs([mlflow.get_experiment_by_name("bigwrap-tests").experiment_id]))
    model = bigwrap.Sequential([layers.Input((8,)), layers.Dense(2, activation="softmax")])
    bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=32, epochs=1,
                      verbose=0).fit(train)
    assert len(store.search_runs([mlflow.get_experiment_by_name("bigwrap-tests").experiment_id])) == before
