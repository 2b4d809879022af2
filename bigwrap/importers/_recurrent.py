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


def lstm_weights(w: np.ndarray, r: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """ONNX LSTM weights of one direction: W (4H, in), R (4H, H), B (8H,), gates i, o, f, c."""
    half = b.shape[0] // 2
    return keras_rnn_weights("LSTM", "iofc", w, r, b[:half], b[half:])


def gru_weights(w: np.ndarray, r: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """ONNX GRU weights of one direction: W (3H, in), R (3H, H), B (6H,), gates z, r, h."""
    half = b.shape[0] // 2
    return keras_rnn_weights("GRU", "zrh", w, r, b[:half], b[half:])
