"""Convolution layers on channels-last inputs: Conv1D (steps, channels), Conv2D (H, W, C), ZeroPadding2D, UpSampling2D."""
from __future__ import annotations

import math

from .. import activations, initializers
from ._checks import boolean, choice, int_tuple, positive_int
from .base import Layer, format_shape


def conv_output_length(length: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Keras' output length: "same" keeps ceil(length / stride), "valid" drops the kernel's reach."""
    if padding == "same":
        return math.ceil(length / stride)
    return (length - dilation * (kernel - 1) - 1) // stride + 1


class _Conv(Layer):
    rank = 2

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", dilation_rate=1,
                 activation: str | None = None, use_bias: bool = True, kernel_initializer: str = "glorot_uniform",
                 bias_initializer: str = "zeros", name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.filters = positive_int(filters, "filters", where)
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size", where)
        self.strides = int_tuple(strides, self.rank, "strides", where)
        self.padding = choice(padding, ("valid", "same"), "padding", where)
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate", where)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{where}: `strides` > 1 cannot be combined with `dilation_rate` > 1 (as in Keras), "
                             f"got strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation, where)
        self.use_bias = boolean(use_bias, "use_bias", where)
        self.kernel_initializer = initializers.check(kernel_initializer, where)
        self.bias_initializer = initializers.check(bias_initializer, where)

    def compute_output_shape(self, input_shape):
        example = "(None, steps, channels)" if self.rank == 1 else "(None, height, width, channels)"
        self.expect_rank(input_shape, self.rank + 1, example)
        out = [conv_output_length(n, k, s, self.padding, d) for n, k, s, d in
               zip(input_shape[:-1], self.kernel_size, self.strides, self.dilation_rate)]
        if min(out) <= 0:
            raise ValueError(f"{self.where()}: kernel {self.kernel_size} (dilation {self.dilation_rate}) does not fit "
                             f"input of shape {format_shape(input_shape)} with padding='valid'")
        return (*out, self.filters)

    def build(self, input_shape):
        self.add_weight("kernel", (*self.kernel_size, input_shape[-1], self.filters), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)

    def get_config(self):
        return {"name": self.name, "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "dilation_rate": list(self.dilation_rate),
                "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer}


class Conv1D(_Conv):
    """Convolution over (steps, channels); kernel is (kernel_size, in_channels, filters) as in Keras."""
    rank = 1


class Conv2D(_Conv):
    """Convolution over (height, width, channels); kernel is (kh, kw, in_channels, filters) as in Keras."""
    rank = 2


class ZeroPadding2D(Layer):
    """Zero rows/columns around (H, W, C): `padding` is an int, (h, w), or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        if isinstance(padding, (tuple, list)) and padding and all(isinstance(p, (tuple, list)) for p in padding):
            pairs = [tuple(p) for p in padding]
            if len(pairs) != 2 or any(len(p) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 0
                                                          for v in p) for p in pairs):
                raise ValueError(f"{where}: expected `padding` ((top, bottom), (left, right)) of non-negative "
                                 f"integers, got {padding!r}")
        else:
            h, w = int_tuple(padding, 2, "padding", where) if padding not in (0, (0, 0)) else (0, 0)
            pairs = [(h, h), (w, w)]
        self.padding = (pairs[0], pairs[1])

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 3, "(None, height, width, channels)")
        (t, b), (l, r) = self.padding
        return (input_shape[0] + t + b, input_shape[1] + l + r, input_shape[2])

    def get_config(self):
        return {"name": self.name, "padding": [list(p) for p in self.padding]}


class UpSampling2D(Layer):
    """Repeats rows and columns of (H, W, C) `size` times (nearest neighbour)."""

    def __init__(self, size=(2, 2), interpolation: str = "nearest", name: str | None = None):
        super().__init__(name=name)
        self.size = int_tuple(size, 2, "size", self.where())
        self.interpolation = choice(interpolation, ("nearest",), "interpolation", self.where())

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 3, "(None, height, width, channels)")
        return (input_shape[0] * self.size[0], input_shape[1] * self.size[1], input_shape[2])

    def get_config(self):
        return {"name": self.name, "size": list(self.size), "interpolation": self.interpolation}
