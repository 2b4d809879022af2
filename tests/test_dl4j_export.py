"""to_dl4j against Deeplearning4j itself: bigwrap models written as DL4J zips, restored by DL4J 1.0.0-M2.1 with
ModelSerializer in one plain JVM (tests/dl4j_harness: no Spark, no bigwrap), whose outputs must equal bigwrap's."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import bigwrap
from bigwrap import layers as L

from .dl4j_oracle import DL4J_TOLERANCE, dl4j_outputs

RNG = np.random.default_rng(11)


def _mlp():
    x = L.Input((5,))
    h = L.Dense(7, activation="relu")(x)
    h = L.Dropout(0.3)(h)
    h = L.Dense(6, activation="tanh", use_bias=False)(h)
    h = L.BatchNormalization()(h)
    h = L.LeakyReLU(0.1)(L.ELU(0.5)(L.Activation("softsign")(h)))
    return bigwrap.Model(x, L.Dense(3, activation="softmax")(h)), [RNG.normal(size=(4, 5))]


def _cnn():
    x = L.Input((9, 8, 2))
    h = L.Conv2D(4, 3, padding="same", strides=2, activation="relu")(x)
    h = L.BatchNormalization()(h)
    h = L.MaxPooling2D(2, strides=1)(h)
    h = L.Conv2D(3, (2, 2), dilation_rate=1, activation="selu", use_bias=False)(h)
    h = L.AveragePooling2D(2, strides=2, padding="same")(h)
    return bigwrap.Model(x, L.Dense(2)(L.Flatten()(h))), [RNG.normal(size=(3, 9, 8, 2))]


def _cnn_global(output_activation="softmax"):
    x = L.Input((6, 6, 3))
    h = L.Conv2D(4, 3, padding="same", dilation_rate=2, activation="sigmoid")(x)
    out = L.Dense(2, activation=output_activation)(L.GlobalMaxPooling2D()(h))
    return bigwrap.Model(x, out), [RNG.normal(size=(2, 6, 6, 3))]


def _recurrent():
    x = L.Input((5, 3))
    h = L.LSTM(4, return_sequences=True)(x)
    h = L.PeepholeLSTM(3, activation="softsign", return_sequences=True)(h)
    h = L.GlobalAveragePooling1D()(L.SimpleRNN(2, return_sequences=True)(h))
    return bigwrap.Model(x, L.Dense(2)(h)), [RNG.normal(size=(3, 5, 3))]


def _text():
    x = L.Input((6,))
    h = L.LSTM(5, recurrent_activation="sigmoid")(L.Embedding(10, 4)(x))
    return bigwrap.Model(x, L.Dense(2, activation="softmax")(h)), [RNG.integers(0, 10, size=(3, 6))]


def _merges():
    a, b = L.Input((3,)), L.Input((2,))
    da, db = L.Dense(4, activation="relu")(a), L.Dense(4, activation="tanh")(b)
    joined = L.Concatenate()([L.Concatenate()([da, db]), L.Add()([da, db]), L.Multiply()([da, db]),
                              L.Subtract()([da, db]), L.Average()([da, db]), L.Maximum()([da, db])])
    return bigwrap.Model([a, b], L.Dense(3, activation="softmax")(joined)), [RNG.normal(size=(4, 3)),
                                                                           RNG.normal(size=(4, 2))]


def _image_graph():
    x = L.Input((8, 8, 2))
    c1 = L.Conv2D(3, 3, padding="same", activation="relu")(x)
    c2 = L.Conv2D(3, 1)(x)
    pooled = L.MaxPooling2D(2)(L.Concatenate()([c1, c2]))
    joined = L.Concatenate()([L.Flatten()(pooled), L.GlobalAveragePooling2D()(L.Add()([c1, c2]))])
    return bigwrap.Model(x, L.Dense(2, activation="softmax")(joined)), [RNG.normal(size=(2, 8, 8, 2))]


def _flatten_twice_read():
    x = L.Input((4, 4, 2))
    flat = L.Flatten()(L.Conv2D(2, 3, padding="same")(x))
    joined = L.Add()([L.Dense(3, activation="relu")(flat), L.Dense(3)(flat)])
    return bigwrap.Model(x, L.Dropout(0.5)(joined)), [RNG.normal(size=(2, 4, 4, 2))]


# case → (model and inputs, the DL4J class ModelSerializer restores)
CASES = {"mlp": (_mlp, "MultiLayerNetwork"), "cnn": (_cnn, "MultiLayerNetwork"),
         "cnn_global": (_cnn_global, "MultiLayerNetwork"), "recurrent": (_recurrent, "MultiLayerNetwork"),
         "text": (_text, "MultiLayerNetwork"), "merges": (_merges, "ComputationGraph"),
         "flatten_twice_read": (_flatten_twice_read, "ComputationGraph"),
         "image_graph": (_image_graph, "ComputationGraph")}


def _moved(model):
    """Weights off their initial values (biases, batch-norm statistics), so every DL4J parameter slot matters."""
    model.set_weights([np.abs(RNG.normal(size=w.shape)) + 0.5 if n.endswith("variance") else
                       w + RNG.normal(scale=0.3, size=w.shape)
                       for layer in model.layers for n, w in zip(layer.weight_names, layer.get_weights())])
    return model


@pytest.fixture(scope="module")
def fitted_cnn(spark, digits, tmp_path_factory):
    """A digits CNN fitted on Spark; its test rows' features, predictions and probabilities from `transform`."""
    train, test = digits
    bigwrap.set_random_seed(0)
    model = bigwrap.Sequential([L.Input((8, 8, 1)), L.Conv2D(6, 3, activation="relu"), L.MaxPooling2D(2),
                                L.Flatten(), L.Dense(10, activation="softmax")])
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=64, epochs=2, seed=1,
                               verbose=0).fit(train)
    rows = fitted.transform(test.limit(40)).collect()
    features = np.array([r["features"].toArray() for r in rows], np.float32).reshape(-1, 8, 8, 1)
    saved = tmp_path_factory.mktemp("fitted") / "digits_cnn"
    fitted.save(str(saved))
    return fitted, saved, features, [r["prediction"] for r in rows], np.array([r["probability"].toArray() for r in rows])


@pytest.fixture(scope="module")
def exported(spark, fitted_cnn, tmp_path_factory):
    """Every case written by to_dl4j, and the fitted CNN written from Python and from Scala (BigwrapModel.toDL4J),
    restored by DL4J in one JVM: {case: (bigwrap model, inputs, class written, DL4J's result, zip)}."""
    directory = tmp_path_factory.mktemp("dl4j_exported")
    bigwrap.set_random_seed(3)
    made = {}
    for name, (make, _) in CASES.items():
        model, inputs = make()
        model = _moved(model)
        made[name] = (model, [np.asarray(i, np.float32) for i in inputs], model.to_dl4j(directory / f"{name}.zip"))
    logits, logit_inputs = _cnn_global("linear")
    logits_loss = bigwrap.losses.CategoricalCrossentropy(from_logits=True)
    made["logits"] = (logits, logit_inputs, logits.to_dl4j(directory / "logits.zip", loss=logits_loss))
    fitted, saved, features, _, _ = fitted_cnn
    made["fitted_python"] = (fitted.model, [features], fitted.to_dl4j(directory / "fitted_python.zip"))
    scala_model = spark.sparkContext._jvm.bigwrap.ml.BigwrapModel.load(str(saved))
    made["fitted_scala"] = (fitted.model, [features], scala_model.toDL4J(str(directory / "fitted_scala.zip")))
    one_hot = np.eye(10, dtype=np.float32)[np.array(fitted_cnn[3], dtype=int)]
    results = dl4j_outputs(directory, {name: (f"{name}.zip", inputs) for name, (_, inputs, _) in made.items()},
                           labels={"fitted_python": one_hot})
    return {name: (*made[name], results[name], directory / f"{name}.zip") for name in made}


@pytest.mark.parametrize("written_by", ["fitted_python", "fitted_scala"])
def test_a_model_fitted_on_spark_predicts_in_plain_dl4j_what_transform_predicted(exported, fitted_cnn, written_by):
    _, _, written, restored, path = exported[written_by]
    _, _, _, predictions, probabilities = fitted_cnn
    assert written == restored["class"] == "MultiLayerNetwork"
    last = json.loads(zipfile.ZipFile(path).read("configuration.json"))["confs"][-1]["layer"]
    assert (last["@class"].rsplit(".", 1)[-1], last["lossFn"]["@class"].rsplit(".", 1)[-1]) == ("OutputLayer",
                                                                                                "LossMCXENT")
    [dl4j] = restored["outputs"]
    np.testing.assert_allclose(dl4j, probabilities, **DL4J_TOLERANCE)
    assert list(dl4j.argmax(axis=1)) == predictions


def test_a_loss_on_logits_gives_dl4j_an_output_layer_of_probabilities(exported):
    model, inputs, _, restored, _ = exported["logits"]
    logits = model.predict(inputs)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(restored["outputs"][0], probabilities, **DL4J_TOLERANCE)


def test_dl4j_goes_on_training_the_fitted_export(exported):
    score = exported["fitted_python"][3]["score_after_fit"]   # one DL4J fit step on its OutputLayer's MCXENT
    assert np.isfinite(score) and 0 < score < 5


@pytest.mark.parametrize("name", sorted(CASES))
def test_dl4j_restores_the_export_with_bigwrap_outputs(exported, name):
    model, inputs, written, restored, _ = exported[name]
    assert written == restored["class"] == CASES[name][1]
    [dl4j] = restored["outputs"]
    np.testing.assert_allclose(dl4j, model.predict(inputs), **DL4J_TOLERANCE, err_msg=name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_from_dl4j_reads_the_export_back(exported, name):
    model, inputs, _, _, path = exported[name]
    shapes = [t.dims for t in model.inputs]   # DL4J stores no input type where a convolution or an LSTM comes first
    back = bigwrap.from_dl4j(path, input_shape=shapes[0] if len(shapes) == 1 else shapes)
    np.testing.assert_allclose(back.predict(inputs), model.predict(inputs), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer, problem", [
    (L.GRU(3, name="words"), r"'words' \(GRU\) has no DL4J counterpart"),
    (L.Conv1D(2, 2, name="filters"), r"'filters' \(Conv1D\) has no DL4J counterpart"),
    (L.LSTM(3, go_backwards=True, name="backwards"), r"'backwards' \(LSTM\) runs backwards")])
def test_layers_dl4j_cannot_express_are_refused_by_name(spark, tmp_path, layer, problem):
    x = L.Input((4, 3))
    model = bigwrap.Model(x, layer(x))
    with pytest.raises(ValueError, match=f"to_dl4j: layer {problem}"):
        model.to_dl4j(tmp_path / "refused.zip")
    assert not (tmp_path / "refused.zip").exists()


def test_an_existing_file_is_kept_unless_overwrite(spark, tmp_path):
    model, _ = _cnn_global()
    target = tmp_path / "model.zip"
    target.write_bytes(b"the user's file")
    with pytest.raises(ValueError, match="already exists; pass overwrite=True"):
        model.to_dl4j(target)
    assert target.read_bytes() == b"the user's file"
    assert model.to_dl4j(target, overwrite=True) == "MultiLayerNetwork"
