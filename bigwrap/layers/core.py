"""Core layers: Dense, Activation, Dropout, Flatten."""
from __future__ import annotations

from typing import Any

from .. import activations, initializers
from .base import Layer, format_shape


def _positive_int(value: Any, argument: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}: expected a positive integer for `{argument}`, got {value!r}")
    return value


def _boolean(value: Any, argument: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected True or False for `{argument}`, got {value!r}")
    return value


class Dense(Layer):
    """`activation(inputs @ kernel + bias)`; kernel is (input_dim, units) as in Keras."""

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.units = _positive_int(units, "units", where)
        self.activation = activations.get(activation, where)
        self.use_bias = _boolean(use_bias, "use_bias", where)
        self.kernel_initializer = initializers.check(kernel_initializer, where)
        self.bias_initializer = initializers.check(bias_initializer, where)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"{self.where()} expects input of shape (None, features), got "
                             f"{format_shape(input_shape)}; add layers.Flatten() before it")
        return (self.units,)

    def build(self, input_shape):
        self.add_weight("kernel", (input_shape[0], self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)

    def get_config(self):
        return {"name": self.name, "units": self.units, "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer}


class Activation(Layer):
    def __init__(self, activation: str, name: str | None = None):
        super().__init__(name=name)
        self.activation = activations.get(activation, self.where())

    def get_config(self):
        return {"name": self.name, "activation": self.activation}


class Dropout(Layer):
    """Zeroes a `rate` fraction of inputs while training and scales the rest by 1/(1-rate)."""

    def __init__(self, rate: float, name: str | None = None):
        super().__init__(name=name)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"{self.where()}: expected `rate` in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def get_config(self):
        return {"name": self.name, "rate": self.rate}


class Flatten(Layer):
    def compute_output_shape(self, input_shape):
        size = 1
        for d in input_shape:
            size *= d
        return (size,)
