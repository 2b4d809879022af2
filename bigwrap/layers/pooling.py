"""Pooling on channels-last inputs: (steps, channels) for 1D, (H, W, C) for 2D."""
from __future__ import annotations

from ._checks import boolean, choice, int_tuple, number
from .base import Layer
from .convolutional import padding_config, spatial_output_shape, window_padding


class _Pooling(Layer):
    """`padding` is "valid", "same" (Keras'), or explicit cells per spatial axis as PyTorch and ONNX pad
    (max pooling never takes a padded cell)."""
    rank = 2

    def __init__(self, pool_size=2, strides=None, padding="valid", name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size", where)
        self.strides = self.pool_size if strides is None else int_tuple(strides, self.rank, "strides", where)
        self.padding = window_padding(padding, self.rank, where)

    def compute_output_shape(self, input_shape):
        out = spatial_output_shape(self, input_shape, self.pool_size, self.strides, self.padding)
        return (*out, input_shape[-1])


class MaxPooling1D(_Pooling):
    rank = 1


class MaxPooling2D(_Pooling):
    rank = 2


class _AveragePooling(_Pooling):
    """Averages over each window; padded cells are not counted (as in Keras), unless explicit padding comes with
    `count_include_pad=True` (PyTorch's default), which counts them as zeros."""

    def __init__(self, pool_size=2, strides=None, padding="valid", count_include_pad: bool = False,
                 name: str | None = None):
        super().__init__(pool_size, strides, padding, name=name)
        where = self.where()
        self.count_include_pad = boolean(count_include_pad, "count_include_pad", where)
        if not self.count_include_pad and isinstance(self.padding, tuple) and any(b != e for b, e in self.padding):
            raise ValueError(f"{where}: uneven explicit padding {padding_config(self.padding)} needs "
                             "count_include_pad=True (BigDL leaves out padded cells of symmetric padding only)")


class AveragePooling1D(_AveragePooling):
    rank = 1


class AveragePooling2D(_AveragePooling):
    rank = 2


class LPPooling2D(_Pooling):
    """The p-norm of each window, (Σ |x|^p)^(1/p) (Deeplearning4j's PNORM pooling); with padding="same" the padded
    cells count as zeros."""

    def __init__(self, p: float = 2.0, pool_size=2, strides=None, padding: str = "valid", name: str | None = None):
        super().__init__(pool_size, strides, padding, name=name)
        self.p = number(p, "p", self.where(), low=1)
        choice(padding, ("valid", "same"), "padding", self.where())


class _GlobalPooling(Layer):
    rank = 2

    def compute_output_shape(self, input_shape):
        example = "(None, steps, channels)" if self.rank == 1 else "(None, height, width, channels)"
        self.expect_rank(input_shape, self.rank + 1, example)
        return (input_shape[-1],)


class GlobalAveragePooling1D(_GlobalPooling):
    rank = 1


class GlobalAveragePooling2D(_GlobalPooling):
    rank = 2


class GlobalMaxPooling1D(_GlobalPooling):
    rank = 1


class GlobalMaxPooling2D(_GlobalPooling):
    rank = 2
