"""Attention: Keras 3's MultiHeadAttention and keras_hub's TransformerEncoder block built from it."""
from __future__ import annotations

from .. import activations, initializers
from ._checks import boolean, number, positive_int
from .base import Layer, format_shape
from .core import Dense
from .normalization import LayerNormalization


def _sequence(layer: Layer, argument: str, dims: tuple[int, ...]) -> None:
    if len(dims) != 2:
        raise ValueError(f"{layer.where()} expects `{argument}` of shape (None, steps, features), got "
                         f"{format_shape(dims)}")


class MultiHeadAttention(Layer):
    """Keras 3's multi-head attention, called as `mha(query, value, key=None, attention_mask=None,
    use_causal_mask=False)` on (steps, features) tensors. Weights in Keras' layouts: query/key/value kernels
    (features, num_heads, key_dim or value_dim) with biases (num_heads, dim), the output kernel
    (num_heads, value_dim, output features) with bias (output features,). Masks of the query and value (see
    docs/spec.md, "Masks"), `attention_mask` (query steps, value steps; 1 attends, 0 does not) and the causal
    mask combine as in Keras; masked scores become -1e9 before the softmax."""

    call_inputs = ("query", "value", "key", "attention_mask")
    required_call_inputs = 2
    call_arguments = {"use_causal_mask": False}
    _config_omits = {"attention_axes": None}  # the only value it takes

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape=None, attention_axes=None,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.num_heads = positive_int(num_heads, "num_heads", where)
        self.key_dim = positive_int(key_dim, "key_dim", where)
        self.value_dim = self.key_dim if value_dim is None else positive_int(value_dim, "value_dim", where)
        self.dropout = number(dropout, "dropout", where, 0, 1)
        self.use_bias = boolean(use_bias, "use_bias", where)
        if isinstance(output_shape, (tuple, list)) and len(output_shape) == 1:
            output_shape = output_shape[0]
        self.output_shape = None if output_shape is None else positive_int(output_shape, "output_shape", where)
        if attention_axes is not None:
            raise ValueError(f"{where}: `attention_axes` other than None (attention over the steps axis) is not "
                             f"supported, got {attention_axes!r}")
        self.attention_axes = attention_axes
        self.kernel_initializer = initializers.check(kernel_initializer, where)
        self.bias_initializer = initializers.check(bias_initializer, where)

    def compute_output_shape(self, input_shape: dict[str, tuple[int, ...]]):
        for argument in ("query", "value", "key"):
            if argument in input_shape:
                _sequence(self, argument, input_shape[argument])
        query, value = input_shape["query"], input_shape["value"]
        key = input_shape.get("key", value)
        if key[0] != value[0]:
            raise ValueError(f"{self.where()}: `key` and `value` need the same number of steps, got "
                             f"{format_shape(key)} and {format_shape(value)}")
        mask = input_shape.get("attention_mask")
        if mask is not None and mask != (query[0], value[0]):
            raise ValueError(f"{self.where()} expects `attention_mask` of shape (None, query steps, value steps) = "
                             f"{format_shape((query[0], value[0]))}, got {format_shape(mask)}")
        return (query[0], self.output_shape or query[-1])

    def build(self, input_shape):
        query, value = input_shape["query"], input_shape["value"]
        key = input_shape.get("key", value)
        for projection, features, dim in (("query", query[-1], self.key_dim), ("key", key[-1], self.key_dim),
                                          ("value", value[-1], self.value_dim)):
            self.add_weight(f"{projection}_kernel", (features, self.num_heads, dim), self.kernel_initializer)
            if self.use_bias:
                self.add_weight(f"{projection}_bias", (self.num_heads, dim), self.bias_initializer)
        out = self.output_shape or query[-1]
        self.add_weight("attention_output_kernel", (self.num_heads, self.value_dim, out), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("attention_output_bias", (out,), self.bias_initializer)


class TransformerEncoder(Layer):
    """keras_hub's encoder block on (steps, features): self-attention (num_heads heads of features // num_heads)
    and a feed-forward network (Dense(intermediate_dim, activation), Dense(features)), each with dropout, a
    residual connection and a LayerNormalization after it, or before it with `normalize_first=True`. The
    input's mask (docs/spec.md, "Masks") keeps attention off padded steps and passes on to the output.
    Weights: its sub-layers', prefixed with keras_hub's sub-layer names."""

    # keras_hub's sub-layers, in its build order: (weight prefix, layer made from the block's config).
    def _sublayers(self, features: int) -> list[tuple[str, Layer]]:
        common = {"kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer}
        return [
            ("self_attention_layer", MultiHeadAttention(self.num_heads, features // self.num_heads,
                                                        dropout=self.dropout, name="self_attention_layer", **common)),
            ("self_attention_layer_norm", LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                             name="self_attention_layer_norm")),
            ("feedforward_layer_norm", LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                          name="feedforward_layer_norm")),
            ("feedforward_intermediate_dense", Dense(self.intermediate_dim, activation=self.activation,
                                                     name="feedforward_intermediate_dense", **common)),
            ("feedforward_output_dense", Dense(features, name="feedforward_output_dense", **common)),
        ]

    def __init__(self, intermediate_dim: int, num_heads: int, dropout: float = 0.0, activation: str = "relu",
                 layer_norm_epsilon: float = 1e-5, kernel_initializer: str = "glorot_uniform",
                 bias_initializer: str = "zeros", normalize_first: bool = False, name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.intermediate_dim = positive_int(intermediate_dim, "intermediate_dim", where)
        self.num_heads = positive_int(num_heads, "num_heads", where)
        self.dropout = number(dropout, "dropout", where, 0, 1)
        self.activation = activations.get(activation, where)
        self.layer_norm_epsilon = number(layer_norm_epsilon, "layer_norm_epsilon", where, 0)
        self.kernel_initializer = initializers.check(kernel_initializer, where)
        self.bias_initializer = initializers.check(bias_initializer, where)
        self.normalize_first = boolean(normalize_first, "normalize_first", where)

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 2, "(None, steps, features)")
        if input_shape[-1] < self.num_heads:
            raise ValueError(f"{self.where()}: {input_shape[-1]} features cannot be split into {self.num_heads} "
                             "heads (`num_heads`); use at most as many heads as features")
        return input_shape

    def build(self, input_shape):
        features = input_shape[-1]
        shapes = {"self_attention_layer": {"query": input_shape, "value": input_shape},
                  "feedforward_output_dense": (*input_shape[:-1], self.intermediate_dim)}
        for prefix, layer in self._sublayers(features):
            layer.build(shapes.get(prefix, input_shape))
            for name, shape, initializer, trainable in layer._weight_specs:
                self.add_weight(f"{prefix}_{name}", shape, initializer, trainable)
