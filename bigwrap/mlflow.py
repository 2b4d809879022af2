"""MLflow for bigwrap (`pip install bigwrap[mlflow]`): a model flavor and autologging.

- `log_model(fitted, artifact_path)` / `save_model(fitted, path)` write a fitted `EstimatorModel` as an MLflow
  model: the `bigwrap` flavor (the saved stage, docs/persistence.md, in `model/`) plus `python_function`,
  whose `predict` takes a pandas DataFrame. `load_model(uri)` gives the `EstimatorModel` back.
- `autolog()` makes every `Estimator.fit` log its params, its per-epoch history (step = epoch) and the model.

Both run the model where bigwrap always does, on a SparkSession's JVM: the pyfunc uses the active session or
starts `bigwrap.session()`. See docs/mlflow.md.
"""
from __future__ import annotations

import functools
import os
import sys
import warnings
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow import pyfunc
from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME, ModelInfo
from mlflow.utils.environment import (_CONDA_ENV_FILE_NAME, _CONSTRAINTS_FILE_NAME, _PYTHON_ENV_FILE_NAME,
                                      _REQUIREMENTS_FILE_NAME, _process_pip_requirements, _PythonEnv)
from mlflow.utils.file_utils import write_to
from mlflow.utils.model_utils import _validate_and_prepare_target_save_path

from . import __version__, losses, optimizers, runtime
from .estimator import Estimator
from .fitted import EstimatorModel

FLAVOR_NAME = "bigwrap"
_STAGE_DIR = "model"
# Params autolog leaves out: the model is logged whole, validation data is a DataFrame.
_UNLOGGED_PARAMS = ("model", "validationData")


def get_default_pip_requirements() -> list[str]:
    """What a pyfunc environment installs: bigwrap (which brings pyspark); BigDL's two wheels go in with
    --no-deps (docs/cluster.md, "Installing on a cluster")."""
    return [f"bigwrap=={__version__}"]


def save_model(fitted: EstimatorModel, path: str, mlflow_model: Model | None = None, signature=None,
               pip_requirements: list[str] | None = None, extra_pip_requirements: list[str] | None = None,
               metadata: dict[str, Any] | None = None) -> None:
    """Writes `fitted` as an MLflow model directory at the local `path` (which must not exist or be empty)."""
    if not isinstance(fitted, EstimatorModel):
        raise TypeError(f"bigwrap.mlflow saves a fitted bigwrap model (what Estimator.fit returns), "
                        f"got {type(fitted).__name__}")
    _validate_and_prepare_target_save_path(path)
    fitted.save(os.path.join(path, _STAGE_DIR))
    mlflow_model = mlflow_model or Model()
    if signature is not None:
        mlflow_model.signature = signature
    if metadata is not None:
        mlflow_model.metadata = metadata
    pyfunc.add_to_model(mlflow_model, loader_module=__name__, data=_STAGE_DIR, conda_env=_CONDA_ENV_FILE_NAME,
                        python_env=_PYTHON_ENV_FILE_NAME)
    mlflow_model.add_flavor(FLAVOR_NAME, data=_STAGE_DIR, bigwrap_version=__version__)
    mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))
    conda_env, requirements, constraints = _process_pip_requirements(
        get_default_pip_requirements() if pip_requirements is None else None, pip_requirements,
        extra_pip_requirements)
    with open(os.path.join(path, _CONDA_ENV_FILE_NAME), "w") as f:
        yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
    if constraints:
        write_to(os.path.join(path, _CONSTRAINTS_FILE_NAME), "\n".join(constraints))
    write_to(os.path.join(path, _REQUIREMENTS_FILE_NAME), "\n".join(requirements))
    _PythonEnv.current().to_yaml(os.path.join(path, _PYTHON_ENV_FILE_NAME))


def log_model(fitted: EstimatorModel, artifact_path: str, registered_model_name: str | None = None,
              signature=None, pip_requirements: list[str] | None = None,
              extra_pip_requirements: list[str] | None = None, metadata: dict[str, Any] | None = None) -> ModelInfo:
    """Logs `fitted` to the active run (one is started if none is) as the model named `artifact_path`;
    `registered_model_name` also registers it. Returns MLflow's ModelInfo (`model_uri` loads it)."""
    return Model.log(artifact_path=None, name=artifact_path, flavor=sys.modules[__name__],
                     registered_model_name=registered_model_name, fitted=fitted, signature=signature,
                     pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
                     metadata=metadata)


def load_model(model_uri: str, dst_path: str | None = None) -> EstimatorModel:
    """The fitted bigwrap model at `model_uri` (runs:/..., models:/..., a path, any artifact URI)."""
    local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=dst_path)
    flavor = Model.load(local).flavors.get(FLAVOR_NAME)
    if flavor is None:
        raise ValueError(f"the MLflow model at {model_uri} has no '{FLAVOR_NAME}' flavor; it was not logged with "
                         "bigwrap.mlflow.log_model")
    return EstimatorModel.load(os.path.join(local, flavor["data"]))


def _load_pyfunc(data_path: str) -> "_PandasPredictor":
    """MLflow's hook for `mlflow.pyfunc.load_model`: `data_path` is the saved stage."""
    return _PandasPredictor(EstimatorModel.load(data_path))


class _PandasPredictor:
    """The pyfunc face of a fitted model: pandas in, pandas out, through the model's own transform."""

    def __init__(self, fitted: EstimatorModel):
        self._fitted = fitted

    def get_raw_model(self) -> EstimatorModel:
        return self._fitted

    def predict(self, data: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """`data` holds the model's features column(s), one array per row (as in training), or, for a model
        with one input of n values, n numeric columns in order. Returns the prediction column (and
        probability, as lists, for classifiers), row for row."""
        spark = runtime.session()
        frame = spark.createDataFrame(*_feature_rows(self._fitted, pd.DataFrame(data)))
        outputs = self._fitted.transform(frame).select(*self._fitted._output_columns()).toPandas()
        for column in outputs.columns[1:]:  # probability: ml Vectors -> lists
            outputs[column] = [vector.toArray().tolist() for vector in outputs[column]]
        return outputs


def _feature_rows(fitted: EstimatorModel, data: pd.DataFrame) -> tuple[list[tuple], Any]:
    """Rows of array<double> features for `fitted`, and their schema, from a pandas DataFrame."""
    from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

    features = fitted.getFeaturesCol()
    columns = [features] if isinstance(features, str) else list(features)
    inputs = fitted.model._inputs
    if all(column in data.columns for column in columns):
        values = [[np.asarray(v, dtype=np.float64).ravel().tolist() for v in data[column]] for column in columns]
    elif len(inputs) == 1 and len(inputs[0].dims) == 1 and data.shape[1] == inputs[0].dims[0]:
        values = [data.to_numpy(dtype=np.float64).tolist()]
    else:
        sizes = [int(np.prod(t.dims)) for t in inputs]
        raise ValueError(f"bigwrap pyfunc: the model reads column(s) {columns} holding {sizes} values per row; "
                         f"got columns {list(data.columns)}. Give those columns (one array per row), or, for a "
                         "model with one input of n values, n numeric columns")
    schema = StructType([StructField(column, ArrayType(DoubleType(), False), False) for column in columns])
    return list(zip(*values)), schema


def autolog(log_models: bool = True, disable: bool = False) -> None:
    """From now on each `Estimator.fit` logs to the active MLflow run (or to a run of its own when none is
    active, e.g. in CrossValidator's threads): the estimator's params, each history column per epoch
    (loss, val_* metrics, seconds, samples_per_second; step = epoch) and, with `log_models`, the model as
    "model". `disable=True` stops it."""
    original = getattr(Estimator._fit, "__bigwrap_unlogged__", Estimator._fit)
    if disable:
        Estimator._fit = original
        return

    @functools.wraps(original)
    def fit_and_log(estimator: Estimator, dataset):
        owns_run = mlflow.active_run() is None
        if owns_run:
            mlflow.start_run()
        try:
            _log_or_warn("params", lambda: mlflow.log_params(_loggable_params(estimator)))
            fitted = original(estimator, dataset)
            _log_or_warn("the history", lambda: _log_history(fitted))
            if log_models:
                _log_or_warn("the model", lambda: log_model(fitted, "model"))
        except BaseException:
            if owns_run:
                mlflow.end_run(status="FAILED")
            raise
        if owns_run:
            mlflow.end_run()
        return fitted

    fit_and_log.__bigwrap_unlogged__ = original
    Estimator._fit = fit_and_log


def _log_or_warn(what: str, log) -> None:
    """Autologging never costs the user a fit: an MLflow failure (e.g. a second fit in one run, whose params
    the run already holds with other values) becomes a warning."""
    try:
        log()
    except Exception as e:  # whatever the tracking store raised
        warnings.warn(f"bigwrap.mlflow.autolog could not log {what}: {e}", RuntimeWarning, stacklevel=3)


def _log_history(fitted: EstimatorModel) -> None:
    for row in fitted._history:
        mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch" and v is not None},
                           step=int(row["epoch"]))


def _loggable_params(estimator: Estimator) -> dict[str, str]:
    """The estimator's params as MLflow params: the loss by name, the optimizer as name + its settings."""
    logged: dict[str, str] = {}
    for param, value in estimator.extractParamMap().items():
        if param.name in _UNLOGGED_PARAMS:
            continue
        if param.name == "loss" and value is not None:
            value = losses.get(value).name
        if param.name == "optimizer":
            config = optimizers.get(value).get_config()
            value = config.pop("name")
            logged.update({f"optimizer.{k}": str(v) for k, v in config.items()})
        logged[param.name] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    model = estimator.getOrDefault("model")
    logged.update({"model.name": model.name, "model.params": str(model.count_params())})
    return logged
