"""Recurrent layers over (steps, features), and the wrappers that run a layer both ways or at every step.

Weights are Keras': kernel (features, gates * units), recurrent_kernel (units, gates * units), bias; LSTM gates
in the order i, f, c, o; GRU gates z, r, h with `reset_after=True` (Keras' default), whose bias is
(2, 3 * units): input bias, then recurrent bias.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .. import initializers
from ._checks import boolean, choice, positive_int
from .base import Layer

_RNN_ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear", "softsign")


class _RNN(Layer):
    gates = 1

    def __init__(self, units: int, activation: str = "tanh", recurrent_activation: str = "sigmoid",
                 use_bias: bool = True, return_sequences: bool = False, go_backwards: bool = False,
                 kernel_initializer: str = "glorot_uniform", recurrent_initializer: str = "orthogonal",
                 bias_initializer: str = "zeros", name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.units = positive_int(units, "units", where)
        self.activation = choice(activation, _RNN_ACTIVATIONS, "activation", where)
        self.recurrent_activation = choice(recurrent_activation, _RNN_ACTIVATIONS, "recurrent_activation", where)
        self.use_bias = boolean(use_bias, "use_bias", where)
        self.return_sequences = boolean(return_sequences, "return_sequences", where)
        self.go_backwards = boolean(go_backwards, "go_backwards", where)
        self.kernel_initializer = initializers.check(kernel_initializer, where)
        self.recurrent_initializer = initializers.check(recurrent_initializer, where)
        self.bias_initializer = initializers.check(bias_initializer, where)

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 2, "(None, steps, features)")
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def build(self, input_shape):
        self.add_weight("kernel", (input_shape[-1], self.gates * self.units), self.kernel_initializer)
        self.add_weight("recurrent_kernel", (self.units, self.gates * self.units), self.recurrent_initializer)
        if self.use_bias:
            self.add_weight("bias", self.bias_shape(), self.bias_initializer)


class SimpleRNN(_RNN):
    """h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)."""
    gates = 1


class LSTM(_RNN):
    """Keras' LSTM (gates i, f, c, o); `unit_forget_bias=True` starts the forget-gate bias at 1."""
    gates = 4

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = boolean(unit_forget_bias, "unit_forget_bias", self.where())

    def build(self, input_shape):
        super().build(input_shape)
        if self.use_bias and self.unit_forget_bias:
            bias = self._weights[-1]
            bias[self.units:2 * self.units] = 1.0


class PeepholeLSTM(LSTM):
    """An LSTM whose gates also see the cell state (Graves' LSTM, TensorFlow's PeepholeLSTMCell): the input and
    forget gates add `peephole * c_{t-1}`, the output gate `peephole * c_t`. Weights are LSTM's plus
    input_gate_peephole_weights, forget_gate_peephole_weights, output_gate_peephole_weights, each (units,)."""

    def build(self, input_shape):
        super().build(input_shape)
        for gate in ("input", "forget", "output"):
            self.add_weight(f"{gate}_gate_peephole_weights", (self.units,), self.kernel_initializer
                            if self.kernel_initializer != "orthogonal" else "glorot_uniform")


class GRU(_RNN):
    """Keras' GRU with `reset_after=True` (its default, and cuDNN's and PyTorch's form); gates z, r, h."""
    gates = 3

    def __init__(self, units: int, reset_after: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        if reset_after is not True:
            raise ValueError(f"{self.where()}: only `reset_after=True` (Keras' default) is supported, "
                             f"got {reset_after!r}")
        self.reset_after = True

    def bias_shape(self):
        return (2, 3 * self.units)


def _layer_from_config(value: Any, where: str) -> Layer:
    if isinstance(value, Layer):
        return value
    if isinstance(value, dict) and value.get("class_name") in Layer.registry:
        return Layer.registry[value["class_name"]].from_config(value.get("config", {}))
    raise ValueError(f"{where}: `layer` must be a layer or its {{'class_name', 'config'}}, got {value!r}")


class Bidirectional(Layer):
    """Runs `layer` forwards and a copy backwards over the sequence and merges both outputs."""

    def __init__(self, layer, merge_mode: str = "concat", name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.layer = _layer_from_config(layer, where)
        if not isinstance(self.layer, _RNN):
            raise ValueError(f"{where}: wraps SimpleRNN, LSTM or GRU, got {type(self.layer).__name__}")
        self.merge_mode = choice(merge_mode, ("concat", "sum", "mul", "ave"), "merge_mode", where)

    def compute_output_shape(self, input_shape):
        out = self.layer.compute_output_shape(input_shape)
        return (*out[:-1], 2 * out[-1]) if self.merge_mode == "concat" else out

    def build(self, input_shape):
        # Two independent weight sets, named forward_* then backward_* (Keras' order).
        for direction in ("forward", "backward"):
            inner = copy.deepcopy(self.layer)
            inner._weight_specs, inner._weights = [], []
            inner.build(input_shape)
            for (wname, shape, init, trainable), value in zip(inner._weight_specs, inner._weights):
                self._weight_specs.append((f"{direction}_{wname}", shape, init, trainable))
                self._weights.append(value)
        self.weights_version += 1


class TimeDistributed(Layer):
    """Applies `layer` to every step of a (steps, ...) input with one set of weights."""

    def __init__(self, layer, name: str | None = None):
        super().__init__(name=name)
        self.layer = _layer_from_config(layer, self.where())

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self.where()} expects input of shape (None, steps, ...), got {(None, *input_shape)}")
        return (input_shape[0], *self.layer.compute_output_shape(input_shape[1:]))

    def build(self, input_shape):
        self.layer._weight_specs, self.layer._weights = [], []
        self.layer.build(input_shape[1:])
        self._weight_specs = list(self.layer._weight_specs)
        self._weights = [np.array(w) for w in self.layer._weights]
        self.weights_version += 1
