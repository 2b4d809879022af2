"""Estimator: a bigwrap model as a Spark ML Estimator, trained on the JVM."""
from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
import uuid
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator as SparkEstimator
from pyspark.sql import DataFrame

from . import checkpoints, data, live_models, losses, optimizers, runtime
from . import kernels as kernel_options
from . import spec as spec_format
from .fitted import EstimatorModel
from .models import Model
from .params import EstimatorParams
from .persistence import Persistable
from .progress import ProgressPrinter


class Estimator(SparkEstimator, EstimatorParams, Persistable):
    """Trains a bigwrap model on a DataFrame with synchronous data-parallel SGD on the JVM.

    Every setting is a Spark ML Param (see bigwrap.params), so the estimator works in Pipeline,
    CrossValidator and TrainValidationSplit; `fitMultiple` is Spark's, so CrossValidator's
    `parallelism` decides how many param maps train at once.

    A thin wrapper over the JVM's `bigwrap.ml.BigwrapEstimator` (`_java_obj`, as pyspark's JavaEstimator):
    the defaults, the rules of each Param and of Params together, and the fit's settings are the JVM
    stage's; the values cross in `_transfer_params_to_java`. Python keeps what cannot cross: the DSL
    model (it crosses as spec + weights when the fit starts), validationData (a DataFrame), the
    progress bar and Ctrl-C. Saved as `bigwrap.ml.BigwrapEstimator`. It has `_from_java` (pyspark's
    Java pipeline reader turns a JVM BigwrapEstimator into this) but no `_to_java`: with one, pyspark
    would save a CrossValidator over it with its Java writer, which cannot carry the DSL models of a
    grid (docs/persistence.md, "Pipelines Scala can read").
    """

    _stage_class = "bigwrap.ml.BigwrapEstimator"

    @keyword_only
    def __init__(self, **params: Any):
        super().__init__()
        self._java_obj = runtime.bridge().call("StageHandoff.newStage", self._stage_class, self.uid)
        self._setDefault(validationData=None)
        self._set_jvm_defaults()
        self._set_kwargs(self._input_kwargs)

    @keyword_only
    def setParams(self, **params: Any) -> "Estimator":
        return self._set_kwargs(self._input_kwargs)

    def copy(self, extra=None) -> "Estimator":
        """A copy with its own JVM twin, so that copies fitting at once (CrossValidator's parallelism) share nothing."""
        that = super().copy(extra)
        that._java_obj = runtime.bridge().call("StageHandoff.newStage", self._stage_class, that.uid)
        return that

    def _jvm_value(self, name: str, value: Any) -> Any:
        if name == "loss" and value is not None:
            return losses.get(value).get_config()
        if name == "optimizer":
            return optimizers.get(value).get_config()
        return value

    def _transfer_params_to_java(self) -> None:
        """Pushes every value to the JVM twin, where each Param's rule checks it, then the rules across Params."""
        validation = self.getOrDefault(self.validationData)
        if validation is not None and not isinstance(validation, DataFrame):
            raise TypeError(f"Estimator: validationData must be a DataFrame, got {type(validation).__name__}")
        if validation is not None and self.getOrDefault(self.validationSplit) > 0:
            raise ValueError("Estimator: set validationData or validationSplit, not both")
        runtime.bridge().call("StageHandoff.setEstimatorParams", self._java_obj, self._jvm_param_map(), "Estimator",
                              validation is not None or self.getOrDefault(self.validationSplit) > 0)

    def _model(self) -> Model:
        """The DSL model to train, checked against the loss (Python-only: the layers live here)."""
        model = self.getOrDefault(self.model) if self.isDefined(self.model) else None
        if not isinstance(model, Model):
            raise TypeError(f"Estimator needs model= a bigwrap Sequential or Model, got {type(model).__name__}")
        if len(model._outputs) != 1:
            raise ValueError(f"model '{model.name}' has {len(model._outputs)} outputs; the Estimator trains "
                             "single-output models")
        return model

    def _fit(self, dataset: DataFrame) -> EstimatorModel:
        model = self._model()
        self._transfer_params_to_java()
        loss = losses.get(self.getOrDefault(self.loss))
        loss.check_output(model._outputs[0].dims, model.name)
        resume = None if self.getOrDefault(self.resumeFrom) is None else checkpoints.load(self.getOrDefault(self.resumeFrom))
        if resume is not None:
            model = model._with_weights(resume.weights)
        train, validation, split = dataset, self.getOrDefault(self.validationData), self.getOrDefault(self.validationSplit)
        if split > 0:
            train, validation = dataset.randomSplit([1 - split, split], seed=self.getOrDefault(self.seed) or 0)
        features, label = self.getFeaturesCol(), self.getLabelCol()
        for frame in [train] + ([validation] if validation is not None else []):
            data.check_feature_columns(frame, features, model)
            data.check_label(frame, label, loss)
        bridge = runtime.bridge(dataset.sparkSession)
        kernels = kernel_options.to_json(self.getOrDefault(self.kernels), self.getOrDefault(self.precision))
        request = {"run_id": str(uuid.uuid4()), "resume": None if resume is None else {
            "dir": resume.path, "epoch": resume.epoch, "iteration": resume.iteration, "history": resume.history}}
        epochs, verbose = self.getOrDefault(self.epochs), self.getOrDefault(self.verbose)
        with live_models.released_on_failure(bridge, live_models.load(bridge, model, kernels)) as handle, \
                ProgressPrinter(bridge, request["run_id"], epochs, verbose,
                                done_epochs=resume.epoch if resume else 0) as printer:
            try:
                with _plain_ctrl_c():
                    final = json.loads(bridge.call("FitRuns.fit", train._jdf,
                                                   None if validation is None else validation._jdf, handle,
                                                   self._java_obj, json.dumps(request)))
            except KeyboardInterrupt:
                _stop_fit(bridge, request["run_id"])
                raise
            printer.finish(final)
            trained = model._with_weights(spec_format.decode_weights(*bridge.model_weights(handle)))
        live_models.adopt(trained, bridge, handle, kernels)
        fitted = EstimatorModel(model=trained, loss=loss, history=final["history"])
        fitted.stopped_epoch, fitted.best_epoch = final["stopped_early_at"], final["best_epoch"]
        fitted.training_data = final.get("training_data")
        fitted.task_layout = final.get("task_layout")
        self._copyValues(fitted)
        return fitted


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
    while bridge.call("FitRuns.cancel", run_id) and time.monotonic() < deadline:
        time.sleep(0.2)

