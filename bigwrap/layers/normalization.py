"""BatchNormalization and LayerNormalization over the last (channels) axis, as Keras' defaults."""
from __future__ import annotations

from ._checks import boolean, number
from .base import Layer


class BatchNormalization(Layer):
    """Normalizes each channel by the batch's statistics while training and by the moving ones in inference.

    Weights (Keras order): gamma, beta (trainable), moving_mean, moving_variance (updated while training as
    `moving = moving * momentum + batch_stat * (1 - momentum)`).
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        if axis != -1:
            raise ValueError(f"{where}: only `axis=-1` (channels-last) is supported, got {axis!r}")
        self.axis = axis
        self.momentum = number(momentum, "momentum", where, low=0, high=1)
        self.epsilon = number(epsilon, "epsilon", where, low=0)
        self.center = boolean(center, "center", where)
        self.scale = boolean(scale, "scale", where)
        if self.center != self.scale:
            raise ValueError(f"{where}: BigDL's batch normalization has one affine switch, so `center` and `scale` "
                             f"must be equal; got center={center!r}, scale={scale!r}")

    def build(self, input_shape):
        channels = (input_shape[-1],)
        if self.scale:
            self.add_weight("gamma", channels, "ones")
            self.add_weight("beta", channels, "zeros")
        self.add_weight("moving_mean", channels, "zeros", trainable=False)
        self.add_weight("moving_variance", channels, "ones", trainable=False)


class LayerNormalization(Layer):
    """Normalizes each sample over its last axis, then scales by gamma and shifts by beta."""

    def __init__(self, axis: int = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        if axis != -1:
            raise ValueError(f"{where}: only `axis=-1` is supported, got {axis!r}")
        self.axis = axis
        self.epsilon = number(epsilon, "epsilon", where, low=0)
        self.center = boolean(center, "center", where)
        self.scale = boolean(scale, "scale", where)

    def build(self, input_shape):
        if self.scale:
            self.add_weight("gamma", (input_shape[-1],), "ones")
        if self.center:
            self.add_weight("beta", (input_shape[-1],), "zeros")
