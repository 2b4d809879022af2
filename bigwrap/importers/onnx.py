"""bigwrap.from_onnx: an ONNX model as an ordinary bigwrap Model (spec + weights in Keras layouts)."""
from __future__ import annotations

import os
from functools import partialmethod
from typing import Any

import numpy as np

from .. import storage
from ..models import Model
from ._graph import GraphBuilder, Value, keras_same_pads
from ._onnx_attention import refuse_attention
from ._onnx_shapes import OnnxShapeOps
from ._recurrent import onnx_rnn_weights

_ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus",
                "Softsign": "softsign", "Selu": "selu", "Elu": "elu", "LeakyRelu": "leaky_relu", "Gelu": "gelu"}
_MERGES = {"Add": "add", "Sub": "subtract", "Mul": "multiply", "Max": "maximum", "Sum": "add", "Mean": "average"}
_NUMPY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}
_SHAPE_OPS = ("Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Cast", "Identity",
              "Transpose", "Flatten", "Div", "Slice")
_LAYER_OPS = ("Clip", "Gemm", "MatMul", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
              "BatchNormalization", "Softmax", "LogSoftmax", "Dropout", "LSTM", "GRU", "Pad", *_ACTIVATIONS, *_MERGES)
SUPPORTED = tuple(sorted(set(_SHAPE_OPS + _LAYER_OPS)))


def from_onnx(model: Any, name: str | None = None) -> Model:
    """Imports an ONNX model (a file path, its bytes, or an onnx.ModelProto) as a bigwrap Model.

    Image inputs (N, C, H, W) become channels-last (H, W, C) inputs, as everywhere in bigwrap; other
    inputs keep their layout. Operators without a bigwrap layer raise a ValueError naming each of them."""
    try:
        import onnx
    except ImportError:
        raise ImportError("bigwrap.from_onnx needs the onnx package: pip install onnx") from None
    if isinstance(model, (bytes, bytearray)):
        proto = onnx.load_from_string(bytes(model))
    elif isinstance(model, (str, os.PathLike)):
        with storage.local_copy(model) as local:  # a path on any store (bigwrap.storage)
            if not os.path.isfile(local):
                raise FileNotFoundError(f"no ONNX model file at {os.fspath(model)!r}")
            proto = onnx.load(local)
    elif isinstance(model, onnx.ModelProto):
        proto = model
    else:
        raise TypeError(f"from_onnx takes a path, bytes or an onnx.ModelProto, got {type(model).__name__}")
    return _OnnxImporter(proto, onnx).build(name or proto.graph.name or "onnx_model")


class _OnnxImporter(OnnxShapeOps):
    def __init__(self, proto, onnx):
        self.graph = proto.graph
        self.nodes = list(self.graph.node)  # one wrapper object per node: `skipped` holds their ids
        self.onnx = onnx
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.builder = GraphBuilder("ONNX")
        self.fail = self.builder.fail  # its errors name the node being imported
        self.values: dict[str, Value | np.ndarray] = {
            init.name: onnx.numpy_helper.to_array(init) for init in self.graph.initializer}
        self.consumers: dict[str, list] = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        for output in self.graph.output:
            self.consumers.setdefault(output.name, []).append(None)
        self.skipped: set[int] = set()

    def build(self, name: str) -> Model:
        refuse_attention(self.nodes, {i.name for i in self.graph.initializer}, self.where)
        unsupported = [f"{n.op_type} (node {self.where(n)!r})" for n in self.nodes
                       if n.op_type not in SUPPORTED or n.domain not in ("", "ai.onnx")]
        if unsupported:
            raise ValueError(f"cannot import the ONNX model: unsupported operator(s) {', '.join(unsupported)}. "
                             f"bigwrap imports {', '.join(SUPPORTED)}")
        inputs = []
        for graph_input in self.graph.input:
            if graph_input.name in self.values:
                continue  # an initializer listed as an input (older exporters)
            dims = [d.dim_value if d.HasField("dim_value") else None for d in graph_input.type.tensor_type.shape.dim]
            if len(dims) < 2 or any(d is None or d <= 0 for d in dims[1:]):
                users = sorted({n.op_type for n in self.consumers.get(graph_input.name, []) if n is not None})
                raise ValueError(f"cannot import ONNX input {graph_input.name!r} (of {', '.join(users) or 'no node'}) "
                                 f"of shape {dims}: bigwrap needs a batch axis first and fixed sizes for the others")
            elem = graph_input.type.tensor_type.elem_type
            if elem != self.onnx.TensorProto.FLOAT:
                raise ValueError(f"cannot import ONNX input {graph_input.name!r} of type "
                                 f"{self.onnx.TensorProto.DataType.Name(elem)}: bigwrap model inputs are float32 "
                                 "(shape, index and other integer arguments must be initializers)")
            self.values[graph_input.name] = value = self.builder.input(graph_input.name, tuple(dims[1:]))
            inputs.append(value)
        for node in self.nodes:
            if id(node) not in self.skipped:
                self.builder.context = f"{node.op_type} node {self.where(node)!r}"
                getattr(self, f"_{node.op_type}", self._default)(node)
        self.builder.context = ""
        outputs, about = [], {}
        for output in self.graph.output:
            value = self.values[output.name]
            makers = [f"{n.op_type} node {self.where(n)!r}" for n in self.nodes if output.name in n.output]
            if not isinstance(value, Value):
                raise ValueError(f"cannot import ONNX output {output.name!r} (of {', '.join(makers) or 'no node'}): "
                                 "it is a constant, computed from no model input")
            outputs.append((value, output.name))
            about[output.name] = f"output {output.name!r} (of {', '.join(makers) or 'an input'})"
        return self.builder.model(inputs, outputs, name, about)

    # -- helpers ------------------------------------------------------------------------------
    def where(self, node) -> str:
        return node.name or f"{node.op_type}_{node.output[0]}"

    def attrs(self, node) -> dict[str, Any]:
        """A node's attributes, strings (bytes in ONNX) decoded."""
        decode = lambda v: v.decode() if isinstance(v, bytes) else [decode(x) for x in v] if isinstance(v, list) else v
        return {a.name: decode(self.onnx.helper.get_attribute_value(a)) for a in node.attribute}

    def arg(self, node, k: int):
        return self.values[node.input[k]] if k < len(node.input) and node.input[k] else None

    def const(self, node, k: int, what: str) -> np.ndarray | None:
        value = self.arg(node, k)
        if value is not None and not isinstance(value, np.ndarray):
            raise self.fail(f"its {what} must be a constant (an initializer), not a computed tensor")
        return value

    def tensor(self, node, k: int = 0) -> Value:
        value = self.arg(node, k)
        if not isinstance(value, Value):
            raise self.fail(f"input {k} must be a tensor computed from the model's inputs")
        return value

    def used(self, node, k: int) -> bool:
        return k < len(node.output) and bool(node.output[k]) and bool(self.consumers.get(node.output[k]))

    def put(self, node, value, k: int = 0) -> None:
        self.values[node.output[k]] = value

    def axes(self, node, k: int) -> list[int]:
        axes = self.attrs(node).get("axes")
        return list(axes) if axes is not None else [int(a) for a in self.const(node, k, "axes")]

    # -- layers -------------------------------------------------------------------------------
    def _default(self, node):
        """Element-wise activations and merges."""
        if node.op_type in _ACTIVATIONS:
            attrs = self.attrs(node)
            kind = _ACTIVATIONS[node.op_type]
            if kind == "selu" and (abs(attrs.get("alpha", 1.6732632) - 1.6732632) > 1e-6 or
                                   abs(attrs.get("gamma", 1.0507010) - 1.0507010) > 1e-6):
                raise self.fail("only Selu's default alpha and gamma are supported")
            if kind == "gelu" and attrs.get("approximate", "none") != "none":
                raise self.fail("only the exact (erf) Gelu is supported")
            alpha = attrs.get("alpha", 0.01 if kind == "leaky_relu" else 1.0)
            return self.put(node, self.builder.activation(self.tensor(node), kind, self.where(node), alpha=alpha))
        parts = [self.values[name] for name in node.input]
        if all(isinstance(p, np.ndarray) for p in parts) and node.op_type in _NUMPY:
            return self.put(node, _NUMPY[node.op_type](*parts))
        if not all(isinstance(p, Value) for p in parts):
            raise self.fail("an operand is a constant; bigwrap merges computed tensors only (a constant bias is "
                            "supported after MatMul)")
        self.put(node, self.builder.merge(_MERGES[node.op_type], parts, self.where(node)))

    def _Clip(self, node):
        attrs = self.attrs(node)
        bounds = []
        for k, key, default in ((1, "min", -np.inf), (2, "max", np.inf)):
            value = self.const(node, k, key) if self.opset >= 11 else None
            bounds.append(float(np.ravel(value)[0]) if value is not None else float(attrs.get(key, default)))
        kind = {(0.0, 6.0): "relu6", (-1.0, 1.0): "hard_tanh", (0.0, np.inf): "relu"}.get(tuple(bounds))
        if kind is None:
            raise self.fail(f"Clip to [{bounds[0]}, {bounds[1]}] is supported for [0, 6] (ReLU6), [-1, 1] "
                            "(hard tanh) and [0, inf) (ReLU) only")
        self.put(node, self.builder.activation(self.tensor(node), kind, self.where(node)))

    def _dense(self, node, where: str, x: Value, kernel: np.ndarray, bias: np.ndarray | None):
        units = kernel.shape[1]
        if bias is not None:
            bias = np.broadcast_to(np.asarray(bias, np.float32).reshape(-1), (units,)).copy()
        self.put(node, self.builder.dense(x, kernel.astype(np.float32), bias, where))

    def _Gemm(self, node):
        attrs = self.attrs(node)
        x = self.tensor(node)
        if attrs.get("transA", 0):
            x = self.builder.transpose(x, [1, 0], self.where(node))
        kernel = self.const(node, 1, "B (the weight matrix)")
        kernel = (kernel.T if attrs.get("transB", 0) else kernel) * attrs.get("alpha", 1.0)
        bias = self.const(node, 2, "C (the bias)")
        if bias is not None and bias.size != 1 and bias.shape[-1:] != kernel.shape[1:]:
            raise self.fail(f"C of shape {bias.shape} is not a bias of the {kernel.shape[1]} outputs")
        if bias is not None and bias.ndim == 2 and bias.shape[0] != 1:
            if np.any(bias != bias[:1]):
                raise self.fail(f"C of shape {bias.shape} differs from row to row (a bias per row of the batch "
                                "is not a layer's weight)")
            bias = bias[0]
        self._dense(node, self.where(node), x, kernel, None if bias is None else bias * attrs.get("beta", 1.0))

    def _MatMul(self, node):
        kernel = self.const(node, 1, "second operand (the weight matrix)")
        if kernel.ndim != 2:
            raise self.fail(f"the weight matrix must be 2-D, got shape {kernel.shape}")
        x, bias, target = self.tensor(node), None, node
        users = self.consumers.get(node.output[0], [])
        if len(users) == 1 and users[0] is not None and users[0].op_type == "Add":
            add = users[0]
            other = self.values.get(add.input[1] if add.input[0] == node.output[0] else add.input[0])
            if isinstance(other, np.ndarray) and other.size == kernel.shape[1]:
                bias, target = other, add  # MatMul + Add(constant bias) is one Dense
                self.skipped.add(id(add))
        self._dense(target, self.where(node), x, kernel, bias)

    def _pads(self, node, attrs, spatial: tuple[int, ...], kernel, strides, dilations) -> list[int]:
        auto = attrs.get("auto_pad", "NOTSET")
        if auto in ("NOTSET", "VALID"):
            return list(attrs.get("pads", [0] * 2 * len(kernel))) if auto == "NOTSET" else [0] * 2 * len(kernel)
        if auto not in ("SAME_UPPER", "SAME_LOWER"):
            raise self.fail(f"auto_pad={auto} is not supported")
        pairs = [keras_same_pads(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilations)]
        if auto == "SAME_LOWER":  # the extra cell at the beginning
            pairs = [(e, b) for b, e in pairs]
        return [b for b, _ in pairs] + [e for _, e in pairs]

    def _Conv(self, node):
        x, attrs = self.tensor(node), self.attrs(node)
        weight = self.const(node, 1, "weight").astype(np.float32)
        bias = self.const(node, 2, "bias")
        rank = weight.ndim - 2
        kernel = list(attrs.get("kernel_shape", weight.shape[2:]))
        strides = list(attrs.get("strides", [1] * rank))
        dilations = list(attrs.get("dilations", [1] * rank))
        pads = self._pads(node, attrs, x.shape[2:], kernel, strides, dilations)
        self.put(node, self.builder.conv(x, weight, bias, strides, pads, dilations, attrs.get("group", 1),
                                         self.where(node)))

    def _pool(self, node, kind: str):
        x, attrs = self.tensor(node), self.attrs(node)
        if self.used(node, 1):
            raise self.fail("its Indices output is not supported")
        kernel = list(attrs["kernel_shape"])
        strides = list(attrs.get("strides", [1] * len(kernel)))
        if any(d != 1 for d in attrs.get("dilations", [1])):
            raise self.fail("dilated pooling is not supported")
        pads = self._pads(node, attrs, x.shape[2:], kernel, strides, [1] * len(kernel))
        self.put(node, self.builder.pool(x, kind, kernel, strides, pads, self.where(node),
                                         count_include_pad=bool(attrs.get("count_include_pad", 0)),
                                         ceil_mode=bool(attrs.get("ceil_mode", 0))))

    _MaxPool = partialmethod(_pool, kind="max")
    _AveragePool = partialmethod(_pool, kind="avg")

    def _global_pool(self, node, kind: str):
        self.put(node, self.builder.global_pool(self.tensor(node), kind, True, self.where(node)))

    _GlobalAveragePool = partialmethod(_global_pool, kind="avg")
    _GlobalMaxPool = partialmethod(_global_pool, kind="max")

    def _BatchNormalization(self, node):
        attrs = self.attrs(node)
        if attrs.get("training_mode", 0) or any(self.used(node, k) for k in (1, 2)):
            raise self.fail("only inference-mode batch normalization (one output) is supported")
        gamma, beta, mean, variance = (self.const(node, k, name).astype(np.float32)
                                       for k, name in enumerate(("scale", "B", "mean", "var"), start=1))
        self.put(node, self.builder.batch_norm(self.tensor(node), gamma, beta, mean, variance,
                                               attrs.get("epsilon", 1e-5), attrs.get("momentum", 0.9),
                                               self.where(node)))

    def _softmax(self, node, log: bool):
        x = self.tensor(node)
        axis = self.attrs(node).get("axis", -1 if self.opset >= 13 else 1)
        if self.opset < 13 and axis % x.rank != x.rank - 1:
            raise self.fail("before opset 13 softmax flattens from `axis`; only the last axis is supported")
        self.put(node, self.builder.softmax(x, axis, self.where(node), log=log))

    _Softmax = partialmethod(_softmax, log=False)
    _LogSoftmax = partialmethod(_softmax, log=True)

    def _Dropout(self, node):
        if self.used(node, 1):
            raise self.fail("its mask output is not supported")
        ratio = self.const(node, 1, "ratio")
        ratio = float(ratio) if ratio is not None else self.attrs(node).get("ratio", 0.5)
        self.put(node, self.builder.dropout(self.tensor(node), ratio, self.where(node)))

    def _Pad(self, node):
        x, attrs = self.tensor(node), self.attrs(node)
        pads = attrs.get("pads")
        pads = [int(p) for p in (pads if pads is not None else self.const(node, 1, "pads"))]
        axes = self.const(node, 3, "axes")
        if axes is not None:  # pads for these axes only (opset 18)
            full = [0] * 2 * x.rank
            for k, axis in enumerate(int(a) % x.rank for a in axes):
                full[axis], full[x.rank + axis] = pads[k], pads[len(axes) + k]
            pads = full
        value = self.const(node, 2, "constant_value")
        value = attrs.get("value") if value is None else value  # before opset 11 an attribute
        mode = attrs.get("mode", "constant")
        if (mode != "constant" or (value is not None and np.size(value) and float(np.ravel(value)[0]) != 0)
                or x.rank != 4 or any(pads[:2]) or any(pads[4:6]) or min(pads) < 0):
            raise self.fail(f"only zero padding of the height and width of (N, C, H, W) tensors is supported, "
                            f"got mode={mode}, pads={pads}, value={value}")
        self.put(node, self.builder.zero_pad2d(x, ((pads[2], pads[6]), (pads[3], pads[7])), self.where(node)))

    def _GRU(self, node):
        if not self.attrs(node).get("linear_before_reset", 0):
            raise self.fail("only linear_before_reset=1 is supported (Keras' and PyTorch's GRU, reset_after=True)")
        self._recurrent(node, "GRU", ["Sigmoid", "Tanh"])

    def _recurrent(self, node, kind: str, default_activations: list[str]):
        x, attrs = self.tensor(node), self.attrs(node)
        direction = attrs.get("direction", "forward")
        dirs = 2 if direction == "bidirectional" else 1
        activations = attrs.get("activations", [])
        problems = [p for p, bad in [
            ("custom activations", activations and activations != default_activations * dirs),
            ("clip", "clip" in attrs), ("input_forget", attrs.get("input_forget", 0)),
            ("sequence_lens", self.arg(node, 4) is not None), ("peepholes (P)", self.arg(node, 7) is not None),
            ("non-zero initial states", any(self.arg(node, k) is not None and np.any(self.const(node, k, "state"))
                                           for k in (5, 6))),
            ("its cell-state output Y_c", self.used(node, 2)),
            ("both Y and Y_h", self.used(node, 0) and self.used(node, 1)),
            ("a reverse-only layer's sequence output", direction == "reverse" and self.used(node, 0))] if bad]
        if problems:
            raise self.fail(f"not supported: {', '.join(problems)}")
        units = attrs["hidden_size"]
        w, r = self.const(node, 1, "W"), self.const(node, 2, "R")
        b = self.const(node, 3, "B")
        b = np.zeros((dirs, 2 * w.shape[1]), np.float32) if b is None else b
        weights = [onnx_rnn_weights(kind, w[d], r[d], b[d]) for d in range(dirs)]
        layout = attrs.get("layout", 0)
        sequences = self.used(node, 0)
        where = self.where(node)
        t = self.builder.recurrent(kind, x, 1 if layout else 0, 2, weights, units, sequences, where,
                                   go_backwards=direction == "reverse")
        if sequences:  # Y: (T, dirs, N, H), or (N, T, dirs, H) with layout=1
            t = self.builder.reshape_dsl(t, (t.dims[0], dirs, units), where) if dirs == 2 else t
            axes = {"T": 1, "N": 0, "H": 3 if dirs == 2 else 2, "D": 2 if dirs == 2 else None}
            order = "NTDH" if layout else "TDNH"
        else:  # Y_h: (dirs, N, H), or (N, dirs, H) with layout=1
            t = self.builder.reshape_dsl(t, (dirs, units), where) if dirs == 2 else t
            axes = {"N": 0, "D": 1 if dirs == 2 else None, "H": 2 if dirs == 2 else 1}
            order = "NDH" if layout else "DNH"
        self.put(node, Value(t, tuple(axes[a] for a in order)), 0 if sequences else 1)

    _LSTM = partialmethod(_recurrent, kind="LSTM", default_activations=["Sigmoid", "Tanh", "Tanh"])
