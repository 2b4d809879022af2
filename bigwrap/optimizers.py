"""Optimizers (Keras names and defaults), carried to the JVM as plain configs."""
from __future__ import annotations

from typing import Any


def _positive(value: Any, argument: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{where}: expected a positive number for `{argument}`, got {value!r}")
    return float(value)


def _fraction(value: Any, argument: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{where}: expected `{argument}` in [0, 1), got {value!r}")
    return float(value)


class Optimizer:
    name = ""

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **{k: v for k, v in vars(self).items()}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)


class SGD(Optimizer):
    """v = momentum·v − lr·g; w += v (Nesterov optional), as in Keras."""
    name = "sgd"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        self.learning_rate = _positive(learning_rate, "learning_rate", "SGD")
        self.momentum = _fraction(momentum, "momentum", "SGD")
        if not isinstance(nesterov, bool):
            raise ValueError(f"SGD: expected True or False for `nesterov`, got {nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")
        self.nesterov = nesterov


class Adam(Optimizer):
    name = "adam"

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        self.learning_rate = _positive(learning_rate, "learning_rate", "Adam")
        self.beta_1 = _fraction(beta_1, "beta_1", "Adam")
        self.beta_2 = _fraction(beta_2, "beta_2", "Adam")
        self.epsilon = _positive(epsilon, "epsilon", "Adam")


_BY_NAME = {"sgd": SGD, "adam": Adam}


def get(identifier: Any) -> Optimizer:
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; expected 'sgd', 'adam' or a bigwrap.optimizers object")
