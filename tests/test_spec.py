"""The model spec: one versioned JSON format, round-tripped with weights and predictions intact."""
from __future__ import annotations

import json

import numpy as np
import pytest

import bigwrap
from bigwrap import layers


def _mlp():
    return bigwrap.Sequential([
        layers.Input((12,), name="pixels"),
        layers.Dense(16, activation="relu", name="hidden"),
        layers.Dropout(0.2, name="drop"),
        layers.Dense(3, activation="softmax", name="classes"),
    ], name="mlp")


def test_spec_is_versioned_and_documents_the_graph():
    spec = json.loads(_mlp().to_json())
    assert spec["format"] == "bigwrap.model" and spec["version"] == 1
    assert [layer["name"] for layer in spec["layers"]] == ["pixels", "hidden", "drop", "classes"]
    assert spec["layers"][1] == {"class_name": "Dense", "name": "hidden", "inbound": [["pixels"]], "config": {
        "units": 16, "activation": "relu", "use_bias": True, "kernel_initializer": "glorot_uniform",
        "bias_initializer": "zeros"}}
    assert spec["inputs"] == ["pixels"] and spec["outputs"] == ["classes"]
    assert "weights" not in json.dumps(spec)


def test_round_trip_rebuilds_an_identical_model(spark):
    model = _mlp()
    rebuilt = bigwrap.model_from_json(model.to_json())
    assert isinstance(rebuilt, bigwrap.Sequential)
    assert rebuilt.get_config() == model.get_config()
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), rebuilt.get_weights()))
    rebuilt.set_weights(model.get_weights())
    x = np.random.default_rng(1).random((9, 12), dtype=np.float32)
    np.testing.assert_array_equal(rebuilt.predict(x), model.predict(x))


def test_functional_model_round_trips(spark):
    inputs = layers.Input((5,))
    hidden = layers.Dense(4, activation="tanh")(inputs)
    outputs = layers.Dense(2)(hidden)
    model = bigwrap.Model(inputs, outputs, name="functional_mlp")
    rebuilt = bigwrap.model_from_json(model.to_json())
    assert type(rebuilt) is bigwrap.Model and rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    x = np.ones((2, 5), dtype=np.float32)
    np.testing.assert_allclose(rebuilt.predict(x), model.predict(x), rtol=1e-6)


def test_set_weights_reaches_the_jvm_copy(spark):
    model = bigwrap.Sequential([layers.Input((3,)), layers.Dense(2, use_bias=False)])
    x = np.eye(3, dtype=np.float32)
    model.predict(x)
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
    model.set_weights([kernel])
    np.testing.assert_array_equal(model.predict(x), kernel)


@pytest.mark.parametrize("change,message", [
    (lambda s: s.update(version=99), "version 99 is not supported"),
    (lambda s: s.update(format="other"), "not a bigwrap model spec"),
    (lambda s: s["layers"][1].update(class_name="Mystery"), "unknown layer type 'Mystery'"),
    (lambda s: s["layers"][1].update(inbound=[["ghost"]]), "ghost"),
    (lambda s: s["layers"][1]["config"].update(units=0), "units"),
])
def test_bad_specs_raise_value_errors(change, message):
    spec = json.loads(_mlp().to_json())
    spec["class_name"] = "Model"
    change(spec)
    with pytest.raises(ValueError, match=message):
        bigwrap.model_from_json(json.dumps(spec))


def test_jvm_rejects_a_bad_spec_with_a_python_error(spark):
    from bigwrap.runtime import bridge

    spec = json.loads(_mlp().to_json())
    spec["layers"][1]["class_name"] = "Mystery"
    with pytest.raises(ValueError, match="layer 'hidden': type 'Mystery' is not supported"):
        bridge(spark).call("LiveModels.shapes", json.dumps(spec))


def test_weight_count_and_shape_errors_name_the_layer():
    model = _mlp()
    with pytest.raises(ValueError, match="has 4 weight arrays, got 1"):
        model.set_weights([np.zeros((12, 16))])
    weights = model.get_weights()
    weights[2] = np.zeros((5, 5))
    with pytest.raises(ValueError, match=r"'classes' \(Dense\) weight 'kernel' has shape \(16, 3\)"):
        model.set_weights(weights)


def test_summary_lists_layers_shapes_and_parameter_counts():
    lines = []
    _mlp().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "hidden (Dense)" in text and "(None, 16)" in text and "208" in text
    assert "Total params: 259" in text
