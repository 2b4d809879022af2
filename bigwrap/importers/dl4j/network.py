"""A DL4J network (MultiLayerConfiguration or ComputationGraphConfiguration + flat parameters) as a bigwrap model.

The model takes and returns DL4J's own layouts — [N, C, H, W] images, [N, size, time] sequences, flat rows where a
FeedForwardToCnn preprocessor reshaped them — and converts to bigwrap's channels-last layouts inside, with Permute
and Reshape layers at its edges and where DL4J's preprocessors sit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

import numpy as np

from ... import layers as L
from ...layers.base import SymbolicTensor
from ...models import Model
from .._graph import unique_name
from . import layers as convert, recurrent
from .config import Dl4jGraph, Dl4jLayer, Formats, inner_layer

LAYERS = {**convert.LAYERS, **recurrent.LAYERS}
_FEED_FORWARD_FIRST = ("DenseLayer", "OutputLayer", "BatchNormalization", "ActivationLayer", "LossLayer")
_RECURRENT_FIRST = ("LSTM", "GravesLSTM", "GravesBidirectionalLSTM", "SimpleRnn", "Bidirectional", "RnnOutputLayer")


@dataclass
class Flow:
    """The tensor so far, in bigwrap's layout, its DL4J kind ("ff", "cnn", "rnn" or "ff_time") and the network's
    DL4J array layouts (`Formats`)."""
    tensor: SymbolicTensor
    kind: str
    formats: Formats

    @property
    def dl4j_shape(self) -> tuple:
        dims = self.tensor.dims
        if self.kind == "cnn" and not self.formats.channels_last_images:
            return (None, dims[2], dims[0], dims[1])
        if self.kind == "rnn" and not self.formats.steps_first_sequences:
            return (None, dims[1], dims[0])
        return (None, *dims)


class Placement:
    """Where one bigwrap weight's values sit in DL4J's flat vector (an index per element), and an optional
    element-wise (to bigwrap, back to DL4J) transform for values DL4J stores differently."""

    def __init__(self, owner: str, name: str, index: np.ndarray, transform=None):
        self.owner, self.name, self.index, self.transform = owner, name, index.astype(np.int64), transform


class Builder:
    """Collects the bigwrap layers, their unique names, each DL4J layer's parameter function and loss."""

    def __init__(self, formats: Formats):
        self.formats = formats
        self.taken: set[str] = set()
        self.param_functions: list[tuple[Dl4jLayer, object]] = []
        self.losses: dict[str, str | None] = {}

    def name(self, layer: Dl4jLayer | str, suffix: str | None = None) -> str:
        # DL4J's own default names: "layer3" for the fourth layer of a MultiLayerNetwork, the vertex name in a graph.
        default = lambda where: re.sub(r"^layer (\d+)$", r"layer\1", re.sub(r"^vertex '(.*)'$", r"\1", where))
        base = str(layer if isinstance(layer, str) else (layer.get("layerName") or default(layer.where)))
        return unique_name(f"{base}_{suffix}" if suffix else base, self.taken)

    @staticmethod
    def apply(layer: L.Layer, flow: Flow) -> Flow:
        return Flow(layer(flow.tensor), flow.kind, flow.formats)

    @staticmethod
    def with_kind(flow: Flow, kind: str) -> Flow:
        return Flow(flow.tensor, kind, flow.formats)

    @staticmethod
    def expect(layer: Dl4jLayer, flow: Flow, kinds: tuple[str, ...], why: str | None = None) -> Flow:
        if flow.kind not in kinds:
            names = {"ff": "feed-forward [N, features]", "cnn": "convolutional [N, C, H, W]",
                     "rnn": "recurrent [N, size, time]", "ff_time": "feed-forward per time step"}
            hint = {"cnn": "; DL4J needs a CnnToFeedForwardPreProcessor here",
                    "rnn": "; DL4J needs an RnnToFeedForwardPreProcessor here"}.get(flow.kind, "") if "ff" in kinds else ""
            raise layer.fail(f"{why or 'takes ' + ' or '.join(names[k] for k in kinds) + ' input'}, but receives "
                             f"{names[flow.kind]} input of shape {flow.dl4j_shape}{hint}")
        return flow

    def to_channels_last(self, flow: Flow, layer: Dl4jLayer | str) -> Flow:
        """[C, H, W] images (DL4J's NCHW) as bigwrap's [H, W, C]; NHWC networks have them already."""
        if self.formats.channels_last_images:
            return flow
        return self.apply(L.Permute((2, 3, 1), name=self.name(layer, "to_nhwc")), flow)

    def from_channels_last(self, flow: Flow, layer: Dl4jLayer | str) -> Flow:
        if self.formats.channels_last_images:
            return flow
        return self.apply(L.Permute((3, 1, 2), name=self.name(layer, "to_nchw")), flow)

    def params(self, layer: Dl4jLayer, function) -> None:
        self.param_functions.append((layer, function))

    def loss(self, layer: Dl4jLayer) -> None:
        self.losses[layer.where] = layer.loss

    def placements(self, size: int) -> list[Placement]:
        """Runs every parameter function on the positions 0..size-1: each weight learns its flat indices."""
        positions = np.arange(size, dtype=np.float64)
        placements, used = [], 0

        def take(layer: Dl4jLayer, shape: tuple[int, ...], order: str = "C") -> np.ndarray:
            """The layer's next parameters in DL4J's order, reshaped 'c' or 'f'."""
            nonlocal used
            count = int(np.prod(shape))
            if used + count > size:
                raise layer.fail(f"needs parameters {used}..{used + count - 1}, but the flat parameter vector "
                                 f"(coefficients.bin) holds {size} values")
            used += count
            return positions[used - count:used].reshape(shape, order=order)

        for layer, function in self.param_functions:
            for owner, name, index, *transform in function(partial(take, layer)):
                placements.append(Placement(owner, name, index, transform[0] if transform else None))
        if used != size:
            raise ValueError(f"DL4J model: coefficients.bin holds {size} parameters but the configuration's layers "
                             f"have {used}; the configuration and the parameters do not belong together")
        return placements


def convert_layer(layer: Dl4jLayer, flow: Flow, net: Builder) -> Flow:
    if layer.cls in ("FrozenLayer", "FrozenLayerWithBackprop"):  # a wrapper around the real layer
        layer = inner_layer(layer.get("layer"), layer.where, layer.preprocessor)
    converter = LAYERS.get(layer.cls)
    if converter is None:
        raise layer.fail(f"is not supported by bigwrap's importer (supported: {', '.join(sorted(LAYERS))})")
    flow = convert.preprocess(layer, flow, net)
    keep = convert.retain_probability(layer)
    if keep is not None:
        flow = net.apply(L.Dropout(1.0 - keep, name=net.name(layer, "dropout")), flow)
    return converter(layer, flow, net)


def _input_for(layer: Dl4jLayer, given, what: str, formats: Formats) -> tuple[tuple[int, ...], str]:
    """The DL4J input shape (no batch axis) and kind feeding `layer`: given, or read from its preprocessor / nIn."""
    if given is not None:
        shape = tuple(int(d) for d in given)
        if not shape or len(shape) > 3 or min(shape) <= 0:
            raise ValueError(f"input_shape for {what} must be DL4J's shape without the batch axis: (features,), "
                             f"(size, time_steps) or (channels, height, width); got {given!r}")
        return shape, {1: "ff", 2: "rnn", 3: "cnn"}[len(shape)]
    pre = layer.preprocessor
    if pre and pre[0] == "FeedForwardToCnnPreProcessor":
        return (int(pre[1]["numChannels"]) * int(pre[1]["inputHeight"]) * int(pre[1]["inputWidth"]),), "ff"
    if pre and pre[0] == "CnnToFeedForwardPreProcessor":
        chw = (int(pre[1]["numChannels"]), int(pre[1]["inputHeight"]), int(pre[1]["inputWidth"]))
        return (chw[1:] + chw[:1] if formats.channels_last_images else chw), "cnn"
    if not pre and layer.cls == "EmbeddingLayer":
        return (1,), "ff"
    if not pre and layer.cls == "EmbeddingSequenceLayer" and layer.get("inputLength"):
        return (int(layer.get("inputLength")),), "ff"
    if not pre and layer.cls in _FEED_FORWARD_FIRST and layer.get("nin"):
        return (int(layer.get("nin")),), "ff"
    example = (("(time_steps, size)" if formats.steps_first_sequences else "(size, time_steps)")
               if layer.cls in _RECURRENT_FIRST else
               "(height, width, channels)" if formats.channels_last_images else "(channels, height, width)")
    raise ValueError(f"DL4J stores no input type for a network whose {what} feeds {layer.where} ({layer.cls}); pass "
                     f"input_shape={example}, the shape of DL4J's input arrays without the batch axis")


def _input(name: str, shape: tuple[int, ...], kind: str, net: Builder) -> tuple[SymbolicTensor, Flow]:
    source = L.Input(shape, name=net.name(name))
    flow = Flow(source, kind, net.formats)
    if kind == "cnn":
        flow = net.to_channels_last(flow, name)
    elif kind == "rnn" and not net.formats.steps_first_sequences:
        flow = net.apply(L.Permute((2, 1), name=net.name(name, "to_steps")), flow)
    return source, flow


def _output(flow: Flow, last: Dl4jLayer | str, net: Builder) -> SymbolicTensor:
    """Back to DL4J's layout at a network output (`last`: the layer or vertex name producing it)."""
    if flow.kind == "cnn":
        flow = net.from_channels_last(flow, last)
    elif flow.kind == "rnn" and not net.formats.steps_first_sequences:
        flow = net.apply(L.Permute((2, 1), name=net.name(last, "to_size_time")), flow)
    elif flow.kind == "ff_time":
        where = last if isinstance(last, str) else last.where
        raise ValueError(f"DL4J {where}: the network ends in feed-forward rows per time step ([N·T, size], mixing "
                         "batch and time); end it with an RnnOutputLayer or a FeedForwardToRnnPreProcessor")
    return flow.tensor


def multilayer(layers: list[Dl4jLayer], input_shape, name: str) -> tuple[Model, Builder, list[str | None]]:
    net = Builder(Formats.of(layers))
    shape, kind = _input_for(layers[0], input_shape, "input", net.formats)
    source, flow = _input("input", shape, kind, net)
    for layer in layers:
        flow = convert_layer(layer, flow, net)
    output = _output(flow, layers[-1], net)
    return Model(source, output, name=name), net, [net.losses.get(layers[-1].where)]


def _graph_inputs(graph: Dl4jGraph, input_shape) -> dict[str, object]:
    if input_shape is None:
        return {name: None for name in graph.inputs}
    if isinstance(input_shape, dict):
        unknown = set(input_shape) - set(graph.inputs)
        if unknown:
            raise ValueError(f"input_shape names {sorted(unknown)}, which are not inputs of the graph {graph.inputs}")
        return {name: input_shape.get(name) for name in graph.inputs}
    shapes = [input_shape] if len(graph.inputs) == 1 else list(input_shape)
    if len(shapes) != len(graph.inputs):
        raise ValueError(f"the graph has inputs {graph.inputs}: give input_shape as a dict or one shape per input")
    return dict(zip(graph.inputs, shapes))


def computation_graph(graph: Dl4jGraph, input_shape, name: str) -> tuple[Model, Builder, list[str | None]]:
    net = Builder(Formats.of([v.layer or Dl4jLayer(f"vertex '{v.name}'", v.cls, {}, v.preprocessor)
                              for v in graph.vertices.values()]))
    given = _graph_inputs(graph, input_shape)
    sources, flows = [], {}
    for input_name in graph.inputs:
        consumers = [v for v in graph.vertices.values() if input_name in v.inputs and v.layer is not None]
        if not consumers and given[input_name] is None:
            raise ValueError(f"DL4J graph input '{input_name}' feeds no layer directly; pass its input_shape")
        shape, kind = _input_for(consumers[0].layer if consumers else None, given[input_name],
                                 f"input '{input_name}'", net.formats)
        source, flows[input_name] = _input(input_name, shape, kind, net)
        sources.append(source)
    for vertex_name in graph.order:
        vertex = graph.vertices[vertex_name]
        inputs = [flows[i] for i in vertex.inputs]
        where = f"vertex '{vertex_name}'"
        if vertex.layer is not None:
            if len(inputs) != 1:
                raise ValueError(f"DL4J {where} ({vertex.layer.cls}) takes {len(inputs)} inputs; merge them with a "
                                 "MergeVertex first")
            flows[vertex_name] = convert_layer(vertex.layer, inputs[0], net)
        elif vertex.cls in ("MergeVertex", "ElementWiseVertex"):
            flows[vertex_name] = _merge(vertex, inputs, where, net)
        elif vertex.cls == "PreprocessorVertex":
            flows[vertex_name] = convert.preprocess(Dl4jLayer(where, vertex.cls, {}, vertex.preprocessor), inputs[0], net)
        else:
            raise ValueError(f"DL4J {where}: graph vertex {vertex.cls} is not supported (LayerVertex, MergeVertex, "
                             "ElementWiseVertex, PreprocessorVertex)")
    outputs = [_output(flows[o], o, net) for o in graph.outputs]
    losses = [net.losses.get(f"vertex '{o}'") for o in graph.outputs]
    return Model(sources, outputs, name=name), net, losses


def _merge(vertex, inputs: list[Flow], where: str, net: Builder) -> Flow:
    kinds = {f.kind for f in inputs}
    if len(kinds) != 1:
        raise ValueError(f"DL4J {where} ({vertex.cls}) joins inputs of different kinds {sorted(kinds)}")
    if len(inputs) == 1:
        return inputs[0]
    if vertex.cls == "MergeVertex":
        axis = vertex.conf.get("mergeAxis")
        if axis not in (None, net.formats.feature_axis(inputs[0].kind)):
            raise ValueError(f"DL4J {where} (MergeVertex): mergeAxis {axis} is not supported (only the features, "
                             f"channels or size axis, {net.formats.feature_axis(inputs[0].kind)} here)")
        layer = L.Concatenate(axis=-1, name=net.name(vertex.name))
    else:
        op = str(vertex.conf.get("op", "Add")).lower()
        if op not in convert.ELEMENTWISE_OPS:
            raise ValueError(f"DL4J {where} (ElementWiseVertex): op {op} is not supported "
                             f"({', '.join(convert.ELEMENTWISE_OPS)})")
        layer = convert.ELEMENTWISE_OPS[op](name=net.name(vertex.name))
    return Flow(layer([f.tensor for f in inputs]), inputs[0].kind, net.formats)

