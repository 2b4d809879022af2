"""The shape and constant arithmetic of ONNX graphs (what exporters write around the layers: Shape, Gather,
Reshape on sizes, constants), folded at import, or turned into bigwrap's shape layers where it applies to
computed tensors. A part of from_onnx's importer: its methods use the importer's helpers (arg, const, tensor,
put, attrs, axes, fail, builder, onnx)."""
from __future__ import annotations

import numpy as np

from ._graph import BATCH, Value


class OnnxShapeOps:
    def _Constant(self, node):
        attrs = self.attrs(node)
        if "value" in attrs:
            self.put(node, self.onnx.numpy_helper.to_array(attrs["value"]))
        else:
            key = next(k for k in ("value_float", "value_floats", "value_int", "value_ints") if k in attrs)
            self.put(node, np.array(attrs[key], dtype=np.float32 if "float" in key else np.int64))

    def _Identity(self, node):
        self.put(node, self.arg(node, 0))

    def _Cast(self, node):
        value, to = self.arg(node, 0), self.attrs(node)["to"]
        if isinstance(value, np.ndarray):
            return self.put(node, value.astype(self.onnx.helper.tensor_dtype_to_np_dtype(to)))
        # bigwrap computes in float32: a cast to float or double keeps every value, any other would change them
        if to not in (self.onnx.TensorProto.FLOAT, self.onnx.TensorProto.DOUBLE):
            raise self.fail(f"casting a computed tensor to {self.onnx.TensorProto.DataType.Name(to)} is not "
                            "supported (bigwrap computes in float32)")
        self.put(node, value)

    def _Shape(self, node):
        # 0 stands for the batch size: what a Reshape shape computed from it means by "copy this axis"
        self.put(node, np.array([0 if d == BATCH else d for d in self.tensor(node).shape], dtype=np.int64))

    def _Gather(self, node):
        data, indices = self.arg(node, 0), self.arg(node, 1)
        axis = self.attrs(node).get("axis", 0)
        if isinstance(data, np.ndarray) and isinstance(indices, np.ndarray):
            self.put(node, np.take(data, indices, axis=axis))
        elif isinstance(data, np.ndarray) and axis == 0 and data.ndim == 2:
            self.put(node, self.builder.embedding(indices, data.astype(np.float32), self.where(node)))
        else:
            raise self.fail("only embedding lookups (a constant table gathered by token ids) are supported")

    def _Unsqueeze(self, node):
        data, axes = self.arg(node, 0), self.axes(node, 1)
        if isinstance(data, np.ndarray):
            return self.put(node, np.expand_dims(data, tuple(axes)))
        rank = data.rank + len(axes)
        self.put(node, self.builder.unsqueeze(data, [a % rank for a in axes], self.where(node)))

    def _Squeeze(self, node):
        data, axes = self.arg(node, 0), self.axes(node, 1)
        if isinstance(data, np.ndarray):
            return self.put(node, np.squeeze(data, tuple(axes)))
        self.put(node, self.builder.squeeze(data, [a % data.rank for a in axes], self.where(node)))

    def _Slice(self, node):
        data = self.const(node, 0, "data (bigwrap slices constants only)")
        starts, ends = self.const(node, 1, "starts"), self.const(node, 2, "ends")
        axes = self.const(node, 3, "axes")
        steps = self.const(node, 4, "steps")
        index = [slice(None)] * data.ndim
        for k, axis in enumerate(axes if axes is not None else range(len(starts))):
            index[int(axis)] = slice(int(starts[k]), int(ends[k]), int(steps[k]) if steps is not None else 1)
        self.put(node, data[tuple(index)])

    def _Concat(self, node):
        parts = [self.values[name] for name in node.input]
        axis = self.attrs(node)["axis"]
        if all(isinstance(p, np.ndarray) for p in parts):
            return self.put(node, np.concatenate(parts, axis=axis))
        if not all(isinstance(p, Value) for p in parts):
            raise self.fail("joining computed tensors with constants is not supported")
        self.put(node, self.builder.concat(parts, axis, self.where(node)))

    def _Reshape(self, node):
        data, shape = self.arg(node, 0), [int(d) for d in self.const(node, 1, "shape")]
        if isinstance(data, np.ndarray):
            return self.put(node, data.reshape([data.shape[i] if d == 0 else d for i, d in enumerate(shape)]))
        source = data.shape
        target = [source[i] if d == 0 else d for i, d in enumerate(shape)]
        if target[0] == -1 and BATCH not in target:
            target[0] = BATCH
        self.put(node, self.builder.reshape(data, target, self.where(node)))

    def _Transpose(self, node):
        data = self.arg(node, 0)
        axes = self.attrs(node).get("perm")
        if isinstance(data, np.ndarray):
            return self.put(node, np.transpose(data, axes))
        self.put(node, self.builder.transpose(data, list(axes or reversed(range(data.rank))), self.where(node)))

    def _Flatten(self, node):
        data = self.tensor(node)
        axis = self.attrs(node).get("axis", 1)
        if axis % data.rank != 1 or axis == data.rank:
            raise self.fail(f"Flatten(axis={axis}) of shape {data.shape} mixes the batch axis into another "
                            "(only a flatten that keeps the batch axis alone, axis=1, is supported)")
        self.put(node, self.builder.flatten(data, self.where(node)))

    def _Div(self, node):
        a, b = self.arg(node, 0), self.arg(node, 1)
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            raise self.fail("division is supported between constants only")
        self.put(node, a // b if a.dtype.kind == "i" and b.dtype.kind == "i" else a / b)
