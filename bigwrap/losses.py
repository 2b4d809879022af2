"""Losses (Keras names). Each knows its task, which decides the label checks and output columns."""
from __future__ import annotations

from typing import Any

from .layers._checks import boolean
from .optimizers import _positive


class Loss:
    name = ""
    task = ""  # "multiclass", "binary" or "regression"
    label = "number"  # "index": a class index; "vector": one value per output unit; "number": either
    aliases: tuple[str, ...] = ()  # Keras' other names for it

    def __init__(self, from_logits: bool = False):
        self.from_logits = boolean(from_logits, "from_logits", type(self).__name__)

    def check_output(self, dims: tuple[int, ...], model_name: str) -> None:
        if len(dims) != 1:
            raise ValueError(f"loss '{self.name}' needs model '{model_name}' to output shape (None, units), "
                             f"got {(None, *dims)}")

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "from_logits": self.from_logits}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()


class SparseCategoricalCrossentropy(Loss):
    """Labels are 0-based class indices; the model outputs probabilities (softmax) or logits."""
    name, task, label = "sparse_categorical_crossentropy", "multiclass", "index"

    def check_output(self, dims, model_name):
        super().check_output(dims, model_name)
        if dims[0] < 2:
            raise ValueError(f"loss '{self.name}' needs at least 2 output units (one per class), model "
                             f"'{model_name}' outputs {dims[0]}; for two classes with one unit use binary_crossentropy")


class CategoricalCrossentropy(SparseCategoricalCrossentropy):
    """Labels are one-hot or probability vectors (ml Vector or array) with one value per class."""
    name, label = "categorical_crossentropy", "vector"


class BinaryCrossentropy(Loss):
    """Labels in [0, 1]; the model outputs a probability (sigmoid) or a logit per unit."""
    name, task = "binary_crossentropy", "binary"


class MeanSquaredError(Loss):
    name, task, aliases = "mse", "regression", ("mean_squared_error",)

    def __init__(self):
        super().__init__(from_logits=False)

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}()"


class MeanAbsoluteError(MeanSquaredError):
    name, aliases = "mae", ("mean_absolute_error",)


class Huber(Loss):
    """Keras' Huber: quadratic for errors up to `delta`, linear beyond."""
    name, task = "huber", "regression"

    def __init__(self, delta: float = 1.0):
        super().__init__(from_logits=False)
        self.delta = _positive(delta, "delta", "Huber")

    def get_config(self):
        return {"name": self.name, "delta": self.delta}

    def __repr__(self):
        return f"Huber(delta={self.delta})"


_BY_NAME = {name: cls for cls in (SparseCategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError,
                                  CategoricalCrossentropy, MeanAbsoluteError, Huber)
            for name in (cls.name, *cls.aliases)}


def get(identifier: Any) -> Loss:
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        config = dict(identifier)
        cls = _BY_NAME.get(config.pop("name", None))
        if cls is not None:
            return cls(**config)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"unknown loss {identifier!r}; expected one of {', '.join(_BY_NAME)} or a bigwrap.losses.Loss")
