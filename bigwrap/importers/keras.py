"""bigwrap.from_keras and Model.to_keras: Keras 3 models in and out (.keras archives, legacy .h5, live models).

bigwrap's layers are Keras 3's (class names, arguments, weight layouts), so a Keras layer becomes the bigwrap layer
of its class with the arguments both have. An argument bigwrap lacks is refused by name unless it holds Keras'
default or cannot change a number of the loaded model (dtype policy, seeds, cuDNN and unrolling choices,
initializers of weights the file sets). Keras reads and writes the files; it runs on its torch backend unless
KERAS_BACKEND says otherwise. Where bigwrap's layers compute something other than Keras', KERAS_DIFFERENCES
says so (docs/import-export.md prints it; the Keras oracle test skips exactly those cases).
"""
from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import initializers, layers, storage
from ..layers.base import InputLayer, Layer, SymbolicTensor
from ..models import Model, Sequential


@dataclass(frozen=True)
class KerasDifference:
    layers: tuple[str, ...]                          # the bigwrap layer classes it concerns
    text: str                                        # what differs, for the guide
    applies: Callable[[dict], bool] = lambda kwargs: True   # which constructor arguments it concerns


KERAS_DIFFERENCES = [
    KerasDifference(("AveragePooling2D",), "with padding='same' and uneven padding follows Keras' own (TensorFlow's) "
                                        "definition, the padded cells left out of each average; Keras 3.15 on the "
                                        "torch backend computes those border cells otherwise",
                    lambda kwargs: kwargs.get("padding") == "same"),
    KerasDifference(("PeepholeLSTM",), "has no Keras counterpart (TensorFlow's PeepholeLSTMCell): to_keras refuses it"),
    KerasDifference(("LPPooling2D",), "has no Keras counterpart (Deeplearning4j's PNORM pooling): to_keras refuses it"),
    KerasDifference(("Conv1D", "Conv2D", "DepthwiseConv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
                     "AveragePooling2D"),
                    "with explicit `padding` cells or `count_include_pad=True` (PyTorch's and ONNX's padding) has no "
                    "Keras counterpart: to_keras refuses it",
                    lambda kwargs: (not isinstance(kwargs.get("padding", "valid"), str)
                                    or kwargs.get("count_include_pad", False))),
]

# Arguments that change no number of a loaded model, whatever their value.
_NEUTRAL = {"name", "trainable", "dtype", "seed", "use_cudnn", "unroll", "synchronized", "build_config",
            "input_axes", "output_axes", "optional", "ragged", "sparse"}
# Keras' defaults of arguments its constructors take through **kwargs.
_HIDDEN_DEFAULTS = {"rms_scaling": False}
_KERAS_INITIALIZERS = {"GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal", "HeUniform": "he_uniform",
                       "HeNormal": "he_normal", "LecunUniform": "lecun_uniform", "LecunNormal": "lecun_normal",
                       "RandomNormal": "random_normal", "RandomUniform": "random_uniform", "Orthogonal": "orthogonal",
                       "Zeros": "zeros", "Ones": "ones"}


def _keras():
    """Keras, on its torch backend unless KERAS_BACKEND chose another (TensorFlow is not needed)."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise ImportError("bigwrap's Keras files need Keras 3: pip install 'bigwrap[keras]'") from None
    return keras


def from_keras(model: Any, name: str | None = None) -> Model:
    """A Keras 3 model as a bigwrap Model with its weights: a `.keras` archive, a legacy Keras 2 / tf.keras `.h5`
    file, or a live `keras.Model` (Sequential or functional, shared layers included). Layers or arguments bigwrap
    does not have raise a ValueError naming each of them."""
    keras = _keras()
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not path.endswith((".keras", ".h5", ".hdf5")):
            raise ValueError(f"from_keras reads .keras archives and legacy .h5 files, got {path!r}")
        with storage.local_copy(path) as local:  # a path on any store (bigwrap.storage)
            if not os.path.isfile(local):
                raise FileNotFoundError(f"no Keras model file at {path!r}")
            model = keras.saving.load_model(local, compile=False)
    if not isinstance(model, keras.Model):
        raise TypeError(f"from_keras takes a path or a keras.Model, got {type(model).__name__}")
    return _Importer(keras, model).build(name or model.name)


class _Importer:
    def __init__(self, keras, model):
        self.keras, self.model = keras, model
        self.config = model.get_config()

    def build(self, name: str) -> Model:
        entries = self.config.get("layers", [])
        problems = []
        for entry in entries:  # each layer bigwrap cannot take, named
            try:
                self.layer(entry)
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise ValueError(f"cannot import the Keras model '{self.model.name}': {'; '.join(problems)}")
        if isinstance(self.model, self.keras.Sequential):
            return self.sequential(entries, name)
        return self.functional(entries, name)

    # -- layers ---------------------------------------------------------------------------------
    def layer(self, entry: dict, wrapped: bool = False) -> Layer:
        """`wrapped`: the layer a Bidirectional wraps, whose zero_output_for_mask Keras forces to its return_sequences
        (bidirectional.py), the rule bigwrap's Bidirectional follows on masked steps."""
        class_name, config = entry["class_name"], dict(entry["config"])
        where = f"layer '{config.get('name', entry.get('name'))}' ({class_name})"
        if class_name == "InputLayer":
            return InputLayer(tuple(config["batch_shape"][1:]), name=config["name"])
        cls = getattr(layers, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, Layer)) or class_name in ("Layer", "InputLayer"):
            raise ValueError(f"{where}: bigwrap has no such layer")
        keras_cls = getattr(self.keras.layers, class_name)
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
        if issubclass(cls, layers.recurrent._RNN):  # LSTM/GRU pass the shared arguments on to _RNN
            accepted |= set(inspect.signature(layers.recurrent._RNN.__init__).parameters)
        defaults = dict(_HIDDEN_DEFAULTS)  # Keras' defaults, a class's own before those it passes to its bases
        for base in reversed(keras_cls.__mro__):
            if "__init__" in vars(base):
                defaults.update({k: p.default for k, p in inspect.signature(base.__init__).parameters.items()})
        kwargs = {}
        for key, value in config.items():
            if key == "backward_layer":  # Keras writes it always; bigwrap's is the forward layer going backwards
                if _mirror(value) != _mirror(config.get("layer")):
                    raise ValueError(f"{where}: a `backward_layer` other than the forward layer's mirror is not "
                                     "supported")
            elif key == "layer" and isinstance(value, dict):
                kwargs[key] = self.layer(value, wrapped=class_name == "Bidirectional")
            elif key == "zero_output_for_mask" and wrapped and value == config.get("return_sequences", False):
                continue
            elif key in accepted:
                kwargs[key] = self.value(key, value, cls, where)
            elif (key in _NEUTRAL or key.endswith("_initializer") or _same(value, defaults.get(key, inspect._empty))
                  or key == "data_format" and value in (None, "channels_last")):
                continue
            else:
                raise ValueError(f"{where}: argument {key}={value!r} is not supported by bigwrap")
        layer = cls(**kwargs)
        layer.trainable = bool(config.get("trainable", True))
        return layer

    def value(self, key: str, value, cls, where: str):
        if key.endswith("_initializer"):
            name = value.get("class_name") if isinstance(value, dict) else value
            default = inspect.signature(cls.__init__).parameters.get(key)
            return _KERAS_INITIALIZERS.get(name, name if isinstance(name, str) and name in _INITIALIZER_NAMES
                                           else default.default if default else "zeros")
        if key.endswith("_regularizer") and isinstance(value, dict):
            if value.get("class_name") not in ("L1", "L2", "L1L2"):
                raise ValueError(f"{where}: {key} {value.get('class_name')!r} is not supported (L1, L2 and L1L2 are)")
            return value.get("config", {})
        if key == "axis" and isinstance(value, list) and len(value) == 1:
            return value[0]
        if isinstance(value, list) and key != "layer":
            return tuple(tuple(v) if isinstance(v, list) else v for v in value)
        return value

    # -- graph ----------------------------------------------------------------------------------
    def weights(self, bigwrap_layer: Layer) -> None:
        values = self.model.get_layer(bigwrap_layer.name).get_weights()
        if values:
            bigwrap_layer.set_weights([np.asarray(v, np.float32) for v in values])

    def sequential(self, entries: list[dict], name: str) -> Model:
        built = [self.layer(e) for e in entries]
        if not built or not isinstance(built[0], InputLayer):
            shape = self.config.get("build_input_shape")
            if not shape:
                raise ValueError(f"cannot import the Keras Sequential '{self.model.name}': it has no input shape "
                                 "(start it with keras.Input(shape=...))")
            built.insert(0, InputLayer(tuple(shape[1:]), name=f"{name}_input"))
        model = Sequential([built[0].output, *built[1:]], name=name)
        for layer in built[1:]:
            self.weights(layer)
        return model

    def functional(self, entries: list[dict], name: str) -> Model:
        tensors: dict[tuple[str, int], SymbolicTensor] = {}
        for entry in entries:
            layer = self.layer(entry)
            if isinstance(layer, InputLayer):
                tensors[(layer.name, 0)] = layer.output
                continue
            for k, node in enumerate(entry.get("inbound_nodes", [])):
                if any(v not in (None, False) for v in node.get("kwargs", {}).values()):
                    raise ValueError(f"cannot import Keras layer '{layer.name}': call arguments {node['kwargs']} "
                                     "are not supported")
                args = node["args"][0]
                sources = [tensors[_history(t)] for t in args] if isinstance(args, list) else tensors[_history(args)]
                tensors[(layer.name, k)] = layer(sources)
            self.weights(layer)

        def ends(key: str) -> list[SymbolicTensor]:  # one [name, node, index] reference or a list of them
            refs = self.config[key]
            return [tensors[_history(t)] for t in ([refs] if refs and isinstance(refs[0], str) else refs)]
        return Model(ends("input_layers"), ends("output_layers"), name=name)


_INITIALIZER_NAMES = set(initializers._INITIALIZERS)


def _history(tensor) -> tuple[str, int]:
    """(layer name, call index) of a serialized Keras tensor, or of an [name, node, index] reference."""
    if isinstance(tensor, dict):
        tensor = tensor["config"]["keras_history"]
    return tensor[0], tensor[1]


def _mirror(entry) -> tuple:
    """A serialized recurrent layer without what differs between Bidirectional's two directions."""
    if not isinstance(entry, dict):
        return (entry,)
    config = {k: v for k, v in entry.get("config", {}).items() if k not in ("name", "go_backwards")}
    return entry.get("class_name"), repr(sorted(config.items()))


def _same(value, default) -> bool:
    if default is inspect._empty:
        return False
    norm = lambda v: tuple(norm(x) for x in v) if isinstance(v, (list, tuple)) else v
    return norm(value) == norm(default) or (isinstance(default, int) and not isinstance(default, bool)
                                            and isinstance(value, (list, tuple)) and set(value) == {default})


def to_keras(model: Model, path: str) -> str:
    """Writes `model` with its weights as a Keras 3 `.keras` archive at `path` (Model.to_keras)."""
    keras = _keras()
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"to_keras writes a Keras 3 archive, whose name ends in .keras; got {path!r}")
    problems = [p for layer in model.layers for p in _export_problems(layer)]
    if problems:
        raise ValueError(f"cannot write model '{model.name}' as Keras: {'; '.join(problems)}")
    made = {layer: _keras_layer(keras, type(layer).__name__, layer.get_config())
            for layer in model._graph_layers if not isinstance(layer, InputLayer)}
    sources = {id(t.layer): keras.Input(shape=t.layer.shape, name=t.layer.name) for t in model._inputs}
    if isinstance(model, Sequential):
        result = keras.Sequential([*sources.values(), *made.values()], name=model.name)
    else:
        tensors = {(layer_id, 0): tensor for layer_id, tensor in sources.items()}
        for layer, keras_layer in made.items():
            for index in model._calls[layer]:
                inputs = [tensors[(id(t.layer), t.call_index)] for t in layer.calls[index]]
                tensors[(id(layer), index)] = keras_layer(inputs if layer.multiple_inputs else inputs[0])
        outputs = [tensors[(id(t.layer), t.call_index)] for t in model._outputs]
        result = keras.Model(list(sources.values()), outputs, name=model.name)
    for layer, keras_layer in made.items():
        keras_layer.set_weights(layer.get_weights())
    with storage.local_target(path) as local:  # a path on any store (bigwrap.storage)
        result.save(local)
    return path


def _export_problems(layer: Layer) -> list[str]:
    inner = getattr(layer, "layer", None)
    if isinstance(inner, Layer):
        return _export_problems(inner)
    return [f"{layer.where()} {d.text}" for d in KERAS_DIFFERENCES if type(layer).__name__ in d.layers
            and "to_keras refuses" in d.text and d.applies(layer.get_config())]


def _keras_layer(keras, class_name: str, config: dict):
    kwargs = dict(config)
    kwargs.pop("count_include_pad", None)  # False here (True is refused): Keras' averages leave the pad out
    if class_name == "SimpleRNN":
        kwargs.pop("recurrent_activation", None)  # bigwrap's SimpleRNN has the argument but no gate to use it
    for key, value in config.items():
        if key.endswith("_regularizer") and isinstance(value, dict):
            kwargs[key] = keras.regularizers.L1L2(l1=value.get("l1", 0.0), l2=value.get("l2", 0.0))
        elif key == "layer" and isinstance(value, dict):
            kwargs[key] = _keras_layer(keras, value["class_name"], {**value["config"], "name": f"{config['name']}_"
                                                                    f"{value['class_name'].lower()}"})
        elif isinstance(value, list):
            kwargs[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return getattr(keras.layers, class_name)(**kwargs)


def differences_table() -> str:
    """The guide's list (docs/import-export.md) of where bigwrap's layers differ from Keras', generated from KERAS_DIFFERENCES."""
    return "\n".join(["| layer | difference from Keras 3 |", "|---|---|",
                      *[f"| {', '.join(f'`{n}`' for n in d.layers)} | {d.text} |" for d in KERAS_DIFFERENCES]])
