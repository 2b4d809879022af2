"""Generic tests run on every row of the layer table: config, shapes, JVM build and forward."""
from __future__ import annotations

import json

import numpy as np
import pytest

import bigwrap
from bigwrap import layers
from bigwrap.runtime import bridge

from .layer_cases import BAD_ARGUMENTS, LAYER_CASES


def _model(case):
    return bigwrap.Sequential([layers.Input(case.input_shape), case.layer(**case.kwargs)])


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: c.id)
def test_config_round_trips_through_json(case):
    layer = case.layer(**case.kwargs)
    config = json.loads(json.dumps(layer.get_config()))
    rebuilt = case.layer.from_config(config)
    assert rebuilt.get_config() == layer.get_config()
    for key, value in case.kwargs.items():
        assert config[key] == value


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: c.id)
def test_python_shape_inference(case):
    assert _model(case).output_shape == (None, *case.output_shape)


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: c.id)
def test_jvm_builds_the_shape_python_inferred(spark, case):
    shapes = json.loads(bridge(spark).call("shapes", _model(case).to_json()))
    assert shapes == {"inputs": [list(case.input_shape)], "outputs": [list(case.output_shape)]}


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: c.id)
def test_jvm_forward_matches_reference(spark, case):
    rng = np.random.default_rng(7)
    model = _model(case)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    x = rng.normal(size=(5, *case.input_shape)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), case.reference(weights, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer,kwargs,word", BAD_ARGUMENTS, ids=lambda v: str(v) if isinstance(v, str) else None)
def test_bad_arguments_raise_value_error_naming_layer_and_argument(layer, kwargs, word):
    with pytest.raises(ValueError) as raised:
        layer(name="the_layer", **kwargs)
    assert "the_layer" in str(raised.value) and word in str(raised.value)


def test_dense_on_unflattened_input_names_layer_and_shapes():
    with pytest.raises(ValueError, match=r"'hidden' \(Dense\).*\(None, 8, 8\).*Flatten"):
        bigwrap.Sequential([layers.Input((8, 8)), layers.Dense(4, name="hidden")])


def test_auto_names_are_unique_and_explicit_names_are_checked():
    a, b = layers.Dense(2), layers.Dense(2)
    assert a.name != b.name
    with pytest.raises(ValueError, match="invalid layer name"):
        layers.Dense(2, name="bad name")
