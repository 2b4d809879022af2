"""Saving and loading bigwrap's stages (docs/persistence.md). The files are written and read once, on
the JVM (bigwrap.ml.StageFiles: layout, atomic save, restoring an interrupted save, errors naming the
file); Python turns a stage into its parts (Spark ML metadata, the model as spec + weights, history,
learned state) and back, as pyspark's wrappers transfer params.

The same parts cross to the JVM's bigwrap.ml classes and back, so that pyspark's Java pipeline writer
and reader handle pipelines holding bigwrap stages (`EstimatorModel._to_java`, `Persistable._from_java`).
"""
from __future__ import annotations

import json
import time
from typing import Any

import pyspark
from pyspark.ml.util import MLReadable, MLReader, MLWritable, MLWriter

from . import losses, optimizers, runtime, storage
from . import spec as spec_format
from .models import Model, model_from_json

FORMAT, VERSION = "bigwrap.stage", 1
# Params whose values are objects: stored as their configs (the model as files), read back by these.
_FROM_CONFIG = {"loss": losses.get, "optimizer": optimizers.get}
_NOT_SAVED = {"validationData"}  # a DataFrame is data, not configuration


def _params_json(params: dict) -> dict[str, Any]:
    return {p.name: v.get_config() if p.name in _FROM_CONFIG and hasattr(v, "get_config") else v
            for p, v in params.items() if p.name not in _NOT_SAVED and p.name != "model"}


def stage_class(cls) -> str:
    """The class name a stage is saved under: the name shared with Scala where there is one (bigwrap/ml.py),
    else the Python class's dotted path."""
    return getattr(cls, "_stage_class", f"{cls.__module__}.{cls.__name__}")


def stage_parts(instance) -> tuple[dict[str, Any], Model | None, dict[str, Any] | None, Any]:
    """What a saved stage holds: its Spark ML metadata, its model (spec + weights), for a fitted
    model its training history, and for a stage whose learned state is not a network (e.g. a
    vocabulary) that state."""
    info: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    model = instance.getOrDefault("model") if instance.hasParam("model") and instance.isDefined("model") \
        else getattr(instance, "model", None)
    model = model if isinstance(model, Model) else None
    if model is not None:
        info["model"] = "model"
    state = instance._learned_state() if hasattr(instance, "_learned_state") else None
    if state is not None:
        info["state"] = "state.json"
    history = None
    if hasattr(instance, "_history"):
        info["loss"] = instance.loss.get_config()
        history = {"history": instance._history, "stopped_epoch": instance.stopped_epoch,
                   "best_epoch": instance.best_epoch}
    metadata = {
        "class": stage_class(type(instance)),
        "timestamp": int(round(time.time() * 1000)),
        "sparkVersion": pyspark.__version__,
        "uid": instance.uid,
        "paramMap": _params_json(instance._paramMap),
        "defaultParamMap": _params_json(instance._defaultParamMap),
        "bigwrap": info,
    }
    return metadata, model, history, state


class Persistable(MLWritable, MLReadable):
    """A stage saved and loaded with bigwrap's Writer and Reader: params as Spark metadata, a model as spec +
    weights, learned state as JSON."""

    def write(self):
        return Writer(self)

    @classmethod
    def read(cls):
        return Reader(cls)

    @classmethod
    def _from_java(cls, java_stage):
        """The instance equal to a JVM bigwrap.ml stage (what pyspark's Java pipeline reader loaded)."""
        return _from_saved(cls, runtime.bridge().call("StageHandoff.savedStage", java_stage))


class Writer(MLWriter):
    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def save(self, path: str) -> None:
        """Writes the stage's parts at `path` (any store) with the JVM's stage writer, whole or not at all
        (docs/persistence.md); an existing directory is replaced only with overwrite(), once the new one is complete."""
        metadata, model, history, state = stage_parts(self.instance)
        texts = tuple(None if part is None else json.dumps(part) for part in (history, state))
        metadata_json = json.dumps(metadata, separators=(",", ":"))
        runtime.bridge().call_with_model("StageHandoff.write", (storage.absolute(path), self.shouldOverwrite,
                                                                metadata_json), model, texts, spec_indent=1)


class Reader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path: str):
        return _from_saved(self.cls, runtime.bridge().call("StageHandoff.read", storage.absolute(path),
                                                           stage_class(self.cls)))


def _from_saved(cls, saved):
    """The `cls` instance of a JVM SavedStage (read from files, or of a JVM stage)."""
    bridge = runtime.bridge()
    parts = json.loads(bridge.call("StageHandoff.stageParts", saved))
    model = None
    if parts["spec"] is not None:
        try:
            model = model_from_json(parts["spec"])
        except ValueError as e:
            raise ValueError(f"{parts['spec_file'] or 'the JVM stage ' + parts['metadata']['uid']}: {e}") from None
        weights = bridge.receive_weights(bridge.call("StageHandoff.weights", saved))
        model._set_weight_entries(spec_format.decode_weights(*weights))
    # the JVM checked that the parts describe a `cls`
    metadata, history, state = parts["metadata"], parts["history"], parts["state"]
    info = metadata["bigwrap"]
    params = {name: _FROM_CONFIG.get(name, lambda v: v)(value) for name, value in metadata["paramMap"].items()}
    if "state" in info:
        instance = cls._from_learned_state(state)
    elif "loss" in info:  # an EstimatorModel: learned state beside its params
        instance = cls(model=model, loss=info["loss"], history=history["history"])
        instance.stopped_epoch, instance.best_epoch = history["stopped_epoch"], history["best_epoch"]
    else:
        instance = cls()
        if model is not None:
            params["model"] = model
    instance._set(**{k: v for k, v in params.items() if instance.hasParam(k)})
    instance._resetUid(metadata["uid"])
    return instance
