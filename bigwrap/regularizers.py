"""Keras weight regularizers for `kernel_regularizer=`: the penalty l1·Σ|w| + l2·Σw² joins the
gradient (the reported loss stays the data loss, as BigDL computes it)."""
from __future__ import annotations

from typing import Any

from .optimizers import Configured, _non_negative


class L1L2(Configured):
    name = "l1l2"

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = _non_negative(l1, "l1", "L1L2"), _non_negative(l2, "l2", "L1L2")


def L1(l1: float = 0.01) -> L1L2:
    return L1L2(l1=l1)


def L2(l2: float = 0.01) -> L1L2:
    return L1L2(l2=l2)


def get(identifier: Any, where: str) -> L1L2 | None:
    """None, an L1L2, its config dict, or "l1" / "l2" (Keras' default strength 0.01)."""
    if identifier is None or isinstance(identifier, L1L2):
        return identifier
    if isinstance(identifier, dict):
        return L1L2(identifier.get("l1", 0.0), identifier.get("l2", 0.0))
    if identifier in ("l1", "l2"):
        return L1() if identifier == "l1" else L2()
    raise ValueError(f"{where}: unknown regularizer {identifier!r}; use 'l1', 'l2' or bigwrap.regularizers.L1/L2/L1L2")
