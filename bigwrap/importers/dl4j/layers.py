"""Each DL4J layer and preprocessor as bigwrap layers, with its slice of DL4J's flat parameter vector in Keras layouts.

A converter gets the layer, the flow (the tensor so far in bigwrap's layout and its DL4J kind) and the network
builder; it applies bigwrap layers and registers a function that takes the layer's parameters from the flat
vector in DL4J's order. Kinds: "ff" (features,), "cnn" (height, width, channels), "rnn" (steps, size), and
"ff_time": feed-forward layers applied to every step after an RnnToFeedForward preprocessor, kept as (steps, size).
"""
from __future__ import annotations

import numpy as np

from ... import layers as L
from .._graph import keras_same_pads
from .config import Activation, Dl4jLayer, class_and_fields

_FUSED = {"identity": "linear", "tanh": "tanh", "sigmoid": "sigmoid", "softmax": "softmax", "softsign": "softsign",
          "softplus": "softplus", "selu": "selu", "hardtanh": "hard_tanh", "relu6": "relu6", "swish": "silu"}
ELEMENTWISE_OPS = {"add": L.Add, "subtract": L.Subtract, "product": L.Multiply, "average": L.Average, "max": L.Maximum}


def keras_activation(act: Activation, layer: Dl4jLayer):
    """A DL4J activation as an `activation=` name, or "linear" and a function making the activation layer (given
    its name) to apply after."""
    name, params = act.name, act.params
    if name in _FUSED:
        return _FUSED[name], None
    if name == "relu":
        maximum, threshold, slope = params.get("max"), params.get("threshold") or 0, params.get("negativeSlope") or 0
        if not threshold and maximum is None:
            return ("linear", lambda n: L.LeakyReLU(float(slope), name=n)) if slope else ("relu", None)
        if not threshold and not slope and maximum == 6:
            return "relu6", None
        raise layer.fail(f"ReLU with max={maximum}, threshold={threshold}, negativeSlope={slope} is not supported")
    if name == "leakyrelu":
        return "linear", lambda n: L.LeakyReLU(float(params.get("alpha", 0.01)), name=n)
    if name == "elu":
        alpha = float(params.get("alpha", 1.0))
        return ("elu", None) if alpha == 1.0 else ("linear", lambda n: L.ELU(alpha, name=n))
    raise layer.fail(f"activation '{name}' is not supported (supported: {', '.join(sorted({*_FUSED, 'relu', 'leakyrelu', 'elu'}))})")


def _activated(layer: Dl4jLayer, flow, make, net):
    """`flow` through the activation layer a weighted layer could not fuse, if any."""
    return net.apply(make(net.name(layer, "activation")), flow) if make else flow


def _activation_only(layer: Dl4jLayer, flow, net, suffix: str | None = None):
    fused, make = keras_activation(layer.activation, layer)
    name = net.name(layer, suffix)
    return net.apply(make(name) if make else L.Activation(fused, name=name), flow)


def retain_probability(layer: Dl4jLayer) -> float | None:
    """DL4J's dropout on the layer's input, as the probability of keeping a value (None: no dropout)."""
    modern = layer.conf.get("idropout")
    if isinstance(modern, dict) and modern:
        cls, fields = class_and_fields(modern, {}, f"{layer.where} dropout")
        if cls != "Dropout" or fields.get("p") is None:
            raise layer.fail(f"dropout {cls} is not supported (only Dropout with a fixed probability)")
        p = float(fields["p"])
    else:
        p = float(layer.conf.get("dropOut") or 0.0)
    return p if 0.0 < p < 1.0 else None


def _pair(value, default: tuple[int, int]) -> tuple[int, int]:
    if value is None:
        return default
    values = [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


class Window:
    """Kernel, strides, padding, dilation and ConvolutionMode of a convolution or subsampling layer."""

    def __init__(self, layer: Dl4jLayer, image: tuple[int, ...]):
        self.image = image
        self.kernel = _pair(layer.get("kernelSize"), (1, 1))
        self.strides = _pair(layer.get("stride"), (1, 1))
        self.pads = _pair(layer.get("padding"), (0, 0))
        self.dilation = _pair(layer.get("dilation"), (1, 1))
        self.mode = layer.get("convolutionMode", "Truncate")
        if self.mode not in ("Truncate", "Strict", "Same"):
            raise layer.fail(f"ConvolutionMode {self.mode} is not supported (Truncate, Strict, Same)")
        if self.mode == "Strict":
            for n, k, s, p, d in zip(image, self.kernel, self.strides, self.pads, self.dilation):
                if (n + 2 * p - (k - 1) * d - 1) % s:
                    raise layer.fail(f"ConvolutionMode Strict: kernel {self.kernel}, stride {self.strides}, padding "
                                     f"{self.pads} do not tile an input of {image[0]}x{image[1]} exactly "
                                     "(DL4J would reject this input too)")

    @property
    def explicit(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Truncate/Strict zero padding, as ZeroPadding2D's ((top, bottom), (left, right)), if any."""
        if self.mode == "Same" or self.pads == (0, 0):
            return None
        return (self.pads[0], self.pads[0]), (self.pads[1], self.pads[1])

    @property
    def padding(self) -> str:
        return "same" if self.mode == "Same" else "valid"


def features(layer: Dl4jLayer, flow) -> int:
    """nIn as stored, checked against what actually arrives."""
    arriving = flow.tensor.dims[-1]
    stored = layer.get("nin")
    if stored not in (None, 0) and int(stored) != arriving:
        raise layer.fail(f"expects nIn={stored} inputs but receives {arriving} (input shape {flow.dl4j_shape})")
    return arriving


# -- layers ------------------------------------------------------------------------------------------------------

def dense(layer: Dl4jLayer, flow, net):
    flow = net.expect(layer, flow, ("ff", "ff_time"))
    n_in, n_out = features(layer, flow), int(layer.get("nout"))
    use_bias = bool(layer.get("hasBias", True))
    fused, make = keras_activation(layer.activation, layer)
    inner = L.Dense(n_out, activation=fused, use_bias=use_bias, name=net.name(layer))
    owner = inner if flow.kind == "ff" else L.TimeDistributed(inner, name=inner.name)
    out = net.apply(owner, flow)

    def weights(take):
        entries = [(owner.name, "kernel", take((n_in, n_out), "F"))]
        return entries + ([(owner.name, "bias", take((n_out,)))] if use_bias else [])
    net.params(layer, weights)
    return _activated(layer, out, make, net)


def output(layer: Dl4jLayer, flow, net):
    if flow.kind == "ff_time":
        raise layer.fail("an OutputLayer after RnnToFeedForwardPreProcessor returns [N·T, nOut] rows that mix batch "
                         "and time; use RnnOutputLayer (DL4J's own advice) to import it")
    net.loss(layer)
    return dense(layer, flow, net)


def rnn_output(layer: Dl4jLayer, flow, net):
    flow = net.expect(layer, flow, ("rnn",))
    net.loss(layer)
    return net.with_kind(dense(layer, net.with_kind(flow, "ff_time"), net), "rnn")


def activation_layer(layer: Dl4jLayer, flow, net):
    if layer.activation.name == "softmax" and flow.kind in ("cnn", "rnn"):
        raise layer.fail("softmax on convolutional or recurrent activations is not supported in an ActivationLayer; "
                         "CnnLossLayer / RnnOutputLayer apply it over channels / size")
    return _activation_only(layer, flow, net)


def loss_layer(layer: Dl4jLayer, flow, net):
    kinds = {"LossLayer": ("ff",), "CnnLossLayer": ("cnn",), "RnnLossLayer": ("rnn",)}[layer.cls]
    flow = net.expect(layer, flow, kinds)
    net.loss(layer)
    # CnnLossLayer/RnnLossLayer apply the activation over channels/size: bigwrap's last axis here.
    return _activation_only(layer, flow, net)


def convolution(layer: Dl4jLayer, flow, net):
    flow = net.expect(layer, flow, ("cnn",))
    n_in, n_out = features(layer, flow), int(layer.get("nout"))
    window = Window(layer, flow.tensor.dims[:2])
    use_bias = bool(layer.get("hasBias", True))
    dilated = window.dilation != (1, 1)
    if dilated and (window.strides != (1, 1) or not use_bias):
        raise layer.fail("a dilated convolution needs stride 1 and a bias here (BigDL's dilated convolution)")
    if window.explicit:
        flow = net.apply(L.ZeroPadding2D(window.explicit, name=net.name(layer, "padding")), flow)
    fused, make = keras_activation(layer.activation, layer)
    conv = L.Conv2D(n_out, window.kernel, window.strides, window.padding, window.dilation, activation=fused,
                    use_bias=use_bias, name=net.name(layer))
    out = net.apply(conv, flow)

    def weights(take):
        bias = [(conv.name, "bias", take((n_out,)))] if use_bias else []
        kernel = take((n_out, n_in, *window.kernel)).transpose(2, 3, 1, 0)
        return [(conv.name, "kernel", kernel)] + bias
    net.params(layer, weights)
    return _activated(layer, out, make, net)


def depthwise(layer: Dl4jLayer, flow, net):
    """DepthwiseConvolution2D: b[nIn·m], W 'c' [kh, kw, nIn, m]; SeparableConvolution2D: b[nOut], depthwise W
    'c' [m, nIn, kh, kw], pointwise 'c' [nOut, nIn·m, 1, 1]."""
    flow = net.expect(layer, flow, ("cnn",))
    separable = layer.cls == "SeparableConvolution2D"
    n_in, multiplier = features(layer, flow), int(layer.get("depthMultiplier", 1))
    n_out = int(layer.get("nout")) if separable else n_in * multiplier
    window = Window(layer, flow.tensor.dims[:2])
    if window.dilation != (1, 1):
        raise layer.fail("dilation is not supported for depthwise and separable convolutions")
    use_bias = bool(layer.get("hasBias", True))
    if window.explicit:
        flow = net.apply(L.ZeroPadding2D(window.explicit, name=net.name(layer, "padding")), flow)
    fused, make = keras_activation(layer.activation, layer)
    args = dict(strides=window.strides, padding=window.padding, depth_multiplier=multiplier, activation=fused,
                use_bias=use_bias, name=net.name(layer))
    conv = L.SeparableConv2D(n_out, window.kernel, **args) if separable else L.DepthwiseConv2D(window.kernel, **args)
    out = net.apply(conv, flow)
    kh, kw = window.kernel

    def weights(take):
        bias = [(conv.name, "bias", take((n_out,)))] if use_bias else []
        if not separable:
            return [(conv.name, "kernel", take((kh, kw, n_in, multiplier)))] + bias
        depth = take((multiplier, n_in, kh, kw)).transpose(2, 3, 1, 0)
        point = take((n_out, n_in * multiplier, 1, 1)).transpose(2, 3, 1, 0)
        return [(conv.name, "depthwise_kernel", depth), (conv.name, "pointwise_kernel", point)] + bias
    net.params(layer, weights)
    return _activated(layer, out, make, net)


def subsampling(layer: Dl4jLayer, flow, net):
    flow = net.expect(layer, flow, ("cnn",))
    window = Window(layer, flow.tensor.dims[:2])
    if window.dilation != (1, 1):
        raise layer.fail("dilated pooling is not supported")
    kind = str(layer.get("poolingType", "MAX")).upper()
    pools = {"MAX": L.MaxPooling2D, "AVG": L.AveragePooling2D, "PNORM": L.LPPooling2D}
    if kind not in pools:
        raise layer.fail(f"poolingType {kind} is not supported (MAX, AVG, PNORM)")
    include_pads = bool(layer.get("avgPoolIncludePadInDivisor", True))
    pads, padding = window.explicit, window.padding
    if kind == "AVG" and window.mode == "Same" and include_pads:
        # DL4J's "Same" pads as Keras' does; zeros counted in the divisor, as DL4J ≤ 1.0.0-beta4 did
        pads = tuple(keras_same_pads(n, k, s) for n, k, s in zip(window.image, window.kernel, window.strides))
        padding = "valid"
    if pads and (kind == "MAX" or (kind == "AVG" and not include_pads)):
        raise layer.fail(f"{kind} pooling with explicit padding {window.pads} in mode {window.mode} is not supported "
                         "(use ConvolutionMode.Same, or pad with a ZeroPaddingLayer)")
    if pads and any(any(p) for p in pads):
        flow = net.apply(L.ZeroPadding2D(pads, name=net.name(layer, "padding")), flow)
    norm = {"p": float(layer.get("pnorm", 2))} if kind == "PNORM" else {}
    pool = pools[kind](pool_size=window.kernel, strides=window.strides, padding=padding, name=net.name(layer), **norm)
    return net.apply(pool, flow)


def global_pooling(layer: Dl4jLayer, flow, net):
    flow = net.expect(layer, flow, ("cnn", "rnn"))
    kind = str(layer.get("poolingType", "MAX")).upper()
    if not layer.get("collapseDimensions", True):
        raise layer.fail("collapseDimensions=false is not supported")
    dims = layer.get("poolingDimensions")
    expected = {"cnn": [1, 2] if net.formats.channels_last_images else [2, 3],
                "rnn": [1] if net.formats.steps_first_sequences else [2]}[flow.kind]
    if dims is not None and sorted(int(d) for d in dims) != expected:
        raise layer.fail(f"poolingDimensions {dims} is not supported for input {flow.dl4j_shape} (only {expected}: "
                         "over all positions)")
    classes = {("MAX", "cnn"): L.GlobalMaxPooling2D, ("AVG", "cnn"): L.GlobalAveragePooling2D,
               ("MAX", "rnn"): L.GlobalMaxPooling1D, ("AVG", "rnn"): L.GlobalAveragePooling1D}
    if (kind, flow.kind) not in classes:
        raise layer.fail(f"poolingType {kind} is not supported (MAX, AVG)")
    return net.with_kind(net.apply(classes[kind, flow.kind](name=net.name(layer)), flow), "ff")


def image_resize(layer: Dl4jLayer, flow, net):
    """ZeroPaddingLayer, Cropping2D and Upsampling2D: images resized by one bigwrap layer, without parameters."""
    flow = net.expect(layer, flow, ("cnn",))
    if layer.cls == "Upsampling2D":
        return net.apply(L.UpSampling2D(_pair(layer.get("size"), (2, 2)), name=net.name(layer)), flow)
    cls, key = (L.Cropping2D, "cropping") if layer.cls == "Cropping2D" else (L.ZeroPadding2D, "padding")
    values = [int(v) for v in (layer.get(key) or [0])]
    top, bottom, left, right = {1: values * 4, 2: [values[0]] * 2 + [values[1]] * 2, 4: values}.get(len(values), [0] * 4)
    return net.apply(cls(((top, bottom), (left, right)), name=net.name(layer)), flow)


def batch_normalization(layer: Dl4jLayer, flow, net):
    flow = net.expect(layer, flow, ("ff", "cnn", "ff_time"))
    n = flow.tensor.dims[-1]
    locked = bool(layer.get("lockGammaBeta", False))
    if locked and (float(layer.get("gamma", 1.0)) != 1.0 or float(layer.get("beta", 0.0)) != 0.0):
        raise layer.fail("lockGammaBeta with gamma != 1 or beta != 0 is not supported")
    bn = L.BatchNormalization(momentum=float(layer.get("decay", 0.9)), epsilon=float(layer.get("eps", 1e-5)),
                              center=not locked, scale=not locked, name=net.name(layer))
    out = net.apply(bn, flow)
    log_std = bool(layer.get("useLogStd", False))

    def weights(take):
        entries = [] if locked else [(bn.name, "gamma", take((n,))), (bn.name, "beta", take((n,)))]
        entries.append((bn.name, "moving_mean", take((n,))))
        variance = take((n,))
        # useLogStd stores log10 of the standard deviation: variance = (10^s)^2.
        transform = (lambda s: (10.0 ** s) ** 2, lambda v: np.log10(np.sqrt(v))) if log_std else None
        return entries + [(bn.name, "moving_variance", variance, transform)]
    net.params(layer, weights)
    return out


def embedding(layer: Dl4jLayer, flow, net):
    """EmbeddingLayer: [N, 1] ids → [N, nOut]; EmbeddingSequenceLayer: [N, T] ids → a sequence. W 'f' [nIn, nOut]."""
    flow = net.expect(layer, flow, ("ff",), "takes [N, 1] or [N, time] ids")
    sequence = layer.cls == "EmbeddingSequenceLayer"
    steps = flow.tensor.dims[0]
    if not sequence and steps != 1:
        raise layer.fail(f"takes one id per row ([N, 1]) but receives {flow.dl4j_shape}; EmbeddingSequenceLayer "
                         "takes sequences")
    if layer.get("hasBias", False):
        raise layer.fail("an embedding with a bias (hasBias=true) is not supported")
    n_in, n_out = int(layer.get("nin")), int(layer.get("nout"))
    table = L.Embedding(n_in, n_out, name=net.name(layer))
    out = net.apply(table, flow)
    net.params(layer, lambda take: [(table.name, "embeddings", take((n_in, n_out), "F"))])
    if sequence:
        out = net.with_kind(out, "rnn")
    else:
        out = net.apply(L.Reshape((n_out,), name=net.name(layer, "rows")), out)
    return out if layer.activation.name == "identity" else _activation_only(layer, out, net, "activation")


def passthrough(layer: Dl4jLayer, flow, net):
    """DropoutLayer: its dropout (on its input) is added like any layer's; at inference it is the identity."""
    return flow


LAYERS = {
    "DenseLayer": dense, "OutputLayer": output, "RnnOutputLayer": rnn_output, "ActivationLayer": activation_layer,
    "LossLayer": loss_layer, "CnnLossLayer": loss_layer, "RnnLossLayer": loss_layer, "DropoutLayer": passthrough,
    "ConvolutionLayer": convolution, "DepthwiseConvolution2D": depthwise, "SeparableConvolution2D": depthwise,
    "SubsamplingLayer": subsampling, "GlobalPoolingLayer": global_pooling, "ZeroPaddingLayer": image_resize,
    "Cropping2D": image_resize, "Upsampling2D": image_resize, "BatchNormalization": batch_normalization,
    "EmbeddingLayer": embedding, "EmbeddingSequenceLayer": embedding}


# -- preprocessors -----------------------------------------------------------------------------------------------

def preprocess(layer: Dl4jLayer, flow, net):
    """The layer's input preprocessor, if any, as layout layers (DL4J's layouts are kept at the model's edges)."""
    if layer.preprocessor is None:
        return flow
    cls, conf = layer.preprocessor
    if cls == "FeedForwardToCnnPreProcessor":
        if flow.kind == "cnn":
            return flow
        flow = net.expect(layer, flow, ("ff",), f"{cls} takes flat input")
        shape = (int(conf["numChannels"]), int(conf["inputHeight"]), int(conf["inputWidth"]))
        if net.formats.channels_last_images:
            shape = shape[1:] + shape[:1]
        if int(np.prod(shape)) != flow.tensor.dims[0]:
            raise layer.fail(f"{cls} reshapes to {list(shape)} but receives {flow.tensor.dims[0]} values")
        flow = net.apply(L.Reshape(shape, name=net.name(layer, "to_cnn")), flow)
        return net.with_kind(net.to_channels_last(flow, layer), "cnn")
    if cls == "CnnToFeedForwardPreProcessor":
        if flow.kind == "ff":
            return flow
        flow = net.expect(layer, flow, ("cnn",), f"{cls} takes convolutional input")
        # DL4J flattens its own layout in 'c' order: NCHW with channels varying slowest, NHWC as bigwrap does.
        flow = net.from_channels_last(flow, layer)
        return net.with_kind(net.apply(L.Flatten(name=net.name(layer, "flatten")), flow), "ff")
    if cls == "RnnToFeedForwardPreProcessor":
        return net.with_kind(net.expect(layer, flow, ("rnn",), f"{cls} takes recurrent input"), "ff_time")
    if cls == "FeedForwardToRnnPreProcessor":
        return net.with_kind(net.expect(layer, flow, ("ff_time",), f"{cls} follows an RnnToFeedForwardPreProcessor"),
                             "rnn")
    raise layer.fail(f"input preprocessor {cls} is not supported (FeedForwardToCnn, CnnToFeedForward, "
                     "RnnToFeedForward, FeedForwardToRnn)")
