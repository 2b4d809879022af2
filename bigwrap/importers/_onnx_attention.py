"""Attention in ONNX graphs, as PyTorch's export writes it: from_onnx refuses it by name.

The export spells attention as MatMul(query, keyᵀ) of two computed tensors, Softmax, and MatMul with the values,
among per-head Reshape/Transpose and shape arithmetic (Shape, Gather, Mod, Sqrt on sizes). bigwrap's importer
takes MatMul with a constant operand only, so rather than a list of the shape operators it meets first, the
user learns which nodes are attention and what imports it.
"""
from __future__ import annotations


def refuse_attention(nodes, constants: set[str], where) -> None:
    """A ValueError naming each attention (a Softmax over a MatMul of two computed tensors) in `nodes`."""
    producers = {output: node for node in nodes for output in node.output}
    found = []
    for node in nodes:
        scores = producers.get(node.input[0]) if node.op_type == "Softmax" and node.input else None
        if scores is not None and scores.op_type == "MatMul" and not set(scores.input) & constants:
            found.append(f"MatMul {where(scores)!r} → Softmax {where(node)!r}")
    if found:
        raise ValueError(f"cannot import the ONNX model: it computes attention ({'; '.join(found)}), which "
                         "from_onnx does not import. Import the PyTorch module with bigwrap.from_torch "
                         "(torch.nn.MultiheadAttention and TransformerEncoderLayer become layers.MultiHeadAttention "
                         "and layers.TransformerEncoder), or build the model with those layers")
