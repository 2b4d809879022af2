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


def _param(name: str, doc: str = _FROM_JVM, converter=TypeConverters.identity) -> Param:
    """A stage's Param; without `doc`, a Param of a JVM stage, whose doc, default and rule are the JVM's (JvmParams)."""
    return Param(Params._dummy(), name, doc, converter)


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

    featuresCol = _param("featuresCol")
    inferenceBatchSize = _param("inferenceBatchSize", converter=TypeConverters.toInt)
    kernels = _param("kernels", converter=TypeConverters.toString)
    precision = _param("precision", converter=TypeConverters.toString)


class EstimatorParams(OutputParams, HasLabelCol, HasSeed):
    _jvm_params = "bigwrap.ml.BigwrapEstimator"
    # the DSL model and a DataFrame are Python objects; the JVM gets the model as spec + weights at fit time
    _python_only = frozenset({"model", "validationData"})
    _required = frozenset({"loss"})

    model = _param("model", "the bigwrap model (Sequential or Model) to train; grid over it to vary the "
                   "architecture, e.g. addGrid(est.model, [build(32), build(64)])")
    validationData = _param("validationData", "a DataFrame evaluated after every epoch (not saved with the "
                            "estimator), or None")
    loss = _param("loss")
    optimizer = _param("optimizer")
    batchSize = _param("batchSize", converter=TypeConverters.toInt)
    epochs = _param("epochs", converter=TypeConverters.toInt)
    verbose = _param("verbose", converter=TypeConverters.toInt)
    trainer = _param("trainer", converter=TypeConverters.toString)
    numTasks = _param("numTasks")
    taskLayout = _param("taskLayout", converter=TypeConverters.toString)
    validationSplit = _param("validationSplit", converter=TypeConverters.toFloat)
    metrics = _param("metrics", converter=TypeConverters.toListString)
    earlyStopping = _param("earlyStopping", converter=TypeConverters.toBoolean)
    monitor = _param("monitor", converter=TypeConverters.toString)
    patience = _param("patience", converter=TypeConverters.toInt)
    minDelta = _param("minDelta", converter=TypeConverters.toFloat)
    restoreBestWeights = _param("restoreBestWeights", converter=TypeConverters.toBoolean)
    checkpointDir = _param("checkpointDir", converter=_optional(TypeConverters.toString))
    checkpointEvery = _param("checkpointEvery", converter=TypeConverters.toInt)
    resumeFrom = _param("resumeFrom", converter=_optional(TypeConverters.toString))
    logDir = _param("logDir", converter=_optional(TypeConverters.toString))
    dataCache = _param("dataCache", converter=TypeConverters.toString)
