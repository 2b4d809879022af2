"""Embedding (integer token ids, given as numbers, → vectors) and keras_hub's learned PositionEmbedding."""
from __future__ import annotations

from .. import initializers
from ._checks import boolean, positive_int
from .base import Layer, format_shape


class Embedding(Layer):
    """Maps ids 0..input_dim-1 of a (steps,) input to rows of a (input_dim, output_dim) table. With
    `mask_zero=True` id 0 is padding: the layers after it that consume masks skip those steps, as in Keras."""

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: str = "uniform",
                 mask_zero: bool = False, name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.input_dim = positive_int(input_dim, "input_dim", where)
        self.output_dim = positive_int(output_dim, "output_dim", where)
        self.embeddings_initializer = initializers.check(embeddings_initializer, where)
        self.mask_zero = boolean(mask_zero, "mask_zero", where)

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 1, "(None, steps) of token ids")
        return (input_shape[0], self.output_dim)

    def build(self, input_shape):
        self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer)


class PositionEmbedding(Layer):
    """keras_hub's learned position embedding: for a (steps, features) input, the first `steps` rows of an
    `embeddings` (sequence_length, features) table, the same for every row of the batch (add it to the token
    embeddings). Like keras_hub's it ignores the input's values and carries no mask."""

    def __init__(self, sequence_length: int, initializer: str = "glorot_uniform", name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.sequence_length = positive_int(sequence_length, "sequence_length", where)
        self.initializer = initializers.check(initializer, where)

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 2, "(None, steps, features)")
        if input_shape[0] > self.sequence_length:
            raise ValueError(f"{self.where()} has positions for {self.sequence_length} steps (`sequence_length`) but "
                             f"got input of shape {format_shape(input_shape)}; raise `sequence_length`")
        return input_shape

    def build(self, input_shape):
        self.add_weight("embeddings", (self.sequence_length, input_shape[-1]), self.initializer)
