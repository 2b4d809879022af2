"""DL4J configuration JSON, modern (`"@class"`) and legacy (≤ 1.0.0-alpha wrapper objects, 0.5.x strings),
read into one plain form: layers and vertices with their simple DL4J class name and fields.

MultiLayerConfiguration: `confs[i].layer` plus `inputPreProcessors{"i": ...}`. ComputationGraphConfiguration:
`vertices{name: ...}`, `vertexInputs`, `networkInputs`, `networkOutputs` and, from 1.0.0-beta on,
`topologicalOrderStr`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Legacy wrapper names (DL4J's LegacyJsonFormat / LegacyLayerDeserializer) → class names, where they differ.
_LEGACY_LAYERS = {
    "autoEncoder": "AutoEncoder", "convolution": "ConvolutionLayer", "convolution1d": "Convolution1DLayer",
    "gravesLSTM": "GravesLSTM", "gravesBidirectionalLSTM": "GravesBidirectionalLSTM", "output": "OutputLayer",
    "rnnoutput": "RnnOutputLayer", "loss": "LossLayer", "dense": "DenseLayer", "subsampling": "SubsamplingLayer",
    "subsampling1d": "Subsampling1DLayer", "batchNormalization": "BatchNormalization",
    "localResponseNormalization": "LocalResponseNormalization", "embedding": "EmbeddingLayer",
    "activation": "ActivationLayer", "dropout": "DropoutLayer", "GlobalPooling": "GlobalPoolingLayer",
    "zeroPadding": "ZeroPaddingLayer", "zeroPadding1d": "ZeroPadding1DLayer",
    "ElementWiseMult": "ElementWiseMultiplicationLayer", "imageLSTM": "ImageLSTM", "gru": "GRU",
    "recursiveAutoEncoder": "RecursiveAutoEncoder"}
_LEGACY_PREPROCESSORS = {
    "cnnToFeedForward": "CnnToFeedForwardPreProcessor", "cnnToRnn": "CnnToRnnPreProcessor",
    "composableInput": "ComposableInputPreProcessor", "feedForwardToCnn": "FeedForwardToCnnPreProcessor",
    "feedForwardToRnn": "FeedForwardToRnnPreProcessor", "rnnToFeedForward": "RnnToFeedForwardPreProcessor",
    "rnnToCnn": "RnnToCnnPreProcessor"}
# Activation names, whatever the generation: "ActivationLReLU" (@class), "LReLU" (wrapper), "leakyrelu" (0.5.x).
_ACTIVATION_ALIASES = {"lrelu": "leakyrelu", "linear": "identity"}
# Loss names: "LossNegativeLogLikelihood" (@class), "NegativeLogLikelihood" (wrapper), "NEGATIVELOGLIKELIHOOD" (enum).
_LOSS_ALIASES = {"BINARYXENT": "XENT", "SQUARED_LOSS": "L2"}


@dataclass
class Activation:
    name: str                      # lower case, e.g. "relu", "leakyrelu", "softmax"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Dl4jLayer:
    """One DL4J layer: where it is (for messages), its simple class name and its fields as stored."""
    where: str
    cls: str
    conf: dict[str, Any]
    preprocessor: tuple[str, dict[str, Any]] | None = None

    def get(self, key: str, default: Any = None) -> Any:
        value = self.conf.get(key)
        return default if value is None else value

    @property
    def activation(self) -> Activation:
        return activation(self.conf.get("activationFn"), self.conf.get("activationFunction"), self.where)

    @property
    def loss(self) -> str | None:
        modern, legacy_enum = self.conf.get("lossFn"), self.conf.get("lossFunction")
        if isinstance(modern, dict) and modern:
            cls, _ = class_and_fields(modern, {}, "loss function")
            name = cls[len("Loss"):] if cls.startswith("Loss") else cls
        elif isinstance(legacy_enum, str):
            name = legacy_enum
        else:
            return None
        return _LOSS_ALIASES.get(name.upper(), name.upper())

    def fail(self, problem: str) -> ValueError:
        return ValueError(f"DL4J {self.where} ({self.cls}): {problem}")


@dataclass
class Dl4jVertex:
    """A ComputationGraph vertex: a layer (with its preprocessor) or another vertex type."""
    name: str
    cls: str
    conf: dict[str, Any]
    inputs: list[str]
    layer: Dl4jLayer | None = None
    preprocessor: tuple[str, dict[str, Any]] | None = None     # of a PreprocessorVertex


@dataclass
class Dl4jGraph:
    inputs: list[str]
    outputs: list[str]
    vertices: dict[str, Dl4jVertex]
    order: list[str]               # topological, inputs excluded: the order of the flat parameters


# Where DL4J (1.0.0-beta7 on) stores a layer's array layout: images NCHW / NHWC, sequences NCW / NWC.
_IMAGE_FORMAT_KEYS = ("cnn2dDataFormat", "cnn2DFormat", "dataFormat", "format")
_SEQUENCE_FORMAT_KEYS = ("rnnDataFormat", "outputFormat")
_NESTED_LAYER_KEYS = ("underlying", "fwd", "layer")


@dataclass(frozen=True)
class Formats:
    """The network's DL4J array layouts. DL4J keeps one per layer; a network mixing them is refused."""
    channels_last_images: bool = False     # NHWC, else NCHW
    steps_first_sequences: bool = False    # NWC [N, time, size], else NCW [N, size, time]

    @staticmethod
    def of(layers: list[Dl4jLayer]) -> "Formats":
        images, sequences = {}, {}
        for layer in layers:
            for conf in _with_nested(layer.conf):
                _collect(conf, _IMAGE_FORMAT_KEYS, ("NCHW", "NHWC"), layer.where, images)
                _collect(conf, _SEQUENCE_FORMAT_KEYS, ("NCW", "NWC"), layer.where, sequences)
            if layer.preprocessor:
                _collect(layer.preprocessor[1], _IMAGE_FORMAT_KEYS, ("NCHW", "NHWC"), f"{layer.where} preprocessor",
                         images)
        for found, what in ((images, "image"), (sequences, "sequence")):
            if len(set(found.values())) > 1:
                raise ValueError(f"DL4J configuration mixes {what} layouts ({found}); bigwrap imports networks "
                                 "with one layout for all their layers")
        return Formats("NHWC" in images.values(), "NWC" in sequences.values())

    def feature_axis(self, kind: str) -> int:
        """DL4J's axis of features, channels or size (MergeVertex's mergeAxis) for arrays of `kind`."""
        return {"cnn": 3 if self.channels_last_images else 1,
                "rnn": 2 if self.steps_first_sequences else 1}.get(kind, 1)


def _with_nested(conf: dict[str, Any]) -> list[dict[str, Any]]:
    nested = [conf[k] for k in _NESTED_LAYER_KEYS if isinstance(conf.get(k), dict)]
    return [conf] + [c for n in nested for c in _with_nested(n)]


def _collect(conf: dict[str, Any], keys: tuple[str, ...], values: tuple[str, ...], where: str, found: dict) -> None:
    for key in keys:
        value = conf.get(key)
        if isinstance(value, str) and value in values:
            found[f"{where} {key}"] = value


def class_and_fields(value: Any, legacy_names: dict[str, str], what: str) -> tuple[str, dict[str, Any]]:
    """`{"@class": "a.b.Name", ...}` or the legacy `{"wrapperName": {...}}` → ("Name", fields)."""
    if not isinstance(value, dict):
        raise ValueError(f"DL4J {what}: expected a JSON object, got {value!r}")
    if "@class" in value:
        return value["@class"].rsplit(".", 1)[-1], {k: v for k, v in value.items() if k != "@class"}
    if len(value) == 1:
        (key, fields), = value.items()
        if isinstance(fields, dict):
            return legacy_names.get(key, key), fields
    raise ValueError(f"DL4J {what}: cannot tell its class (no \"@class\" and not a legacy wrapper object): "
                     f"{sorted(value)[:6]}")


def activation(modern: Any, legacy_string: Any, where: str) -> Activation:
    if isinstance(modern, dict) and modern:
        cls, fields = class_and_fields(modern, {}, f"{where} activation")
        name = cls[len("Activation"):] if cls.startswith("Activation") and cls != "Activation" else cls
        params = {k: v for k, v in fields.items() if v is not None}
    elif isinstance(legacy_string, str):
        name, params = legacy_string, {}
    else:
        return Activation("identity")
    name = name.lower().replace("_", "")
    return Activation(_ACTIVATION_ALIASES.get(name, name), params)


def _layer(conf: dict[str, Any], where: str, preprocessor: Any) -> Dl4jLayer:
    if not isinstance(conf, dict) or "layer" not in conf:
        raise ValueError(f"DL4J {where}: the configuration has no `layer`")
    cls, fields = class_and_fields(conf["layer"], _LEGACY_LAYERS, where)
    return Dl4jLayer(where, cls, fields, _preprocessor(preprocessor, where))


def inner_layer(value: Any, where: str, preprocessor=None) -> Dl4jLayer:
    """A layer nested in another's config (Bidirectional's `fwd`, FrozenLayer's `layer`), either generation."""
    cls, fields = class_and_fields(value, _LEGACY_LAYERS, where)
    return Dl4jLayer(where, cls, fields, preprocessor)


def _preprocessor(value: Any, where: str) -> tuple[str, dict[str, Any]] | None:
    return class_and_fields(value, _LEGACY_PREPROCESSORS, f"{where} preprocessor") if value else None


def multilayer(root: dict[str, Any]) -> list[Dl4jLayer]:
    confs = root.get("confs")
    if not isinstance(confs, list) or not confs:
        raise ValueError("DL4J configuration: a MultiLayerConfiguration needs a non-empty `confs` list")
    preprocessors = root.get("inputPreProcessors") or {}
    unknown = [k for k in preprocessors if not str(k).isdigit() or int(k) >= len(confs)]
    if unknown:
        raise ValueError(f"DL4J configuration: input preprocessors for layers {unknown} that do not exist")
    return [_layer(conf, f"layer {i}", preprocessors.get(str(i))) for i, conf in enumerate(confs)]


def graph(root: dict[str, Any]) -> Dl4jGraph:
    inputs = list(root.get("networkInputs") or [])
    outputs = list(root.get("networkOutputs") or [])
    if not inputs or not outputs:
        raise ValueError("DL4J configuration: a ComputationGraphConfiguration needs `networkInputs` and "
                         "`networkOutputs`")
    vertex_inputs = root.get("vertexInputs") or {}
    vertices: dict[str, Dl4jVertex] = {}
    for name, value in (root.get("vertices") or {}).items():
        cls, fields = class_and_fields(value, {}, f"vertex '{name}'")
        vertex = Dl4jVertex(name, cls, fields, list(vertex_inputs.get(name) or []))
        if cls == "LayerVertex":
            vertex.layer = _layer(fields.get("layerConf") or {}, f"vertex '{name}'", fields.get("preProcessor"))
        elif cls == "PreprocessorVertex":
            vertex.preprocessor = _preprocessor(fields.get("preProcessor"), f"vertex '{name}'")
        vertices[name] = vertex
    for vertex in vertices.values():
        missing = [i for i in vertex.inputs if i not in vertices and i not in inputs]
        if missing:
            raise ValueError(f"DL4J vertex '{vertex.name}' takes {missing}, which is neither a vertex nor a "
                             "network input")
    stored = root.get("topologicalOrderStr")
    order = [n for n in stored if n in vertices] if stored else _topological_order(inputs, vertices)
    return Dl4jGraph(inputs, outputs, vertices, order)


def _topological_order(inputs: list[str], vertices: dict[str, Dl4jVertex]) -> list[str]:
    """DL4J's own sort (ComputationGraphConfiguration before `topologicalOrderStr` was stored): vertex indices
    are the inputs, then the vertices in file order; Kahn's algorithm with a FIFO queue, successors by index."""
    names = inputs + list(vertices)
    index = {n: i for i, n in enumerate(names)}
    pending = {index[v.name]: {index[i] for i in v.inputs} for v in vertices.values()}
    successors: dict[int, list[int]] = {}
    for target, sources in pending.items():
        for source in sources:
            successors.setdefault(source, []).append(target)
    queue = [i for i in range(len(inputs))] + [i for i, s in pending.items() if not s]
    order = []
    while queue:
        current = queue.pop(0)
        order.append(current)
        for target in sorted(successors.get(current, [])):
            pending[target].discard(current)
            if not pending[target]:
                queue.append(target)
    if len(order) != len(names):
        raise ValueError("DL4J configuration: the graph's vertices form a cycle")
    return [names[i] for i in order if i >= len(inputs)]
