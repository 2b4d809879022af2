"""bigwrap.from_torch: a torch.nn.Module built from supported layers as an ordinary bigwrap Model.

The module is traced with torch.fx, so forward() may use functions (torch.flatten, F.relu, torch.cat,
`+`, x.view(x.size(0), -1), ...) as well as submodules. Weights are read from the module as it is.
"""
from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..models import Model
from ._graph import BATCH, GraphBuilder, Value, keras_same_pads
from ._torch_attention import TorchAttention
from ._torch_recurrent import _Recurrent


def from_torch(module, input_shape, name: str | None = None) -> Model:
    """Imports `module` given its input shape without the batch axis, in PyTorch's layout ((C, H, W) for
    images), or a list of shapes for several inputs. Image inputs become channels-last (H, W, C) inputs.
    Layers or functions without a bigwrap counterpart raise a ValueError naming each of them."""
    import torch
    import torch.fx

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    if not all(isinstance(s, (tuple, list)) and s and all(isinstance(d, int) and d > 0 for d in s) for s in shapes):
        raise ValueError(f"from_torch: input_shape must be a tuple of positive sizes without the batch axis, e.g. "
                         f"(1, 28, 28), or a list of them; got {input_shape!r}")
    if isinstance(module, torch.nn.TransformerEncoderLayer):  # fx keeps it whole (a leaf) only as a submodule
        module = torch.nn.Sequential(module)
    try:
        traced = torch.fx.symbolic_trace(module)
    except Exception as e:  # fx's own errors vary (control flow on tensors, unsupported Python)
        raise ValueError(f"cannot import the PyTorch module {type(module).__name__}: torch.fx cannot trace its "
                         f"forward ({type(e).__name__}: {e}); use plain layer calls without data-dependent "
                         "control flow") from None
    return _TorchImporter(traced, torch).build([tuple(s) for s in shapes], name or type(module).__name__)


class _TorchImporter:
    def __init__(self, traced, torch):
        self.traced, self.torch, self.nn = traced, torch, torch.nn
        self.builder = GraphBuilder("PyTorch")
        self.fail = self.builder.fail  # its errors name the node being imported
        nn, F = torch.nn, torch.nn.functional
        self.modules = {
            nn.Linear: self._linear, nn.Conv1d: self._conv, nn.Conv2d: self._conv,
            nn.MaxPool1d: self._pool_module, nn.MaxPool2d: self._pool_module, nn.AvgPool1d: self._pool_module,
            nn.AvgPool2d: self._pool_module, nn.AdaptiveAvgPool1d: self._adaptive, nn.AdaptiveAvgPool2d: self._adaptive,
            nn.AdaptiveMaxPool1d: self._adaptive, nn.AdaptiveMaxPool2d: self._adaptive,
            nn.BatchNorm1d: self._batch_norm, nn.BatchNorm2d: self._batch_norm,
            nn.ReLU: self._act("relu"), nn.Sigmoid: self._act("sigmoid"), nn.Tanh: self._act("tanh"),
            nn.SELU: self._act("selu"), nn.Softsign: self._act("softsign"), nn.Softplus: self._softplus,
            nn.ReLU6: self._act("relu6"), nn.SiLU: self._act("silu"),
            nn.Hardtanh: lambda m, x: self._hardtanh(x, m.min_val, m.max_val),
            nn.GELU: lambda m, x: self._gelu(x, m.approximate),
            nn.ELU: lambda m, x: self.builder.activation(x, "elu", self.where, alpha=m.alpha),
            nn.LeakyReLU: lambda m, x: self.builder.activation(x, "leaky_relu", self.where, alpha=m.negative_slope),
            nn.Softmax: lambda m, x: self.builder.softmax(x, -1 if m.dim is None else m.dim, self.where),
            nn.LogSoftmax: lambda m, x: self.builder.softmax(x, -1 if m.dim is None else m.dim, self.where, log=True),
            nn.Flatten: lambda m, x: self._flatten(x, m.start_dim, m.end_dim),
            nn.Dropout: lambda m, x: self.builder.dropout(x, m.p, self.where), nn.Identity: lambda m, x: x,
            nn.ZeroPad2d: self._zero_pad, nn.Embedding: self._embedding, nn.LSTM: self._rnn, nn.GRU: self._rnn}
        act = lambda kind: (lambda x, *a, **k: self.builder.activation(x, kind, self.where))
        flatten = lambda x, start_dim=0, end_dim=-1: self._flatten(x, start_dim, end_dim)
        unsqueeze = lambda x, dim: self.builder.unsqueeze(x, [dim % (x.rank + 1)], self.where)
        self.functions = {
            torch.flatten: flatten, torch.unsqueeze: unsqueeze, F.selu: act("selu"), F.softsign: act("softsign"),
            torch.relu: act("relu"), F.relu: act("relu"), torch.sigmoid: act("sigmoid"), torch.tanh: act("tanh"),
            F.elu: lambda x, alpha=1.0, *a, **k: self.builder.activation(x, "elu", self.where, alpha=alpha),
            F.leaky_relu: lambda x, negative_slope=0.01, *a, **k: self.builder.activation(x, "leaky_relu", self.where,
                                                                                       alpha=negative_slope),
            F.gelu: lambda x, approximate="none": self._gelu(x, approximate),
            F.softmax: self._softmax_fn(False), torch.softmax: self._softmax_fn(False),
            F.log_softmax: self._softmax_fn(True), torch.log_softmax: self._softmax_fn(True),
            torch.cat: self._cat, torch.concat: self._cat,
            operator.add: self._arith("add", operator.add), torch.add: self._arith("add", operator.add),
            operator.iadd: self._arith("add", operator.add), F.relu6: act("relu6"), F.silu: act("silu"),
            F.hardtanh: lambda x, min_val=-1.0, max_val=1.0, *a, **k: self._hardtanh(x, min_val, max_val),
            operator.sub: self._arith("subtract", operator.sub), operator.mul: self._arith("multiply", operator.mul),
            torch.mul: self._arith("multiply", operator.mul), torch.maximum: self._arith("maximum", max),
            operator.floordiv: self._arith(None, operator.floordiv),
            F.max_pool2d: self._pool_fn("max"), F.max_pool1d: self._pool_fn("max"),
            F.avg_pool2d: self._pool_fn("avg"), F.avg_pool1d: self._pool_fn("avg"),
            F.adaptive_avg_pool2d: lambda x, output_size: self._adaptive_pool(x, "avg", output_size),
            F.adaptive_max_pool2d: lambda x, output_size, return_indices=False: self._adaptive_pool(
                x, "max", output_size, indices=return_indices),
            F.dropout: lambda x, p=0.5, *a, **k: self.builder.dropout(x, p, self.where),
            torch.transpose: self._transpose, torch.permute: self._permute, torch.mean: self._mean,
            torch.reshape: lambda x, shape: self._view(x, *shape), torch.squeeze: self._squeeze,
            operator.getitem: self._getitem, getattr: self._getattr}
        self.methods = {
            "view": self._view, "reshape": self._view, "flatten": flatten, "unsqueeze": unsqueeze,
            "relu": act("relu"), "sigmoid": act("sigmoid"), "tanh": act("tanh"),
            "softmax": self._softmax_fn(False), "log_softmax": self._softmax_fn(True),
            "permute": lambda x, *dims: self._permute(x, dims[0] if len(dims) == 1 else dims),
            "transpose": self._transpose, "size": self._size, "squeeze": self._squeeze,
            "contiguous": lambda x: x, "float": lambda x: x, "mean": self._mean}
        self.where = ""
        # modules called with several tensors (query, key, value, masks)
        self.multi_input_modules = TorchAttention(self).handlers

    # -- the walk -------------------------------------------------------------------------------
    def describe(self, node) -> str | None:
        """What an unsupported node is, or None when it is supported."""
        if node.op == "call_module":
            cls = type(self.traced.get_submodule(node.target))
            known = cls in self.modules or cls in self.multi_input_modules
            return None if known else f"{cls.__module__}.{cls.__name__} (module '{node.target}')"
        if node.op == "call_function" and node.target not in self.functions:
            return f"{getattr(node.target, '__module__', '')}.{getattr(node.target, '__name__', node.target)} " \
                   f"(called in '{node.name}')"
        if node.op == "call_method" and node.target not in self.methods:
            return f"Tensor.{node.target} (called in '{node.name}')"
        return None

    def build(self, shapes: list[tuple[int, ...]], name: str) -> Model:
        graph = self.traced.graph
        unsupported = [d for d in map(self.describe, graph.nodes) if d]
        if unsupported:
            raise ValueError(f"cannot import the PyTorch module: unsupported {', '.join(unsupported)}")
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(shapes):
            raise ValueError(f"the module's forward takes {len(placeholders)} input(s) "
                             f"{[n.target for n in placeholders]}; input_shape gives {len(shapes)}")
        env: dict[Any, Any] = {}
        inputs, outputs = [], []
        for node in graph.nodes:
            self.where = node.name
            self.builder.context = f"'{node.name}' ({node.op} {getattr(node.target, '__name__', node.target)})"
            args = self.torch.fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = self.torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
            if node.target is not operator.getitem:  # only indexing looks inside a recurrent layer's outputs
                args, kwargs = (self.torch.fx.node.map_aggregate(
                    a, lambda v: v.value() if isinstance(v, _Recurrent.Lazy) else v) for a in (args, kwargs))
            if node.op == "placeholder":
                env[node] = self.builder.input(node.target, shapes[len(inputs)])
                inputs.append(env[node])
            elif node.op == "get_attr":
                env[node] = self.traced.get_parameter(node.target).detach().numpy()
            elif node.op == "call_module":
                module = self.traced.get_submodule(node.target)
                if type(module) in self.multi_input_modules:
                    env[node] = self.multi_input_modules[type(module)](module, args, kwargs, node.name)
                    continue
                if len(args) != 1 or kwargs:
                    raise self.fail("modules called with more than their input (e.g. initial states) are not supported")
                env[node] = self.modules[type(module)](module, args[0])
            elif node.op in ("call_function", "call_method"):
                handler = (self.functions if node.op == "call_function" else self.methods)[node.target]
                try:
                    env[node] = handler(*args, **kwargs)
                except TypeError as e:  # arguments the handler does not take: refuse, naming the call
                    raise self.fail(f"arguments it does not support ({e})") from None
            elif node.op == "output":
                results = args[0] if isinstance(args[0], (tuple, list)) else [args[0]]
                outputs = [(self.value(r), f"output{k}") for k, r in enumerate(results)]
        self.builder.context = ""
        return self.builder.model(inputs, outputs, name)

    def value(self, item) -> Value:
        if isinstance(item, _Recurrent.Lazy):
            return item.value()
        if not isinstance(item, Value):
            raise self.fail(f"expected a tensor computed from the inputs, got {type(item).__name__}")
        return item

    @staticmethod
    def weights(module, *names: str) -> list[np.ndarray | None]:
        return [None if getattr(module, n, None) is None else getattr(module, n).detach().numpy().astype(np.float32)
                for n in names]

    # -- modules --------------------------------------------------------------------------------
    def _act(self, kind: str):
        return lambda module, x: self.builder.activation(self.value(x), kind, self.where)

    def _softplus(self, module, x):
        if module.beta != 1:
            raise self.fail("only Softplus(beta=1) is supported")
        return self.builder.activation(self.value(x), "softplus", self.where)

    def _gelu(self, x, approximate: str):
        if approximate != "none":
            raise self.fail("only the exact GELU (approximate='none') is supported")
        return self.builder.activation(self.value(x), "gelu", self.where)

    def _hardtanh(self, x, low, high):
        kind = {(-1.0, 1.0): "hard_tanh", (0.0, 6.0): "relu6"}.get((float(low), float(high)))
        if kind is None:
            raise self.fail(f"hardtanh({low}, {high}) is supported for (-1, 1) and (0, 6) only")
        return self.builder.activation(self.value(x), kind, self.where)

    def _linear(self, module, x):
        kernel, bias = self.weights(module, "weight", "bias")
        return self.builder.dense(self.value(x), kernel.T.copy(), bias, self.where)

    def _conv(self, module, x):
        x = self.value(x)
        weight, bias = self.weights(module, "weight", "bias")
        rank = weight.ndim - 2
        if module.padding_mode != "zeros":
            raise self.fail(f"padding_mode={module.padding_mode!r} is not supported")
        if module.padding == "same":
            pairs = [keras_same_pads(n, k, 1, d) for n, k, d in zip(x.shape[2:], weight.shape[2:], module.dilation)]
        else:
            pairs = [(0, 0)] * rank if module.padding == "valid" else [(p, p) for p in module.padding]
        pads = [b for b, _ in pairs] + [e for _, e in pairs]
        return self.builder.conv(x, weight, bias, list(module.stride), pads, list(module.dilation), module.groups,
                                 self.where)

    def _pool_module(self, module, x):
        """MaxPool*d / AvgPool*d as the functions they call, with the same checks."""
        if "Max" in type(module).__name__:
            return self._pool_fn("max")(x, module.kernel_size, module.stride, module.padding, module.dilation,
                                        module.ceil_mode, module.return_indices)
        return self._pool_fn("avg")(x, module.kernel_size, module.stride, module.padding, module.ceil_mode,
                                    module.count_include_pad, getattr(module, "divisor_override", None))

    def _pool(self, x, kind, kernel, stride, padding, ceil_mode, count_include_pad):
        x = self.value(x)
        rank = x.rank - 2
        as_list = lambda v: list(v) if isinstance(v, (tuple, list)) else [v] * rank
        kernel = as_list(kernel)
        strides = as_list(stride) if stride not in (None, [], ()) else kernel
        pads = as_list(padding) * 2
        return self.builder.pool(x, kind, kernel, strides, pads, self.where,
                                 count_include_pad=bool(count_include_pad) and any(pads), ceil_mode=bool(ceil_mode))

    def _pool_fn(self, kind):
        """F.max_pool*d / F.avg_pool*d with their own argument orders (fx passes a module's arguments by position)."""
        def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
            if return_indices or np.any(np.asarray(dilation) != 1):
                raise self.fail("max pooling with indices or dilation is not supported")
            return self._pool(x, "max", kernel_size, stride, padding, ceil_mode, False)

        def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                     divisor_override=None):
            if divisor_override is not None:
                raise self.fail("average pooling with divisor_override is not supported")
            return self._pool(x, "avg", kernel_size, stride, padding, ceil_mode, count_include_pad)
        return max_pool if kind == "max" else avg_pool

    def _adaptive(self, module, x):
        return self._adaptive_pool(x, "max" if "Max" in type(module).__name__ else "avg", module.output_size)

    def _adaptive_pool(self, x, kind, output_size, indices=False):
        x = self.value(x)
        if indices:
            raise self.fail("adaptive max pooling with indices is not supported")
        sizes = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size] * (x.rank - 2)
        spatial = x.shape[2:]
        if all(s == 1 for s in sizes):
            return self.builder.global_pool(x, kind, True, self.where)
        if any(s is None or n % s for n, s in zip(spatial, sizes)):
            raise self.fail(f"adaptive pooling of {spatial} to {sizes} is not a plain pooling")
        kernel = [n // s for n, s in zip(spatial, sizes)]
        return self.builder.pool(x, kind, kernel, kernel, [0] * 2 * len(kernel), self.where)

    def _batch_norm(self, module, x):
        if not module.track_running_stats or module.momentum is None:
            raise self.fail("batch norm needs running statistics and a momentum")
        channels = module.num_features
        gamma, beta, mean, variance = self.weights(module, "weight", "bias", "running_mean", "running_var")
        gamma = np.ones(channels, np.float32) if gamma is None else gamma
        beta = np.zeros(channels, np.float32) if beta is None else beta
        return self.builder.batch_norm(self.value(x), gamma, beta, mean, variance, module.eps, 1 - module.momentum,
                                       self.where)

    def _zero_pad(self, module, x):
        left, right, top, bottom = module.padding
        return self.builder.zero_pad2d(self.value(x), ((top, bottom), (left, right)), self.where)

    def _embedding(self, module, x):
        if module.max_norm is not None:
            raise self.fail("Embedding(max_norm=...) is not supported")
        return self.builder.embedding(self.value(x), self.weights(module, "weight")[0], self.where)

    def _rnn(self, module, x):
        if getattr(module, "proj_size", 0):
            raise self.fail("LSTM projections (proj_size) are not supported")
        return _Recurrent(self, module, self.value(x), self.where).result()

    # -- functions and methods -----------------------------------------------------------------
    def _flatten(self, x, start_dim, end_dim):
        x = self.value(x)
        if start_dim % x.rank != 1 or end_dim % x.rank != x.rank - 1:
            raise self.fail("only flatten(start_dim=1, end_dim=-1) is supported")
        return self.builder.flatten(x, self.where)

    def _softmax_fn(self, log: bool):
        return lambda x, dim=None, *a, **k: self.builder.softmax(self.value(x), -1 if dim is None else dim,
                                                                 self.where, log=log)

    def _cat(self, tensors, dim=0):
        return self.builder.concat([self.value(t) for t in tensors], dim, self.where)

    def _arith(self, kind, python_op):
        def apply(a, b, *rest, **k):
            if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                return python_op(a, b)
            if kind is None or not all(isinstance(v, (Value, _Recurrent.Lazy)) for v in (a, b)):
                raise self.fail(f"arithmetic on {type(a).__name__} and {type(b).__name__} is not supported "
                                "(tensors only)")
            return self.builder.merge(kind, [self.value(a), self.value(b)], self.where)
        return apply

    def _transpose(self, x, a, b):
        x = self.value(x)
        axes = list(range(x.rank))
        axes[a % x.rank], axes[b % x.rank] = axes[b % x.rank], axes[a % x.rank]
        return self.builder.transpose(x, axes, self.where)

    def _permute(self, x, dims):
        x = self.value(x)
        return self.builder.transpose(x, [d % x.rank for d in dims], self.where)

    def _view(self, x, *shape):
        x = self.value(x)
        target = list(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else list(shape)
        if target and target[0] == -1 and BATCH not in target:
            target[0] = BATCH
        return self.builder.reshape(x, target, self.where)

    def _squeeze(self, x, dim=None):
        x = self.value(x)
        dims = [d for d, n in enumerate(x.shape) if n == 1] if dim is None else \
            [d % x.rank for d in (dim if isinstance(dim, (tuple, list)) else [dim])]
        return self.builder.squeeze(x, dims, self.where)

    def _size(self, x, dim=None):
        shape = self.value(x).shape
        return shape if dim is None else shape[dim]

    def _getattr(self, x, name):
        if name != "shape":
            raise self.fail(f"tensor attribute {name!r} is not supported")
        return self.value(x).shape

    def _mean(self, x, dim=None, keepdim=False, **k):
        x = self.value(x)
        dims = sorted(d % x.rank for d in (dim if isinstance(dim, (tuple, list)) else [dim]))
        if dim is None or dims != list(range(2, x.rank)):
            raise self.fail("only the mean over all spatial axes (global average pooling) is supported")
        return self.builder.global_pool(x, "avg", keepdim, self.where)

    def _getitem(self, x, index):
        if isinstance(x, (_Recurrent.Lazy, tuple, list)):
            return x[index]
        raise self.fail("indexing or slicing tensors is not supported (beyond out[:, -1] / h_n[-1] of a recurrent "
                        "layer)")

