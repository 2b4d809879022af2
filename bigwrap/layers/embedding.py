"""Embedding: integer token ids (given as numbers) → vectors."""
from __future__ import annotations

from .. import initializers
from ._checks import positive_int
from .base import Layer


class Embedding(Layer):
    """Maps ids 0..input_dim-1 of a (steps,) input to rows of a (input_dim, output_dim) table."""

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: str = "uniform",
                 name: str | None = None):
        super().__init__(name=name)
        where = self.where()
        self.input_dim = positive_int(input_dim, "input_dim", where)
        self.output_dim = positive_int(output_dim, "output_dim", where)
        self.embeddings_initializer = initializers.check(embeddings_initializer, where)

    def compute_output_shape(self, input_shape):
        self.expect_rank(input_shape, 1, "(None, steps) of token ids")
        return (input_shape[0], self.output_dim)

    def build(self, input_shape):
        self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer)

    def get_config(self):
        return {"name": self.name, "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": self.embeddings_initializer}
