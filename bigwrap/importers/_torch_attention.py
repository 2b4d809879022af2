"""torch.nn.MultiheadAttention and torch.nn.TransformerEncoderLayer calls for from_torch.

Both become the DSL's Keras layers with the same numbers: MultiheadAttention is Keras' MultiHeadAttention with
key_dim = embed_dim / num_heads (PyTorch scales by 1/sqrt(head_dim) and splits heads in contiguous chunks, as
Keras does); TransformerEncoderLayer is keras_hub's TransformerEncoder (norm_first is normalize_first). Masks
given to the call are refused by name: bigwrap's masks come from Embedding(mask_zero) or Masking.
"""
from __future__ import annotations

import numpy as np

from .. import layers
from ._graph import Value


def _numpy(tensor) -> np.ndarray | None:
    return None if tensor is None else tensor.detach().numpy().astype(np.float32)


def attention_weights(module) -> list[np.ndarray]:
    """Keras' MultiHeadAttention weights (query, key, value kernels (E, H, d) and biases (H, d), output kernel
    (H, d, E) and bias) of a torch.nn.MultiheadAttention."""
    heads, dim = module.num_heads, module.head_dim
    if module._qkv_same_embed_dim:
        projections = np.split(_numpy(module.in_proj_weight), 3)
    else:
        projections = [_numpy(module.q_proj_weight), _numpy(module.k_proj_weight), _numpy(module.v_proj_weight)]
    biases = np.split(_numpy(module.in_proj_bias), 3) if module.in_proj_bias is not None else [None] * 3
    out = []
    for weight, bias in zip(projections, biases):
        out.append(weight.T.reshape(weight.shape[1], heads, dim))
        if bias is not None:
            out.append(bias.reshape(heads, dim))
    out.append(_numpy(module.out_proj.weight).T.reshape(heads, dim, -1))
    if module.out_proj.bias is not None:
        out.append(_numpy(module.out_proj.bias))
    return out


class TorchAttention:
    """The module handlers from_torch uses for calls with several tensors (query, key, value, masks)."""

    def __init__(self, importer):
        self.importer, self.builder = importer, importer.builder
        nn = importer.nn
        self.handlers = {nn.MultiheadAttention: self.multihead_attention,
                         nn.TransformerEncoderLayer: self.encoder_layer}

    def _refuse_masks(self, given: dict) -> None:
        masks = [name for name, value in given.items() if value is not None and value is not False]
        if masks:
            raise self.builder.fail(f"{', '.join(masks)} given to the call are not supported; mask padding with "
                                    "layers.Embedding(mask_zero=True) or layers.Masking in bigwrap instead")

    def _sequence(self, batch_first: bool, x, where: str) -> tuple[Value, tuple[int, ...]]:
        """`x` as DSL (batch, steps, features), and the perm of a result in the source's layout."""
        steps, batch = (1, 0) if batch_first else (0, 1)
        source = self.importer.value(x)
        if source.rank != 3 or source.batch_axis != batch:
            raise self.builder.fail(f"expected its input's batch axis at {batch} (batch_first={batch_first}), got "
                                    f"shape {source.shape}; transpose it first")
        value = self.builder.arranged(source, [steps, 2], where)
        return value, (0, 1, 2) if batch_first else (1, 0, 2)

    def multihead_attention(self, module, args, kwargs, where: str):
        names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights",
                 "is_causal")
        given = {**dict(zip(names, args)), **kwargs}
        self._refuse_masks({k: given.get(k) for k in ("key_padding_mask", "attn_mask", "is_causal")})
        if module.bias_k is not None or module.add_zero_attn:
            raise self.builder.fail("add_bias_kv and add_zero_attn are not supported")
        query, perm = self._sequence(module.batch_first, given["query"], where)
        key, _ = self._sequence(module.batch_first, given["key"], where)
        value, _ = self._sequence(module.batch_first, given["value"], where)
        layer = layers.MultiHeadAttention(module.num_heads, module.head_dim, dropout=module.dropout,
                                          use_bias=module.in_proj_bias is not None, name=self.builder.name(where))
        same = given["key"] is given["value"]
        out = layer(query.tensor, value.tensor, **({} if same else {"key": key.tensor}))
        layer.set_weights(attention_weights(module))
        # (output, attention weights): the weights are not computed, so using them fails by name
        return Value(out, perm), None

    def encoder_layer(self, module, args, kwargs, where: str):
        names = ("src", "src_mask", "src_key_padding_mask", "is_causal")
        given = {**dict(zip(names, args)), **kwargs}
        self._refuse_masks({k: given.get(k) for k in names[1:]})
        activation = {1: "relu", 2: "gelu"}.get(getattr(module, "activation_relu_or_gelu", 0))
        if activation is None:
            raise self.builder.fail("only relu and gelu feed-forward activations are supported")
        if module.norm1.eps != module.norm2.eps or module.linear1.bias is None:
            raise self.builder.fail("layers without biases or with two epsilons are not supported")
        x, perm = self._sequence(module.self_attn.batch_first, given["src"], where)
        layer = layers.TransformerEncoder(module.linear1.out_features, module.self_attn.num_heads,
                                          dropout=module.dropout.p, activation=activation,
                                          layer_norm_epsilon=module.norm1.eps, normalize_first=module.norm_first,
                                          name=self.builder.name(where))
        out = layer(x.tensor)
        layer.set_weights([*attention_weights(module.self_attn),
                           _numpy(module.norm1.weight), _numpy(module.norm1.bias),
                           _numpy(module.norm2.weight), _numpy(module.norm2.bias),
                           _numpy(module.linear1.weight).T, _numpy(module.linear1.bias),
                           _numpy(module.linear2.weight).T, _numpy(module.linear2.bias)])
        return Value(out, perm)
