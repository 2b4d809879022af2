"""Models: the functional graph, Sequential on top of it, the spec round trip, weights. Pure Python: the methods
that run on the JVM (predict, to_dl4j, training passes) hand over to bigwrap.live_models."""
from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np

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

        placing: set[Layer] = set()

        def place(layer: Layer) -> None:
            # After the sources of every call the model uses, so a shared layer follows all its inputs.
            if layer in order:
                return
            if layer in placing:
                raise ValueError(f"model '{self.name}': layer {layer.name!r} takes an input computed from its own "
                                 "output; bigwrap orders a model's layers, not their calls, so a layer cannot follow "
                                 "itself: use a second layer (it will not share the first one's weights)")
            placing.add(layer)
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
        """How the spec names `tensor`: its layer's name, or "name@k" for the k-th call of the layer in this model."""
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
        # the lowest version that has what the spec uses (spec.VERSION)
        return {"format": spec_format.FORMAT, "version": spec_format.VERSION if named_calls else 1,
                "class_name": type(self).__name__, "name": self.name, "layers": layers,
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
        weights, entries = list(weights), self._weight_entries()
        if len(weights) != len(entries):
            raise ValueError(f"model '{self.name}' has {len(entries)} weight arrays, got {len(weights)}")
        self._set_weight_entries([(layer, name, value) for (layer, name, _), value in zip(entries, weights)])

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

    # -- JVM (through bigwrap.live_models, imported on use: this module stays free of pyspark and py4j) ------
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

    def predict(self, x, batch_size: int = 1024, kernels: str | None = None,
                precision: str | None = None) -> np.ndarray:
        """Forward pass in inference mode on the JVM; `x` is an array (n, *input_shape[1:]), or a list of
        such arrays for a model with several inputs. `kernels` / `precision`: see bigwrap.kernels."""
        from . import live_models

        return live_models.predict(self, x, batch_size, kernels, precision)

    def to_dl4j(self, path, overwrite: bool = False, loss=None) -> str:
        """Writes this model with its weights as a Deeplearning4j `ModelSerializer` zip at `path` (docs/dl4j.md):
        a MultiLayerNetwork where the model is a chain of layers, else a ComputationGraph, which takes and returns the
        arrays this model does (images NHWC, sequences [N, time, size]). Layers DL4J cannot express are refused by
        name. With `loss` (a bigwrap loss or its name), a last Dense layer becomes DL4J's OutputLayer with that loss,
        so DL4J can go on training. Returns the DL4J class written. Runs on the JVM (the one writer Scala's
        `BigwrapModel.toDL4J` uses)."""
        from . import live_models

        return live_models.to_dl4j(self, path, overwrite, loss)


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
