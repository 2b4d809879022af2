"""The shared layer table (PyTorch module_db style): adding a layer means adding a row here.

Each row: the layer class, constructor kwargs, the input shape (no batch), the output shape Python
must infer, and a numpy reference of the forward pass in inference mode given the layer's weights.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from bigwrap import layers


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softmax": _softmax,
    "log_softmax": lambda x: np.log(_softmax(x)),
}


def _dense(kwargs):
    activation = ACTIVATIONS[kwargs.get("activation") or "linear"]

    def forward(weights, x):
        y = x @ weights[0]
        if kwargs.get("use_bias", True):
            y = y + weights[1]
        return activation(y)
    return forward


@dataclass
class LayerCase:
    layer: type
    kwargs: dict[str, Any]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    reference: Callable[[list[np.ndarray], np.ndarray], np.ndarray]
    id: str = field(default="")

    def __post_init__(self):
        self.id = self.id or f"{self.layer.__name__}-{'-'.join(f'{k}={v}' for k, v in self.kwargs.items())}"


LAYER_CASES = [
    *[LayerCase(layers.Dense, {"units": 7, "activation": a}, (5,), (7,), _dense({"activation": a}))
      for a in ACTIVATIONS],
    LayerCase(layers.Dense, {"units": 3, "use_bias": False}, (4,), (3,), _dense({"use_bias": False})),
    LayerCase(layers.Dense, {"units": 4, "kernel_initializer": "he_normal", "bias_initializer": "ones"}, (6,), (4,),
              _dense({})),
    *[LayerCase(layers.Activation, {"activation": a}, (6,), (6,), lambda w, x, a=a: ACTIVATIONS[a](x))
      for a in ACTIVATIONS],
    LayerCase(layers.Dropout, {"rate": 0.5}, (6,), (6,), lambda w, x: x),
    LayerCase(layers.Flatten, {}, (3, 4), (12,), lambda w, x: x.reshape(len(x), -1)),
    LayerCase(layers.Flatten, {}, (2, 3, 2), (12,), lambda w, x: x.reshape(len(x), -1)),
]

# Constructor arguments each layer must reject, with a word the message must contain.
BAD_ARGUMENTS = [
    (layers.Dense, {"units": -3}, "units"),
    (layers.Dense, {"units": 2.5}, "units"),
    (layers.Dense, {"units": 4, "activation": "swishy"}, "swishy"),
    (layers.Dense, {"units": 4, "use_bias": "yes"}, "use_bias"),
    (layers.Dense, {"units": 4, "kernel_initializer": "magic"}, "magic"),
    (layers.Activation, {"activation": "nope"}, "nope"),
    (layers.Dropout, {"rate": 1.5}, "rate"),
    (layers.Dropout, {"rate": -0.1}, "rate"),
    (layers.InputLayer, {"shape": (0, 3)}, "shape"),
    (layers.InputLayer, {"shape": "64"}, "shape"),
]
