"""The shared layer table (PyTorch module_db style): adding a layer means adding a row here.

Each row: the layer class, constructor kwargs, the input shape(s) (no batch), the output shape Python must
infer, and the same computation written with PyTorch (the independent oracle), given the layer's weights in
Keras layout as torch tensors, the input(s) as torch tensors, and whether it runs in training mode.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F

from bigwrap import layers

from .masked_reference import (_masked, _masked_bidirectional, _masked_mean, _masked_rnn, _mha,
                               _transformer_encoder)

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
    "elu": F.elu,
    "selu": F.selu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "gelu": lambda x: F.gelu(x, approximate="none"),
    "hard_tanh": F.hardtanh,
    "relu6": F.relu6,
    "silu": F.silu,
}


@dataclass
class LayerCase:
    layer: type
    kwargs: dict[str, Any]
    input_shape: tuple | list          # a list of shapes for layers taking several inputs
    output_shape: tuple[int, ...]
    torch_forward: Callable[..., torch.Tensor]   # (weights, x, training) -> y
    id: str = field(default="")
    gradients: bool = True             # False where training mode is random (Dropout)
    tokens: int = 0                    # > 0: the input holds integer ids below this
    positive: tuple[str, ...] = ()     # weights that must be positive (variances)
    call: dict[str, Any] = field(default_factory=dict)  # non-tensor call arguments (use_causal_mask=True)
    padded: bool = False               # inputs pass through Masking(0.0), rows padded with zero steps at the end
    bf16_tolerance: float = 1e-2       # bf16 runs: error bound as a fraction of the largest reference value

    def __post_init__(self):
        args = "-".join(f"{k}={getattr(v, '__name__', None) or _short(v)}" for k, v in self.kwargs.items())
        self.id = self.id or f"{self.layer.__name__}-{args}"

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return self.input_shape if isinstance(self.input_shape, list) else [self.input_shape]


def _short(v):
    return type(v).__name__ if isinstance(v, layers.Layer) else v


# -- the PyTorch side ----------------------------------------------------------------------------------------

def _dense(activation="linear", use_bias=True):
    return lambda w, x, training: ACTIVATIONS[activation](x @ w[0] + w[1] if use_bias else x @ w[0])


def _same_pads(length, kernel, stride, dilation=1):
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - length, 0)
    return total // 2, total - total // 2


def _pad_nchw(x, kernel, strides, padding, dilation=(1, 1), value=0.0):
    if padding != "same":
        return x
    (t, b), (l, r) = (_same_pads(x.shape[2 + i], kernel[i], strides[i], dilation[i]) for i in range(2))
    return F.pad(x, (l, r, t, b), value=value)


def _conv2d(kernel, strides=(1, 1), padding="valid", dilation=(1, 1), use_bias=True, activation="linear"):
    def forward(w, x, training):
        xc = _pad_nchw(x.permute(0, 3, 1, 2), kernel, strides, padding, dilation)
        y = F.conv2d(xc, w[0].permute(3, 2, 0, 1), w[1] if use_bias else None, stride=strides, dilation=dilation)
        return ACTIVATIONS[activation](y.permute(0, 2, 3, 1))
    return forward


def _conv1d(kernel, stride=1, padding="valid", dilation=1):
    def forward(w, x, training):
        xc = x.permute(0, 2, 1)
        if padding == "same":
            xc = F.pad(xc, _same_pads(x.shape[1], kernel, stride, dilation))
        return F.conv1d(xc, w[0].permute(2, 1, 0), w[1], stride=stride, dilation=dilation).permute(0, 2, 1)
    return forward


def _pool2d(kind, pool, strides, padding):
    def forward(w, x, training):
        xc = x.permute(0, 3, 1, 2)
        if kind == "max":
            y = F.max_pool2d(_pad_nchw(xc, pool, strides, padding, value=-math.inf), pool, strides)
        else:  # Keras averages over the cells inside the input only
            total = F.avg_pool2d(_pad_nchw(xc, pool, strides, padding), pool, strides)
            cells = F.avg_pool2d(_pad_nchw(torch.ones_like(xc[:, :1]), pool, strides, padding), pool, strides)
            y = total / cells
        return y.permute(0, 2, 3, 1)
    return forward


def _lp_pool2d(p, pool, strides, padding):
    """The reference for LPPooling2D, which PyTorch's lp_pool2d is not (it skips the absolute value)."""
    def forward(w, x, training):
        xc = _pad_nchw(x.permute(0, 3, 1, 2).abs() ** p, pool, strides, padding)
        return (F.avg_pool2d(xc, pool, strides, divisor_override=1) ** (1 / p)).permute(0, 2, 3, 1)
    return forward


def _depthwise(w, x, strides, padding, kernel):
    """Keras' depthwise kernel (kh, kw, C, m) as a grouped PyTorch convolution: output channel c·m + j."""
    kh, kw, channels, multiplier = w.shape
    weight = w.permute(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw)
    return F.conv2d(_pad_nchw(x, kernel, strides, padding), weight, stride=strides, groups=channels)


def _depthwise_conv2d(kernel, strides=(1, 1), padding="valid", use_bias=True):
    def forward(w, x, training):
        y = _depthwise(w[0], x.permute(0, 3, 1, 2), strides, padding, kernel)
        return (y + w[1][:, None, None] if use_bias else y).permute(0, 2, 3, 1)
    return forward


def _separable_conv2d(kernel, strides=(1, 1), padding="valid"):
    def forward(w, x, training):
        y = _depthwise(w[0], x.permute(0, 3, 1, 2), strides, padding, kernel)
        return F.conv2d(y, w[1].permute(3, 2, 0, 1), w[2]).permute(0, 2, 3, 1)
    return forward


def _pool1d(kind, pool, stride, padding):
    pooled = _pool2d(kind, (1, pool), (1, stride), padding)
    return lambda w, x, training: pooled(w, x.unsqueeze(1), training).squeeze(1)


def _batch_norm(epsilon=1e-3, momentum=0.99):
    def forward(w, x, training):
        rows = x.reshape(-1, x.shape[-1])
        y = F.batch_norm(rows, w[2].detach().clone(), w[3].detach().clone(), w[0], w[1], training=training,
                         momentum=1 - momentum, eps=epsilon)
        return y.reshape(x.shape)
    return forward


def _torch_rnn(kind, w, x, units, reverse):
    """Keras weights → torch.nn.RNN/LSTM/GRU parameters (GRU: Keras' z, r, h gates are torch's r, z, n reordered)."""
    features = x.shape[-1]
    module = {"SimpleRNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind](features, units,
                                                                                           batch_first=True)
    kernel, recurrent = w[0], w[1]
    if kind == "GRU":
        order = lambda m: torch.cat([m[..., units:2 * units], m[..., :units], m[..., 2 * units:]], dim=-1)
        kernel, recurrent = order(kernel), order(recurrent)
        bias_ih, bias_hh = order(w[2][0]), order(w[2][1])
    else:
        bias_ih, bias_hh = w[2], torch.zeros_like(w[2])
    params = {"weight_ih_l0": kernel.T, "weight_hh_l0": recurrent.T, "bias_ih_l0": bias_ih, "bias_hh_l0": bias_hh}
    out, _ = torch.func.functional_call(module, params, (x.flip(1) if reverse else x,))
    return out


def _lstm_steps(w, x, units, activation="tanh", recurrent_activation="sigmoid", reverse=False):
    """An LSTM written step by step (Keras gates i, f, c, o), with TensorFlow's peepholes when `w` has 6 arrays:
    the input and forget gates see c(t-1), the output gate c(t). For what torch.nn.LSTM cannot express."""
    act, gate = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    h = c = torch.zeros(x.shape[0], units, dtype=x.dtype)
    peep = w[3:] if len(w) == 6 else [torch.zeros(units)] * 3
    outputs = []
    for t in (reversed(range(x.shape[1])) if reverse else range(x.shape[1])):
        z = x[:, t] @ w[0] + h @ w[1] + w[2]
        i = gate(z[:, :units] + peep[0] * c)
        f = gate(z[:, units:2 * units] + peep[1] * c)
        c = f * c + i * act(z[:, 2 * units:3 * units])
        o = gate(z[:, 3 * units:] + peep[2] * c)
        h = o * act(c)
        outputs.append(h)
    return torch.stack(outputs, 1)


def _lstm(units, return_sequences=False, **kwargs):
    def forward(w, x, training):
        out = _lstm_steps(w, x, units, **kwargs)
        return out if return_sequences else out[:, -1]
    return forward


def _rnn(kind, units, return_sequences=False, go_backwards=False):
    def forward(w, x, training):
        out = _torch_rnn(kind, w, x, units, go_backwards)
        return out if return_sequences else out[:, -1]
    return forward


def _bidirectional(kind, units, return_sequences, merge_mode="concat"):
    def forward(w, x, training):
        n = len(w) // 2
        fwd = _torch_rnn(kind, w[:n], x, units, False)
        bwd = _torch_rnn(kind, w[n:], x, units, True)
        fwd, bwd = (fwd, bwd.flip(1)) if return_sequences else (fwd[:, -1], bwd[:, -1])
        return {"concat": lambda: torch.cat([fwd, bwd], -1), "sum": lambda: fwd + bwd,
                "mul": lambda: fwd * bwd, "ave": lambda: (fwd + bwd) / 2}[merge_mode]()
    return forward


def _explicit_pool2d(kind, pool, strides, pads, count_include_pad=False):
    """PyTorch's pooling over explicit ((top, bottom), (left, right)) padding: max never takes a padded cell."""
    (t, b), (l, r) = pads
    def forward(w, x, training):
        xc = x.permute(0, 3, 1, 2)
        if kind == "max":
            y = F.max_pool2d(F.pad(xc, (l, r, t, b), value=-math.inf), pool, strides)
        elif count_include_pad:
            y = F.avg_pool2d(F.pad(xc, (l, r, t, b)), pool, strides)
        else:
            y = F.avg_pool2d(xc, pool, strides, padding=(t, l), count_include_pad=False)
        return y.permute(0, 2, 3, 1)
    return forward


def _explicit_conv2d(pads, strides=(1, 1)):
    (t, b), (l, r) = pads
    return lambda w, x, training: F.conv2d(F.pad(x.permute(0, 3, 1, 2), (l, r, t, b)), w[0].permute(3, 2, 0, 1), w[1],
                                           stride=strides).permute(0, 2, 3, 1)

# Attention chains two bf16 GEMMs (the projections in and out; its scores and probabilities · values stay fp32), a
# TransformerEncoder four and two LayerNorms (whose backward divides by the row's spread): their outputs and
# gradients stay within 2% of the largest value, one bf16 rounding (2^-9) amplified by each stage.
_ATTENTION_BF16 = 2e-2

ATTENTION_CASES = [
    LayerCase(layers.Dense, {"units": 7, "activation": "relu"}, (4, 5), (4, 7), _dense("relu"),
              id="Dense-relu-on-steps"),
    LayerCase(layers.Dense, {"units": 4, "activation": "softmax"}, (2, 3, 5), (2, 3, 4), _dense("softmax"),
              id="Dense-softmax-rank-4"),
    LayerCase(layers.Dropout, {"rate": 0.3}, (4, 6), (4, 6), lambda w, x, t: x, gradients=False, id="Dropout-on-steps"),
    LayerCase(layers.Masking, {}, (5, 3), (5, 3), lambda w, x, t: _masked(x, True)[0], padded=True),
    LayerCase(layers.Embedding, {"input_dim": 10, "output_dim": 4, "mask_zero": True}, (5,), (5, 4),
              lambda w, x, t: F.embedding(x.long(), w[0]), tokens=10),
    LayerCase(layers.PositionEmbedding, {"sequence_length": 6}, (4, 3), (4, 3),
              lambda w, x, t: w[0][:4].expand(x.shape[0], 4, 3) + 0 * x),
    LayerCase(layers.GlobalAveragePooling1D, {}, (6, 4), (4,), _masked_mean, padded=True,
              id="GlobalAveragePooling1D-padded"),
    LayerCase(layers.SimpleRNN, {"units": 3, "return_sequences": True}, (5, 2), (5, 3),
              _masked_rnn("SimpleRNN", 3, True), padded=True, id="SimpleRNN-padded-return_sequences"),
    LayerCase(layers.LSTM, {"units": 3}, (5, 2), (3,), _masked_rnn("LSTM", 3), padded=True, id="LSTM-padded"),
    LayerCase(layers.LSTM, {"units": 3, "return_sequences": True, "go_backwards": True}, (5, 2), (5, 3),
              _masked_rnn("LSTM", 3, True, True), padded=True, id="LSTM-padded-go_backwards-return_sequences"),
    LayerCase(layers.GRU, {"units": 3, "go_backwards": True}, (5, 2), (3,), _masked_rnn("GRU", 3, False, True),
              padded=True, id="GRU-padded-go_backwards"),
    LayerCase(layers.Bidirectional, {"layer": layers.LSTM(3, return_sequences=True)}, (5, 2), (5, 6),
              _masked_bidirectional("LSTM", 3, True, "concat"), padded=True,
              id="Bidirectional-LSTM-padded-return_sequences"),
    LayerCase(layers.Bidirectional, {"layer": layers.GRU(2), "merge_mode": "sum"}, (5, 2), (2,),
              _masked_bidirectional("GRU", 2, False, "sum"), padded=True, id="Bidirectional-GRU-padded-sum"),
    LayerCase(layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 3}, [(5, 6), (4, 6)], (5, 6), _mha(),
              bf16_tolerance=_ATTENTION_BF16),
    LayerCase(layers.MultiHeadAttention, {"num_heads": 3, "key_dim": 2, "value_dim": 4, "output_shape": 5,
                                          "use_bias": False}, [(5, 6), (4, 3), (4, 2)], (5, 5),
              _mha(use_bias=False), id="MultiHeadAttention-query-value-key-no-bias", bf16_tolerance=_ATTENTION_BF16),
    LayerCase(layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 4}, [(5, 6), (5, 6)], (5, 6), _mha(causal=True),
              call={"use_causal_mask": True}, id="MultiHeadAttention-causal", bf16_tolerance=_ATTENTION_BF16),
    LayerCase(layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 3}, [(5, 6), (4, 6)], (5, 6), _mha(padded=True),
              padded=True, id="MultiHeadAttention-padded", bf16_tolerance=_ATTENTION_BF16),
    LayerCase(layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 3}, [(6, 4), (6, 4)], (6, 4),
              _mha(causal=True, padded=True), padded=True, call={"use_causal_mask": True},
              id="MultiHeadAttention-padded-causal", bf16_tolerance=_ATTENTION_BF16),
    LayerCase(layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 3, "dropout": 0.5}, [(5, 6), (4, 6)], (5, 6),
              _mha(), gradients=False, id="MultiHeadAttention-dropout", bf16_tolerance=_ATTENTION_BF16),
    LayerCase(layers.TransformerEncoder, {"intermediate_dim": 8, "num_heads": 2}, (5, 4), (5, 4),
              _transformer_encoder(4, 8), bf16_tolerance=_ATTENTION_BF16),
    LayerCase(layers.TransformerEncoder, {"intermediate_dim": 6, "num_heads": 2, "activation": "gelu",
                                          "normalize_first": True, "layer_norm_epsilon": 1e-3}, (5, 4), (5, 4),
              _transformer_encoder(4, 6, "gelu", normalize_first=True, epsilon=1e-3), bf16_tolerance=_ATTENTION_BF16,
              id="TransformerEncoder-normalize_first-gelu"),
    LayerCase(layers.TransformerEncoder, {"intermediate_dim": 8, "num_heads": 2}, (6, 8), (6, 8),
              _transformer_encoder(8, 8, padded=True), padded=True, bf16_tolerance=_ATTENTION_BF16,
              id="TransformerEncoder-padded"),
]

# -- the table -----------------------------------------------------------------------------------------------

LAYER_CASES = [
    # core
    *[LayerCase(layers.Dense, {"units": 7, "activation": a}, (5,), (7,), _dense(a)) for a in ACTIVATIONS],
    LayerCase(layers.Dense, {"units": 3, "use_bias": False}, (4,), (3,), _dense(use_bias=False)),
    LayerCase(layers.Dense, {"units": 4, "kernel_initializer": "he_normal", "bias_initializer": "ones"}, (6,), (4,),
              _dense()),
    *[LayerCase(layers.Activation, {"activation": a}, (6,), (6,), lambda w, x, t, a=a: ACTIVATIONS[a](x))
      for a in ACTIVATIONS],
    LayerCase(layers.Activation, {"activation": "softmax"}, (3, 4), (3, 4), lambda w, x, t: torch.softmax(x, -1),
              id="Activation-softmax-over-last-axis-of-3x4"),
    LayerCase(layers.Dropout, {"rate": 0.5}, (6,), (6,), lambda w, x, t: x, gradients=False),
    LayerCase(layers.Flatten, {}, (3, 4), (12,), lambda w, x, t: x.reshape(len(x), -1)),
    LayerCase(layers.Flatten, {}, (2, 3, 2), (12,), lambda w, x, t: x.reshape(len(x), -1)),
    LayerCase(layers.Reshape, {"target_shape": (3, -1)}, (12,), (3, 4), lambda w, x, t: x.reshape(len(x), 3, 4)),
    LayerCase(layers.Permute, {"dims": (2, 1)}, (3, 4), (4, 3), lambda w, x, t: x.permute(0, 2, 1)),
    LayerCase(layers.Permute, {"dims": (3, 1, 2)}, (2, 3, 4), (4, 2, 3), lambda w, x, t: x.permute(0, 3, 1, 2)),
    LayerCase(layers.RepeatVector, {"n": 3}, (4,), (3, 4), lambda w, x, t: x.unsqueeze(1).repeat(1, 3, 1)),
    # activation layers
    LayerCase(layers.ReLU, {}, (6,), (6,), lambda w, x, t: torch.relu(x)),
    LayerCase(layers.LeakyReLU, {"negative_slope": 0.1}, (6,), (6,), lambda w, x, t: F.leaky_relu(x, 0.1)),
    LayerCase(layers.ELU, {"alpha": 0.5}, (6,), (6,), lambda w, x, t: F.elu(x, 0.5)),
    LayerCase(layers.Softmax, {}, (2, 5), (2, 5), lambda w, x, t: torch.softmax(x, -1)),
    # convolution
    LayerCase(layers.Conv2D, {"filters": 4, "kernel_size": 3}, (7, 6, 2), (5, 4, 4), _conv2d((3, 3))),
    LayerCase(layers.Conv2D, {"filters": 3, "kernel_size": (3, 2), "strides": 2, "padding": "same"}, (7, 6, 2),
              (4, 3, 3), _conv2d((3, 2), (2, 2), "same")),
    LayerCase(layers.Conv2D, {"filters": 3, "kernel_size": 3, "strides": (2, 1), "use_bias": False,
                              "activation": "relu"}, (8, 5, 3), (3, 3, 3),
              _conv2d((3, 3), (2, 1), use_bias=False, activation="relu")),
    LayerCase(layers.Conv2D, {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (7, 7, 2),
              (7, 7, 2), _conv2d((3, 3), padding="same", dilation=(2, 2))),
    LayerCase(layers.Conv2D, {"filters": 2, "kernel_size": 2, "dilation_rate": (2, 1)}, (6, 5, 1), (4, 4, 2),
              _conv2d((2, 2), dilation=(2, 1))),
    LayerCase(layers.Conv1D, {"filters": 4, "kernel_size": 3}, (9, 2), (7, 4), _conv1d(3)),
    LayerCase(layers.Conv1D, {"filters": 3, "kernel_size": 4, "strides": 2, "padding": "same"}, (9, 2), (5, 3),
              _conv1d(4, 2, "same")),
    LayerCase(layers.Conv1D, {"filters": 2, "kernel_size": 2, "dilation_rate": 3, "padding": "same"}, (8, 3), (8, 2),
              _conv1d(2, 1, "same", 3)),
    LayerCase(layers.DepthwiseConv2D, {"kernel_size": 3, "depth_multiplier": 2}, (6, 5, 3), (4, 3, 6),
              _depthwise_conv2d((3, 3))),
    LayerCase(layers.DepthwiseConv2D, {"kernel_size": (3, 2), "strides": 2, "padding": "same", "use_bias": False},
              (7, 6, 2), (4, 3, 2), _depthwise_conv2d((3, 2), (2, 2), "same", use_bias=False)),
    LayerCase(layers.SeparableConv2D, {"filters": 4, "kernel_size": 3, "depth_multiplier": 2}, (6, 6, 3),
              (4, 4, 4), _separable_conv2d((3, 3))),
    LayerCase(layers.SeparableConv2D, {"filters": 3, "kernel_size": 2, "strides": 2, "padding": "same"}, (5, 6, 2),
              (3, 3, 3), _separable_conv2d((2, 2), (2, 2), "same")),
    LayerCase(layers.Cropping2D, {"cropping": ((1, 0), (2, 1))}, (5, 6, 2), (4, 3, 2),
              lambda w, x, t: x[:, 1:, 2:-1]),
    LayerCase(layers.ZeroPadding2D, {"padding": ((1, 2), (0, 3))}, (3, 4, 2), (6, 7, 2),
              lambda w, x, t: F.pad(x, (0, 0, 0, 3, 1, 2))),
    LayerCase(layers.ZeroPadding2D, {"padding": 1}, (3, 3, 1), (5, 5, 1), lambda w, x, t: F.pad(x, (0, 0, 1, 1, 1, 1)),
              id="ZeroPadding2D-padding=1"),
    LayerCase(layers.UpSampling2D, {"size": (2, 3)}, (3, 2, 2), (6, 6, 2),
              lambda w, x, t: x.repeat_interleave(2, dim=1).repeat_interleave(3, dim=2)),
    # pooling
    LayerCase(layers.MaxPooling2D, {"pool_size": 2}, (6, 5, 3), (3, 2, 3), _pool2d("max", (2, 2), (2, 2), "valid")),
    LayerCase(layers.MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, (7, 6, 2), (4, 3, 2),
              _pool2d("max", (3, 3), (2, 2), "same")),
    LayerCase(layers.AveragePooling2D, {"pool_size": (2, 3), "strides": 1}, (5, 6, 2), (4, 4, 2),
              _pool2d("avg", (2, 3), (1, 1), "valid")),
    LayerCase(layers.AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, (6, 7, 2), (3, 4, 2),
              _pool2d("avg", (3, 3), (2, 2), "same")),
    LayerCase(layers.LPPooling2D, {"p": 2, "pool_size": 2}, (6, 4, 3), (3, 2, 3), _lp_pool2d(2, (2, 2), (2, 2), "valid")),
    LayerCase(layers.LPPooling2D, {"p": 3, "pool_size": 3, "strides": 2, "padding": "same"}, (5, 6, 2), (3, 3, 2),
              _lp_pool2d(3, (3, 3), (2, 2), "same")),
    LayerCase(layers.MaxPooling1D, {"pool_size": 2}, (9, 3), (4, 3), _pool1d("max", 2, 2, "valid")),
    LayerCase(layers.MaxPooling1D, {"pool_size": 3, "strides": 2, "padding": "same"}, (8, 2), (4, 2),
              _pool1d("max", 3, 2, "same")),
    LayerCase(layers.AveragePooling1D, {"pool_size": 3, "strides": 2}, (9, 2), (4, 2), _pool1d("avg", 3, 2, "valid")),
    LayerCase(layers.AveragePooling1D, {"pool_size": 2, "padding": "same"}, (7, 2), (4, 2),
              _pool1d("avg", 2, 2, "same")),
    LayerCase(layers.GlobalAveragePooling2D, {}, (4, 3, 5), (5,), lambda w, x, t: x.mean(dim=(1, 2))),
    LayerCase(layers.GlobalMaxPooling2D, {}, (4, 3, 5), (5,), lambda w, x, t: x.amax(dim=(1, 2))),
    LayerCase(layers.GlobalAveragePooling1D, {}, (6, 4), (4,), lambda w, x, t: x.mean(dim=1)),
    LayerCase(layers.GlobalMaxPooling1D, {}, (6, 4), (4,), lambda w, x, t: x.amax(dim=1)),
    # normalization
    LayerCase(layers.BatchNormalization, {}, (5,), (5,), _batch_norm(), positive=("moving_variance",)),
    LayerCase(layers.BatchNormalization, {"momentum": 0.9, "epsilon": 0.01}, (4, 3, 2), (4, 3, 2),
              _batch_norm(0.01, 0.9), positive=("moving_variance",)),
    LayerCase(layers.BatchNormalization, {}, (6, 3), (6, 3), _batch_norm(), positive=("moving_variance",)),
    LayerCase(layers.LayerNormalization, {}, (6,), (6,),
              lambda w, x, t: F.layer_norm(x, (6,), w[0], w[1], eps=1e-3)),
    LayerCase(layers.LayerNormalization, {"epsilon": 1e-5}, (3, 4), (3, 4),
              lambda w, x, t: F.layer_norm(x, (4,), w[0], w[1], eps=1e-5)),
    # embedding and recurrent
    LayerCase(layers.Embedding, {"input_dim": 10, "output_dim": 4}, (5,), (5, 4),
              lambda w, x, t: F.embedding(x.long(), w[0]), tokens=10),
    LayerCase(layers.SimpleRNN, {"units": 4}, (5, 3), (4,), _rnn("SimpleRNN", 4)),
    LayerCase(layers.SimpleRNN, {"units": 3, "return_sequences": True, "go_backwards": True}, (4, 2), (4, 3),
              _rnn("SimpleRNN", 3, True, True)),
    LayerCase(layers.LSTM, {"units": 4}, (5, 3), (4,), _rnn("LSTM", 4)),
    LayerCase(layers.LSTM, {"units": 3, "return_sequences": True}, (6, 2), (6, 3), _rnn("LSTM", 3, True)),
    LayerCase(layers.LSTM, {"units": 3, "go_backwards": True}, (5, 2), (3,), _rnn("LSTM", 3, False, True)),
    LayerCase(layers.LSTM, {"units": 3, "activation": "softsign", "return_sequences": True}, (4, 2), (4, 3),
              _lstm(3, True, activation="softsign")),
    LayerCase(layers.PeepholeLSTM, {"units": 4}, (5, 3), (4,), _lstm(4)),
    LayerCase(layers.PeepholeLSTM, {"units": 3, "return_sequences": True, "activation": "softsign"}, (4, 2), (4, 3),
              _lstm(3, True, activation="softsign")),
    LayerCase(layers.GRU, {"units": 4}, (5, 3), (4,), _rnn("GRU", 4)),
    LayerCase(layers.GRU, {"units": 3, "return_sequences": True, "go_backwards": True}, (6, 2), (6, 3),
              _rnn("GRU", 3, True, True)),
    LayerCase(layers.Bidirectional, {"layer": layers.LSTM(3, return_sequences=True)}, (5, 2), (5, 6),
              _bidirectional("LSTM", 3, True), id="Bidirectional-LSTM-return_sequences-concat"),
    LayerCase(layers.Bidirectional, {"layer": layers.GRU(3), "merge_mode": "sum"}, (4, 2), (3,),
              _bidirectional("GRU", 3, False, "sum"), id="Bidirectional-GRU-sum"),
    LayerCase(layers.Bidirectional, {"layer": layers.PeepholeLSTM(3, return_sequences=True), "merge_mode": "sum"},
              (4, 2), (4, 3), lambda w, x, t: _lstm_steps(w[:6], x, 3) + _lstm_steps(w[6:], x, 3, reverse=True).flip(1),
              id="Bidirectional-PeepholeLSTM-sum"),
    LayerCase(layers.TimeDistributed, {"layer": layers.Dense(3, activation="tanh")}, (4, 5), (4, 3),
              lambda w, x, t: torch.tanh(x @ w[0] + w[1]), id="TimeDistributed-Dense"),
    # merge
    LayerCase(layers.Add, {}, [(4,), (4,), (4,)], (4,), lambda w, x, t: x[0] + x[1] + x[2]),
    LayerCase(layers.Subtract, {}, [(2, 3), (2, 3)], (2, 3), lambda w, x, t: x[0] - x[1]),
    LayerCase(layers.Multiply, {}, [(4,), (4,)], (4,), lambda w, x, t: x[0] * x[1]),
    LayerCase(layers.Average, {}, [(4,), (4,)], (4,), lambda w, x, t: (x[0] + x[1]) / 2),
    LayerCase(layers.Maximum, {}, [(4,), (4,)], (4,), lambda w, x, t: torch.maximum(x[0], x[1])),
    LayerCase(layers.Concatenate, {}, [(3,), (5,)], (8,), lambda w, x, t: torch.cat(x, -1)),
    LayerCase(layers.Concatenate, {"axis": 1}, [(2, 3), (4, 3)], (6, 3), lambda w, x, t: torch.cat(x, 1)),
    # explicit padding, as PyTorch and ONNX define it (what their importers produce)
    LayerCase(layers.MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": 1}, (7, 6, 2), (4, 3, 2),
              _explicit_pool2d("max", 3, 2, ((1, 1), (1, 1)))),
    LayerCase(layers.MaxPooling2D, {"pool_size": 2, "strides": 1, "padding": ((0, 1), (1, 0))}, (4, 5, 2), (4, 5, 2),
              _explicit_pool2d("max", 2, 1, ((0, 1), (1, 0)))),
    LayerCase(layers.MaxPooling1D, {"pool_size": 3, "strides": 2, "padding": 1}, (8, 2), (4, 2),
              lambda w, x, t: F.max_pool1d(x.permute(0, 2, 1), 3, 2, 1).permute(0, 2, 1)),
    LayerCase(layers.AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": (1, 1)}, (7, 6, 2), (4, 3, 2),
              _explicit_pool2d("avg", 3, 2, ((1, 1), (1, 1)))),
    LayerCase(layers.AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": ((1, 0), (1, 2)),
                                        "count_include_pad": True}, (7, 6, 2), (3, 4, 2),
              _explicit_pool2d("avg", 3, 2, ((1, 0), (1, 2)), count_include_pad=True)),
    LayerCase(layers.AveragePooling1D, {"pool_size": 3, "strides": 1, "padding": 1, "count_include_pad": True},
              (6, 2), (6, 2), lambda w, x, t: F.avg_pool1d(x.permute(0, 2, 1), 3, 1, 1).permute(0, 2, 1)),
    LayerCase(layers.Conv2D, {"filters": 3, "kernel_size": 3, "strides": 2, "padding": ((3, 2), (1, 0))}, (6, 5, 2),
              (5, 2, 3), _explicit_conv2d(((3, 2), (1, 0)), (2, 2))),
    LayerCase(layers.Conv1D, {"filters": 2, "kernel_size": 3, "padding": 2}, (5, 3), (7, 2),
              lambda w, x, t: F.conv1d(x.permute(0, 2, 1), w[0].permute(2, 1, 0), w[1], padding=2).permute(0, 2, 1)),
    LayerCase(layers.Conv2D, {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same", "strides": 2},
              (5, 6, 4), (3, 3, 4), lambda w, x, t: F.conv2d(_pad_nchw(x.permute(0, 3, 1, 2), (3, 3), (2, 2), "same"),
                                                             w[0].permute(3, 2, 0, 1), w[1], stride=2,
                                                             groups=2).permute(0, 2, 3, 1)),
    LayerCase(layers.Conv1D, {"filters": 6, "kernel_size": 2, "groups": 3, "use_bias": False}, (5, 3), (4, 6),
              lambda w, x, t: F.conv1d(x.permute(0, 2, 1), w[0].permute(2, 1, 0), groups=3).permute(0, 2, 1)),
    LayerCase(layers.DepthwiseConv2D, {"kernel_size": 3, "strides": 2, "padding": 1, "depth_multiplier": 2},
              (6, 5, 3), (3, 3, 6), lambda w, x, t: (_depthwise(w[0], F.pad(x.permute(0, 3, 1, 2), (1, 1, 1, 1)),
                                                                  (2, 2), "valid", (3, 3)) + w[1][:, None, None]
                                                       ).permute(0, 2, 3, 1)),
    *ATTENTION_CASES,
]

# Constructor arguments each layer must reject, with a word the message must contain.
BAD_ARGUMENTS = [
    (layers.Dense, {"units": -3}, "units"),
    (layers.Dense, {"units": 2.5}, "units"),
    (layers.Dense, {"units": 4, "activation": "swishy"}, "swishy"),
    (layers.Dense, {"units": 4, "use_bias": "yes"}, "use_bias"),
    (layers.Dense, {"units": 4, "kernel_initializer": "magic"}, "magic"),
    (layers.Activation, {"activation": "nope"}, "nope"),
    (layers.Dropout, {"rate": 1.5}, "rate"),
    (layers.Dropout, {"rate": -0.1}, "rate"),
    (layers.InputLayer, {"shape": (0, 3)}, "shape"),
    (layers.InputLayer, {"shape": "64"}, "shape"),
    (layers.Conv2D, {"filters": 2, "kernel_size": 0}, "kernel_size"),
    (layers.Conv2D, {"filters": 2, "kernel_size": 3, "padding": "full"}, "padding"),
    (layers.Conv2D, {"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, "dilation_rate"),
    (layers.MaxPooling2D, {"pool_size": (2, 2, 2)}, "pool_size"),
    (layers.BatchNormalization, {"momentum": 1.5}, "momentum"),
    (layers.BatchNormalization, {"center": False}, "center"),
    (layers.LSTM, {"units": 0}, "units"),
    (layers.LSTM, {"units": 2, "activation": "swish"}, "activation"),
    (layers.GRU, {"units": 2, "reset_after": False}, "reset_after"),
    (layers.Bidirectional, {"layer": "lstm"}, "layer"),
    (layers.Embedding, {"input_dim": 0, "output_dim": 2}, "input_dim"),
    (layers.Reshape, {"target_shape": (-1, -1)}, "target_shape"),
    (layers.Permute, {"dims": (1, 3)}, "dims"),
    (layers.LeakyReLU, {"negative_slope": -1}, "negative_slope"),
    (layers.Concatenate, {"axis": 0}, "axis"),
    (layers.DepthwiseConv2D, {"kernel_size": 3, "depth_multiplier": 0}, "depth_multiplier"),
    (layers.SeparableConv2D, {"filters": 0, "kernel_size": 3}, "filters"),
    (layers.Cropping2D, {"cropping": -1}, "cropping"),
    (layers.ZeroPadding2D, {"padding": ((1, 2), 3)}, "padding"),
    (layers.LPPooling2D, {"p": 0.5}, "`p`"),
    (layers.PeepholeLSTM, {"units": 2, "recurrent_activation": "gelu"}, "recurrent_activation"),
    (layers.MaxPooling2D, {"padding": ((1, 2), (1,))}, "padding"),
    (layers.AveragePooling2D, {"padding": ((0, 1), (1, 1))}, "count_include_pad"),
    (layers.LPPooling2D, {"padding": 1}, "padding"),
    (layers.Conv2D, {"filters": 3, "kernel_size": 1, "groups": 2}, "groups"),
    (layers.Masking, {"mask_value": "zero"}, "mask_value"),
    (layers.Embedding, {"input_dim": 4, "output_dim": 2, "mask_zero": 1}, "mask_zero"),
    (layers.PositionEmbedding, {"sequence_length": 0}, "sequence_length"),
    (layers.MultiHeadAttention, {"num_heads": 0, "key_dim": 2}, "num_heads"),
    (layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 2, "attention_axes": (1,)}, "attention_axes"),
    (layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 2, "dropout": 1.0}, "dropout"),
    (layers.TransformerEncoder, {"intermediate_dim": 0, "num_heads": 2}, "intermediate_dim"),
    (layers.TransformerEncoder, {"intermediate_dim": 4, "num_heads": 2, "activation": "swishy"}, "swishy"),
]
