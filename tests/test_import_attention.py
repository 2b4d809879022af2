"""from_torch on torch.nn.MultiheadAttention and TransformerEncoderLayer (batch_first and norm_first both ways)
equals PyTorch at 1e-4; masks given to the call, and attention in ONNX graphs, are refused by name."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import bigwrap
from bigwrap import layers


class _SelfAttention(torch.nn.Module):
    def __init__(self, batch_first: bool, **kwargs):
        super().__init__()
        self.attention = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first, **kwargs)
        self.batch_first = batch_first

    def forward(self, x):
        x = x if self.batch_first else x.transpose(0, 1)
        out, _ = self.attention(x, x, x, need_weights=False)
        return out if self.batch_first else out.transpose(0, 1)


class _CrossAttention(torch.nn.Module):
    """Query and key/value from different tensors, key/value of other widths (kdim, vdim)."""

    def __init__(self):
        super().__init__()
        self.key, self.value = torch.nn.Linear(8, 5), torch.nn.Linear(8, 3)
        self.attention = torch.nn.MultiheadAttention(8, 4, kdim=5, vdim=3, batch_first=True)

    def forward(self, x):
        return self.attention(x, self.key(x), self.value(x))[0]


def _randomize(module):
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.4)
    return module.eval()


def _assert_same(module, shape=(5, 8)):
    x = np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)
    imported = bigwrap.from_torch(module, shape)
    expected = module(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(imported.predict(x), expected, rtol=1e-4, atol=1e-4)
    return imported


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_equals_pytorch(spark, batch_first):
    imported = _assert_same(_randomize(_SelfAttention(batch_first)))
    assert any(isinstance(l, layers.MultiHeadAttention) for l in imported.layers)


def test_multihead_attention_with_other_key_and_value_widths_and_no_bias(spark):
    _assert_same(_randomize(_CrossAttention()))
    _assert_same(_randomize(_SelfAttention(True, bias=False)))


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_encoder_layer_equals_pytorch(spark, batch_first, norm_first, activation):
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation=activation, batch_first=batch_first,
                                             norm_first=norm_first, layer_norm_eps=1e-4)

    class Stack(torch.nn.Module):  # two blocks, as a model holds them
        def __init__(self):
            super().__init__()
            self.first, self.second = layer, torch.nn.TransformerEncoderLayer(
                8, 4, 12, batch_first=batch_first, norm_first=norm_first, activation=activation, layer_norm_eps=1e-4)

        def forward(self, x):
            x = x if batch_first else x.transpose(0, 1)
            y = self.second(self.first(x))
            return y if batch_first else y.transpose(0, 1)

    imported = _assert_same(_randomize(Stack()))
    blocks = [l for l in imported.layers if isinstance(l, layers.TransformerEncoder)]
    assert [b.normalize_first for b in blocks] == [norm_first] * 2 and blocks[0].dropout == pytest.approx(0.1)


def test_a_lone_encoder_layer_imports_too(spark):
    _assert_same(_randomize(torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)))


def test_masks_given_to_the_call_are_refused_by_name():
    class Masked(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x, padding):
            return self.attention(x, x, x, key_padding_mask=padding)[0]

    with pytest.raises(ValueError, match=r"'attention'.*key_padding_mask.*mask_zero"):
        bigwrap.from_torch(Masked(), [(5, 8), (5,)])


def test_attention_exported_to_onnx_is_refused_by_name():
    buffer = io.BytesIO()
    torch.onnx.export(_SelfAttention(True).eval(), (torch.randn(2, 5, 8),), buffer, dynamo=False,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    with pytest.raises(ValueError, match=r"computes attention \(MatMul '/attention/MatMul_1' → Softmax "
                                         r"'/attention/Softmax'\).*from_torch"):
        bigwrap.from_onnx(buffer.getvalue())
