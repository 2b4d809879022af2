"""The Spark ML Params of Estimator and EstimatorModel, over their JVM twins (pyspark's wrapper pattern).

The Scala stages (jvm/.../bigwrap/ml/Params.scala) are the one declaration of each Param's default and
rule; `JvmParams` takes the defaults from there and pushes values there to be checked, in one place
each. Shared names come from pyspark's mixins (featuresCol, labelCol, predictionCol, probabilityCol,
seed), so bigwrap stages spell them as every MLlib stage does.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol, HasSeed

from . import runtime


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A converter that also lets a Param be set back to None (its "off" value)."""
    return lambda value: None if value is None else convert(value)


def _param(name: str, doc: str, converter=TypeConverters.identity) -> Param:
    return Param(Params._dummy(), name, doc, converter)


_defaults: dict[str, dict[str, Any]] = {}


def jvm_defaults(stage_class: str) -> dict[str, Any]:
    """The defaults of the JVM stage `stage_class`'s Params (fetched once per class): the one place they live."""
    if stage_class not in _defaults:
        _defaults[stage_class] = json.loads(runtime.bridge().call("stageDefaults", stage_class))
    return _defaults[stage_class]


class JvmParams(Params):
    """Params whose defaults and rules are those of the JVM stage `_jvm_params` (pyspark's
    `_transfer_params_from_java` / `_transfer_params_to_java`, with JSON values). Params in
    `_python_only` hold Python objects that cannot cross (a DSL model, a DataFrame) and stay here;
    params the JVM stage leaves unset by default (seed, numTasks, directories) default to None, "off",
    except those in `_required`, which the user sets."""

    _jvm_params: str
    _python_only: frozenset[str] = frozenset()
    _required: frozenset[str] = frozenset()

    def _set_jvm_defaults(self) -> None:
        defaults = jvm_defaults(self._jvm_params)
        self._setDefault(**{p.name: defaults.get(p.name) for p in self.params if not self.hasDefault(p)
                            and p.name not in self._python_only | self._required})

    def _set_kwargs(self, kwargs: dict[str, Any]):
        unknown = sorted(set(kwargs) - {p.name for p in self.params})
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown parameter(s) {unknown}; its parameters: "
                            f"{sorted(p.name for p in self.params)}")
        return self._set(**kwargs)

    def _jvm_param_map(self) -> str:
        """Every defined value that crosses, as the JSON paramMap the JVM checks by each Param's rule."""
        return json.dumps({p.name: self._jvm_value(p.name, self.getOrDefault(p)) for p in self.params
                           if p.name not in self._python_only and self.isDefined(p)})

    def _jvm_value(self, name: str, value: Any) -> Any:
        return value.get_config() if hasattr(value, "get_config") else value

    def _check_params(self, owner: str) -> None:
        """The JVM's rules over this stage's values: a ValueError naming the parameter, before any Spark job."""
        runtime.bridge().call("checkStageParams", self._jvm_params, self._jvm_param_map(), owner)


class OutputParams(JvmParams, HasFeaturesCol, HasPredictionCol, HasProbabilityCol):
    _jvm_params = "bigwrap.ml.BigwrapModel"

    featuresCol = _param("featuresCol", "features column name, or a list of names: one per model input, in the "
                         "order of the model's inputs")
    inferenceBatchSize = _param("inferenceBatchSize", "rows per forward pass when transforming (positive)",
                                TypeConverters.toInt)
    kernels = _param("kernels", "'native' (bigwrap's MKL/oneDNN kernels for Dense and Conv2D) or 'bigdl' "
                     "(BigDL's); see bigwrap.kernels", TypeConverters.toString)
    precision = _param("precision", "'fp32' or 'bf16' (native kernels: bfloat16 maths, fp32 weights; fp32 "
                       "where the CPU has no bf16)", TypeConverters.toString)


class EstimatorParams(OutputParams, HasLabelCol, HasSeed):
    _jvm_params = "bigwrap.ml.BigwrapEstimator"
    # the DSL model and a DataFrame are Python objects; the JVM gets the model as spec + weights at fit time
    _python_only = frozenset({"model", "validationData"})
    _required = frozenset({"loss"})

    model = _param("model", "the bigwrap model (Sequential or Model) to train; grid over it to vary the "
                   "architecture, e.g. addGrid(est.model, [build(32), build(64)])")
    loss = _param("loss", "a loss name (sparse_categorical_crossentropy, categorical_crossentropy, "
                  "binary_crossentropy, mse, mae, huber) or a bigwrap.losses.Loss")
    optimizer = _param("optimizer", "an optimizer name (sgd, adam, adamw, rmsprop, adagrad) or a "
                       "bigwrap.optimizers object (learning rate or schedule, clipnorm, clipvalue)")
    batchSize = _param("batchSize", "global mini-batch size, a multiple of the training cores", TypeConverters.toInt)
    epochs = _param("epochs", "the epoch to train up to (positive); with resumeFrom, counted from the first run",
                    TypeConverters.toInt)
    verbose = _param("verbose", "0: silent, 1: live progress bar per epoch, 2: one line per epoch",
                     TypeConverters.toInt)
    trainer = _param("trainer", "'barrier' (bigwrap's trainer) or 'bigdl' (BigDL's DistriOptimizer)",
                     TypeConverters.toString)
    numTasks = _param("numTasks", "tasks training in parallel (barrier trainer); None: one per core")
    validationData = _param("validationData", "a DataFrame evaluated after every epoch (not saved with the "
                            "estimator), or None")
    validationSplit = _param("validationSplit", "fraction of the training rows held out for validation when "
                             "validationData is None; 0 for none", TypeConverters.toFloat)
    metrics = _param("metrics", "metrics computed on the validation data besides the loss: accuracy, "
                     "top_k_accuracy (e.g. top_5_accuracy), auc, mae, mse", TypeConverters.toListString)
    earlyStopping = _param("earlyStopping", "stop when `monitor` has not improved for `patience` epochs",
                           TypeConverters.toBoolean)
    monitor = _param("monitor", "the history column early stopping watches (loss, val_loss, val_accuracy, ...)",
                     TypeConverters.toString)
    patience = _param("patience", "epochs without improvement before early stopping (at least 1 is used)",
                      TypeConverters.toInt)
    minDelta = _param("minDelta", "the smallest change of `monitor` that counts as an improvement",
                      TypeConverters.toFloat)
    restoreBestWeights = _param("restoreBestWeights", "with earlyStopping: end with the best epoch's weights",
                                TypeConverters.toBoolean)
    checkpointDir = _param("checkpointDir", "local directory for checkpoints (epoch-NNNN/ subdirectories), or None",
                           _optional(TypeConverters.toString))
    checkpointEvery = _param("checkpointEvery", "write a checkpoint every this many epochs (and after the last)",
                             TypeConverters.toInt)
    resumeFrom = _param("resumeFrom", "a checkpoint directory (or a checkpointDir: its latest epoch) to continue "
                        "from: weights, optimizer state, epoch count and history", _optional(TypeConverters.toString))
    logDir = _param("logDir", "directory for TensorBoard event files (train loss per iteration, validation "
                    "metrics per epoch), or None", _optional(TypeConverters.toString))
    dataCache = _param("dataCache", "where converted training and validation rows live between epochs: 'auto' "
                       "(in memory while they fit, the rest spilled to local disk), 'memory', 'disk', or 'none' "
                       "(re-read the source every epoch); see docs/data.md", TypeConverters.toString)
