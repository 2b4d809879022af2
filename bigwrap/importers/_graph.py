"""What the ONNX and PyTorch importers share: the DSL graph an imported model becomes.

Both sources lay images out channels-first (N, C, H, W); the DSL is channels-last (docs/design.md §1). A
source tensor is a `Value`: a DSL tensor plus `perm`, where source axis i is DSL axis perm[i]
(counted with the batch axis, which the DSL keeps at 0), or None for a source axis of size 1 that
the DSL tensor does not have. So transposes, squeezes and the flatten before a Dense cost no layer:
they change `perm`, or fold into the Dense kernel's row order (the importer converts weights). A
Permute or Reshape layer appears only where a consumer needs another layout or shape.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .. import layers
from ..layers.base import SymbolicTensor
from ..models import Model

BATCH = "batch"  # the batch axis in a source shape or a reshape target


@dataclass(frozen=True, eq=False)
class Value:
    tensor: SymbolicTensor | None
    perm: tuple[int | None, ...]
    flattened: "Value | None" = None  # set: the flatten (from axis 1) of this value, not laid out yet

    @property
    def rank(self) -> int:
        return len(self.perm)

    @property
    def shape(self) -> tuple:
        """The source shape, BATCH for the batch axis."""
        if self.flattened is not None:
            return (BATCH, math.prod(self.flattened.shape[1:]))
        full = (BATCH, *self.tensor.dims)
        return tuple(1 if p is None else full[p] for p in self.perm)

    @property
    def batch_axis(self) -> int:
        return 0 if self.flattened is not None else self.perm.index(0)


def keras_same_pads(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """The (begin, end) padding of Keras' padding="same" (the extra cell goes at the end)."""
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - length, 0)
    return total // 2, total - total // 2


def unique_name(hint: str, taken: set[str], trim: bool = False) -> str:
    """`hint` as a legal layer name (`trim`: without leading or trailing _ . -), numbered if `taken` has it; taken."""
    base = re.sub(r"[^A-Za-z0-9_.\-]", "_", hint)
    base = (base.strip("_.-") or "layer") if trim else base
    base = base if re.match(r"[A-Za-z_]", base) else f"l_{base}"
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


class GraphBuilder:
    """Builds DSL layers for source operations; `where` names the layers, `context` the node every error names."""

    def __init__(self, source: str):
        self.source = source
        self._names: set[str] = set()
        self._laid_out: dict[int, Value] = {}
        self.context = ""  # the source node being imported (or the output being laid out)

    def name(self, hint: str) -> str:
        return unique_name(hint, self._names, trim=True)

    def fail(self, problem: str) -> ValueError:
        return ValueError(f"cannot import {self.source} {self.context}: {problem}")

    def _apply(self, layer: layers.Layer, inputs, weights=None) -> SymbolicTensor:
        out = layer(inputs)
        if weights is not None:
            layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
        return out

    # -- layouts ------------------------------------------------------------------------------
    def input(self, hint: str, shape: tuple[int, ...]) -> Value:
        """A model input of source shape `shape` (no batch); images (C, H, W) become channels-last (H, W, C)."""
        if len(shape) == 3:
            return Value(layers.Input((shape[1], shape[2], shape[0]), name=self.name(hint)), (0, 3, 1, 2))
        return Value(layers.Input(tuple(shape), name=self.name(hint)), tuple(range(len(shape) + 1)))

    def laid_out(self, v: Value, where: str) -> Value:
        """A pending flatten made real: the source-order flatten as a DSL tensor (cached)."""
        if v.flattened is None:
            return v
        if id(v) not in self._laid_out:
            self._laid_out[id(v)] = Value(self._flatten_dsl(self.canonical(v.flattened, where).tensor, where), (0, 1))
        return self._laid_out[id(v)]

    def _flatten_dsl(self, t: SymbolicTensor, where: str) -> SymbolicTensor:
        return t if len(t.dims) <= 1 else self._apply(layers.Flatten(name=self.name(f"{where}_flatten")), t)

    def arranged(self, v: Value, order: list[int], where: str) -> Value:
        """`v` with DSL axes batch, then the source axes `order`; axes left out must have size 1."""
        v = self.laid_out(v, where)
        shape, batch = v.shape, v.batch_axis
        real = [i for i, p in enumerate(v.perm) if p not in (None, 0)]
        dropped = [i for i in real if i not in order]
        if batch in order or any(shape[i] != 1 for i in dropped):
            raise self.fail(f"cannot lay out a tensor of shape {shape} as axes {order}")
        wanted = [v.perm[i] for i in order if v.perm[i] is not None] + [v.perm[i] for i in dropped]
        t = v.tensor
        if wanted != sorted(wanted):
            t = self._apply(layers.Permute(tuple(wanted), name=self.name(f"{where}_permute")), t)
        target = tuple(shape[i] for i in order)
        if t.dims != target:
            t = self._apply(layers.Reshape(target, name=self.name(f"{where}_reshape")), t)
        perm: list[int | None] = [None] * v.rank
        perm[batch] = 0
        for k, i in enumerate(order):
            perm[i] = k + 1
        return Value(t, tuple(perm))

    def canonical(self, v: Value, where: str) -> Value:
        """The source layout with the batch axis moved first (no DSL axis dropped or added)."""
        return self.arranged(v, [i for i in range(v.rank) if i != v.batch_axis], where)

    def channels_last(self, v: Value, where: str) -> Value:
        """(N, C, *spatial) → DSL (*spatial, C), as convolutions, pooling and batch norm need."""
        if v.batch_axis != 0 or v.rank < 3:
            raise self.fail(f"expected a (batch, channels, ...) input, got shape {v.shape}")
        return self.arranged(v, [*range(2, v.rank), 1], where)

    def same_layout(self, v: Value, like: Value, where: str) -> Value:
        v = self.laid_out(v, where)
        if v.perm == like.perm:
            return v
        if v.batch_axis != like.batch_axis:
            raise self.fail(f"operands of shapes {v.shape} and {like.shape} differ in their batch axis")
        order = sorted((i for i, p in enumerate(like.perm) if p not in (None, 0)), key=lambda i: like.perm[i])
        return self.arranged(v, order, where)

    def output(self, v: Value, where: str) -> SymbolicTensor:
        """Model outputs come in the source layout (batch first), except images, which come channels-last."""
        if v.batch_axis != 0:  # rows of a bigwrap model are the batch: another layout would be a different result
            raise self.fail(f"the output of shape {v.shape} has its batch axis at position {v.batch_axis}; "
                            "bigwrap models keep the batch axis first")
        if v.flattened is None and v.rank == 4:
            return self.channels_last(v, where).tensor
        return self.canonical(v, where).tensor

    def model(self, inputs: list[Value], outputs: list[tuple[Value, str]], name: str,
              about: dict[str, str] | None = None) -> Model:
        """The model from `inputs` to `outputs` (value, name); `about` describes outputs for error messages."""
        tensors = []
        for v, where in outputs:
            self.context = (about or {}).get(where, where)
            tensors.append(self.output(v, where))
        self.context = ""
        return Model([v.tensor for v in inputs], tensors, name=self.name(name))

    # -- shape-only operations ------------------------------------------------------------------
    def transpose(self, v: Value, axes: list[int], where: str) -> Value:
        v = self.laid_out(v, where)
        return Value(v.tensor, tuple(v.perm[a] for a in axes))

    def flatten(self, v: Value, where: str) -> Value:
        if v.flattened is not None or (v.rank == 2 and v.batch_axis == 0):
            return v
        if v.batch_axis != 0:
            raise self.fail(f"cannot flatten shape {v.shape} whose batch axis is not the first")
        return Value(None, (0, 1), flattened=v)

    def squeeze(self, v: Value, axes: list[int], where: str) -> Value:
        shape = v.shape
        if any(shape[a] != 1 for a in axes):
            raise self.fail(f"cannot squeeze axes {axes} of shape {shape}")
        v = self.laid_out(v, where)
        if any(v.perm[a] is not None for a in axes):
            v = self.arranged(v, [i for i in range(v.rank) if i != v.batch_axis and i not in axes], where)
        return Value(v.tensor, tuple(p for i, p in enumerate(v.perm) if i not in axes))

    def unsqueeze(self, v: Value, axes: list[int], where: str) -> Value:
        v = self.laid_out(v, where)
        perm = list(v.perm)
        for a in sorted(axes):
            perm.insert(a, None)
        return Value(v.tensor, tuple(perm))

    def reshape(self, v: Value, target: list, where: str) -> Value:
        """Reshape in source (row-major) order; `target` holds BATCH first, then sizes (one may be -1)."""
        shape = v.shape
        if v.batch_axis != 0 or not target or target[0] != BATCH or BATCH in target[1:]:
            raise self.fail(f"reshape of {shape} to {target} must keep the batch axis first")
        total = math.prod(shape[1:])
        known = math.prod(d for d in target[1:] if d != -1)
        sizes = [total // known if d == -1 else d for d in target[1:]]
        if math.prod(sizes) != total:
            raise self.fail(f"cannot reshape {shape} to {target}")
        if len(sizes) == 1:
            return self.flatten(v, where)
        v = self.laid_out(v, where)
        real = [i for i, p in enumerate(v.perm) if p not in (None, 0)]
        if [s for s in sizes if s != 1] == [shape[i] for i in real] and all(shape[i] != 1 for i in real):
            # only size-1 axes appear or vanish: no layer, the real axes keep their order
            axes = iter(v.perm[i] for i in real)
            return Value(v.tensor, (0, *(None if s == 1 else next(axes) for s in sizes)))
        t = self._apply(layers.Reshape(tuple(sizes), name=self.name(f"{where}_reshape")),
                        self.canonical(v, where).tensor)
        return Value(t, tuple(range(len(sizes) + 1)))

    def reshape_dsl(self, t: SymbolicTensor, dims: tuple[int, ...], where: str) -> SymbolicTensor:
        return t if t.dims == dims else self._apply(layers.Reshape(dims, name=self.name(f"{where}_reshape")), t)

    # -- layers ---------------------------------------------------------------------------------
    def dense(self, v: Value, kernel: np.ndarray, bias: np.ndarray | None, where: str) -> Value:
        """x @ kernel + bias over the last source axis; `kernel` is (in, out), rows in source order."""
        units = kernel.shape[1]
        make = lambda: layers.Dense(units, use_bias=bias is not None, name=self.name(where))
        weights = [kernel] + ([bias] if bias is not None else [])
        if v.flattened is not None:
            source, dims = v.flattened, v.flattened.tensor.dims
            axes = [p - 1 for p in source.perm[1:] if p is not None]
            # for each source-order flat index, the DSL-order flat index holding the same value
            rows = np.arange(math.prod(dims)).reshape(dims).transpose(axes).ravel()
            weights[0] = np.empty_like(kernel)
            weights[0][rows] = kernel
            flat = self._flatten_dsl(source.tensor, where)
            return Value(self._apply(make(), flat, weights), (0, 1))
        if v.shape[-1] != kernel.shape[0] or v.batch_axis == v.rank - 1:
            raise self.fail(f"a ({kernel.shape[0]}, {units}) matrix product does not fit shape {v.shape}")
        x = self.canonical(v, where)
        if x.rank == 2:
            return Value(self._apply(make(), x.tensor, weights), x.perm)
        if x.rank == 3:
            wrapped = layers.TimeDistributed(make(), name=self.name(f"{where}_steps"))
            return Value(self._apply(wrapped, x.tensor, weights), x.perm)
        raise self.fail(f"matrix products over inputs of rank {v.rank} are not supported (rank 2 or 3)")

    def window_padding(self, dims, kernel, strides, dilations, pads) -> str | tuple:
        """Source pads (begins..., ends...) as a DSL `padding`: "valid", Keras' "same" where the pads are
        exactly those, else explicit (before, after) pairs."""
        rank = len(kernel)
        pairs = tuple(zip(pads[:rank], pads[rank:]))
        if not any(b or e for b, e in pairs):
            return "valid"
        if list(pairs) == [keras_same_pads(n, k, s, d) for n, k, s, d in zip(dims, kernel, strides, dilations)]:
            return "same"
        return pairs

    def conv(self, v: Value, weight: np.ndarray, bias: np.ndarray | None, strides, pads, dilations, groups: int,
             where: str) -> Value:
        """Convolution with source weights (out, in / groups, *kernel) and pads (begins..., ends...)."""
        rank = weight.ndim - 2
        if rank not in (1, 2):
            raise self.fail(f"{rank}-D convolutions are not supported (1-D and 2-D are)")
        x = self.channels_last(v, where)
        channels, filters, kernel = x.tensor.dims[-1], weight.shape[0], tuple(weight.shape[2:])
        padding = self.window_padding(x.tensor.dims[:-1], kernel, strides, dilations, pads)
        biases = [bias] if bias is not None else []
        if groups == channels > 1 and rank == 2 and filters % channels == 0 and all(d == 1 for d in dilations):
            # depthwise: source output channel c·m + j is input channel c's j-th filter, Keras' order too
            multiplier = filters // channels
            layer = layers.DepthwiseConv2D(kernel, strides=tuple(strides), padding=padding,
                                           depth_multiplier=multiplier, use_bias=bias is not None,
                                           name=self.name(where))
            weights = [weight.reshape(channels, multiplier, *kernel).transpose(2, 3, 0, 1)] + biases
        elif groups == 1 or all(d == 1 for d in dilations):
            cls = layers.Conv2D if rank == 2 else layers.Conv1D
            layer = cls(filters, kernel, strides=tuple(strides), padding=padding, dilation_rate=tuple(dilations),
                        use_bias=bias is not None, groups=groups, name=self.name(where))
            weights = [weight.transpose(*range(2, 2 + rank), 1, 0)] + biases
        else:
            raise self.fail(f"dilated grouped convolutions (group={groups}) are not supported")
        return Value(self._apply(layer, x.tensor, weights), x.perm)

    def pool(self, v: Value, kind: str, kernel, strides, pads, where: str, count_include_pad: bool = False,
             ceil_mode: bool = False) -> Value:
        rank = len(kernel)
        if rank not in (1, 2):
            raise self.fail(f"{rank}-D pooling is not supported (1-D and 2-D are)")
        x = self.channels_last(v, where)
        dims = x.tensor.dims[:-1]
        padding = self.window_padding(dims, kernel, strides, [1] * rank, pads)
        if padding == "same" and kind == "avg" and count_include_pad:  # Keras' "same" leaves the pad out
            padding = tuple(zip(pads[:rank], pads[rank:]))
        pairs = padding if isinstance(padding, tuple) else None
        if ceil_mode and any((n + b + e - k) % s for n, k, s, b, e in zip(dims, kernel, strides, pads[:rank],
                                                                          pads[rank:])):
            raise self.fail("ceil_mode pooling that needs an extra output cell is not supported")
        if kind == "avg":
            if pairs and not count_include_pad and any(b != e for b, e in pairs):
                raise self.fail(f"average pooling over uneven pads {pads} that leaves the padded cells out "
                                "is not supported (even pads, or counting them, are)")
            cls = layers.AveragePooling1D if rank == 1 else layers.AveragePooling2D
            layer = cls(tuple(kernel), tuple(strides), padding, count_include_pad=bool(count_include_pad and pairs),
                        name=self.name(where))
        else:
            cls = layers.MaxPooling1D if rank == 1 else layers.MaxPooling2D
            layer = cls(tuple(kernel), tuple(strides), padding, name=self.name(where))
        return Value(self._apply(layer, x.tensor), x.perm)

    def global_pool(self, v: Value, kind: str, keepdims: bool, where: str) -> Value:
        x = self.channels_last(v, where)
        spatial = x.rank - 2
        cls = {("avg", 1): layers.GlobalAveragePooling1D, ("avg", 2): layers.GlobalAveragePooling2D,
               ("max", 1): layers.GlobalMaxPooling1D, ("max", 2): layers.GlobalMaxPooling2D}.get((kind, spatial))
        if cls is None:
            raise self.fail(f"global pooling over {spatial} spatial axes is not supported")
        out = self._apply(cls(name=self.name(where)), x.tensor)
        return Value(out, (0, 1, *([None] * spatial if keepdims else [])))

    def batch_norm(self, v: Value, gamma, beta, mean, variance, epsilon: float, momentum: float, where: str) -> Value:
        x = self.canonical(v, where) if v.rank == 2 else self.channels_last(v, where)
        layer = layers.BatchNormalization(momentum=float(momentum), epsilon=float(epsilon), name=self.name(where))
        return Value(self._apply(layer, x.tensor, [gamma, beta, mean, variance]), x.perm)

    def activation(self, v: Value, kind: str, where: str, alpha: float | None = None) -> Value:
        v = self.laid_out(v, where)
        if kind == "leaky_relu":
            layer = layers.LeakyReLU(float(alpha), name=self.name(where))
        elif kind == "elu" and alpha not in (None, 1.0):
            layer = layers.ELU(float(alpha), name=self.name(where))
        else:
            layer = layers.Activation(kind, name=self.name(where))
        return Value(self._apply(layer, v.tensor), v.perm)

    def softmax(self, v: Value, axis: int, where: str, log: bool = False) -> Value:
        v = self.laid_out(v, where)
        axis = axis % v.rank
        if v.perm[axis] != len(v.tensor.dims):  # the DSL's softmax runs over its last axis
            v = self.arranged(v, [i for i in range(v.rank) if i not in (v.batch_axis, axis)] + [axis], where)
        layer = layers.Activation("log_softmax", name=self.name(where)) if log else layers.Softmax(name=self.name(where))
        return Value(self._apply(layer, v.tensor), v.perm)

    def dropout(self, v: Value, rate: float, where: str) -> Value:
        v = self.laid_out(v, where)
        if rate == 0:
            return v
        return Value(self._apply(layers.Dropout(float(rate), name=self.name(where)), v.tensor), v.perm)

    def merge(self, kind: str, values: list[Value], where: str) -> Value:
        first = self.laid_out(values[0], where)
        others = [self.same_layout(v, first, where) for v in values[1:]]
        if any(o.tensor.dims != first.tensor.dims for o in others):
            raise self.fail(f"{kind} of shapes {[v.shape for v in values]}: only equal shapes are supported "
                            "(no broadcasting)")
        cls = {"add": layers.Add, "subtract": layers.Subtract, "multiply": layers.Multiply,
               "maximum": layers.Maximum, "average": layers.Average}[kind]
        return Value(self._apply(cls(name=self.name(where)), [first.tensor] + [o.tensor for o in others]), first.perm)

    def concat(self, values: list[Value], axis: int, where: str) -> Value:
        first = self.laid_out(values[0], where)
        axis = axis % first.rank
        if first.perm[axis] is None:
            first = self.canonical(first, where)
        others = [self.same_layout(v, first, where) for v in values[1:]]
        out = self._apply(layers.Concatenate(axis=first.perm[axis], name=self.name(where)),
                          [first.tensor] + [o.tensor for o in others])
        return Value(out, first.perm)

    def zero_pad2d(self, v: Value, pads: tuple[tuple[int, int], tuple[int, int]], where: str) -> Value:
        x = self.channels_last(v, where)
        return Value(self._apply(layers.ZeroPadding2D(pads, name=self.name(where)), x.tensor), x.perm)

    def embedding(self, v: Value, table: np.ndarray, where: str) -> Value:
        x = self.canonical(v, where)
        if x.rank != 2:
            raise self.fail(f"embedding lookups take (batch, steps) ids, got shape {v.shape}")
        layer = layers.Embedding(table.shape[0], table.shape[1], name=self.name(where))
        return Value(self._apply(layer, x.tensor, [table]), (0, 1, 2))

    def recurrent(self, kind: str, v: Value, steps_axis: int, features_axis: int, directions: list[list[np.ndarray]],
                  units: int, return_sequences: bool, where: str, go_backwards: bool = False) -> SymbolicTensor:
        """An LSTM/GRU over `v` from its steps and features axes; `directions` holds the Keras weights of the
        forward and, for a bidirectional layer, the backward pass. Returns (N, T, dirs·H) or (N, dirs·H)."""
        x = self.arranged(v, [steps_axis, features_axis], where)
        cls = {"LSTM": layers.LSTM, "GRU": layers.GRU}[kind]
        inner = cls(units, return_sequences=return_sequences, go_backwards=go_backwards,
                    name=self.name(where if len(directions) == 1 else f"{where}_forward"))
        layer = inner if len(directions) == 1 else layers.Bidirectional(inner, name=self.name(where))
        return self._apply(layer, x.tensor, [w for direction in directions for w in direction])
