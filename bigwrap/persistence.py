"""Saving and loading bigwrap's stages (docs/persistence.md): Spark ML metadata JSON, the
model spec JSON, and the weights as a JSON index + one raw little-endian float32 file. Nothing is
pickled or Java-serialized. A save writes a temporary sibling directory and renames it into place.

The same parts (metadata, model, history) cross to the JVM's bigwrap.ml classes and back, so that
pyspark's Java pipeline writer and reader handle pipelines holding bigwrap stages (`to_java`,
`from_java`); Scala's PipelineModel.load then reads what Python saved.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from typing import Any

import pyspark
from pyspark.ml.util import MLReadable, MLReader, MLWritable, MLWriter

from . import losses, optimizers, runtime, stored
from . import spec as spec_format
from .checkpoints import local_path
from .models import Model, model_from_json

FORMAT, VERSION = "bigwrap.stage", 1
# Params whose values are objects: stored as their configs (the model as files), read back by these.
_FROM_CONFIG = {"loss": losses.get, "optimizer": optimizers.get}
_NOT_SAVED = {"validationData"}  # a DataFrame is data, not configuration
# bigwrap 0.1 saved stages under their Python module paths; they name the same stages as the shared names.
_LEGACY_CLASSES = {"bigwrap.fitted.EstimatorModel": "bigwrap.ml.BigwrapModel",
                   "bigwrap.estimator.Estimator": "bigwrap.ml.BigwrapEstimator"}


def _json_value(name: str, value: Any) -> Any:
    if name in _FROM_CONFIG and hasattr(value, "get_config"):
        return value.get_config()
    return value


def _params_json(instance, params: dict) -> dict[str, Any]:
    return {p.name: _json_value(p.name, v) for p, v in params.items()
            if p.name not in _NOT_SAVED and p.name != "model"}


def write_model(model: Model, directory: str) -> None:
    os.makedirs(directory)
    index, data = spec_format.encode_weights(model._weight_entries())
    with open(os.path.join(directory, "spec.json"), "w") as f:
        f.write(model.to_json(indent=1))
    with open(os.path.join(directory, "weights.json"), "w") as f:
        f.write(index)
    with open(os.path.join(directory, "weights.bin"), "wb") as f:
        f.write(data)


def read_model(directory: str) -> Model:
    spec_path = os.path.join(directory, "spec.json")
    spec = stored.read_json(spec_path)
    try:
        model = model_from_json(spec)
    except ValueError as e:
        raise ValueError(f"{spec_path}: {e}") from None
    model._set_weight_entries(stored.read_weights(directory))
    return model


def restore_interrupted_save(path: str) -> None:
    """A save killed between its two renames left the previous stage, whole, at `.<name>.old-<hex>`:
    put it back at `path`, so that nothing the user saved goes missing."""
    parent, name = os.path.split(path)
    if os.path.exists(path) or not os.path.isdir(parent):
        return
    aside = [os.path.join(parent, entry) for entry in os.listdir(parent) if entry.startswith(f".{name}.old-")]
    if aside:
        os.rename(max(aside, key=os.path.getmtime), path)


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
        "paramMap": _params_json(instance, instance._paramMap),
        "defaultParamMap": _params_json(instance, instance._defaultParamMap),
        "bigwrap": info,
    }
    return metadata, model, history, state


def _checked_info(cls, metadata: dict[str, Any], where: str) -> dict[str, Any]:
    """The metadata's "bigwrap" entry, once it is known to describe a `cls` stage this version reads."""
    info = metadata.get("bigwrap", {}) if isinstance(metadata, dict) else {}
    if info.get("format") != FORMAT or info.get("version") != VERSION:
        raise ValueError(f"{where} is not a saved bigwrap stage this version reads "
                         f"(format {info.get('format')!r}, version {info.get('version')!r})")
    saved, expected = metadata.get("class"), stage_class(cls)
    if _LEGACY_CLASSES.get(saved, saved) != expected:
        raise ValueError(f"{where} holds a {saved}, not a {expected}")
    return info


def stage_from_parts(cls, metadata: dict[str, Any], model: Model | None, history: dict[str, Any] | None,
                     state: Any, where: str):
    """The `cls` instance the parts describe; `where` (a path, or the JVM) starts every error message."""
    info = _checked_info(cls, metadata, where)
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


class Persistable(MLWritable, MLReadable):
    """A stage saved and loaded with bigwrap's Writer and Reader: params as Spark metadata, a model as spec +
    weights, learned state as JSON."""

    def write(self):
        return Writer(self)

    @classmethod
    def read(cls):
        return Reader(cls)


class Writer(MLWriter):
    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def save(self, path: str) -> None:
        """Writes everything into a temporary sibling of `path`, then renames it into place; an
        existing directory is replaced only with overwrite(), and only once the new one is complete."""
        path = local_path(path)
        restore_interrupted_save(path)
        if os.path.exists(path) and not self.shouldOverwrite:
            raise FileExistsError(f"{path} already exists; use write().overwrite().save(path) to replace it")
        parent, name = os.path.split(path)
        os.makedirs(parent, exist_ok=True)
        temp = os.path.join(parent, f".{name}.tmp-{uuid.uuid4().hex}")
        try:
            self.saveImpl(temp)
            if os.path.exists(path):
                # POSIX cannot rename over a non-empty directory: move the old one aside first; for
                # the instant between the two renames the old model is whole at the ".old" name.
                old = os.path.join(parent, f".{name}.old-{uuid.uuid4().hex}")
                os.rename(path, old)
                os.rename(temp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(temp, path)
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def saveImpl(self, path: str) -> None:
        metadata, model, history, state = stage_parts(self.instance)
        os.makedirs(os.path.join(path, "metadata"))
        if model is not None:
            write_model(model, os.path.join(path, metadata["bigwrap"]["model"]))
        if state is not None:
            with open(os.path.join(path, metadata["bigwrap"]["state"]), "w") as f:
                json.dump(state, f)
        if history is not None:
            with open(os.path.join(path, "history.json"), "w") as f:
                json.dump(history, f)
        # Spark's layout (DefaultParamsWriter): one JSON line in metadata/part-00000.
        with open(os.path.join(path, "metadata", "part-00000"), "w") as f:
            f.write(json.dumps(metadata, separators=(",", ":")) + "\n")
        open(os.path.join(path, "metadata", "_SUCCESS"), "w").close()


class Reader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path: str):
        path = local_path(path)
        restore_interrupted_save(path)
        stored.directory(path, "saved bigwrap stage", os.path.join("metadata", "part-00000"))
        metadata = stored.read_json(os.path.join(path, "metadata", "part-00000"))
        info = _checked_info(self.cls, metadata, path)
        model = read_model(os.path.join(path, info["model"])) if "model" in info else None
        history = stored.read_json(os.path.join(path, "history.json")) if "loss" in info else None
        state = stored.read_json(os.path.join(path, info["state"])) if "state" in info else None
        return stage_from_parts(self.cls, metadata, model, history, state, where=path)


def to_java(instance):
    """The JVM bigwrap.ml stage equal to `instance` (what pyspark's Java pipeline writer saves)."""
    metadata, model, history, _ = stage_parts(instance)
    index, data = spec_format.encode_weights(model._weight_entries())
    bridge = runtime.bridge()
    parts = (json.dumps(metadata), model.to_json(), index)
    return bridge.send_weights(data, lambda inline: bridge.call("modelFromParts", *parts, inline, json.dumps(history)),
                               lambda path: bridge.call("modelFromPartsFile", *parts, path, json.dumps(history)))


def from_java(cls, java_stage):
    """The `cls` instance equal to a JVM bigwrap.ml stage (what pyspark's Java pipeline reader loaded)."""
    bridge = runtime.bridge()
    parts = json.loads(bridge.call("stageParts", java_stage))
    model = None
    if parts["spec"] is not None:
        model = model_from_json(parts["spec"])
        index = parts["weight_index"]
        model._set_weight_entries(spec_format.decode_weights(index, bridge.receive_weights(
            index, lambda: bridge.call("stageWeightBytes", java_stage),
            lambda path: bridge.call("writeStageWeights", java_stage, path))))
    return stage_from_parts(cls, parts["metadata"], model, parts["history"], None,
                            where=f"the JVM stage {parts['metadata']['uid']}")
