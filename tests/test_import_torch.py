"""bigwrap.from_torch against PyTorch itself (and a PyTorch → ONNX export against onnxruntime)."""
from __future__ import annotations

import io

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bigwrap

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def _randomize_batch_norms(module):
    generator = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    return module.eval()


def _compare(module, *inputs, images=()):
    """The imported model predicts what the module computes; inputs named by position in `images` are NCHW."""
    with torch.no_grad():
        expected = module(*[torch.tensor(x) for x in inputs]).numpy()
    model = bigwrap.from_torch(module, [x.shape[1:] for x in inputs] if len(inputs) > 1 else inputs[0].shape[1:])
    ours = [x.transpose(0, 2, 3, 1) if k in images else x for k, x in enumerate(inputs)]
    np.testing.assert_allclose(model.predict(ours if len(ours) > 1 else ours[0]), expected, **TOLERANCE)
    return model


def _cnn():
    torch.manual_seed(0)
    return _randomize_batch_norms(nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3), nn.ELU(), nn.Flatten(), nn.Linear(8 * 2 * 2, 16), nn.Dropout(0.2), nn.Tanh(),
        nn.Linear(16, 10), nn.Softmax(dim=1)))


def test_sequential_cnn(spark):
    x = np.random.default_rng(0).normal(size=(6, 1, 8, 8)).astype(np.float32)
    model = _compare(_cnn(), x, images=(0,))
    assert model.input_shape == (None, 8, 8, 1)


class TwoBranches(nn.Module):
    """forward() written with functions, methods and operators, as people write it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding="same")
        self.bn = nn.BatchNorm1d(12)
        self.side = nn.Linear(5, 12)
        self.head = nn.Linear(4 * 3 * 3 + 12, 3)

    def forward(self, image, extra):
        x = F.max_pool2d(F.relu(self.conv(image)), 2)
        x = x.permute(0, 2, 3, 1).transpose(1, 3).transpose(2, 3)  # a no-op round trip of layouts
        x = x.view(x.size(0), -1)
        y = torch.sigmoid(self.bn(self.side(extra)))
        y = y * torch.tanh(y) + y
        return F.log_softmax(self.head(torch.cat([x, y], dim=1)), dim=1)


def test_functional_forward_with_two_inputs(spark):
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    module = _randomize_batch_norms(TwoBranches())
    _compare(module, rng.normal(size=(5, 3, 6, 6)).astype(np.float32), rng.normal(size=(5, 5)).astype(np.float32),
             images=(0,))


class Recurrent(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.embed = nn.Embedding(20, 6)
        self.lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True)
        self.gru = nn.GRU(6, 5, bidirectional=True, batch_first=True)
        self.out = nn.Linear(8 if kind == "lstm" else 10, 3)

    def forward(self, tokens):
        x = self.embed(tokens)
        if self.kind == "lstm":
            out, _ = self.lstm(x)
            return self.out(out[:, -1])
        _, h = self.gru(x)  # (2, N, 5): forward and backward final states
        return self.out(h.permute(1, 0, 2).reshape(h.size(1), -1))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_embedding_and_recurrent_layers(spark, kind):
    torch.manual_seed(2)
    module = Recurrent(kind).eval()
    tokens = np.random.default_rng(2).integers(0, 20, size=(4, 7))
    with torch.no_grad():
        expected = module(torch.tensor(tokens)).numpy()
    model = bigwrap.from_torch(module, (7,))
    np.testing.assert_allclose(model.predict(tokens.astype(np.float32)), expected, **TOLERANCE)


def test_unsupported_modules_and_functions_are_all_named():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.Upsample(scale_factor=2)

        def forward(self, x):
            return torch.erf(self.up(x))

    with pytest.raises(ValueError, match=r"torch.nn.modules.upsampling.Upsample \(module 'up'\).*erf"):
        bigwrap.from_torch(Odd(), (1, 4, 4))
    with pytest.raises(ValueError, match="input_shape"):
        bigwrap.from_torch(_cnn(), (None, 8, 8))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_pytorch_export_to_onnx_imports_and_matches_onnxruntime(spark):
    module = _cnn()
    buffer = io.BytesIO()
    torch.onnx.export(module, torch.zeros(1, 1, 8, 8), buffer, dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}})
    x = np.random.default_rng(3).normal(size=(5, 1, 8, 8)).astype(np.float32)
    expected = onnxruntime.InferenceSession(buffer.getvalue()).run(None, {"x": x})[0]
    model = bigwrap.from_onnx(buffer.getvalue())
    np.testing.assert_allclose(model.predict(x.transpose(0, 2, 3, 1)), expected, **TOLERANCE)
