"""Layer, the symbolic tensors layers are called on, and Input (Keras 3's shapes and conventions)."""
from __future__ import annotations

import functools
import inspect
import re
from collections import Counter
from typing import Any

import numpy as np

from .. import initializers

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_used_names: Counter[str] = Counter()


def _auto_name(cls_name: str) -> str:
    base = re.sub(r"(?<!^)(?=[A-Z])", "_", cls_name).lower()
    count = _used_names[base]
    _used_names[base] += 1
    return base if count == 0 else f"{base}_{count}"


def format_shape(dims: tuple[int, ...]) -> str:
    return str((None, *dims))


def _format_any(dims) -> str:
    """One shape, a list of shapes for layers taking several inputs, or named shapes."""
    if isinstance(dims, dict):
        return "{" + ", ".join(f"{name}: {format_shape(d)}" for name, d in dims.items()) + "}"
    if dims and isinstance(dims[0], tuple):
        return "[" + ", ".join(format_shape(d) for d in dims) + "]"
    return format_shape(dims)


class SymbolicTensor:
    """What a layer call returns while a model is defined: a shape and the call that makes it."""

    def __init__(self, dims: tuple[int, ...], layer: "Layer", call_index: int):
        self.dims = dims
        self.layer = layer
        self.call_index = call_index

    @property
    def shape(self) -> tuple:
        return (None, *self.dims)

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} from {self.layer.name!r}>"


class Layer:
    """Base of every layer: a name, validated constructor arguments, shape inference and weights."""

    registry: dict[str, type["Layer"]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Layer.registry[cls.__name__] = cls

    def __init__(self, name: str | None = None):
        if name is None:
            name = _auto_name(type(self).__name__)
        elif not isinstance(name, str) or not _NAME.match(name) or "@" in name:
            raise ValueError(f"{type(self).__name__}: invalid layer name {name!r}; use letters, digits, '_', '.', '-'")
        self.name = name
        self.calls: list[list[SymbolicTensor]] = []
        # Per call: the names of its tensors (None for a positional call) and its non-tensor call arguments.
        self.call_signatures: list[tuple[tuple[str, ...] | None, dict[str, Any]]] = []
        self.input_dims: tuple[int, ...] | None = None
        self.output_dims: tuple[int, ...] | None = None
        self._weight_specs: list[tuple[str, tuple[int, ...], str, bool]] = []
        self._weights: list[np.ndarray] = []
        self.weights_version = 0  # bumped on every change, so a model knows its JVM copy is stale
        self._trainable = True

    @property
    def trainable(self) -> bool:
        """False freezes the layer: training leaves its weights (and BatchNormalization's moving statistics,
        which it then computes in inference mode) exactly as they are."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{self.where()}: expected True or False for `trainable`, got {value!r}")
        self._trainable = bool(value)

    # -- messages -----------------------------------------------------------------------------
    def where(self) -> str:
        return f"layer '{self.name}' ({type(self).__name__})"

    # -- graph --------------------------------------------------------------------------------
    # Merge layers take a list of tensors; most other layers take exactly one.
    multiple_inputs = False
    # Layers called with several named tensors (Keras' `mha(query, value, key=None, attention_mask=None)`) list
    # the names in call order, the first `required_call_inputs` of them required, and their non-tensor call
    # arguments with defaults (`use_causal_mask=False`). The spec records such calls by name (docs/spec.md).
    call_inputs: tuple[str, ...] = ()
    required_call_inputs = 1
    call_arguments: dict[str, Any] = {}

    def __call__(self, *args, **kwargs) -> SymbolicTensor:
        if self.call_inputs:
            named, arguments = self._bind_call(args, kwargs)
            sources = list(named.values())
            dims: Any = {name: tensor.dims for name, tensor in named.items()}
        else:
            if len(args) != 1 or kwargs:
                raise TypeError(f"{self.where()} is called on one tensor{' or a list of tensors' * self.multiple_inputs}"
                                f", e.g. layer(x); got {len(args)} positional and {sorted(kwargs)} keyword arguments")
            inputs = args[0]
            sources = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            self._check_tensors(sources)
            if self.multiple_inputs and (not isinstance(inputs, (list, tuple)) or len(sources) < 2):
                raise ValueError(f"{self.where()} takes a list of at least 2 tensors, got {len(sources)}")
            if not self.multiple_inputs and isinstance(inputs, (list, tuple)):
                raise ValueError(f"{self.where()} takes one tensor, got a list of {len(sources)}")
            dims = tuple(s.dims for s in sources) if self.multiple_inputs else sources[0].dims
            named, arguments = None, {}
        if self.calls and dims != self.input_dims:
            raise ValueError(f"{self.where()} was built for input shape {_format_any(self.input_dims)} "
                             f"and cannot also take {_format_any(dims)}")
        output_dims = tuple(int(d) for d in self.compute_output_shape(dims))
        if not self.calls:
            self.input_dims, self.output_dims = dims, output_dims
            self.build(dims)
        self.calls.append(sources)
        self.call_signatures.append((tuple(named) if named is not None else None, arguments))
        return SymbolicTensor(output_dims, self, len(self.calls) - 1)

    def _check_tensors(self, sources) -> None:
        for source in sources:
            if not isinstance(source, SymbolicTensor):
                raise TypeError(f"{self.where()} was called on {type(source).__name__}; call it on layers.Input(...) "
                                "or on another layer's output")

    def _bind_call(self, args, kwargs) -> tuple[dict[str, SymbolicTensor], dict[str, Any]]:
        """Positional and keyword call arguments as {tensor name: tensor} (in call_inputs order, omitted ones
        left out) and {argument: value} (every call argument, defaults filled in)."""
        signature = ", ".join(self.call_inputs + tuple(f"{k}={v!r}" for k, v in self.call_arguments.items()))
        if len(args) > len(self.call_inputs):
            raise TypeError(f"{self.where()} takes ({signature}); got {len(args)} positional arguments")
        given = dict(zip(self.call_inputs, args))
        for key, value in kwargs.items():
            if key in given:
                raise TypeError(f"{self.where()} got `{key}` twice")
            if key not in self.call_inputs and key not in self.call_arguments:
                raise TypeError(f"{self.where()} takes ({signature}); got an unexpected argument `{key}`")
            given[key] = value
        named = {name: given[name] for name in self.call_inputs if given.get(name) is not None}
        missing = [name for name in self.call_inputs[:self.required_call_inputs] if name not in named]
        if missing:
            raise TypeError(f"{self.where()} takes ({signature}); `{missing[0]}` is missing")
        self._check_tensors(named.values())
        arguments = {key: given.get(key, default) for key, default in self.call_arguments.items()}
        return named, arguments

    @property
    def output(self) -> SymbolicTensor:
        """The output of the layer's one call (Keras' `layer.output`), e.g. to build a new head on a model."""
        if len(self.calls) != 1:
            raise ValueError(f"{self.where()} has been called {len(self.calls)} times, so it has no single output; "
                             "keep the tensor each call returns instead")
        return SymbolicTensor(self.output_dims, self, 0)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape

    def expect_rank(self, input_shape: tuple[int, ...], rank: int, example: str) -> None:
        """The ValueError every layer raises for an input of the wrong rank, naming both shapes."""
        if len(input_shape) != rank:
            raise ValueError(f"{self.where()} expects input of shape {example}, got {format_shape(input_shape)}")

    def build(self, input_shape: tuple[int, ...]) -> None:
        """Declares weights (add_weight) once the input shape is known."""

    def add_weight(self, name: str, shape: tuple[int, ...], initializer: str, trainable: bool = True) -> None:
        self._weight_specs.append((name, tuple(shape), initializer, trainable))
        self._weights.append(initializers.initialize(initializer, tuple(shape)))
        self.weights_version += 1

    # -- weights (Keras layouts) --------------------------------------------------------------
    @property
    def weight_names(self) -> list[str]:
        return [spec[0] for spec in self._weight_specs]

    @property
    def trainable_weight_names(self) -> list[str]:
        """Weights gradients reach (BatchNormalization's moving statistics are not among them)."""
        return [spec[0] for spec in self._weight_specs if spec[3]]

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self._weights]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        if len(weights) != len(self._weight_specs):
            raise ValueError(f"{self.where()} has {len(self._weight_specs)} weights "
                             f"({', '.join(self.weight_names) or 'none'}), got {len(weights)}")
        checked = []
        for (name, shape, _, _), value in zip(self._weight_specs, weights):
            value = np.asarray(value, dtype=np.float32)
            if value.shape != shape:
                raise ValueError(f"{self.where()} weight '{name}' has shape {shape}, got {value.shape}")
            checked.append(value.copy())
        self._weights = checked
        self.weights_version += 1

    def count_params(self) -> int:
        return int(sum(int(np.prod(spec[1])) for spec in self._weight_specs))

    # -- config -------------------------------------------------------------------------------
    # Arguments the config leaves out while they hold these values: arguments added after specs were first written,
    # so the specs of models that do not use them stay as they were.
    _config_omits: dict[str, Any] = {}

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras' get_config) as JSON values, each read from the attribute `__init__`
        stored it in; `trainable` only when False, so the specs of trainable models stay as they were."""
        values = {key: getattr(self, key) for key in _arguments(type(self))}
        config = {"name": self.name, **{key: _json_value(value) for key, value in values.items()
                                        if key not in self._config_omits or value != self._config_omits[key]}}
        return config if self.trainable else {**config, "trainable": False}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        config = dict(config)
        trainable = config.pop("trainable", True)
        layer = cls(**config)
        layer.trainable = trainable
        return layer

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}(name={self.name!r}{', ' if args else ''}{args})"


@functools.cache
def _arguments(cls: type) -> list[str]:
    """The named constructor arguments of `cls`: its `__init__`'s, after those its `**kwargs` pass to its base's."""
    owner = next(k for k in cls.__mro__ if "__init__" in vars(k))
    parameters = inspect.signature(owner.__init__).parameters.values()
    names = [p.name for p in parameters if p.name not in ("self", "name") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if any(p.kind is p.VAR_KEYWORD for p in parameters) and owner is not Layer:
        inherited = _arguments(owner.__mro__[1])
        names = [*inherited, *(n for n in names if n not in inherited)]
    return names


def _json_value(value: Any) -> Any:
    """A config value as the spec writes it: lists for tuples, a wrapped layer as its {"class_name", "config"}, a
    regularizer as its config."""
    if isinstance(value, Layer):
        config = value.get_config()
        config.pop("name")
        return {"class_name": type(value).__name__, "config": config}
    if hasattr(value, "get_config"):
        return value.get_config()
    return [_json_value(v) for v in value] if isinstance(value, (tuple, list)) else value


class InputLayer(Layer):
    """The source of a model input: its shape without the batch dimension."""

    def __init__(self, shape, dtype: str = "float32", name: str | None = None):
        super().__init__(name=name)
        valid = isinstance(shape, (tuple, list)) and len(shape) > 0 and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in shape)
        if not valid:
            raise ValueError(f"{self.where()}: shape must be a non-empty tuple of positive integers "
                             f"without the batch dimension, e.g. (64,) or (28, 28, 1); got {shape!r}")
        dims = tuple(int(d) for d in shape)
        if dtype != "float32":
            raise ValueError(f"{self.where()}: dtype must be 'float32', got {dtype!r}")
        self.shape = dims
        self.dtype = dtype
        self.input_dims = self.output_dims = dims
        self._output = SymbolicTensor(dims, self, 0)

    @property
    def output(self) -> SymbolicTensor:
        return self._output

    def __call__(self, inputs):
        raise TypeError(f"{self.where()} is a model input and cannot be called; use layers.Input(shape=...)")


def Input(shape, dtype: str = "float32", name: str | None = None) -> SymbolicTensor:
    """A model input of `shape` (no batch dimension), as in `keras.Input`."""
    return InputLayer(shape, dtype=dtype, name=name).output
