"""Layers that merge a list of tensors."""
from __future__ import annotations

from .base import Layer, _format_any


class _Merge(Layer):
    multiple_inputs = True

    def compute_output_shape(self, input_shape):
        if any(dims != input_shape[0] for dims in input_shape):
            raise ValueError(f"{self.where()} needs inputs of one shape, got {_format_any(input_shape)}")
        return input_shape[0]


class Concatenate(_Merge):
    """Joins along `axis` (counted without the batch dimension when positive, as Keras counts with it: 1 = first)."""

    def __init__(self, axis: int = -1, name: str | None = None):
        super().__init__(name=name)
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            raise ValueError(f"{self.where()}: `axis` must be a non-zero integer (the batch axis 0 cannot be "
                             f"joined), got {axis!r}")
        self.axis = axis

    def compute_output_shape(self, input_shape):
        rank = len(input_shape[0])
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if not 0 <= axis < rank or any(len(d) != rank for d in input_shape) or any(
                d[:axis] + d[axis + 1:] != input_shape[0][:axis] + input_shape[0][axis + 1:] for d in input_shape):
            raise ValueError(f"{self.where()} cannot join {_format_any(input_shape)} along axis {self.axis}: "
                             "all other axes must match")
        return (*input_shape[0][:axis], sum(d[axis] for d in input_shape), *input_shape[0][axis + 1:])


class Add(_Merge):
    pass


class Subtract(_Merge):
    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{self.where()} takes exactly 2 inputs, got {len(input_shape)}")
        return super().compute_output_shape(input_shape)


class Multiply(_Merge):
    pass


class Average(_Merge):
    pass


class Maximum(_Merge):
    pass
