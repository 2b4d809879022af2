"""Convolution layers on channels-last inputs, (steps, channels) for 1D and (H, W, C) for 2D, and the padding,
cropping and upsampling that go with them."""
from __future__ import annotations

import math

from .. import activations, initializers
from ._checks import boolean, choice, int_tuple, positive_int
from .base import Layer, format_shape


def conv_output_length(length: int, kernel: int, stride: int, padding, dilation: int = 1) -> int:
    """Keras' output length: "same" keeps ceil(length / stride), "valid" drops the kernel's reach; explicit
    (before, after) padding adds its cells to the length first (PyTorch's and ONNX's padding)."""
    if padding == "same":
        return math.ceil(length / stride)
    if isinstance(padding, tuple):
        length += sum(padding)
    return (length - dilation * (kernel - 1) - 1) // stride + 1


def _cells_per_axis(value, rank: int) -> tuple[tuple[int, int], ...] | None:
    """An int, one int per axis, or a (before, after) pair per axis, of non-negative ints, as ((before, after), ...);
    None for anything else."""
    def count(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if count(value):
        value = (value,) * rank
    if isinstance(value, (tuple, list)) and len(value) == rank and all(count(v) for v in value):
        value = tuple((v, v) for v in value)
    if (isinstance(value, (tuple, list)) and len(value) == rank
            and all(isinstance(p, (tuple, list)) and len(p) == 2 and all(count(v) for v in p) for p in value)):
        return tuple(tuple(p) for p in value)
    return None


def window_padding(value, rank: int, where: str):
    """A window layer's `padding`: "valid", "same" (Keras'), or explicit cells per spatial axis, given as an int,
    one int per axis, or a (before, after) pair per axis; explicit padding comes back as ((before, after), ...)."""
    padding = value if value in ("valid", "same") else _cells_per_axis(value, rank)
    if padding is None:
        raise ValueError(f"{where}: expected `padding` to be one of 'valid', 'same', or explicit cells per spatial "
                         f"axis (an int, {rank} ints, or {rank} (before, after) pairs of non-negative integers), got "
                         f"{value!r}")
    return padding


def padding_config(padding):
    """`padding` as the spec writes it: the string, or a list of [before, after] lists."""
    return padding if isinstance(padding, str) else [list(p) for p in padding]


def spatial_output_shape(layer: Layer, input_shape, kernel, strides, padding, dilation=None) -> list[int]:
    """The output lengths of a window sliding over the leading (spatial) axes, or a ValueError if it does not fit."""
    dilation = dilation or (1,) * len(kernel)
    example = "(None, steps, channels)" if len(kernel) == 1 else "(None, height, width, channels)"
    layer.expect_rank(input_shape, len(kernel) + 1, example)
    pads = padding if isinstance(padding, tuple) else (padding,) * len(kernel)
    out = [conv_output_length(n, k, s, p, d) for n, k, s, p, d in zip(input_shape[:-1], kernel, strides, pads, dilation)]
    if min(out) <= 0:
        raise ValueError(f"{layer.where()}: window {tuple(kernel)} (dilation {tuple(dilation)}) does not fit input of "
                         f"shape {format_shape(input_shape)} with padding={padding_config(padding)!r}")
    return out


def _pairs(value, argument: str, where: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """An int, (rows, cols) or ((top, bottom), (left, right)) of non-negative ints, as Keras' padding/cropping."""
    pairs = _cells_per_axis(value, 2)
    if pairs is None:
        raise ValueError(f"{where}: expected `{argument}` as an int, (rows, cols) or ((top, bottom), (left, right)) "
                         f"of non-negative integers, got {value!r}")
    return pairs


class _Conv(Layer):
    """`groups` > 1 splits the input channels and the filters into that many groups, each group of filters seeing
    its group of channels only (Keras' `groups`); the kernel is then (kernel..., in_channels / groups, filters)."""
    rank = 2
    _config_omits = {"groups": 1}  # absent when 1: older specs unchanged

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", dilation_rate=1,
                 activation: str | None = None, use_bias: bool = True, kernel_initializer: str = "glorot_uniform",
                 bias_initializer: str = "zeros", groups: int = 1, name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.filters = positive_int(filters, "filters", where)
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size", where)
        self.strides = int_tuple(strides, self.rank, "strides", where)
        self.padding = window_padding(padding, self.rank, where)
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate", where)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{where}: `strides` > 1 cannot be combined with `dilation_rate` > 1 (as in Keras), "
                             f"got strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation, where)
        self.use_bias = boolean(use_bias, "use_bias", where)
        self.kernel_initializer = initializers.check(kernel_initializer, where)
        self.bias_initializer = initializers.check(bias_initializer, where)
        self.groups = positive_int(groups, "groups", where)
        if self.filters % self.groups:
            raise ValueError(f"{where}: `filters` ({filters}) must be a multiple of `groups` ({groups})")
        if self.groups > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{where}: BigDL has no dilated grouped convolution: `groups` > 1 needs dilation_rate=1")

    def compute_output_shape(self, input_shape):
        out = spatial_output_shape(self, input_shape, self.kernel_size, self.strides, self.padding, self.dilation_rate)
        if input_shape[-1] % self.groups:
            raise ValueError(f"{self.where()}: {input_shape[-1]} input channels cannot be split into "
                             f"groups={self.groups}")
        return (*out, self.filters)

    def build(self, input_shape):
        self.add_weight("kernel", (*self.kernel_size, input_shape[-1] // self.groups, self.filters),
                        self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)


class Conv1D(_Conv):
    """Convolution over (steps, channels); kernel is (kernel_size, in_channels, filters) as in Keras."""
    rank = 1


class Conv2D(_Conv):
    """Convolution over (height, width, channels); kernel is (kh, kw, in_channels, filters) as in Keras."""
    rank = 2


class DepthwiseConv2D(Layer):
    """Each input channel convolved with its own `depth_multiplier` filters (output channel c·depth_multiplier + m);
    kernel is (kh, kw, in_channels, depth_multiplier) as in Keras."""

    def __init__(self, kernel_size, strides=1, padding: str = "valid", depth_multiplier: int = 1,
                 activation: str | None = None, use_bias: bool = True, depthwise_initializer: str = "glorot_uniform",
                 bias_initializer: str = "zeros", name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", where)
        self.strides = int_tuple(strides, 2, "strides", where)
        self.padding = window_padding(padding, 2, where)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", where)
        self.activation = activations.get(activation, where)
        self.use_bias = boolean(use_bias, "use_bias", where)
        self.depthwise_initializer = initializers.check(depthwise_initializer, where)
        self.bias_initializer = initializers.check(bias_initializer, where)

    def compute_output_shape(self, input_shape):
        out = spatial_output_shape(self, input_shape, self.kernel_size, self.strides, self.padding)
        return (*out, input_shape[-1] * self.depth_multiplier)

    def build(self, input_shape):
        self.add_weight("kernel", (*self.kernel_size, input_shape[-1], self.depth_multiplier),
                        self.depthwise_initializer)
        if self.use_bias:
            self.add_weight("bias", (input_shape[-1] * self.depth_multiplier,), self.bias_initializer)


class SeparableConv2D(DepthwiseConv2D):
    """A depthwise convolution, then a 1x1 convolution to `filters` channels: weights depthwise_kernel
    (kh, kw, in_channels, depth_multiplier), pointwise_kernel (1, 1, in_channels·depth_multiplier, filters) and
    bias (filters,), as in Keras."""

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", depth_multiplier: int = 1,
                 activation: str | None = None, use_bias: bool = True, depthwise_initializer: str = "glorot_uniform",
                 pointwise_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 name: str | None = None):
        super().__init__(kernel_size, strides, padding, depth_multiplier, activation, use_bias, depthwise_initializer,
                         bias_initializer, name=name)
        self.filters = positive_int(filters, "filters", self.where())
        self.pointwise_initializer = initializers.check(pointwise_initializer, self.where())

    def compute_output_shape(self, input_shape):
        return (*super().compute_output_shape(input_shape)[:-1], self.filters)

    def build(self, input_shape):
        channels = input_shape[-1] * self.depth_multiplier
        self.add_weight("depthwise_kernel", (*self.kernel_size, input_shape[-1], self.depth_multiplier),
                        self.depthwise_initializer)
        self.add_weight("pointwise_kernel", (1, 1, channels, self.filters), self.pointwise_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)


class ZeroPadding2D(Layer):
    """Zero rows/columns around (H, W, C): `padding` is an int, (h, w), or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), name: str | None = None):
        super().__init__(name=name)
        self.padding = _pairs(padding, "padding", self.where())

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 3, "(None, height, width, channels)")
        (t, b), (l, r) = self.padding
        return (input_shape[0] + t + b, input_shape[1] + l + r, input_shape[2])


class Cropping2D(Layer):
    """Drops rows/columns at the edges of (H, W, C): `cropping` is an int, (h, w), or ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), name: str | None = None):
        super().__init__(name=name)
        self.cropping = _pairs(cropping, "cropping", self.where())

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 3, "(None, height, width, channels)")
        (t, b), (l, r) = self.cropping
        out = (input_shape[0] - t - b, input_shape[1] - l - r, input_shape[2])
        if min(out) <= 0:
            raise ValueError(f"{self.where()}: cropping {self.cropping} leaves nothing of input of shape "
                             f"{format_shape(input_shape)}")
        return out


class UpSampling2D(Layer):
    """Repeats rows and columns of (H, W, C) `size` times (nearest neighbour)."""

    def __init__(self, size=(2, 2), interpolation: str = "nearest", name: str | None = None):
        super().__init__(name=name)
        self.size = int_tuple(size, 2, "size", self.where())
        self.interpolation = choice(interpolation, ("nearest",), "interpolation", self.where())

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 3, "(None, height, width, channels)")
        return (input_shape[0] * self.size[0], input_shape[1] * self.size[1], input_shape[2])
