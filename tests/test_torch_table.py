"""from_torch over a table of torch.nn modules and functional calls (PyTorch's module_db style): each row is imported
and predicts what PyTorch computes, or is refused with a ValueError naming what and why. Never a different number."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bigwrap

from .torchvision_models import randomized

TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}
IMAGE, FEATURES, SEQUENCE = (3, 6, 6), (5,), (4, 3)


class Call(nn.Module):
    """A functional call (or a few) as a module, so fx traces the functions themselves."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@dataclass
class TorchCase:
    id: str
    make: Callable[[], nn.Module]
    shape: tuple[int, ...]
    refused: str | None = None   # a pattern the refusal's message must match; None: it must import exactly
    tokens: int = 0              # > 0: integer ids below this


def _module(id, make, shape=IMAGE, **kw):
    """A module inside a Sequential: fx traces into the module it is given, and keeps submodules as calls."""
    return TorchCase(id, lambda: nn.Sequential(make()), shape, **kw)


def _fn(id, fn, shape=IMAGE, **kw):
    return TorchCase(id, lambda: Call(fn), shape, **kw)


class _Rnn(nn.Module):
    def __init__(self, kind, **kwargs):
        super().__init__()
        self.rnn = getattr(nn, kind)(3, 4, batch_first=True, **kwargs)

    def forward(self, x):
        out, _ = self.rnn(x)
        return out[:, -1]


TORCH_CASES = [
    # modules
    _module("Linear", lambda: nn.Linear(5, 4), FEATURES),
    _module("Linear-no-bias", lambda: nn.Linear(5, 3, bias=False), FEATURES),
    _module("Conv1d-padding", lambda: nn.Conv1d(4, 2, 3, padding=2), (4, 7)),
    _module("Conv2d-stride-uneven-padding", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=(1, 2))),
    _module("Conv2d-same", lambda: nn.Conv2d(3, 2, (3, 2), padding="same")),
    _module("Conv2d-dilation", lambda: nn.Conv2d(3, 2, 3, dilation=2, padding=2)),
    _module("Conv2d-depthwise", lambda: nn.Conv2d(3, 6, 3, padding=1, groups=3)),
    _module("Conv2d-groups", lambda: nn.Conv2d(4, 6, 3, groups=2, padding=1), (4, 6, 6)),
    _module("Conv1d-groups", lambda: nn.Conv1d(4, 4, 3, groups=4, bias=False), (4, 7)),
    _module("Conv2d-groups-dilated", lambda: nn.Conv2d(4, 4, 3, groups=2, dilation=2), (4, 6, 6),
            refused="dilated grouped"),
    _module("Conv2d-reflect", lambda: nn.Conv2d(3, 2, 3, padding=1, padding_mode="reflect"),
            refused="padding_mode='reflect'"),
    _module("MaxPool1d-padding", lambda: nn.MaxPool1d(3, 2, 1), (4, 7)),
    _module("MaxPool2d-padding", lambda: nn.MaxPool2d(3, 2, 1)),
    _module("MaxPool2d-ceil-mode", lambda: nn.MaxPool2d(2, 2, ceil_mode=True), (3, 5, 5), refused="ceil_mode"),
    _module("MaxPool2d-dilation", lambda: nn.MaxPool2d(2, dilation=2), refused="dilation"),
    _module("AvgPool1d", lambda: nn.AvgPool1d(2), (4, 7)),
    _module("AvgPool2d-padding-counted", lambda: nn.AvgPool2d(3, 2, 1)),
    _module("AvgPool2d-padding-not-counted", lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
    _module("AvgPool2d-divisor", lambda: nn.AvgPool2d(2, divisor_override=3), refused="divisor_override"),
    _module("AdaptiveAvgPool2d-1", lambda: nn.AdaptiveAvgPool2d(1)),
    _module("AdaptiveAvgPool2d-3", lambda: nn.AdaptiveAvgPool2d(3)),
    _module("AdaptiveMaxPool2d-1", lambda: nn.AdaptiveMaxPool2d((1, 1))),
    _module("AdaptiveAvgPool2d-4", lambda: nn.AdaptiveAvgPool2d(4), refused="not a plain pooling"),
    _module("BatchNorm1d", lambda: nn.BatchNorm1d(5), FEATURES),
    _module("BatchNorm2d", lambda: nn.BatchNorm2d(3)),
    *[_module(f"{cls.__name__}", cls, FEATURES) for cls in
      (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.SELU, nn.GELU, nn.Softplus, nn.Softsign,
       nn.Identity, nn.Flatten)],
    _module("ELU-alpha", lambda: nn.ELU(0.5), FEATURES),
    _module("LeakyReLU", lambda: nn.LeakyReLU(0.1), FEATURES),
    _module("Softmax", lambda: nn.Softmax(dim=1), FEATURES),
    _module("LogSoftmax", lambda: nn.LogSoftmax(dim=-1), FEATURES),
    _module("Dropout", lambda: nn.Dropout(0.3), FEATURES),
    _module("ZeroPad2d", lambda: nn.ZeroPad2d((1, 2, 0, 1))),
    _module("Embedding", lambda: nn.Embedding(10, 4), (6,), tokens=10),
    _module("LSTM", lambda: _Rnn("LSTM"), SEQUENCE),
    _module("GRU", lambda: _Rnn("GRU"), SEQUENCE),
    _module("GRU-bidirectional-last-step", lambda: _Rnn("GRU", bidirectional=True), SEQUENCE,
            refused="only the last step of a unidirectional layer"),
    _module("Hardtanh-range", lambda: nn.Hardtanh(0.0, 1.0), FEATURES, refused=r"hardtanh\(0.0, 1.0\)"),
    _module("GELU-tanh", lambda: nn.GELU(approximate="tanh"), FEATURES, refused="exact GELU"),
    _module("Softplus-beta", lambda: nn.Softplus(beta=2.0), FEATURES, refused=r"Softplus\(beta=1\)"),
    _module("Upsample", lambda: nn.Upsample(scale_factor=2), refused=r"Upsample \(module 'fn'\)|Upsample"),
    _module("LayerNorm", lambda: nn.LayerNorm(5), FEATURES, refused="LayerNorm"),
    _module("PReLU", lambda: nn.PReLU(), FEATURES, refused="PReLU"),
    # functional calls and tensor methods
    *[_fn(f"F.{fn.__name__}", fn, FEATURES) for fn in
      (F.relu, torch.relu, F.relu6, F.silu, F.gelu, F.elu, F.selu, F.softsign, torch.sigmoid, torch.tanh,
       F.hardtanh)],
    _fn("F.leaky_relu", lambda x: F.leaky_relu(x, 0.2), FEATURES),
    _fn("F.softmax", lambda x: F.softmax(x, dim=-1), FEATURES),
    _fn("F.log_softmax", lambda x: F.log_softmax(x, dim=1), FEATURES),
    _fn("F.dropout", lambda x: F.dropout(x, 0.2, training=False), FEATURES),
    _fn("torch.flatten", lambda x: torch.flatten(x, 1)),
    _fn("view", lambda x: x.view(x.size(0), -1)),
    _fn("reshape", lambda x: x.reshape(-1, 3, 36)),
    _fn("F.max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1)),
    _fn("F.avg_pool2d", lambda x: F.avg_pool2d(x, 2)),
    _fn("F.avg_pool2d-positional", lambda x: F.avg_pool2d(x, 3, 2, 1, False, False)),
    _fn("F.avg_pool2d-divisor", lambda x: F.avg_pool2d(x, 2, divisor_override=3), refused="divisor_override"),
    _fn("F.max_pool2d-dilation", lambda x: F.max_pool2d(x, 2, 2, 0, 2), refused="dilation"),
    _fn("F.adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (1, 1))),
    _fn("mean-spatial", lambda x: x.mean((2, 3))),
    _fn("torch.cat", lambda x: torch.cat([x, torch.relu(x)], 1)),
    _fn("add-mul-sub", lambda x: (x + torch.tanh(x)) * x - x),
    _fn("torch.maximum", lambda x: torch.maximum(x, torch.sigmoid(x)), FEATURES),
    _fn("permute-back", lambda x: x.permute(0, 2, 3, 1).permute(0, 3, 1, 2)),
    _fn("transpose", lambda x: x.transpose(1, 2), SEQUENCE),
    _fn("unsqueeze-squeeze", lambda x: x.unsqueeze(2).squeeze(2), SEQUENCE),
    _fn("add-constant", lambda x: x + 1.0, FEATURES, refused="arithmetic on Value and float"),
    _fn("torch.erf", torch.erf, FEATURES, refused=r"torch\._C\._special|erf"),
    _fn("abs", lambda x: x.abs(), FEATURES, refused=r"Tensor\.abs"),
    _fn("slice", lambda x: x[:, 1:], FEATURES, refused="indexing or slicing"),
    _fn("mean-channels", lambda x: x.mean(1), refused="mean over all spatial axes"),
]


def _channels_last(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_torch_module_or_call_imports_exactly_or_is_refused_by_name(spark, case):
    torch.manual_seed(0)
    module = randomized(case.make())
    rng = np.random.default_rng(0)
    x = rng.integers(0, case.tokens, size=(4, *case.shape)) if case.tokens else \
        rng.normal(size=(4, *case.shape)).astype(np.float32)
    if case.refused:
        with pytest.raises(ValueError, match=case.refused):
            bigwrap.from_torch(module, case.shape)
        return
    with torch.no_grad():
        expected = module(torch.tensor(x)).numpy()
    model = bigwrap.from_torch(module, case.shape)
    np.testing.assert_allclose(model.predict(_channels_last(x.astype(np.float32))), _channels_last(expected),
                               **TOLERANCE)
