"""Activation names shared by `activation=` arguments and the Activation layer (one registry)."""
from __future__ import annotations

# Each name maps to a BigDL module in the Scala builder (spec/Activations.scala).
_NAMES = ("linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "elu", "selu", "softplus", "softsign",
          "leaky_relu", "gelu", "hard_tanh", "relu6", "silu")


def get(identifier: str | None, where: str) -> str:
    """The canonical activation name for `identifier` (None means linear), or a ValueError naming `where`."""
    if identifier is None:
        return "linear"
    if not isinstance(identifier, str) or identifier not in _NAMES:
        raise ValueError(f"{where}: unknown activation {identifier!r}; expected one of {', '.join(_NAMES)}")
    return identifier
