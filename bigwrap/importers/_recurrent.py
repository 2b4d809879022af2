"""Recurrent weights from source layouts to Keras': kernel (in, gates·H), recurrent_kernel (H, gates·H), bias."""
from __future__ import annotations

import numpy as np

KERAS_GATES = {"LSTM": "ifco", "GRU": "zrh"}  # LSTM's c is PyTorch's g; GRU's h is PyTorch's n


def keras_rnn_weights(kind: str, gates: str, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray,
                      b_hh: np.ndarray) -> list[np.ndarray]:
    """Source matrices stack the gates along axis 0 in the order `gates`, e.g. ONNX's LSTM "iofc". Keras' LSTM
    has one bias (input and recurrent biases add up); its GRU (reset_after=True) keeps both, as (2, 3·H)."""

    def keras_order(m: np.ndarray) -> np.ndarray:
        parts = np.split(np.asarray(m, dtype=np.float32), len(gates), axis=0)
        return np.concatenate([parts[gates.index(g)] for g in KERAS_GATES[kind]], axis=0)

    kernel, recurrent = keras_order(w_ih).T, keras_order(w_hh).T
    bias = keras_order(b_ih) + keras_order(b_hh) if kind == "LSTM" else np.stack([keras_order(b_ih), keras_order(b_hh)])
    return [np.ascontiguousarray(kernel), np.ascontiguousarray(recurrent), bias]


def onnx_rnn_weights(kind: str, w: np.ndarray, r: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """ONNX weights of one direction: W (gates·H, in), R (gates·H, H), B (2·gates·H,); gates LSTM i, o, f, c,
    GRU z, r, h."""
    half = b.shape[0] // 2
    return keras_rnn_weights(kind, {"LSTM": "iofc", "GRU": "zrh"}[kind], w, r, b[:half], b[half:])
