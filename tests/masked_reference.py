"""PyTorch references for the layer table's attention and mask rows: Keras 3's MultiHeadAttention, keras_hub's
TransformerEncoder, and recurrent layers and pooling over sequences masked by Masking(0.0)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_FEED_FORWARD = {"relu": torch.relu, "gelu": lambda x: F.gelu(x, approximate="none")}


def _step_mask(x):
    """Keras' Masking(0.0) mask: steps with any non-zero feature."""
    return (x != 0).any(-1)


def _masked(x, padded):
    return (x * _step_mask(x).unsqueeze(-1), _step_mask(x)) if padded else (x, None)


def _attention(w, query, value, key=None, query_mask=None, value_mask=None, causal=False, use_bias=True,
               attention_mask=None):
    """Keras 3's MultiHeadAttention: einsum projections, scores masked to -1e9, softmax, output projection."""
    w = list(w) if use_bias else [w[0], 0, w[1], 0, w[2], 0, w[3], 0]
    key = value if key is None else key
    q = torch.einsum("btd,dhk->bthk", query, w[0]) + w[1]
    k = torch.einsum("bsd,dhk->bshk", key, w[2]) + w[3]
    v = torch.einsum("bsd,dhk->bshk", value, w[4]) + w[5]
    scores = torch.einsum("bshk,bthk->bhts", k, q / math.sqrt(q.shape[-1]))
    allowed = torch.ones(scores.shape[0], scores.shape[2], scores.shape[3], dtype=torch.bool)
    if query_mask is not None:
        allowed = allowed & query_mask[:, :, None]
    if value_mask is not None:
        allowed = allowed & value_mask[:, None, :]
    if attention_mask is not None:
        allowed = allowed & (attention_mask > 0.5)
    if causal:
        allowed = allowed & torch.ones(scores.shape[2], scores.shape[3], dtype=torch.bool).tril()
    p = torch.softmax(torch.where(allowed[:, None], scores, torch.tensor(-1e9)), dim=-1)
    return torch.einsum("bthv,hvo->bto", torch.einsum("bhts,bshv->bthv", p, v), w[6]) + w[7]


def _mha(causal=False, padded=False, use_bias=True):
    def forward(w, x, training):
        (query, query_mask), (value, value_mask) = _masked(x[0], padded), _masked(x[1], padded)
        key = _masked(x[2], padded)[0] if len(x) > 2 else None
        return _attention(w, query, value, key, query_mask, value_mask, causal, use_bias)
    return forward


def _transformer_encoder(features, intermediate, activation="relu", normalize_first=False, padded=False,
                         epsilon=1e-5):
    """keras_hub's TransformerEncoder; weights: attention (8), its norm (2), feed-forward norm (2), Dense × 2."""
    def forward(w, x, training):
        x, mask = _masked(x, padded)
        norm1 = lambda t: F.layer_norm(t, (features,), w[8], w[9], eps=epsilon)
        norm2 = lambda t: F.layer_norm(t, (features,), w[10], w[11], eps=epsilon)
        a = norm1(x) if normalize_first else x
        y = _attention(w[:8], a, a, query_mask=mask, value_mask=mask) + x
        y = y if normalize_first else norm1(y)
        f = norm2(y) if normalize_first else y
        out = _FEED_FORWARD[activation](f @ w[12] + w[13]) @ w[14] + w[15] + y
        return out if normalize_first else norm2(out)
    return forward


def _masked_mean(w, x, training):
    x, mask = _masked(x, True)
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1)


def _cell(kind, w, x, h, c, units):
    """One step of Keras' SimpleRNN (tanh), LSTM (gates i, f, c, o) or GRU (z, r, h; reset_after)."""
    if kind == "SimpleRNN":
        return torch.tanh(x @ w[0] + h @ w[1] + w[2]), c
    if kind == "LSTM":
        i, f, g, o = (x @ w[0] + h @ w[1] + w[2]).split(units, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    xz, hz = (x @ w[0] + w[2][0]).split(units, -1), (h @ w[1] + w[2][1]).split(units, -1)
    z, r = torch.sigmoid(xz[0] + hz[0]), torch.sigmoid(xz[1] + hz[1])
    return z * h + (1 - z) * torch.tanh(xz[2] + r * hz[2]), c


def _masked_steps(kind, w, x, units, reverse=False, zero_masked=False):
    """A recurrent layer over a Masking(0.0)-masked sequence, as Keras runs it: masked steps keep the state and
    output the previous output (zeros with zero_masked, Bidirectional's rule); outputs in processing order."""
    x, mask = _masked(x, True)
    h = c = torch.zeros(x.shape[0], units)
    outputs = []
    for t in (reversed(range(x.shape[1])) if reverse else range(x.shape[1])):
        keep = mask[:, t:t + 1]
        new_h, new_c = _cell(kind, w, x[:, t], h, c, units)
        h, c = torch.where(keep, new_h, h), torch.where(keep, new_c, c)
        outputs.append(torch.where(keep, h, torch.zeros_like(h)) if zero_masked else h)
    return torch.stack(outputs, 1)


def _masked_rnn(kind, units, return_sequences=False, go_backwards=False):
    def forward(w, x, training):
        out = _masked_steps(kind, w, x, units, go_backwards)
        return out if return_sequences else out[:, -1]
    return forward


def _masked_bidirectional(kind, units, return_sequences, merge):
    def forward(w, x, training):
        n = len(w) // 2
        fwd = _masked_steps(kind, w[:n], x, units, zero_masked=return_sequences)
        bwd = _masked_steps(kind, w[n:], x, units, reverse=True, zero_masked=return_sequences)
        fwd, bwd = (fwd, bwd.flip(1)) if return_sequences else (fwd[:, -1], bwd[:, -1])
        return torch.cat([fwd, bwd], -1) if merge == "concat" else fwd + bwd
    return forward
