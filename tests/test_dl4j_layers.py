"""DL4J layers the fixtures do not hold, in zips written here as DL4J writes them, against references that compute
DL4J's semantics from DL4J's own parameter layouts (PyTorch, float64): NCHW convolutions with [out, in, kh, kw]
kernels, DL4J's LSTM equations ([block input, forget, output, input modulation] gates, Graves' peepholes), graphs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bigwrap.importers.dl4j import load_network

from .dl4j_files import act, flat, layer, legacy, loss, multilayer, pre, write_model

RNG = np.random.default_rng(5)
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


def _random(*shape, scale=0.5):
    return RNG.normal(scale=scale, size=shape)


def _t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def _same(length, kernel, stride):
    out = -(-length // stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def _pad_same(x, kernel, stride):
    (top, bottom), (left, right) = (_same(x.shape[2 + i], kernel[i], stride[i]) for i in range(2))
    return F.pad(x, (left, right, top, bottom))


def _conv(k, s, mode, pads=(0, 0), **fields):
    return dict(kernelSize=list(k), stride=list(s), padding=list(pads), convolutionMode=mode, **fields)


class CnnNet:
    """Convolution (Same, stride 2) → BatchNormalization (log10 std) → AVG pool (Same, padding counted) →
    ZeroPadding → DepthwiseConvolution2D (Truncate, padding 1) → SeparableConvolution2D (Same) → Cropping2D →
    Upsampling2D → PNORM pool → MAX pool → CnnToFeedForward → Dense (leaky ReLU 0.1) → Output (softmax, MCXENT)."""
    input_shape = (2, 9, 8)

    def __init__(self):
        self.p = {"c_w": _random(4, 2, 3, 3), "c_b": _random(4), "gamma": 1 + _random(4, scale=0.1),
                  "beta": _random(4, scale=0.1), "mean": _random(4, scale=0.1), "log_std": _random(4, scale=0.2),
                  "d_b": _random(8), "d_w": _random(2, 2, 4, 2), "s_b": _random(3), "s_dw": _random(1, 8, 3, 3),
                  "s_pw": _random(3, 8, 1, 1), "f_w": _random(12, 6), "f_b": _random(6), "o_w": _random(6, 3),
                  "o_b": _random(3)}
        p = self.p
        self.params = flat((p["c_b"], "c"), (p["c_w"], "c"), (p["gamma"], "c"), (p["beta"], "c"), (p["mean"], "c"),
                           (p["log_std"], "c"), (p["d_b"], "c"), (p["d_w"], "c"), (p["s_b"], "c"), (p["s_dw"], "c"),
                           (p["s_pw"], "c"), (p["f_w"], "f"), (p["f_b"], "c"), (p["o_w"], "f"), (p["o_b"], "c"))
        self.config = multilayer([
            layer("ConvolutionLayer", nin=2, nout=4, activationFn=act("ReLU"), **_conv((3, 3), (2, 2), "Same")),
            layer("BatchNormalization", nin=4, nout=4, eps=1e-3, decay=0.9, useLogStd=True, lockGammaBeta=False),
            layer("SubsamplingLayer", poolingType="AVG", **_conv((2, 2), (1, 1), "Same")),
            layer("ZeroPaddingLayer", padding=[1, 0, 2, 1]),
            layer("DepthwiseConvolution2D", nin=4, nout=8, depthMultiplier=2, activationFn=act("TanH"),
                  **_conv((2, 2), (1, 1), "Truncate", (1, 1))),
            layer("SeparableConvolution2D", nin=8, nout=3, depthMultiplier=1, activationFn=act("Identity"),
                  **_conv((3, 3), (2, 2), "Same")),
            layer("Cropping2D", "org.deeplearning4j.nn.conf.layers.convolutional", cropping=[1, 0, 0, 1]),
            layer("Upsampling2D", size=[2, 2]),
            layer("SubsamplingLayer", poolingType="PNORM", pnorm=2, **_conv((2, 2), (2, 2), "Truncate")),
            layer("SubsamplingLayer", poolingType="MAX", avgPoolIncludePadInDivisor=False,
                  **_conv((2, 2), (1, 1), "Truncate")),
            layer("DenseLayer", nin=12, nout=6, activationFn=act("LReLU", alpha=0.1)),
            layer("OutputLayer", nin=6, nout=3, activationFn=act("Softmax"), lossFn=loss("MCXENT"))],
            {10: pre("CnnToFeedForwardPreProcessor", inputHeight=2, inputWidth=2, numChannels=3)})

    def forward(self, x, w, training=False):
        x = F.relu(F.conv2d(_pad_same(x, (3, 3), (2, 2)), w["c_w"], w["c_b"], stride=2))
        variance = (10.0 ** w["log_std"]) ** 2
        x = F.batch_norm(x, w["mean"], variance, w["gamma"], w["beta"], training=training, eps=1e-3)
        x = F.avg_pool2d(_pad_same(x, (2, 2), (1, 1)), 2, 1)
        x = F.pad(x, (2, 1, 1, 0))
        depthwise = w["d_w"].permute(2, 3, 0, 1).reshape(8, 1, 2, 2)        # [kh, kw, in, m] → channel c·m + j
        x = torch.tanh(F.conv2d(F.pad(x, (1, 1, 1, 1)), depthwise, w["d_b"], groups=4))
        separable = w["s_dw"].permute(1, 0, 2, 3).reshape(8, 1, 3, 3)       # [m, in, kh, kw]
        x = F.conv2d(F.conv2d(_pad_same(x, (3, 3), (2, 2)), separable, stride=2, groups=8), w["s_pw"], w["s_b"])
        x = x[:, :, 1:, :-1].repeat_interleave(2, 2).repeat_interleave(2, 3)
        x = F.max_pool2d(F.lp_pool2d(x.abs(), 2, 2), 2, 1)
        x = F.leaky_relu(x.reshape(len(x), -1) @ w["f_w"] + w["f_b"], 0.1)
        return torch.softmax(x @ w["o_w"] + w["o_b"], dim=1)


def test_convolutional_stack_predicts_as_dl4j_computes(spark, tmp_path):
    net = CnnNet()
    network = load_network(write_model(tmp_path / "cnn.zip", net.config, net.params), input_shape=net.input_shape)
    x = RNG.normal(size=(4, *net.input_shape))
    expected = net.forward(torch.tensor(x), {k: torch.tensor(v) for k, v in net.p.items()})
    np.testing.assert_allclose(network.model.predict(x.astype(np.float32)), expected.numpy(), **TOLERANCE)
    np.testing.assert_allclose(network.flat_params(), net.params, rtol=1e-6, atol=1e-7)  # log10 std via the variance
    assert network.model.input_shape == (None, 2, 9, 8)


def test_convolutional_stack_gradient_in_dl4j_layout(spark, tmp_path):
    net = CnnNet()
    network = load_network(write_model(tmp_path / "cnn.zip", net.config, net.params), input_shape=net.input_shape)
    x, labels = RNG.normal(size=(5, *net.input_shape)), np.eye(3)[[0, 2, 1, 1, 0]]
    statistics = ("mean", "log_std")     # DL4J parameters, yet no gradient reaches them
    weights = {k: torch.tensor(v) if k in statistics else _t(v) for k, v in net.p.items()}
    out = net.forward(torch.tensor(x), weights, training=True)
    (-(torch.tensor(labels) * torch.log(out)).sum()).backward()     # MCXENT summed over the rows
    order = ["c_b", "c_w", "gamma", "beta", "mean", "log_std", "d_b", "d_w", "s_b", "s_dw", "s_pw", "f_w", "f_b",
             "o_w", "o_b"]
    orders = {"f_w": "F", "o_w": "F"}
    expected = np.concatenate([np.zeros(weights[k].numel()) if k in statistics else weights[k].grad.numpy().ravel(order=orders.get(k, "C")) for k in order])
    got = network.flat_gradient(x.astype(np.float32), labels)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_cnn_loss_layer_returns_nchw_softmax_over_channels(spark, tmp_path):
    w, b = _random(4, 3, 2, 2), _random(4)
    config = multilayer([layer("ConvolutionLayer", nin=3, nout=4, activationFn=act("Identity"),
                               **_conv((2, 2), (1, 1), "Truncate")),
                         layer("CnnLossLayer", activationFn=act("Softmax"), lossFn=loss("MCXENT"))])
    model = load_network(write_model(tmp_path / "seg.zip", config, flat((b, "c"), (w, "c"))), input_shape=(3, 5, 5)).model
    x = RNG.normal(size=(2, 3, 5, 5))
    expected = torch.softmax(F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b)), dim=1)
    np.testing.assert_allclose(model.predict(x.astype(np.float32)), expected.numpy(), **TOLERANCE)


ACTIVATIONS = [("ReLU", {}, lambda z: np.maximum(z, 0)), ("LReLU", {"alpha": 0.2}, lambda z: np.where(z > 0, z, 0.2 * z)),
               ("TanH", {}, np.tanh), ("Sigmoid", {}, lambda z: 1 / (1 + np.exp(-z))), ("Identity", {}, lambda z: z),
               ("SoftSign", {}, lambda z: z / (1 + np.abs(z))), ("ELU", {"alpha": 1.0}, lambda z: np.where(z > 0, z, np.expm1(z))),
               ("ELU", {"alpha": 0.5}, lambda z: np.where(z > 0, z, 0.5 * np.expm1(z))),
               ("SoftPlus", {}, lambda z: np.log1p(np.exp(z))),
               ("SELU", {}, lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(z))),
               ("HardTanH", {}, lambda z: np.clip(z, -1, 1)), ("ReLU6", {}, lambda z: np.clip(z, 0, 6)),
               ("ReLU", {"max": 6.0}, lambda z: np.clip(z, 0, 6)), ("Swish", {}, lambda z: z / (1 + np.exp(-z)))]


@pytest.mark.parametrize("generation", ["modern", "legacy"])
def test_dl4j_activations(spark, tmp_path, generation):
    """A Dense layer per DL4J activation, as DL4J's activation classes compute them, then an identity output."""
    weights = [(_random(3, 3, scale=1.5), _random(3)) for _ in range(len(ACTIVATIONS) + 1)]
    layers = [layer("DenseLayer", nin=3, nout=3, activationFn=act(name, **params)) for name, params, _ in ACTIVATIONS]
    config = multilayer(layers + [layer("OutputLayer", nin=3, nout=3, activationFn=act("Identity"), lossFn=loss("MSE"))])
    config = legacy(config) if generation == "legacy" else config
    model = load_network(write_model(tmp_path / "acts.bin", config, flat(*[p for w, b in weights for p in
                                                                            ((w, "f"), (b, "c"))]))).model
    x = RNG.normal(size=(6, 3)) * 2
    h = x
    for (w, b), (_, _, fn) in zip(weights, ACTIVATIONS + [(None, None, lambda z: z)]):
        h = fn(h @ w + b)
    np.testing.assert_allclose(model.predict(x.astype(np.float32)), h, **TOLERANCE)


# -- recurrent -----------------------------------------------------------------------------------------------------

_ACT = {"TanH": np.tanh, "Sigmoid": lambda z: 1 / (1 + np.exp(-z)), "SoftSign": lambda z: z / (1 + np.abs(z))}


def _dl4j_lstm(x, w, rw, b, afn="TanH", gate="Sigmoid", reverse=False):
    """DL4J's LSTMHelpers.activateHelper: x [N, nIn, T]; gate blocks [a, f, o, g] along W's columns; with peepholes
    (RW has 4n+3 columns) f and g see c(t-1) through columns 4n and 4n+2, o sees c(t) through column 4n+1."""
    n, a_fn, g_fn = rw.shape[0], _ACT[afn], _ACT[gate]
    peep = rw.shape[1] == 4 * n + 3
    h, c = np.zeros((len(x), n)), np.zeros((len(x), n))
    out = np.zeros((len(x), n, x.shape[2]))
    for t in (reversed(range(x.shape[2])) if reverse else range(x.shape[2])):
        z = x[:, :, t] @ w + h @ rw[:, :4 * n] + b
        block = a_fn(z[:, :n])
        forget = g_fn(z[:, n:2 * n] + (c * rw[:, 4 * n] if peep else 0))
        modulation = g_fn(z[:, 3 * n:] + (c * rw[:, 4 * n + 2] if peep else 0))
        c = forget * c + modulation * block
        h = g_fn(z[:, 2 * n:3 * n] + (c * rw[:, 4 * n + 1] if peep else 0)) * a_fn(c)
        out[:, :, t] = h
    return out


def _dl4j_simple_rnn(x, w, rw, b, reverse=False):
    h, out = np.zeros((len(x), rw.shape[0])), np.zeros((len(x), rw.shape[0], x.shape[2]))
    for t in (reversed(range(x.shape[2])) if reverse else range(x.shape[2])):
        h = np.tanh(x[:, :, t] @ w + h @ rw + b)
        out[:, :, t] = h
    return out


def _lstm_params(n_in, n, peephole):
    return _random(n_in, 4 * n), _random(n, 4 * n + (3 if peephole else 0)), _random(4 * n)


def test_recurrent_stack_predicts_as_dl4j_computes(spark, tmp_path):
    """GravesLSTM → LSTM (softsign) → GravesBidirectionalLSTM → Bidirectional(SimpleRnn, CONCAT) → RnnOutputLayer."""
    graves, lstm = _lstm_params(3, 4, True), _lstm_params(4, 5, False)
    bi_f, bi_b = _lstm_params(5, 3, True), _lstm_params(5, 3, True)
    rnn_f, rnn_b = (_random(3, 2), _random(2, 2), _random(2)), (_random(3, 2), _random(2, 2), _random(2))
    out_w, out_b = _random(4, 3), _random(3)
    recurrent = "org.deeplearning4j.nn.conf.layers.recurrent"
    simple = layer("SimpleRnn", recurrent, nin=3, nout=2, activationFn=act("TanH"))
    config = multilayer([
        layer("GravesLSTM", nin=3, nout=4, activationFn=act("TanH"), gateActivationFn=act("Sigmoid")),
        layer("LSTM", nin=4, nout=5, activationFn=act("SoftSign"), gateActivationFn=act("Sigmoid")),
        layer("GravesBidirectionalLSTM", nin=5, nout=3, activationFn=act("TanH"), gateActivationFn=act("Sigmoid")),
        layer("Bidirectional", recurrent, mode="CONCAT", fwd=simple, bwd=simple),
        layer("RnnOutputLayer", nin=4, nout=3, activationFn=act("Softmax"), lossFn=loss("MCXENT"))])
    groups = [graves, lstm, bi_f, bi_b, rnn_f, rnn_b, (out_w, out_b)]
    params = flat(*[(a, "f" if a.ndim == 2 else "c") for group in groups for a in group])
    model = load_network(write_model(tmp_path / "rnn.zip", config, params), input_shape=(3, 6)).model

    x = RNG.normal(size=(2, 3, 6))
    h = _dl4j_lstm(x, *graves)
    h = _dl4j_lstm(h, *lstm, afn="SoftSign")
    h = _dl4j_lstm(h, *bi_f) + _dl4j_lstm(h, *bi_b, reverse=True)
    h = np.concatenate([_dl4j_simple_rnn(h, *rnn_f), _dl4j_simple_rnn(h, *rnn_b, reverse=True)], axis=1)
    z = np.einsum("nst,so->not", h, out_w) + out_b[None, :, None]
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert model.output_shape == (None, 3, 6)
    np.testing.assert_allclose(model.predict(x.astype(np.float32)), expected, **TOLERANCE)


def test_time_distributed_dense_and_global_pooling(spark, tmp_path):
    """RnnToFeedForward → Dense (ELU 0.5) per step → FeedForwardToRnn → SimpleRnn → GlobalPooling MAX →
    DropoutLayer → Output (sigmoid, XENT)."""
    dense_w, dense_b, rnn = _random(3, 4), _random(4), (_random(4, 3), _random(3, 3), _random(3))
    out_w, out_b = _random(3, 2), _random(2)
    config = multilayer([
        layer("DenseLayer", nin=3, nout=4, activationFn=act("ELU", alpha=0.5)),
        layer("SimpleRnn", "org.deeplearning4j.nn.conf.layers.recurrent", nin=4, nout=3, activationFn=act("TanH")),
        layer("GlobalPoolingLayer", poolingType="MAX", collapseDimensions=True),
        layer("DropoutLayer", idropout={"@class": "org.deeplearning4j.nn.conf.dropout.Dropout", "p": 0.8}),
        layer("OutputLayer", nin=3, nout=2, activationFn=act("Sigmoid"), lossFn=loss("BinaryXENT"))],
        {0: pre("RnnToFeedForwardPreProcessor"), 1: pre("FeedForwardToRnnPreProcessor")})
    params = flat((dense_w, "f"), (dense_b, "c"), *[(a, "f") for a in rnn], (out_w, "f"), (out_b, "c"))
    network = load_network(write_model(tmp_path / "td.zip", config, params), input_shape=(3, 5))
    x = RNG.normal(size=(3, 3, 5))
    z = np.einsum("nst,so->not", x, dense_w) + dense_b[None, :, None]
    h = _dl4j_simple_rnn(np.where(z > 0, z, 0.5 * (np.exp(z) - 1)), *rnn).max(axis=2)
    expected = 1 / (1 + np.exp(-(h @ out_w + out_b)))
    np.testing.assert_allclose(network.model.predict(x.astype(np.float32)), expected, **TOLERANCE)
    assert network.model.get_layer("layer3_dropout").rate == pytest.approx(0.2)   # DL4J's p keeps 80 %
    assert network.dl4j_loss == "XENT" and network.loss.name == "binary_crossentropy"


# -- computation graphs --------------------------------------------------------------------------------------------

def _vertex(cls, **fields):
    return {"@class": f"org.deeplearning4j.nn.conf.graph.{cls}", **fields}


def _layer_vertex(l):
    return _vertex("LayerVertex", layerConf={"layer": l}, preProcessor=None, outputVertex=False)


@pytest.mark.parametrize("generation", ["modern", "legacy"])
def test_computation_graph_with_merge_and_elementwise_vertices(spark, tmp_path, generation):
    w = {"da_w": _random(4, 5), "da_b": _random(5), "db_w": _random(4, 5), "db_b": _random(5),
         "out_w": _random(15, 3), "out_b": _random(3)}
    graph = {"networkInputs": ["a", "b"], "networkOutputs": ["out"],
             "vertices": {"da": _layer_vertex(layer("DenseLayer", nin=4, nout=5, activationFn=act("ReLU"))),
                          "db": _layer_vertex(layer("DenseLayer", nin=4, nout=5, activationFn=act("TanH"))),
                          "cat": _vertex("MergeVertex"), "sum": _vertex("ElementWiseVertex", op="Add"),
                          "both": _vertex("MergeVertex"),
                          "out": _layer_vertex(layer("OutputLayer", nin=15, nout=3, activationFn=act("Softmax"),
                                                     lossFn=loss("NegativeLogLikelihood")))},
             "vertexInputs": {"da": ["a"], "db": ["b"], "cat": ["da", "db"], "sum": ["da", "db"],
                              "both": ["cat", "sum"], "out": ["both"]},
             # Parameters follow DL4J's topological order, here db before da.
             "topologicalOrderStr": ["a", "b", "db", "da", "cat", "sum", "both", "out"]}
    params = flat((w["db_w"], "f"), (w["db_b"], "c"), (w["da_w"], "f"), (w["da_b"], "c"), (w["out_w"], "f"),
                  (w["out_b"], "c"))
    graph = legacy(graph) if generation == "legacy" else graph
    network = load_network(write_model(tmp_path / "graph.zip", graph, params))
    xa, xb, labels = RNG.normal(size=(4, 4)), RNG.normal(size=(4, 4)), np.eye(3)[[2, 0, 1, 2]]

    t = {k: _t(v) for k, v in w.items()}
    da = torch.relu(torch.tensor(xa) @ t["da_w"] + t["da_b"])
    db = torch.tanh(torch.tensor(xb) @ t["db_w"] + t["db_b"])
    out = torch.softmax(torch.cat([da, db, da + db], 1) @ t["out_w"] + t["out_b"], 1)
    np.testing.assert_allclose(network.model.predict([xa.astype(np.float32), xb.astype(np.float32)]),
                               out.detach().numpy(), **TOLERANCE)
    (-(torch.tensor(labels) * torch.log(out)).sum()).backward()
    expected = np.concatenate([t["db_w"].grad.numpy().ravel("F"), t["db_b"].grad.numpy(), t["da_w"].grad.numpy().ravel("F"),
                               t["da_b"].grad.numpy(), t["out_w"].grad.numpy().ravel("F"), t["out_b"].grad.numpy()])
    np.testing.assert_allclose(network.flat_gradient([xa.astype(np.float32), xb.astype(np.float32)], labels), expected,
                               rtol=1e-4, atol=1e-5)
