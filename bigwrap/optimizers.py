"""Optimizers (Keras names and defaults), carried to the JVM as plain configs.

`learning_rate` is a number or a `bigwrap.schedules` schedule. `clipnorm` (the global L2 norm of
the gradient) and `clipvalue` (each element to ±value) clip gradients as in Keras.
"""
from __future__ import annotations

from typing import Any

from .layers._checks import boolean


def _positive(value: Any, argument: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{where}: expected a positive number for `{argument}`, got {value!r}")
    return float(value)


def _fraction(value: Any, argument: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{where}: expected `{argument}` in [0, 1), got {value!r}")
    return float(value)


def _non_negative(value: Any, argument: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{where}: expected a non-negative number for `{argument}`, got {value!r}")
    return float(value)


class Configured:
    """An object whose attributes are its config (optimizers, schedules): `get_config()` is its `name` and
    attributes (nested objects as their configs), as the JVM reads it."""
    name = ""

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name,
                **{k: v.get_config() if hasattr(v, "get_config") else v for k, v in vars(self).items()}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)


class Optimizer(Configured):
    def __init__(self, learning_rate: Any, clipnorm: float | None, clipvalue: float | None):
        from .schedules import Schedule

        where = type(self).__name__
        if not isinstance(learning_rate, Schedule):
            learning_rate = _positive(learning_rate, "learning_rate", where)
        self.learning_rate = learning_rate
        self.clipnorm = None if clipnorm is None else _positive(clipnorm, "clipnorm", where)
        self.clipvalue = None if clipvalue is None else _positive(clipvalue, "clipvalue", where)


class SGD(Optimizer):
    """v = momentum·v − lr·(g + weight_decay·w); w += v (Nesterov optional), as in Keras/PyTorch."""
    name = "sgd"

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, clipnorm: float | None = None, clipvalue: float | None = None):
        super().__init__(learning_rate, clipnorm, clipvalue)
        self.momentum = _fraction(momentum, "momentum", "SGD")
        if boolean(nesterov, "nesterov", "SGD") and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")
        self.nesterov = nesterov
        self.weight_decay = _non_negative(weight_decay, "weight_decay", "SGD")


class Adam(Optimizer):
    name = "adam"

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, clipnorm: float | None = None, clipvalue: float | None = None):
        super().__init__(learning_rate, clipnorm, clipvalue)
        where = type(self).__name__
        self.beta_1 = _fraction(beta_1, "beta_1", where)
        self.beta_2 = _fraction(beta_2, "beta_2", where)
        self.epsilon = _positive(epsilon, "epsilon", where)


class AdamW(Adam):
    """Adam with decoupled weight decay: w ← w − lr·weight_decay·w before each Adam step (bigwrap's
    own JVM optim method; BigDL 2.4 has none)."""
    name = "adamw"

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, clipnorm: float | None = None,
                 clipvalue: float | None = None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, clipnorm, clipvalue)
        self.weight_decay = _non_negative(weight_decay, "weight_decay", "AdamW")


class RMSprop(Optimizer):
    name = "rmsprop"

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, epsilon: float = 1e-7,
                 clipnorm: float | None = None, clipvalue: float | None = None):
        super().__init__(learning_rate, clipnorm, clipvalue)
        self.rho = _fraction(rho, "rho", "RMSprop")
        self.epsilon = _positive(epsilon, "epsilon", "RMSprop")


class Adagrad(Optimizer):
    name = "adagrad"

    def __init__(self, learning_rate: Any = 0.001, clipnorm: float | None = None, clipvalue: float | None = None):
        super().__init__(learning_rate, clipnorm, clipvalue)


_BY_NAME = {cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)}


def get(identifier: Any) -> Optimizer:
    """An optimizer, a name ("adam", ...) or a config from `get_config()` (how saved estimators store it)."""
    from . import schedules

    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and identifier.get("name") in _BY_NAME:
        config = dict(identifier)
        cls = _BY_NAME[config.pop("name")]
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.from_config(config["learning_rate"])
        return cls(**config)
    raise ValueError(f"unknown optimizer {identifier!r}; expected one of {', '.join(_BY_NAME)} or a "
                     "bigwrap.optimizers object")
