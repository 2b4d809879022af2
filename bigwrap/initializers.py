"""Keras weight initializers, computed in numpy so weights exist (and are seeded) before any JVM call."""
from __future__ import annotations

from typing import Callable

import numpy as np

_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seeds weight initialization (Keras' `keras.utils.set_random_seed` for bigwrap)."""
    global _rng
    _rng = np.random.default_rng(seed)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(shape, stddev):
    # Keras' variance-scaling normals are truncated at 2 stddev; 0.8796... restores the variance.
    std = stddev / 0.87962566103423978
    values = _rng.normal(0.0, std, size=shape)
    outside = np.abs(values) > 2 * std
    while outside.any():
        values[outside] = _rng.normal(0.0, std, size=int(outside.sum()))
        outside = np.abs(values) > 2 * std
    return values


def _variance_scaling(scale: float, mode: str, distribution: str):
    def init(shape):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / max(1.0, n)
        if distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            return _rng.uniform(-limit, limit, size=shape)
        return _truncated_normal(shape, np.sqrt(variance))
    return init


def _orthogonal(shape):
    # Keras' Orthogonal: Q of a QR decomposition of a normal matrix, sign-corrected to be uniform.
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    flat = _rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    return (q.T if rows < cols else q).reshape(shape)


_INITIALIZERS: dict[str, Callable[[tuple[int, ...]], np.ndarray]] = {
    "glorot_uniform": _variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": _variance_scaling(1.0, "fan_avg", "normal"),
    "he_uniform": _variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": _variance_scaling(2.0, "fan_in", "normal"),
    "lecun_uniform": _variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": _variance_scaling(1.0, "fan_in", "normal"),
    "random_normal": lambda shape: _rng.normal(0.0, 0.05, size=shape),
    "random_uniform": lambda shape: _rng.uniform(-0.05, 0.05, size=shape),
    "uniform": lambda shape: _rng.uniform(-0.05, 0.05, size=shape),
    "orthogonal": _orthogonal,
    "zeros": np.zeros,
    "ones": np.ones,
}


def check(identifier: str, where: str) -> str:
    if identifier not in _INITIALIZERS:
        raise ValueError(f"{where}: unknown initializer {identifier!r}; expected one of {', '.join(_INITIALIZERS)}")
    return identifier


def initialize(identifier: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(_INITIALIZERS[identifier](shape), dtype=np.float32)
