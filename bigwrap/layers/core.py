"""Core layers: dense maps, activations, dropout, masking and the shape changes (flatten, reshape, permute, repeat)."""
from __future__ import annotations

import math

from .. import activations, initializers, regularizers
from ._checks import boolean, number, positive_int
from .base import Layer, format_shape


class Dense(Layer):
    """`activation(inputs @ kernel + bias)` over the last axis of an input of any rank; kernel is
    (input_dim, units) as in Keras."""
    _config_omits = {"kernel_regularizer": None}

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 kernel_regularizer=None, name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.units = positive_int(units, "units", where)
        self.activation = activations.get(activation, where)
        self.use_bias = boolean(use_bias, "use_bias", where)
        self.kernel_initializer = initializers.check(kernel_initializer, where)
        self.bias_initializer = initializers.check(bias_initializer, where)
        self.kernel_regularizer = regularizers.get(kernel_regularizer, where)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def build(self, input_shape):
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)


class Activation(Layer):
    def __init__(self, activation: str, name: str | None = None):
        super().__init__(name=name)
        self.activation = activations.get(activation, self.where())


class Dropout(Layer):
    """Zeroes a `rate` fraction of inputs while training and scales the rest by 1/(1-rate)."""

    def __init__(self, rate: float, name: str | None = None):
        super().__init__(name=name)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"{self.where()}: expected `rate` in [0, 1), got {rate!r}")
        self.rate = float(rate)


class Masking(Layer):
    """Masks the steps of a (steps, features) input whose features all equal `mask_value`: they become zeros,
    and the layers after it that consume masks (see docs/spec.md, "Masks") skip them, as in Keras."""

    def __init__(self, mask_value: float = 0.0, name: str | None = None):
        super().__init__(name=name)
        self.mask_value = number(mask_value, "mask_value", self.where())

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self.where()} expects input of shape (None, steps, features), got "
                             f"{format_shape(input_shape)}")
        return input_shape


class Flatten(Layer):
    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)


class Reshape(Layer):
    """Reshapes to `target_shape` (no batch dimension); one entry may be -1, inferred from the size."""

    def __init__(self, target_shape, name: str | None = None):
        super().__init__(name=name)
        valid = isinstance(target_shape, (tuple, list)) and len(target_shape) > 0 and all(
            isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1) for d in target_shape)
        if not valid or list(target_shape).count(-1) > 1:
            raise ValueError(f"{self.where()}: `target_shape` must be a tuple of positive integers with at most one "
                             f"-1, got {target_shape!r}")
        self.target_shape = tuple(target_shape)

    def compute_output_shape(self, input_shape):
        size = math.prod(input_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and size % known) or (-1 not in self.target_shape and known != size):
            raise ValueError(f"{self.where()} cannot reshape input of shape {format_shape(input_shape)} "
                             f"({size} values) to {format_shape(self.target_shape)}")
        return tuple(size // known if d == -1 else d for d in self.target_shape)


class Permute(Layer):
    """Permutes the non-batch axes: `dims` is a permutation of 1..rank, as in Keras."""

    def __init__(self, dims, name: str | None = None):
        super().__init__(name=name)
        if not isinstance(dims, (tuple, list)) or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"{self.where()}: `dims` must be a permutation of 1..rank, e.g. (2, 1), got {dims!r}")
        self.dims = tuple(dims)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims):
            raise ValueError(f"{self.where()} permutes {len(self.dims)} axes (dims={self.dims}) but got input of "
                             f"shape {format_shape(input_shape)}")
        return tuple(input_shape[d - 1] for d in self.dims)


class RepeatVector(Layer):
    """(features,) → (n, features)."""

    def __init__(self, n: int, name: str | None = None):
        super().__init__(name=name)
        self.n = positive_int(n, "n", self.where())

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 1, "(None, features)")
        return (self.n, input_shape[0])
