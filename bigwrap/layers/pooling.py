"""Pooling on channels-last inputs: (steps, channels) for 1D, (H, W, C) for 2D."""
from __future__ import annotations

from ._checks import choice, int_tuple, number
from .base import Layer
from .convolutional import spatial_output_shape


class _Pooling(Layer):
    rank = 2

    def __init__(self, pool_size=2, strides=None, padding: str = "valid", name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size", where)
        self.strides = self.pool_size if strides is None else int_tuple(strides, self.rank, "strides", where)
        self.padding = choice(padding, ("valid", "same"), "padding", where)

    def compute_output_shape(self, input_shape):
        out = spatial_output_shape(self, input_shape, self.pool_size, self.strides, self.padding)
        return (*out, input_shape[-1])

    def get_config(self):
        return {"name": self.name, "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


class MaxPooling1D(_Pooling):
    rank = 1


class MaxPooling2D(_Pooling):
    rank = 2


class AveragePooling1D(_Pooling):
    """Averages over each window; with padding="same" the padded cells are not counted (as in Keras)."""
    rank = 1


class AveragePooling2D(_Pooling):
    """Averages over each window; with padding="same" the padded cells are not counted (as in Keras)."""
    rank = 2


class LPPooling2D(_Pooling):
    """The p-norm of each window, (Σ |x|^p)^(1/p) (Deeplearning4j's PNORM pooling); with padding="same" the padded
    cells count as zeros."""
    rank = 2

    def __init__(self, p: float = 2.0, pool_size=2, strides=None, padding: str = "valid", name: str | None = None):
        super().__init__(pool_size, strides, padding, name=name)
        self.p = number(p, "p", self.where(), low=1)

    def get_config(self):
        return {**super().get_config(), "p": self.p}


class _GlobalPooling(Layer):
    rank = 2

    def compute_output_shape(self, input_shape):
        example = "(None, steps, channels)" if self.rank == 1 else "(None, height, width, channels)"
        self.expect_rank(input_shape, self.rank + 1, example)
        return (input_shape[-1],)

    def get_config(self):
        return {"name": self.name}


class GlobalAveragePooling1D(_GlobalPooling):
    rank = 1


class GlobalAveragePooling2D(_GlobalPooling):
    rank = 2


class GlobalMaxPooling1D(_GlobalPooling):
    rank = 1


class GlobalMaxPooling2D(_GlobalPooling):
    rank = 2
