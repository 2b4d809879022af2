"""Estimator: a bigwrap model as a Spark ML Estimator, trained on the JVM."""
from __future__ import annotations

import contextlib
import json
import re
import signal
import threading
import time
import uuid
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator as SparkEstimator
from pyspark.sql import DataFrame

from . import checkpoints, data, losses, optimizers, runtime
from . import kernels as kernel_options
from . import spec as spec_format
from .fitted import EstimatorModel
from .models import Model
from .params import ESTIMATOR_DEFAULTS, EstimatorParams
from .persistence import Persistable, from_java
from .progress import ProgressPrinter

# "barrier": our trainer (one barrier stage per epoch, RPC-synchronised AllReduce); "bigdl": DistriOptimizer.
TRAINERS = ("barrier", "bigdl")
# Where converted rows live between epochs (docs/data.md); the JVM's bigwrap.train.DataCache.
DATA_CACHES = ("auto", "memory", "disk", "none")
TASK_LAYOUTS = ("auto", "perCore", "perExecutor")
_METRIC = re.compile(r"^(loss|accuracy|auc|mae|mse|top_(\d+)_accuracy)$")


class Estimator(SparkEstimator, EstimatorParams, Persistable):
    """Trains a bigwrap model on a DataFrame with synchronous data-parallel SGD on the JVM.

    Every setting is a Spark ML Param (see bigwrap.params), so the estimator works in Pipeline,
    CrossValidator and TrainValidationSplit; `fitMultiple` is Spark's, so CrossValidator's
    `parallelism` decides how many param maps train at once.

    Saved as `bigwrap.ml.BigwrapEstimator`, the JVM class of the same files. It has `_from_java`
    (pyspark's Java pipeline reader turns a JVM BigwrapEstimator into this) but no `_to_java`: with
    one, pyspark would save a CrossValidator over it with its Java writer, which refuses estimators
    that are not JavaEstimators (docs/persistence.md, "Pipelines Scala can read").
    """

    _stage_class = "bigwrap.ml.BigwrapEstimator"

    @keyword_only
    def __init__(self, *, model: Model | None = None, loss: Any = None, optimizer: Any = "adam",
                 batchSize: int = 32, epochs: int = 1, featuresCol: str | list[str] = "features",
                 labelCol: str = "label",
                 predictionCol: str = "prediction", probabilityCol: str = "probability", verbose: int = 1,
                 seed: int | None = None, trainer: str = "barrier", numTasks: int | None = None,
                 taskLayout: str = "auto",
                 inferenceBatchSize: int = 256,
                 validationData: DataFrame | None = None, validationSplit: float = 0.0, metrics: list | None = None,
                 earlyStopping: bool = False, monitor: str = "val_loss", patience: int = 0, minDelta: float = 0.0,
                 restoreBestWeights: bool = False, checkpointDir: str | None = None, checkpointEvery: int = 1,
                 resumeFrom: str | None = None, logDir: str | None = None,
                 kernels: str = kernel_options.DEFAULT_KERNELS, precision: str = kernel_options.DEFAULT_PRECISION,
                 dataCache: str = "auto"):
        super().__init__()
        self._setDefault(**ESTIMATOR_DEFAULTS)
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "Estimator":
        return self._set(**self._input_kwargs)

    def _settings(self) -> dict[str, Any]:
        """Every parameter checked in one place, before any JVM or Spark work."""
        s = {param.name: self.getOrDefault(param) for param in self.params if self.isDefined(param)}
        model = s.get("model")
        if not isinstance(model, Model):
            raise TypeError(f"Estimator needs model= a bigwrap Sequential or Model, got {type(model).__name__}")
        if len(model._outputs) != 1:
            raise ValueError(f"model '{model.name}' has {len(model._outputs)} outputs; the Estimator trains "
                             "single-output models")
        if s.get("loss") is None:
            raise ValueError("Estimator needs loss=, e.g. 'sparse_categorical_crossentropy' or 'mse'")
        s["loss"] = losses.get(s["loss"])
        s["loss"].check_output(model._outputs[0].dims, model.name)
        s["optimizer"] = optimizers.get(s["optimizer"])
        for name in ("batchSize", "epochs", "checkpointEvery"):
            if s[name] <= 0:
                raise ValueError(f"Estimator: {name} must be a positive integer, got {s[name]}")
        if s["verbose"] not in (0, 1, 2):
            raise ValueError(f"Estimator: verbose must be 0, 1 or 2, got {s['verbose']}")
        tasks = s["numTasks"]
        if tasks is not None and (isinstance(tasks, bool) or not isinstance(tasks, int) or tasks <= 0):
            raise ValueError(f"Estimator: numTasks must be a positive integer or None, got {tasks!r}")
        if tasks is not None and s["trainer"] != "barrier":
            raise ValueError("Estimator: numTasks applies to trainer='barrier'; 'bigdl' always trains on all cores")
        if s["taskLayout"] not in TASK_LAYOUTS:
            raise ValueError(f"Estimator: taskLayout must be one of {', '.join(TASK_LAYOUTS)}, got {s['taskLayout']!r}")
        if s["taskLayout"] != "auto" and (tasks is not None or s["trainer"] != "barrier"):
            raise ValueError(f"Estimator: taskLayout={s['taskLayout']!r} needs trainer='barrier' and numTasks=None "
                             "(numTasks sets the tasks itself)")
        kernel_options.check(s["kernels"], s["precision"])
        if s["trainer"] not in TRAINERS:
            raise ValueError(f"Estimator: unknown trainer {s['trainer']!r}; available: {', '.join(TRAINERS)}")
        if s["dataCache"] not in DATA_CACHES:
            raise ValueError(f"Estimator: dataCache must be one of {', '.join(DATA_CACHES)}, got {s['dataCache']!r}")
        if s["trainer"] == "bigdl" and s["dataCache"] in ("disk", "none"):
            raise ValueError(f"Estimator: trainer='bigdl' holds every training row in memory; dataCache="
                             f"{s['dataCache']!r} needs trainer='barrier'")
        if s["optimizer"].clipnorm is not None and s["trainer"] == "barrier":
            raise ValueError("Estimator: clipnorm needs trainer='bigdl' (the barrier trainer clips by value only, "
                             "for now)")
        if not 0 <= s["validationSplit"] < 1:
            raise ValueError(f"Estimator: validationSplit must be in [0, 1), got {s['validationSplit']}")
        if s["validationData"] is not None and not isinstance(s["validationData"], DataFrame):
            raise TypeError(f"Estimator: validationData must be a DataFrame, got {type(s['validationData']).__name__}")
        if s["validationData"] is not None and s["validationSplit"] > 0:
            raise ValueError("Estimator: set validationData or validationSplit, not both")
        validates = s["validationData"] is not None or s["validationSplit"] > 0
        for metric in s["metrics"]:
            if not _METRIC.match(metric):
                raise ValueError(f"Estimator: unknown metric {metric!r}; known: accuracy, top_k_accuracy (e.g. "
                                 "top_5_accuracy), auc, mae, mse, loss")
        if s["metrics"] and not validates:
            raise ValueError("Estimator: metrics are computed on validation data; set validationData or validationSplit")
        if s["earlyStopping"]:
            known = ["loss"] + [f"val_{m}" for m in ["loss", *s["metrics"]] if validates]
            if s["monitor"] not in known:
                raise ValueError(f"Estimator: monitor {s['monitor']!r} is not in the history; it will have {known}")
        elif s["restoreBestWeights"]:
            raise ValueError("Estimator: restoreBestWeights needs earlyStopping=True")
        if s["resumeFrom"] is not None:
            s["resume"] = checkpoints.load(s["resumeFrom"])
        return s

    def _fit(self, dataset: DataFrame) -> EstimatorModel:
        s = self._settings()
        model, loss = s["model"], s["loss"]
        resume = s.get("resume")
        if resume is not None:
            model = model._with_weights(resume.weights)
        train, validation = dataset, s["validationData"]
        if s["validationSplit"] > 0:
            train, validation = dataset.randomSplit([1 - s["validationSplit"], s["validationSplit"]],
                                                    seed=s.get("seed") or 0)
        features, label = self.getFeaturesCol(), self.getLabelCol()
        for frame in [train] + ([validation] if validation is not None else []):
            data.check_feature_columns(frame, features, model)
            data.check_label(frame, label, loss)
        bridge = runtime.bridge(dataset.sparkSession)
        tasks = s["numTasks"] or (int(bridge.engine["node_number"]) if s["taskLayout"] == "perExecutor"
                                  else bridge.total_cores)
        if tasks > bridge.total_cores:
            raise ValueError(f"Estimator: numTasks {tasks} exceeds the {bridge.total_cores} cores training; "
                             "all tasks of a synchronous step must run at once")
        if s["batchSize"] % tasks:
            raise ValueError(f"Estimator: batchSize {s['batchSize']} must be a multiple of the {tasks} "
                             f"tasks training ({bridge.engine['node_number']} executor(s) × "
                             f"{bridge.engine['core_number']} cores), e.g. {_round_up(s['batchSize'], tasks)}")
        index, weights = spec_format.encode_weights(model._weight_entries())
        kernels = kernel_options.to_json(s["kernels"], s["precision"])
        handle = bridge.load_model(model.to_json(), index, weights, kernels)
        config = self._jvm_config(s, features, label, s["numTasks"])  # else the JVM decides by taskLayout
        if resume is not None:
            config["resume"] = {"dir": resume.path, "epoch": resume.epoch, "iteration": resume.iteration,
                                "history": resume.history}
        with ProgressPrinter(bridge, config["run_id"], s["epochs"], s["verbose"],
                             done_epochs=resume.epoch if resume else 0) as printer:
            try:
                with _plain_ctrl_c():
                    final = json.loads(bridge.call("fit", train._jdf,
                                                   None if validation is None else validation._jdf,
                                                   handle, json.dumps(config)))
            except KeyboardInterrupt:
                _stop_fit(bridge, config["run_id"])
                raise
            printer.finish(final)
        trained = model._with_weights(spec_format.decode_weights(*bridge.model_weights(handle)))
        trained._adopt_handle(bridge, handle, kernels)
        fitted = EstimatorModel(model=trained, loss=loss, history=final["history"])
        fitted.stopped_epoch, fitted.best_epoch = final["stopped_early_at"], final["best_epoch"]
        fitted.training_data = final.get("training_data")
        fitted.task_layout = final.get("task_layout")
        self._copyValues(fitted)
        return fitted

    def _jvm_config(self, s: dict[str, Any], features: str, label: str, tasks: int) -> dict[str, Any]:
        optimizer = s["optimizer"]
        config = {"run_id": str(uuid.uuid4()), "loss": s["loss"].get_config(), "optimizer": optimizer.get_config(),
                  "batch_size": s["batchSize"], "epochs": s["epochs"], "trainer": s["trainer"],
                  "tasks": tasks, "task_layout": s["taskLayout"], "features_col": features, "label_col": label,
                  "metrics": s["metrics"],
                  "clip_norm": optimizer.clipnorm, "clip_value": optimizer.clipvalue, "log_dir": s["logDir"],
                  "kernels": s["kernels"], "precision": s["precision"], "data_cache": s["dataCache"]}
        if s.get("seed") is not None:
            config["seed"] = int(s["seed"]) & 0x7FFFFFFFFFFFFFFF
        if s["earlyStopping"]:
            config["early_stopping"] = {"monitor": s["monitor"], "patience": s["patience"],
                                        "min_delta": s["minDelta"], "restore_best_weights": s["restoreBestWeights"]}
        if s["checkpointDir"] is not None:
            config["checkpoint"] = {"dir": checkpoints.local_path(s["checkpointDir"]), "every": s["checkpointEvery"]}
        if s["logDir"] is not None:
            config["log_dir"] = checkpoints.local_path(s["logDir"])
        return {k: v for k, v in config.items() if v is not None}

    @classmethod
    def _from_java(cls, java_stage):
        return from_java(cls, java_stage)


@contextlib.contextmanager
def _plain_ctrl_c():
    """pyspark's SIGINT handler calls the JVM from inside the signal handler, on the connection the
    interrupted call is using (pinned threads), which breaks both calls. During a fit Ctrl-C only
    raises KeyboardInterrupt; _stop_fit then does the cancelling on a fresh connection."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop_fit(bridge, run_id: str, timeout: float = 120.0) -> None:
    """After Ctrl-C: cancels the fit's Spark jobs and waits until its JVM side has stopped, so no
    job outlives the interrupt. Checkpoints already written stay (each is renamed into place whole)."""
    deadline = time.monotonic() + timeout
    # asked again while it runs: a job that started just after one request is cancelled by the next
    while bridge.call("cancel", run_id) and time.monotonic() < deadline:
        time.sleep(0.2)


def _round_up(value: int, multiple: int) -> int:
    return max(multiple, (value + multiple - 1) // multiple * multiple)
