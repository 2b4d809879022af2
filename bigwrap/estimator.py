"""Estimator / EstimatorModel: a bigwrap model as a Spark ML stage, trained on the JVM."""
from __future__ import annotations

import json
import threading
import uuid
import warnings
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator as SparkEstimator
from pyspark.ml import Model as SparkModel
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol, HasSeed
from pyspark.sql import DataFrame

from . import data, losses, optimizers, runtime
from . import spec as spec_format
from .models import Model

# "barrier": our trainer (one barrier stage per epoch, RPC-synchronised AllReduce); "bigdl": DistriOptimizer.
TRAINERS = ("barrier", "bigdl")


class _OutputParams(HasFeaturesCol, HasPredictionCol, HasProbabilityCol):
    featuresCol = Param(Params._dummy(), "featuresCol", "features column name, or a list of names: one per model "
                        "input, in the order of the model's inputs", TypeConverters.identity)
    inferenceBatchSize = Param(Params._dummy(), "inferenceBatchSize",
                               "rows per forward pass when transforming (positive)", TypeConverters.toInt)


class _EstimatorParams(_OutputParams, HasLabelCol, HasSeed):
    model = Param(Params._dummy(), "model", "the bigwrap model (Sequential or Model) to train",
                  TypeConverters.identity)
    loss = Param(Params._dummy(), "loss", "sparse_categorical_crossentropy, binary_crossentropy, mse, "
                 "or a bigwrap.losses.Loss", TypeConverters.identity)
    optimizer = Param(Params._dummy(), "optimizer", "'sgd', 'adam' or a bigwrap.optimizers object",
                      TypeConverters.identity)
    batchSize = Param(Params._dummy(), "batchSize", "global mini-batch size, a multiple of the training cores",
                      TypeConverters.toInt)
    epochs = Param(Params._dummy(), "epochs", "passes over the training data (positive)", TypeConverters.toInt)
    verbose = Param(Params._dummy(), "verbose", "0: silent, 1: one line per epoch", TypeConverters.toInt)
    numTasks = Param(Params._dummy(), "numTasks", "tasks training in parallel (barrier trainer); None: one per core",
                     TypeConverters.identity)
    trainer = Param(Params._dummy(), "trainer", "'barrier' (bigwrap's trainer) or 'bigdl' (BigDL's DistriOptimizer)",
                    TypeConverters.toString)


class Estimator(SparkEstimator, _EstimatorParams):
    """Trains a bigwrap model on a DataFrame with synchronous data-parallel SGD on the JVM."""

    @keyword_only
    def __init__(self, *, model: Model | None = None, loss: Any = None, optimizer: Any = "adam",
                 batchSize: int = 32, epochs: int = 1, featuresCol: str | list[str] = "features", labelCol: str = "label",
                 predictionCol: str = "prediction", probabilityCol: str = "probability", verbose: int = 1,
                 seed: int | None = None, trainer: str = "barrier", numTasks: int | None = None,
                 inferenceBatchSize: int = 256):
        super().__init__()
        self._setDefault(optimizer="adam", batchSize=32, epochs=1, verbose=1, trainer="barrier", numTasks=None,
                         inferenceBatchSize=256)
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "Estimator":
        return self._set(**self._input_kwargs)

    def _settings(self) -> dict[str, Any]:
        """Every parameter checked in one place, before any JVM or Spark work."""
        model = self.getOrDefault(self.model) if self.isDefined(self.model) else None
        if not isinstance(model, Model):
            raise TypeError(f"Estimator needs model= a bigwrap Sequential or Model, got {type(model).__name__}")
        if len(model._outputs) != 1:
            raise ValueError(f"model '{model.name}' has {len(model._outputs)} outputs; the Estimator trains "
                             "single-output models")
        if not self.isDefined(self.loss) or self.getOrDefault(self.loss) is None:
            raise ValueError("Estimator needs loss=, e.g. 'sparse_categorical_crossentropy' or 'mse'")
        loss = losses.get(self.getOrDefault(self.loss))
        loss.check_output(model._outputs[0].dims, model.name)
        settings = {name: self.getOrDefault(name) for name in ("batchSize", "epochs", "verbose", "trainer", "numTasks")}
        for name in ("batchSize", "epochs"):
            if settings[name] <= 0:
                raise ValueError(f"Estimator: {name} must be a positive integer, got {settings[name]}")
        if settings["verbose"] not in (0, 1):
            raise ValueError(f"Estimator: verbose must be 0 or 1, got {settings['verbose']}")
        tasks = settings["numTasks"]
        if tasks is not None and (isinstance(tasks, bool) or not isinstance(tasks, int) or tasks <= 0):
            raise ValueError(f"Estimator: numTasks must be a positive integer or None, got {tasks!r}")
        if tasks is not None and settings["trainer"] != "barrier":
            raise ValueError("Estimator: numTasks applies to trainer='barrier'; 'bigdl' always trains on all cores")
        if settings["trainer"] not in TRAINERS:
            raise ValueError(f"Estimator: unknown trainer {settings['trainer']!r}; available: {', '.join(TRAINERS)}")
        seed = self.getOrDefault(self.seed) if self.isDefined(self.seed) else None
        return {**settings, "model": model, "loss": loss,
                "optimizer": optimizers.get(self.getOrDefault(self.optimizer)), "seed": seed}

    def _fit(self, dataset: DataFrame) -> "EstimatorModel":
        s = self._settings()
        model, loss = s["model"], s["loss"]
        features, label = self.getFeaturesCol(), self.getLabelCol()
        _check_feature_columns(dataset, features, model)
        data.check_label(dataset, label, loss)
        bridge = runtime.bridge(dataset.sparkSession)
        tasks = s["numTasks"] or bridge.total_cores
        if tasks > bridge.total_cores:
            raise ValueError(f"Estimator: numTasks {tasks} exceeds the {bridge.total_cores} cores training; "
                             "all tasks of a synchronous step must run at once")
        if s["batchSize"] % tasks:
            raise ValueError(f"Estimator: batchSize {s['batchSize']} must be a multiple of the {tasks} "
                             f"tasks training ({bridge.engine['node_number']} executor(s) × "
                             f"{bridge.engine['core_number']} cores), e.g. {_round_up(s['batchSize'], tasks)}")
        index, weights = spec_format.encode_weights(model._weight_entries())
        handle = bridge.call("loadModel", model.to_json(), index, weights)
        run_id = str(uuid.uuid4())
        config = {"run_id": run_id, "loss": loss.get_config(), "optimizer": s["optimizer"].get_config(),
                  "batch_size": s["batchSize"], "epochs": s["epochs"], "trainer": s["trainer"], "tasks": tasks,
                  "features_col": features, "label_col": label}
        if s["seed"] is not None:
            config["seed"] = int(s["seed"]) & 0x7FFFFFFFFFFFFFFF
        with _EpochPrinter(bridge, run_id, s["epochs"], enabled=s["verbose"] == 1) as printer:
            final = json.loads(bridge.call("fit", dataset._jdf, handle, json.dumps(config)))
            printer.update(final)
        trained = model._with_weights(spec_format.decode_weights(
            bridge.call("weightIndex", handle), bytes(bridge.call("weightBytes", handle))))
        trained._adopt_handle(bridge, handle)
        fitted = EstimatorModel(model=trained, loss=loss, history=final["history"])
        self._copyValues(fitted)
        return fitted


def _check_feature_columns(df: DataFrame, features: str | list[str], model: Model) -> None:
    """One features column per model input (a plain name for a single-input model)."""
    columns = [features] if isinstance(features, str) else list(features)
    if not columns or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"featuresCol must be a column name or a list of names, got {features!r}")
    if len(columns) != len(model._inputs):
        raise ValueError(f"model '{model.name}' has {len(model._inputs)} input(s) "
                         f"{[t.layer.name for t in model._inputs]} but featuresCol names {len(columns)} column(s) "
                         f"{columns}; give one column per input, in the same order")
    for column, tensor in zip(columns, model._inputs):
        data.check_features(df, column, tensor.dims, model.name)


def _round_up(value: int, multiple: int) -> int:
    return max(multiple, (value + multiple - 1) // multiple * multiple)


class _EpochPrinter:
    """Reports the JVM's progress record, polled from a thread: warnings, and one line per epoch if enabled."""

    def __init__(self, bridge, run_id: str, epochs: int, enabled: bool):
        self._bridge, self._run_id, self._epochs, self._enabled = bridge, run_id, epochs, enabled
        self._printed = 0
        self._warned = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bigwrap-progress", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            try:
                record = json.loads(self._bridge.call("progress", self._run_id))
            except Exception:  # the fit itself reports failures; polling just stops
                return
            if record:
                self.update(record)

    def update(self, record: dict[str, Any]) -> None:
        """Warnings always reach the user (e.g. an epoch retried after a lost executor); epoch lines if verbose."""
        with self._lock:
            for message in record.get("warnings", [])[self._warned:]:
                warnings.warn(f"bigwrap: {message}", RuntimeWarning, stacklevel=2)
            self._warned = max(self._warned, len(record.get("warnings", [])))
            if not self._enabled:
                return
            for row in record["history"][self._printed:]:
                print(f"Epoch {row['epoch']}/{self._epochs} - loss: {row['loss']:.4f} - "
                      f"{row['samples_per_second']:,.0f} samples/s - {row['seconds']:.1f}s", flush=True)
            self._printed = max(self._printed, len(record["history"]))


class EstimatorModel(SparkModel, _OutputParams):
    """A trained bigwrap model as a Spark ML Model: transform adds prediction (and probability)."""

    def __init__(self, model: Model | None = None, loss: Any = "mse", history: list[dict[str, Any]] | None = None):
        super().__init__()
        self._setDefault(featuresCol="features", predictionCol="prediction", probabilityCol="probability",
                         inferenceBatchSize=256)
        self.model = model
        self.loss = losses.get(loss)
        self.history = list(history or [])

    def _output_columns(self) -> list[str]:
        if self.loss.task == "regression":
            return [self.getPredictionCol()]
        return [self.getPredictionCol(), self.getProbabilityCol()]

    def _transform(self, dataset: DataFrame) -> DataFrame:
        features = self.getFeaturesCol()
        _check_feature_columns(dataset, features, self.model)
        data.check_free_columns(dataset, self._output_columns())
        batch = self.getOrDefault(self.inferenceBatchSize)
        if batch <= 0:
            raise ValueError(f"EstimatorModel: inferenceBatchSize must be positive, got {batch}")
        bridge = runtime.bridge(dataset.sparkSession)
        config = {"features_col": features, "prediction_col": self.getPredictionCol(),
                  "probability_col": self.getProbabilityCol(), "task": self.loss.task,
                  "from_logits": self.loss.from_logits, "batch_size": batch}
        jdf = bridge.call("transform", dataset._jdf, self.model._jvm_handle(bridge), json.dumps(config))
        return DataFrame(jdf, dataset.sparkSession)
