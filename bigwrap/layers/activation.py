"""Activation layers with parameters of their own (the plain ones are `Activation("name")`)."""
from __future__ import annotations

from ._checks import number
from .base import Layer


class ReLU(Layer):
    """max(x, 0)."""


class LeakyReLU(Layer):
    """`x` for x >= 0, `negative_slope * x` below (Keras 3's argument name and default)."""

    def __init__(self, negative_slope: float = 0.3, name: str | None = None):
        super().__init__(name=name)
        self.negative_slope = number(negative_slope, "negative_slope", self.where(), low=0)


class ELU(Layer):
    """`x` for x > 0, `alpha * (exp(x) - 1)` below."""

    def __init__(self, alpha: float = 1.0, name: str | None = None):
        super().__init__(name=name)
        self.alpha = number(alpha, "alpha", self.where())


class Softmax(Layer):
    """Softmax over the last axis (Keras' default `axis=-1`, the only axis supported)."""

    def __init__(self, axis: int = -1, name: str | None = None):
        super().__init__(name=name)
        if axis != -1:
            raise ValueError(f"{self.where()}: only `axis=-1` is supported, got {axis!r}")
        self.axis = axis
