"""Models: the functional graph, Sequential on top of it, the spec round trip, weights, predict."""
from __future__ import annotations

import json
import weakref
from typing import Any, Iterable

import numpy as np

from . import kernels as kernel_options
from . import spec as spec_format
from .layers.base import InputLayer, Layer, SymbolicTensor, _auto_name, format_shape


def _tensor_list(value: Any, what: str) -> list[SymbolicTensor]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not isinstance(item, SymbolicTensor):
            raise TypeError(f"Model {what} must be layer outputs or layers.Input(...) tensors, got {type(item).__name__}")
    return items


class Model:
    """A graph of layers from `inputs` to `outputs` (Keras' functional Model)."""

    def __init__(self, inputs, outputs, name: str | None = None):
        self.name = name or _auto_name("Functional")
        self._set_graph(_tensor_list(inputs, "inputs"), _tensor_list(outputs, "outputs"))

    def _set_graph(self, inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> None:
        for tensor in inputs:
            if not isinstance(tensor.layer, InputLayer):
                raise ValueError(f"model '{self.name}': input {tensor.layer.name!r} is not a layers.Input(...)")
        calls: dict[Layer, set[int]] = {}
        order: list[Layer] = []

        def visit(tensor: SymbolicTensor) -> None:
            seen = calls.setdefault(tensor.layer, set())
            if tensor.call_index in seen:
                return
            seen.add(tensor.call_index)
            if not isinstance(tensor.layer, InputLayer):
                for source in tensor.layer.calls[tensor.call_index]:
                    visit(source)

        def place(layer: Layer) -> None:
            # After the sources of every call the model uses, so a shared layer follows all its inputs.
            if layer in order:
                return
            if not isinstance(layer, InputLayer):
                for index in sorted(calls[layer]):
                    for source in layer.calls[index]:
                        place(source.layer)
            order.append(layer)

        for tensor in outputs:
            visit(tensor)
        for tensor in outputs:
            place(tensor.layer)
        missing = [layer.name for layer in order if isinstance(layer, InputLayer)
                   and layer not in {t.layer for t in inputs}]
        if missing:
            raise ValueError(f"model '{self.name}': the outputs depend on input(s) {missing} not listed in `inputs`")
        names = [layer.name for layer in order]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"model '{self.name}': layer names must be unique; repeated: {repeated}")
        self._inputs, self._outputs = inputs, outputs
        self._graph_layers = order
        self._calls = {layer: sorted(indices) for layer, indices in calls.items()}
        self._jvm_model: tuple[Any, tuple, str] | None = None

    # -- structure ----------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self._graph_layers)

    def get_layer(self, name: str) -> Layer:
        for layer in self._graph_layers:
            if layer.name == name:
                return layer
        raise ValueError(f"model '{self.name}' has no layer {name!r}; layers: {[l.name for l in self._graph_layers]}")

    @property
    def inputs(self) -> list[SymbolicTensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return list(self._outputs)

    def freeze(self, up_to: str | None = None) -> None:
        """Makes layers not trainable (`layer.trainable = False`): every layer, or with `up_to` the layer of that
        name and every layer it takes input from, directly or not (the base under a head)."""
        frozen = self._graph_layers if up_to is None else self._upstream(self.get_layer(up_to))
        for layer in frozen:
            if not isinstance(layer, InputLayer):
                layer.trainable = False

    def unfreeze(self) -> None:
        """Makes every layer trainable again."""
        for layer in self._graph_layers:
            layer.trainable = True

    def _upstream(self, layer: Layer) -> list[Layer]:
        found, pending = [], [layer]
        while pending:
            current = pending.pop()
            if current not in found:
                found.append(current)
                if not isinstance(current, InputLayer):  # only the calls this model makes (a layer may be shared)
                    pending.extend(t.layer for i in self._calls[current] for t in current.calls[i])
        return [l for l in self._graph_layers if l in found]

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self._graph_layers)

    def summary(self, print_fn=print) -> None:
        rows = [(f"{layer.name} ({type(layer).__name__})", format_shape(layer.output_dims), f"{layer.count_params():,}")
                for layer in self._graph_layers]
        widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = lambda cells: "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        print_fn(f'Model: "{self.name}"')
        print_fn(line(("Layer (type)", "Output Shape", "Param #")))
        print_fn("=" * sum(widths))
        for row in rows:
            print_fn(line(row))
        print_fn("=" * sum(widths))
        print_fn(f"Total params: {self.count_params():,}")

    # -- spec ---------------------------------------------------------------------------------
    def _ref(self, tensor: SymbolicTensor) -> str:
        local = self._calls[tensor.layer].index(tensor.call_index)
        return tensor.layer.name if local == 0 else f"{tensor.layer.name}@{local}"

    def get_config(self) -> dict[str, Any]:
        layers = []
        for layer in self._graph_layers:
            config = layer.get_config()
            config.pop("name")
            inbound = [] if isinstance(layer, InputLayer) else [self._inbound(layer, i) for i in self._calls[layer]]
            layers.append({"class_name": type(layer).__name__, "name": layer.name, "config": config, "inbound": inbound})
        named_calls = any(isinstance(call, dict) for entry in layers for call in entry["inbound"])
        return {"format": spec_format.FORMAT, "version": spec_format.version_for(named_calls),
                "class_name": type(self).__name__,
                "name": self.name, "layers": layers,
                "inputs": [self._ref(t) for t in self._inputs], "outputs": [self._ref(t) for t in self._outputs]}

    def _inbound(self, layer: Layer, index: int) -> list[str] | dict[str, Any]:
        """One call of `layer` in the spec: a list of tensor references, or for a call with named tensors
        {"inputs": {name: reference}, "arguments": {argument: value}}."""
        refs = [self._ref(t) for t in layer.calls[index]]
        names, arguments = layer.call_signatures[index]
        if names is None:
            return refs
        return {"inputs": dict(zip(names, refs)), "arguments": dict(arguments)}

    def to_json(self, **json_kwargs) -> str:
        return json.dumps(self.get_config(), **json_kwargs)

    def to_keras(self, path: str) -> str:
        """Writes the model with its weights as a Keras 3 `.keras` archive that `keras.saving.load_model` reads and
        that predicts what this model predicts (needs Keras: pip install 'bigwrap[keras]'). Layers Keras does not
        have raise a ValueError naming them (README, "Coming from Keras")."""
        from .importers.keras import to_keras

        return to_keras(self, path)

    # -- weights ------------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        return [w for layer in self._graph_layers for w in layer.get_weights()]

    def set_weights(self, weights: Iterable[np.ndarray]) -> None:
        weights = list(weights)
        expected = sum(len(layer.weight_names) for layer in self._graph_layers)
        if len(weights) != expected:
            raise ValueError(f"model '{self.name}' has {expected} weight arrays, got {len(weights)}")
        position = 0
        for layer in self._graph_layers:
            count = len(layer.weight_names)
            if count:
                layer.set_weights(weights[position:position + count])
            position += count

    def _weight_entries(self) -> list[tuple[str, str, np.ndarray]]:
        return [(layer.name, name, value) for layer in self._graph_layers
                for name, value in zip(layer.weight_names, layer._weights)]

    def _set_weight_entries(self, entries: list[tuple[str, str, np.ndarray]]) -> None:
        by_key = {(layer, name): value for layer, name, value in entries}
        for layer in self._graph_layers:
            missing = [name for name in layer.weight_names if (layer.name, name) not in by_key]
            if missing:
                raise ValueError(f"the weights have no {', '.join(missing)} for layer '{layer.name}' of model "
                                 f"'{self.name}': they belong to another model")
            if layer.weight_names:
                layer.set_weights([by_key[(layer.name, name)] for name in layer.weight_names])

    def _with_weights(self, entries: list[tuple[str, str, np.ndarray]]) -> "Model":
        copy = model_from_json(self.to_json())
        copy._set_weight_entries(entries)
        return copy

    # -- JVM ----------------------------------------------------------------------------------
    def _weights_key(self) -> tuple:
        # trainable is part of the key: the JVM builds frozen layers differently (e.g. BatchNormalization)
        return tuple((id(layer), layer.weights_version, layer.trainable) for layer in self._graph_layers)

    def _jvm_handle(self, bridge, kernels: str | None = None) -> str:
        """This model, with its current weights, loaded in the JVM on `kernels` (a bigwrap.kernels.to_json
        option; default kernels when None), reloaded after set_weights."""
        kernels = kernels or kernel_options.to_json()
        key = (self._weights_key(), kernels)
        if self._jvm_model and self._jvm_model[0] is bridge and self._jvm_model[1] == key:
            return self._jvm_model[2]
        index, data = spec_format.encode_weights(self._weight_entries())
        handle = bridge.load_model(self.to_json(), index, data, kernels)
        self._adopt_handle(bridge, handle, kernels)
        return handle

    def _adopt_handle(self, bridge, handle: str, kernels: str) -> None:
        self._jvm_model = (bridge, (self._weights_key(), kernels), handle)
        weakref.finalize(self, _release, bridge, handle)

    def _input_arrays(self, x) -> list[np.ndarray]:
        """`x` as one float32 array per model input, each checked against its input's shape."""
        arrays = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(arrays) != len(self._inputs):
            raise ValueError(f"model '{self.name}' has {len(self._inputs)} input(s) "
                             f"{[t.layer.name for t in self._inputs]}; got {len(arrays)} array(s)")
        checked = []
        for tensor, array in zip(self._inputs, arrays):
            array = np.asarray(array, dtype=np.float32)
            if array.shape == tensor.dims:
                array = array[None, ...]
            if array.shape[1:] != tensor.dims:
                raise ValueError(f"model '{self.name}' input '{tensor.layer.name}' expects input of shape "
                                 f"{format_shape(tensor.dims)}, got {array.shape}")
            checked.append(array)
        if len({len(a) for a in checked}) > 1:
            raise ValueError(f"model '{self.name}': the input arrays have different numbers of rows "
                             f"{[len(a) for a in checked]}")
        return checked

    @staticmethod
    def _pack(arrays: list[np.ndarray]) -> bytes:
        # The façade's layout for several inputs: each input's whole block, one after the other.
        return b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in arrays)

    def predict(self, x, batch_size: int = 1024, kernels: str | None = None,
                precision: str | None = None) -> np.ndarray:
        """Forward pass in inference mode on the JVM; `x` is an array (n, *input_shape[1:]), or a list of
        such arrays for a model with several inputs. `kernels` / `precision`: see bigwrap.kernels."""
        from .runtime import bridge as active_bridge

        arrays = self._input_arrays(x)
        out_dims = self._outputs[0].dims
        rows = len(arrays[0])
        if rows == 0:
            return np.zeros((0, *out_dims), dtype=np.float32)
        bridge = active_bridge()
        handle = self._jvm_handle(bridge, kernel_options.to_json(kernels, precision))
        chunks = []
        for start in range(0, rows, batch_size):
            chunk = [a[start:start + batch_size] for a in arrays]
            raw = bridge.call("predict", handle, self._pack(chunk), len(chunk[0]))
            chunks.append(np.frombuffer(raw, dtype="<f4").reshape(len(chunk[0]), *out_dims))
        return np.concatenate(chunks).astype(np.float32)

    def to_dl4j(self, path, overwrite: bool = False, loss=None) -> str:
        """Writes this model with its weights as a Deeplearning4j `ModelSerializer` zip at `path` (docs/dl4j.md):
        a MultiLayerNetwork where the model is a chain of layers, else a ComputationGraph, which takes and returns the
        arrays this model does (images NHWC, sequences [N, time, size]). Layers DL4J cannot express are refused by
        name. With `loss` (a bigwrap loss or its name), a last Dense layer becomes DL4J's OutputLayer with that loss,
        so DL4J can go on training. Returns the DL4J class written. Runs on the JVM (the one writer Scala's
        `BigwrapModel.toDL4J` uses)."""
        from . import losses
        from .runtime import bridge as active_bridge

        bridge = active_bridge()
        loss_json = json.dumps(losses.get(loss).get_config()) if loss is not None else ""
        return bridge.call("toDL4J", self._jvm_handle(bridge), loss_json, str(path), bool(overwrite))

    def _forward_backward(self, x, grad_output, kernels: str | None = None,
                          precision: str | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """One training-mode forward + backward on the JVM given d(loss)/d(output): the gradients of the
        inputs and of the trainable weights (Keras layouts, in get_weights order)."""
        arrays = self._input_arrays(x)
        rows = len(arrays[0])
        grads = self._training_call("forwardBackward", arrays, np.ascontiguousarray(grad_output, dtype="<f4").tobytes(),
                                    kernels=kernel_options.to_json(kernels, precision, "_forward_backward"))
        shapes = [(rows, *t.dims) for t in self._inputs] + self._trainable_shapes()
        out = _split(grads, shapes)
        return out[:len(self._inputs)], out[len(self._inputs):]

    def _loss_gradients(self, x, labels, loss) -> tuple[float, list[np.ndarray]]:
        """The loss the Estimator trains (a bigwrap loss or its name) on `x` against `labels`, one training-mode pass
        on the JVM: the mean over the rows and the gradients of the trainable weights (as `_forward_backward`)."""
        from . import losses

        loss = losses.get(loss)
        arrays = self._input_arrays(x)
        labels = np.asarray(labels, dtype=np.float32)
        out_dims = self._outputs[0].dims
        if isinstance(loss, losses.SparseCategoricalCrossentropy) and not isinstance(loss, losses.CategoricalCrossentropy):
            # Class indices as one-hot rows: categorical cross-entropy is then the same function.
            labels = np.eye(out_dims[-1], dtype=np.float32)[labels.astype(np.int64).reshape(-1)]
            loss = losses.CategoricalCrossentropy(from_logits=loss.from_logits)
        if labels.shape != (len(arrays[0]), *out_dims):
            raise ValueError(f"model '{self.name}': labels of shape {labels.shape} do not match its output "
                             f"{format_shape(out_dims)} for {len(arrays[0])} rows")
        raw = self._training_call("lossGradients", arrays, np.ascontiguousarray(labels, dtype="<f4").tobytes(),
                                  json.dumps(loss.get_config()))
        out = _split(raw, [(1,)] + self._trainable_shapes())
        return float(out[0][0]), out[1:]

    def _trainable_shapes(self) -> list[tuple[int, ...]]:
        return [shape for layer in self._graph_layers for (_, shape, _, trainable) in layer._weight_specs if trainable]

    def _training_call(self, method: str, arrays: list[np.ndarray], *args, kernels: str | None = None) -> np.ndarray:
        from .runtime import bridge as active_bridge

        bridge = active_bridge()
        handle = self._jvm_handle(bridge, kernels)
        raw = bridge.call(method, handle, self._pack(arrays), len(arrays[0]), *args)
        # A training pass moves BatchNormalization's moving statistics on the JVM: reload from Python next time.
        self._jvm_model = None
        _release(bridge, handle)
        return np.frombuffer(raw, dtype="<f4")


def _split(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    out, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[offset:offset + size].reshape(shape).copy())
        offset += size
    return out


def _release(bridge, handle: str) -> None:
    try:
        bridge.call("releaseModel", handle)
    except Exception:  # the JVM may already be gone at interpreter exit
        pass


class Sequential(Model):
    """A plain stack of layers after a `layers.Input(shape=...)`."""

    def __init__(self, layers: Iterable[Any] = (), name: str | None = None):
        self.name = name or _auto_name("Sequential")
        self._input: SymbolicTensor | None = None
        self._stack: list[Layer] = []
        self._last: SymbolicTensor | None = None
        for layer in layers:
            self.add(layer)

    def add(self, layer: Any) -> None:
        if isinstance(layer, InputLayer):
            layer = layer.output
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):
            if self._input is not None:
                raise ValueError(f"Sequential '{self.name}' already has an input; an Input can only come first")
            self._input = self._last = layer
        elif isinstance(layer, Layer):
            if self._input is None:
                raise ValueError(f"Sequential '{self.name}' needs layers.Input(shape=...) as its first element, "
                                 f"before {layer.where()}, to know the input shape")
            self._last = layer(self._last)
            self._stack.append(layer)
        else:
            raise TypeError(f"Sequential '{self.name}' takes layers, got {type(layer).__name__}")
        self._set_graph([self._input], [self._last])

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)


def model_from_json(json_spec: str | dict) -> Model:
    """Rebuilds the model a spec describes (weights are new: restore them with set_weights)."""
    spec = spec_format.check(json_spec)
    tensors: dict[str, SymbolicTensor] = {}
    built: list[Layer] = []
    sequential = spec.get("class_name") == "Sequential"
    for entry in spec["layers"]:
        cls = Layer.registry.get(entry.get("class_name"))
        if cls is None:
            raise ValueError(f"layer {entry.get('name')!r}: unknown layer type {entry.get('class_name')!r}")
        layer = cls.from_config({**entry.get("config", {}), "name": entry["name"]})
        built.append(layer)
        if sequential:
            continue  # Sequential.add calls each layer on the previous one
        if isinstance(layer, InputLayer):
            tensors[layer.name] = layer.output
            continue
        for k, call in enumerate(entry.get("inbound", [])):
            refs = list(call["inputs"].values()) if isinstance(call, dict) else call
            missing = [ref for ref in refs if ref not in tensors]
            if missing:
                raise ValueError(f"layer {layer.name!r} takes {missing} as input, but no earlier layer produces it")
            if isinstance(call, dict):
                output = layer(**{name: tensors[ref] for name, ref in call["inputs"].items()},
                               **call.get("arguments", {}))
            else:
                sources = [tensors[ref] for ref in call]
                output = layer(sources[0] if len(sources) == 1 else sources)
            tensors[layer.name if k == 0 else f"{layer.name}@{k}"] = output
    if sequential:
        return Sequential(built, name=spec.get("name"))
    try:
        inputs = [tensors[ref] for ref in spec["inputs"]]
        outputs = [tensors[ref] for ref in spec["outputs"]]
    except KeyError as e:
        raise ValueError(f"the spec names model input/output {e.args[0]!r}, which no layer produces") from None
    return Model(inputs, outputs, name=spec.get("name"))
