"""The Spark ML Params of Estimator and EstimatorModel, over their JVM twins (pyspark's wrapper pattern).

The Scala stages (jvm/.../bigwrap/ml/Params.scala) are the one declaration of each Param's doc, default
and rule: `JvmParams` takes docs and defaults from there and pushes values there to be checked, in one
place each. Shared names come from pyspark's mixins (featuresCol, labelCol, predictionCol,
probabilityCol, seed), so bigwrap stages spell them as every MLlib stage does.
"""
from __future__ import annotations

import functools
import json
from typing import Any, Callable

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol, HasSeed

from . import runtime

_FROM_JVM = "see the JVM stage's doc (bigwrap.ml Params): each instance carries it"


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A converter that also lets a Param be set back to None (its "off" value)."""
    return lambda value: None if value is None else convert(value)


def _param(name: str, doc: str, converter=TypeConverters.identity) -> Param:
    return Param(Params._dummy(), name, doc, converter)


def _jvm_param(name: str, converter=TypeConverters.identity) -> Param:
    """A Param of a JVM stage: its doc, default and rule are the JVM's (JvmParams)."""
    return _param(name, _FROM_JVM, converter)


@functools.cache
def jvm_params(stage_class: str) -> dict[str, Any]:
    """{"defaults": ..., "docs": ...} of the JVM stage `stage_class`'s Params (fetched once per class)."""
    return json.loads(runtime.bridge().call("StageHandoff.params", stage_class))


class JvmParams(Params):
    """Params whose docs, defaults and rules are those of the JVM stage `_jvm_params` (pyspark's
    `_transfer_params_from_java` / `_transfer_params_to_java`, with JSON values). Params in
    `_python_only` hold Python objects that cannot cross (a DSL model, a DataFrame) and stay here;
    params the JVM stage leaves unset by default (seed, numTasks, directories) default to None, "off",
    except those in `_required`, which the user sets."""

    _jvm_params: str
    _python_only: frozenset[str] = frozenset()
    _required: frozenset[str] = frozenset()

    def _set_jvm_defaults(self) -> None:
        jvm = jvm_params(self._jvm_params)
        for param in self.params:
            param.doc = jvm["docs"].get(param.name, param.doc)
        self._setDefault(**{p.name: jvm["defaults"].get(p.name) for p in self.params if not self.hasDefault(p)
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
        runtime.bridge().call("StageHandoff.checkParams", self._jvm_params, self._jvm_param_map(), owner)


class OutputParams(JvmParams, HasFeaturesCol, HasPredictionCol, HasProbabilityCol):
    _jvm_params = "bigwrap.ml.BigwrapModel"

    featuresCol = _jvm_param("featuresCol")
    inferenceBatchSize = _jvm_param("inferenceBatchSize", TypeConverters.toInt)
    kernels = _jvm_param("kernels", TypeConverters.toString)
    precision = _jvm_param("precision", TypeConverters.toString)


class EstimatorParams(OutputParams, HasLabelCol, HasSeed):
    _jvm_params = "bigwrap.ml.BigwrapEstimator"
    # the DSL model and a DataFrame are Python objects; the JVM gets the model as spec + weights at fit time
    _python_only = frozenset({"model", "validationData"})
    _required = frozenset({"loss"})

    model = _param("model", "the bigwrap model (Sequential or Model) to train; grid over it to vary the "
                   "architecture, e.g. addGrid(est.model, [build(32), build(64)])")
    validationData = _param("validationData", "a DataFrame evaluated after every epoch (not saved with the "
                            "estimator), or None")
    loss = _jvm_param("loss")
    optimizer = _jvm_param("optimizer")
    batchSize = _jvm_param("batchSize", TypeConverters.toInt)
    epochs = _jvm_param("epochs", TypeConverters.toInt)
    verbose = _jvm_param("verbose", TypeConverters.toInt)
    trainer = _jvm_param("trainer", TypeConverters.toString)
    numTasks = _jvm_param("numTasks")
    taskLayout = _jvm_param("taskLayout", TypeConverters.toString)
    validationSplit = _jvm_param("validationSplit", TypeConverters.toFloat)
    metrics = _jvm_param("metrics", TypeConverters.toListString)
    earlyStopping = _jvm_param("earlyStopping", TypeConverters.toBoolean)
    monitor = _jvm_param("monitor", TypeConverters.toString)
    patience = _jvm_param("patience", TypeConverters.toInt)
    minDelta = _jvm_param("minDelta", TypeConverters.toFloat)
    restoreBestWeights = _jvm_param("restoreBestWeights", TypeConverters.toBoolean)
    checkpointDir = _jvm_param("checkpointDir", _optional(TypeConverters.toString))
    checkpointEvery = _jvm_param("checkpointEvery", TypeConverters.toInt)
    resumeFrom = _jvm_param("resumeFrom", _optional(TypeConverters.toString))
    logDir = _jvm_param("logDir", _optional(TypeConverters.toString))
    dataCache = _jvm_param("dataCache", TypeConverters.toString)
