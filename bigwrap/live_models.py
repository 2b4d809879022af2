"""The JVM copies of DSL models (design §2): the model methods that run on the JVM (predict, training passes,
DL4J export) and the lifetimes of the handles they use. The DSL (bigwrap.models) holds no handle or bridge.

A model has at most one live handle: it is loaded on first use, replaced (and the old one released) when the
weights, their trainability or the kernels change, and released once the model is collected (by the next load, or
release_collected). A fit loads a handle of its own and releases it if the fit fails; the fitted model adopts it."""
from __future__ import annotations

import contextlib
import json
import weakref
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from . import kernels as kernel_options
from . import losses
from .layers.base import format_shape
from .models import Model
from .runtime import Bridge
from .runtime import bridge as active_bridge


@dataclass
class _Live:
    bridge: Bridge
    key: tuple
    handle: str
    finalizer: weakref.finalize


_live: "weakref.WeakKeyDictionary[Model, _Live]" = weakref.WeakKeyDictionary()
# Handles of collected models. Their finalizers only note them: the collector runs wherever Python allocates, also
# inside a py4j call on this thread, where a second call breaks the connection (py4j: "reentrant call").
_collected: list[tuple[Bridge, str]] = []


def _note_collected(bridge: Bridge, handle: str) -> None:
    _collected.append((bridge, handle))


def release_collected() -> None:
    """Releases the JVM copies of the models Python has collected so far."""
    while _collected:
        release(*_collected.pop())


def _key(model: Model, kernels: str) -> tuple:
    # trainable is part of the key: the JVM builds frozen layers differently (e.g. BatchNormalization)
    return tuple((id(layer), layer.weights_version, layer.trainable) for layer in model._graph_layers), kernels


def load(bridge: Bridge, model: Model, kernels: str) -> str:
    """A new JVM handle for `model` with its current weights on `kernels`, owned by the caller."""
    release_collected()
    return bridge.call_with_model("LiveModels.load", (), model, (kernels,))


def handle(model: Model, bridge: Bridge | None = None, kernels: str | None = None) -> str:
    """`model`'s live handle with its current weights on `kernels` (a bigwrap.kernels.to_json option; default
    kernels when None) in the JVM of `bridge` (default: the active session's)."""
    bridge = bridge or active_bridge()
    kernels = kernels or kernel_options.to_json()
    live = _live.get(model)
    if live is not None and live.bridge is bridge and live.key == _key(model, kernels):
        return live.handle
    return adopt(model, bridge, load(bridge, model, kernels), kernels)


def adopt(model: Model, bridge: Bridge, handle: str, kernels: str) -> str:
    """Makes `handle` (the JVM copy of `model` as it is now, on `kernels`) its live handle, releasing the one it
    replaces."""
    forget(model)
    _live[model] = _Live(bridge, _key(model, kernels), handle, weakref.finalize(model, _note_collected, bridge, handle))
    return handle


def forget(model: Model) -> None:
    """Releases `model`'s live handle, if it has one; the next JVM call loads a new one."""
    live = _live.pop(model, None)
    if live is not None:
        live.finalizer()
    release_collected()


def release(bridge: Bridge, handle: str) -> None:
    try:
        bridge.call("LiveModels.release", handle)
    except Exception:  # the JVM may already be gone at interpreter exit
        pass


@contextlib.contextmanager
def released_on_failure(bridge: Bridge, handle: str) -> Iterator[str]:
    """`handle` for a block that hands it on when it succeeds (a fit whose model adopts it); any failure or
    interrupt releases it."""
    try:
        yield handle
    except BaseException:
        release(bridge, handle)
        raise


def predict(model: Model, x, batch_size: int, kernels: str | None, precision: str | None) -> np.ndarray:
    arrays = model._input_arrays(x)
    out_dims = model.outputs[0].dims
    rows = len(arrays[0])
    if rows == 0:
        return np.zeros((0, *out_dims), dtype=np.float32)
    bridge = active_bridge()
    live = handle(model, bridge, kernel_options.to_json(kernels, precision))
    chunks = []
    for start in range(0, rows, batch_size):
        chunk = [a[start:start + batch_size] for a in arrays]
        with bridge.sending(_pack(chunk)) as (inline, path):
            raw = bridge.receive(bridge.call("LiveModels.predict", live, inline, path, len(chunk[0])))
        chunks.append(np.frombuffer(raw, dtype="<f4").reshape(len(chunk[0]), *out_dims))
    return np.concatenate(chunks).astype(np.float32)


def to_dl4j(model: Model, path, overwrite: bool, loss) -> str:
    bridge = active_bridge()
    loss_json = json.dumps(losses.get(loss).get_config()) if loss is not None else ""
    return bridge.call("LiveModels.toDL4J", handle(model, bridge), loss_json, str(path), bool(overwrite))


def forward_backward(model: Model, x, grad_output, kernels: str | None = None,
                     precision: str | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One training-mode forward + backward on the JVM given d(loss)/d(output): the gradients of the inputs and of
    the trainable weights (Keras layouts, in get_weights order). `kernels` / `precision`: see bigwrap.kernels."""
    arrays = model._input_arrays(x)
    rows = len(arrays[0])
    grads = _training_call(model, "forwardBackward", arrays, grad_output,
                           kernels=kernel_options.to_json(kernels, precision, "_forward_backward"))
    shapes = [(rows, *t.dims) for t in model.inputs] + _trainable_shapes(model)
    out = _split(grads, shapes)
    return out[:len(model.inputs)], out[len(model.inputs):]


def loss_gradients(model: Model, x, labels, loss) -> tuple[float, list[np.ndarray]]:
    """The loss the Estimator trains (a bigwrap loss or its name) on `x` against `labels`, one training-mode pass on
    the JVM: the mean over the rows and the gradients of the trainable weights (as `forward_backward`)."""
    loss = losses.get(loss)
    arrays = model._input_arrays(x)
    labels = np.asarray(labels, dtype=np.float32)
    out_dims = model.outputs[0].dims
    if isinstance(loss, losses.SparseCategoricalCrossentropy) and not isinstance(loss, losses.CategoricalCrossentropy):
        # Class indices as one-hot rows: categorical cross-entropy is then the same function.
        labels = np.eye(out_dims[-1], dtype=np.float32)[labels.astype(np.int64).reshape(-1)]
        loss = losses.CategoricalCrossentropy(from_logits=loss.from_logits)
    if labels.shape != (len(arrays[0]), *out_dims):
        raise ValueError(f"model '{model.name}': labels of shape {labels.shape} do not match its output "
                         f"{format_shape(out_dims)} for {len(arrays[0])} rows")
    raw = _training_call(model, "lossGradients", arrays, labels, json.dumps(loss.get_config()))
    out = _split(raw, [(1,)] + _trainable_shapes(model))
    return float(out[0][0]), out[1:]


def _trainable_shapes(model: Model) -> list[tuple[int, ...]]:
    return [shape for layer in model._graph_layers for (_, shape, _, trainable) in layer._weight_specs if trainable]


def _training_call(model: Model, method: str, arrays: list[np.ndarray], given: np.ndarray, *args,
                   kernels: str | None = None) -> np.ndarray:
    """LiveModels.`method` on `arrays` with `given` (the output's gradient, or the labels), then `args`."""
    bridge = active_bridge()
    live = handle(model, bridge, kernels)
    with bridge.sending(_pack(arrays)) as (inline, path), bridge.sending(_pack([given])) as (given_inline, given_path):
        raw = bridge.receive(bridge.call(f"LiveModels.{method}", live, inline, path, len(arrays[0]), given_inline,
                                         given_path, *args))
    # A training pass moves BatchNormalization's moving statistics on the JVM: reload from Python next time.
    forget(model)
    return np.frombuffer(raw, dtype="<f4")


def _pack(arrays: list[np.ndarray]) -> bytes:
    # LiveModels' layout for several inputs: each input's whole block, one after the other.
    return b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in arrays)


def _split(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    out, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[offset:offset + size].reshape(shape).copy())
        offset += size
    return out
