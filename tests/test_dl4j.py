"""Deeplearning4j import against DL4J's own files and numbers (../shared/fixtures/dl4j): predictions, gradients,
legacy parameter placement, the ND4J binary format, errors, and fine-tuning an imported network."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import bigwrap
from bigwrap.importers.dl4j import load_network, read_dataset, read_ndarray

from .dl4j_files import FIXTURES, act, layer, multilayer, nd4j_bytes, needs_fixtures, write_model

CASES = ["MLPMoon", "MLPMnist", "LenetMnist"]
LEGACY = FIXTURES / "formats" / "legacy_regression"


def _case(name: str) -> dict:
    return json.loads((FIXTURES / name / "case.json").read_text())


@needs_fixtures
@pytest.mark.parametrize("name", CASES)
def test_predictions_equal_dl4j_outputs(spark, name):
    case = _case(name)
    model = bigwrap.from_dl4j(FIXTURES / name / case["model"])
    for pair in case["pairs"]:
        x = np.load(FIXTURES / name / pair["input"])
        np.testing.assert_allclose(model.predict(x), np.load(FIXTURES / name / pair["expected"]), rtol=0,
                                   atol=case["atol"], err_msg=f"{name} {pair['input']}")


@needs_fixtures
def test_imported_lenet_transforms_a_dataframe_of_dl4j_rows(spark):
    network = load_network(FIXTURES / "LenetMnist" / "Model_RANDOM_INIT_UNTRAINED.zip")
    x, expected = np.load(FIXTURES / "LenetMnist" / "input_1.npy"), np.load(FIXTURES / "LenetMnist" / "expected_1.npy")
    df = spark.createDataFrame([(i, row.tolist()) for i, row in enumerate(x)], "id long, features array<float>")
    rows = bigwrap.EstimatorModel(model=network.model, loss=network.loss).transform(df).orderBy("id").collect()
    np.testing.assert_allclose(np.stack([r.probability.toArray() for r in rows]), expected, atol=1e-5)
    np.testing.assert_array_equal([r.prediction for r in rows], expected.argmax(1))


@needs_fixtures
@pytest.mark.parametrize("name", ["MLPMoon", "MLPMnist"])
def test_summed_loss_gradient_equals_dl4j_flat_gradient(spark, name):
    case, folder = _case(name), FIXTURES / name
    network = load_network(folder / case["model"])
    gradient = network.flat_gradient(np.load(folder / case["gradient"]["input"]),
                                     np.load(folder / case["gradient"]["labels"]))
    expected = np.load(folder / case["gradient"]["expected"])
    assert gradient.shape == expected.shape
    np.testing.assert_allclose(gradient, expected, rtol=0, atol=case["gradient"]["atol"])


@needs_fixtures
@pytest.mark.parametrize("name", CASES)
def test_flat_parameters_round_trip_and_lenet_layout(name):
    archive = zipfile.ZipFile(FIXTURES / name / _case(name)["model"])
    coefficients = read_ndarray(archive.read("coefficients.bin")).ravel()
    network = load_network(FIXTURES / name / _case(name)["model"])
    np.testing.assert_array_equal(network.flat_params(), coefficients)
    assert network.model.count_params() == coefficients.size
    if name == "LenetMnist":  # flat [N, 784] in, FeedForwardToCnn inside, softmax rows out
        assert network.model.input_shape == (None, 784) and network.model.output_shape == (None, 10)
        kernel = network.model.get_layer("layer0").get_weights()[0]
        assert kernel.shape == (5, 5, 1, 20)   # DL4J's [20, 1, 5, 5] 'c' after the 20 biases
        np.testing.assert_array_equal(kernel[:, :, 0, 0].ravel(), coefficients[20:45])


@needs_fixtures
@pytest.mark.parametrize("version", ["050", "080"])
def test_legacy_mlp_parameters_are_their_flat_positions(version):
    network = load_network(LEGACY / f"{version}_ModelSerializer_Regression_MLP_1.zip")
    hidden, out = [l for l in network.model.layers if l.weight_names]
    # Dense(3→4): W 'f' [3, 4] holds 1..12 (column-major), then b = 13..16; Output(4→5) continues at 17.
    np.testing.assert_array_equal(hidden.get_weights()[0], np.fromfunction(lambda i, j: 1 + i + 3 * j, (3, 4)))
    np.testing.assert_array_equal(hidden.get_weights()[1], np.arange(13, 17))
    np.testing.assert_array_equal(out.get_weights()[0], np.fromfunction(lambda i, j: 17 + i + 4 * j, (4, 5)))
    np.testing.assert_array_equal(out.get_weights()[1], np.arange(37, 42))
    assert (hidden.activation, out.activation, network.dl4j_loss) == ("relu", "softmax", "MCXENT")


@needs_fixtures
def test_legacy_cnn_parameters_are_their_flat_positions():
    # The stored preprocessor says 28x28 but the output layer's nIn (2028 = 3·26·26) fits 26x26 inputs.
    network = load_network(LEGACY / "080_ModelSerializer_Regression_CNN_1.zip", input_shape=(3, 26, 26))
    conv, dense = network.model.get_layer("layer0"), network.model.get_layer("layer2")
    kernel, bias = conv.get_weights()
    np.testing.assert_array_equal(bias, [1, 2, 3])       # ConvolutionLayer: bias first
    # W 'c' [out=3, in=3, kh=2, kw=2] from 4 on, as Keras (kh, kw, in, out)
    expected = np.fromfunction(lambda a, b, c, o: 4 + ((o * 3 + c) * 2 + a) * 2 + b, (2, 2, 3, 3))
    np.testing.assert_array_equal(kernel, expected)
    assert (conv.padding, conv.activation, network.model.get_layer("layer1").padding) == ("same", "tanh", "same")
    np.testing.assert_array_equal(dense.get_weights()[0], np.fromfunction(lambda i, j: 40 + i + 2028 * j, (2028, 5)))
    np.testing.assert_array_equal(dense.get_weights()[1], np.arange(10180, 10185))


def _graves_blocks(start: int, n_in: int, n: int):
    """A GravesLSTM's W 'f' [nIn, 4n], RW 'f' [n, 4n+3] and b[4n] filled with their flat positions from `start`."""
    w = np.fromfunction(lambda i, c: start + i + n_in * c, (n_in, 4 * n))
    rw = np.fromfunction(lambda r, c: start + n_in * 4 * n + r + n * c, (n, 4 * n + 3))
    b = start + n_in * 4 * n + n * (4 * n + 3) + np.arange(4 * n)
    return w, rw, b


def _keras_lstm(w, rw, b, n, prefix=""):
    # DL4J blocks [block input, forget, output, input modulation] → Keras gates i, f, c, o = blocks 3, 1, 0, 2.
    order = lambda m: np.concatenate([m[..., k * n:(k + 1) * n] for k in (3, 1, 0, 2)], axis=-1)
    return {f"{prefix}kernel": order(w), f"{prefix}recurrent_kernel": order(rw[:, :4 * n]), f"{prefix}bias": order(b),
            f"{prefix}input_gate_peephole_weights": rw[:, 4 * n + 2],
            f"{prefix}forget_gate_peephole_weights": rw[:, 4 * n],
            f"{prefix}output_gate_peephole_weights": rw[:, 4 * n + 1]}


@needs_fixtures
def test_legacy_lstm_parameters_are_their_flat_positions():
    network = load_network(LEGACY / "080_ModelSerializer_Regression_LSTM_1.zip", input_shape=(3, 7))
    model = network.model

    def check(layer_name, expected):
        layer = model.get_layer(layer_name)
        got = dict(zip(layer.weight_names, layer.get_weights()))
        assert set(got) == set(expected), layer_name
        for key, value in expected.items():
            np.testing.assert_array_equal(got[key], value, err_msg=f"{layer_name} {key}")

    check("layer0", _keras_lstm(*_graves_blocks(1, 3, 4), 4))                 # GravesLSTM(3→4): 1..140
    forward, backward = _graves_blocks(141, 4, 4), _graves_blocks(297, 4, 4)  # WF, RWF, bF then WB, RWB, bB
    check("layer1", {**_keras_lstm(*forward, 4, "forward_"), **_keras_lstm(*backward, 4, "backward_")})
    check("layer2", {"kernel": np.fromfunction(lambda i, j: 453 + i + 4 * j, (4, 5)), "bias": np.arange(473, 478)})
    bidirectional = model.get_layer("layer1")
    assert (bidirectional.merge_mode, bidirectional.layer.activation) == ("sum", "softsign")
    assert model.input_shape == (None, 3, 7) and model.output_shape == (None, 5, 7)   # DL4J's [N, size, time]


@needs_fixtures
def test_legacy_lstm_predicts_probabilities_over_size_per_step(spark):
    model = bigwrap.from_dl4j(LEGACY / "080_ModelSerializer_Regression_LSTM_1.zip", input_shape=(3, 4))
    y = model.predict(np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32) * 0.01)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-5)


# -- the ND4J binary format ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["JAVACPP", "LONG_SHAPE", "MIXED_DATA_TYPES"])
@pytest.mark.parametrize("order", ["c", "f"])
def test_nd4j_header_generations_and_orders(mode, order):
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    np.testing.assert_array_equal(read_ndarray(nd4j_bytes(array, mode=mode, order=order)), array)


def test_nd4j_reader_honours_stored_strides_whatever_the_order_flag():
    # As DL4J 1.0.0-alpha's LSTM output: shape [3, 77, 10] with strides (1, 30, 3), flagged 'c'.
    array = np.random.default_rng(1).normal(size=(3, 77, 10)).astype(np.float32)
    data = nd4j_bytes(array, mode="LONG_SHAPE", layout=(1, 2, 0))
    assert data.count(b"LONG_SHAPE") == 2
    np.testing.assert_array_equal(read_ndarray(data), array)


@pytest.mark.parametrize("dtype", ["DOUBLE", "HALF", "INT"])
def test_nd4j_data_types(dtype):
    array = np.array([[1.5, -2.0, 3.25]]) if dtype != "INT" else np.array([[1, -2, 3]])
    np.testing.assert_array_equal(read_ndarray(nd4j_bytes(array, dtype=dtype)), array)


@needs_fixtures
def test_dl4j_dataset_file_reads_as_its_numpy_copy():
    data = read_dataset(FIXTURES / "formats" / "mnist-train-0.bin")
    assert set(data) == {"features", "labels"}
    np.testing.assert_array_equal(data["features"], np.load(FIXTURES / "formats" / "mnist-train-0.features.npy"))
    np.testing.assert_array_equal(data["labels"], np.load(FIXTURES / "formats" / "mnist-train-0.labels.npy"))


@pytest.mark.parametrize("data,message", [
    (b"", "ends early"),
    (nd4j_bytes(np.ones((2, 2)))[:-3], "ends early"),
    (b"\x00\x05HELLO" + b"\x00" * 20, "unknown allocation mode 'HELLO'"),
    (nd4j_bytes(np.ones(3)).replace(b"FLOAT", b"UTF8\x00", 1), "not an ND4J array|data type"),
])
def test_nd4j_reader_rejects_broken_arrays(data, message):
    with pytest.raises(ValueError, match=message):
        read_ndarray(data)


# -- errors --------------------------------------------------------------------------------------------------------

def _dense(n_in, n_out, cls="DenseLayer", activation="TanH", **fields):
    return layer(cls, nin=n_in, nout=n_out, activationFn=act(activation), hasBias=True, **fields)


def test_unsupported_layer_names_its_class_and_index(tmp_path, no_spark_job):
    config = multilayer([_dense(4, 3), layer("LocalResponseNormalization", n=5), _dense(3, 2, "OutputLayer")])
    path = write_model(tmp_path / "lrn.zip", config, np.zeros(4 * 3 + 3 + 3 * 2 + 2))
    with no_spark_job, pytest.raises(ValueError, match=r"DL4J layer 1 \(LocalResponseNormalization\): is not supported"):
        bigwrap.from_dl4j(path)


@pytest.mark.parametrize("config,params,pattern", [
    (multilayer([_dense(4, 3, activation="Cube")]), 15, r"layer 0 \(DenseLayer\): activation 'cube' is not supported"),
    (multilayer([_dense(4, 3)]), 14, r"layer 0 \(DenseLayer\): needs parameters 12..14, but .*coefficients.bin\) holds 14 values"),
    (multilayer([_dense(4, 3)]), 16, r"holds 16 parameters but the configuration's layers have 15"),
    (multilayer([_dense(4, 3), _dense(5, 2)]), 15 + 12, r"layer 1 \(DenseLayer\): expects nIn=5 inputs but receives 3"),
    (multilayer([layer("ConvolutionLayer", nin=1, nout=2, kernelSize=[2, 2])]), 10,
     r"no input type .* layer 0 \(ConvolutionLayer\); pass input_shape=\(channels, height, width\)"),
    (multilayer([layer("LSTM", nin=2, nout=2, activationFn=act("TanH"))]), 40, r"input_shape=\(size, time_steps\)"),
    ({"vertices": {"d": {"@class": "org.deeplearning4j.nn.conf.graph.SubsetVertex", "from": 0, "to": 1}},
      "vertexInputs": {"d": ["in"]}, "networkInputs": ["in"], "networkOutputs": ["d"]}, 0,
     r"vertex 'd': graph vertex SubsetVertex is not supported"),
])
def test_configuration_errors_name_layer_and_problem(tmp_path, config, params, pattern):
    path = write_model(tmp_path / "bad.zip", config, np.zeros(params))
    with pytest.raises(ValueError, match=pattern):
        bigwrap.from_dl4j(path, input_shape=(4,) if "SubsetVertex" in json.dumps(config) else None)


def test_files_that_are_not_dl4j_models(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.zip"):
        bigwrap.from_dl4j(tmp_path / "missing.zip")
    (tmp_path / "text.bin").write_text("hello")
    with pytest.raises(ValueError, match="text.bin: not a DL4J model"):
        bigwrap.from_dl4j(tmp_path / "text.bin")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("model.onnx", b"...")
    with pytest.raises(ValueError, match=r"no configuration.json .*model.onnx"):
        bigwrap.from_dl4j(tmp_path / "other.zip")


# -- training continues --------------------------------------------------------------------------------------------

@needs_fixtures
def test_imported_mlp_mnist_fine_tunes_with_the_estimator(spark, tmp_path):
    network = load_network(FIXTURES / "MLPMnist" / "Model_RANDOM_INIT_UNTRAINED.zip")
    data = read_dataset(FIXTURES / "formats" / "mnist-train-0.bin")   # DL4J's own DataSet file, one-hot labels
    rows = [(x.tolist(), y.tolist()) for x, y in zip(data["features"], data["labels"])]
    df = spark.createDataFrame(rows, "features array<float>, label array<float>")
    before = network.model.get_weights()
    accuracy = lambda model: float((model.predict(data["features"]).argmax(1) == data["labels"].argmax(1)).mean())
    start = accuracy(network.model)
    estimator = bigwrap.Estimator(model=network.model, loss=network.loss, optimizer=bigwrap.optimizers.Adam(0.02),
                                  batchSize=16, epochs=4, verbose=0, seed=3)
    fitted = estimator.fit(df)
    assert fitted.history["loss"].iloc[-1] < fitted.history["loss"].iloc[0] / 3
    assert accuracy(fitted.model) >= 0.95 > start + 0.5
    assert all(np.array_equal(a, b) for a, b in zip(before, network.model.get_weights()))  # fit trains a copy
    fitted.save(str(tmp_path / "tuned"))
    reloaded = bigwrap.EstimatorModel.load(str(tmp_path / "tuned"))
    np.testing.assert_array_equal(reloaded.model.predict(data["features"][:5]), fitted.model.predict(data["features"][:5]))
