"""Argument checks shared by the layer families; each message names the layer, the argument and the value."""
from __future__ import annotations

from typing import Any


def positive_int(value: Any, argument: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}: expected a positive integer for `{argument}`, got {value!r}")
    return value


def boolean(value: Any, argument: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected True or False for `{argument}`, got {value!r}")
    return value


def int_tuple(value: Any, n: int, argument: str, where: str) -> tuple[int, ...]:
    """An int or a tuple of `n` positive ints (Keras accepts both for kernel sizes, strides, ...)."""
    items = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(items, (tuple, list)) or len(items) != n
            or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in items)):
        raise ValueError(f"{where}: expected a positive integer or a tuple of {n} positive integers for "
                         f"`{argument}`, got {value!r}")
    return tuple(items)


def choice(value: Any, options: tuple[str, ...], argument: str, where: str) -> str:
    if value not in options:
        raise ValueError(f"{where}: expected `{argument}` to be one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def number(value: Any, argument: str, where: str, low: float | None = None, high: float | None = None) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    ok = ok and (low is None or value >= low) and (high is None or value < high)
    if not ok:
        bounds = f" in [{low}, {high})" if high is not None else (f" >= {low}" if low is not None else "")
        raise ValueError(f"{where}: expected a number{bounds} for `{argument}`, got {value!r}")
    return float(value)
