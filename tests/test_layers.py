"""Generic tests run on every row of the layer table: config, shapes, JVM build, forward and gradients vs PyTorch."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bigwrap
from bigwrap import layers, live_models
from bigwrap.runtime import bridge

from .layer_cases import BAD_ARGUMENTS, LAYER_CASES, _pool2d

GRADIENT_CASES = [case for case in LAYER_CASES if case.gradients]
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
# bf16 keeps 8 significant bits (inputs and weights round by up to 2^-9 relative) and sums in fp32: errors
# stay within a fraction of the largest reference value, 1% for one layer (LayerCase.bf16_tolerance; docs:
# docs/performance.md, "Native kernels").
# Rows whose JVM build has a layer with native kernels (Dense, convolution, attention, layer normalisation, max
# pooling in training) also run on them, in fp32 and bf16.
NATIVE_LAYERS = (layers.Dense, layers.Conv1D, layers.Conv2D, layers.TimeDistributed, layers.MultiHeadAttention,
                 layers.LayerNormalization, layers.TransformerEncoder, layers.MaxPooling1D, layers.MaxPooling2D)
KERNEL_RUNS = [(case, "bigdl", "fp32") for case in LAYER_CASES] + [
    (case, "native", precision) for case in LAYER_CASES if case.layer in NATIVE_LAYERS for precision in ("fp32", "bf16")]


def _run_id(run):
    case, kernels, precision = run
    return case.id if kernels == "bigdl" else f"{case.id}-{kernels}-{precision}"


def _assert_close(got, expected, precision, what, bf16_tolerance):
    if precision == "bf16":
        np.testing.assert_allclose(got, expected, rtol=0, atol=bf16_tolerance * max(np.abs(expected).max(), 1e-3),
                                   err_msg=what)
    else:
        np.testing.assert_allclose(got, expected, err_msg=what, **TOLERANCE)


def _model(case):
    inputs = [layers.Input(shape) for shape in case.shapes]
    layer = case.layer(**case.kwargs)
    sources = [layers.Masking()(t) for t in inputs] if case.padded else inputs
    if layer.call_inputs:
        output = layer(*sources, **case.call)
    else:
        output = layer(sources if isinstance(case.input_shape, list) else sources[0])
    return bigwrap.Model(inputs, output)


def _setup(case, rows=6):
    """A model of the case's layer with random weights, and random inputs for it."""
    rng = np.random.default_rng(7)
    model = _model(case)
    layer = model.layers[-1]
    weights = [rng.uniform(0.5, 1.5, size=w.shape) if name in case.positive else rng.normal(scale=0.5, size=w.shape)
               for name, w in zip(layer.weight_names, layer.get_weights())]
    model.set_weights([w.astype(np.float32) for w in weights])
    if case.tokens:
        x = [rng.integers(0, case.tokens, size=(rows, *s)).astype(np.float32) for s in case.shapes]
    else:
        x = [rng.normal(size=(rows, *s)).astype(np.float32) for s in case.shapes]
    if case.padded:  # row r keeps its first steps - r % steps steps (at least one)
        for a in x:
            for r in range(rows):
                a[r, max(1, a.shape[1] - r % a.shape[1]):] = 0
    return model, layer, x


def _torch_call(case, weights, x, training):
    inputs = x if isinstance(case.input_shape, list) else x[0]
    return case.torch_forward(weights, inputs, training)


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: c.id)
def test_config_round_trips_through_json(case):
    layer = case.layer(**case.kwargs)
    config = json.loads(json.dumps(layer.get_config()))
    rebuilt = case.layer.from_config(config)
    assert rebuilt.get_config() == layer.get_config()
    assert set(case.kwargs) <= set(config)


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: c.id)
def test_python_shape_inference(case):
    assert _model(case).output_shape == (None, *case.output_shape)


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: c.id)
def test_jvm_builds_the_shape_python_inferred(spark, case):
    shapes = json.loads(bridge(spark).call("LiveModels.shapes", _model(case).to_json()))
    assert shapes == {"inputs": [list(s) for s in case.shapes], "outputs": [list(case.output_shape)]}


@pytest.mark.parametrize("run", KERNEL_RUNS, ids=_run_id)
def test_jvm_forward_matches_pytorch(spark, run):
    case, kernels, precision = run
    model, layer, x = _setup(case)
    weights = [torch.tensor(w) for w in layer.get_weights()]
    expected = _torch_call(case, weights, [torch.tensor(a) for a in x], training=False)
    got = model.predict(x if len(x) > 1 else x[0], kernels=kernels, precision=precision)
    _assert_close(got, expected.detach().numpy(), precision, "output", case.bf16_tolerance)


@pytest.mark.parametrize("run", [r for r in KERNEL_RUNS if r[0].gradients], ids=_run_id)
def test_jvm_gradients_match_pytorch(spark, run):
    """Training-mode forward + backward: gradients w.r.t. the inputs and every trainable weight."""
    case, kernels, precision = run
    model, layer, x = _setup(case)
    weights = [torch.tensor(w, requires_grad=True) for w in layer.get_weights()]
    inputs = [torch.tensor(a, requires_grad=not case.tokens) for a in x]
    y = _torch_call(case, weights, inputs, training=True)
    grad_output = np.random.default_rng(11).normal(size=tuple(y.shape)).astype(np.float32)
    (y * torch.tensor(grad_output)).sum().backward()

    input_grads, weight_grads = live_models.forward_backward(model, x, grad_output, kernels, precision)
    if not case.tokens:
        for got, tensor in zip(input_grads, inputs):
            _assert_close(got, tensor.grad.numpy(), precision, "input gradient", case.bf16_tolerance)
    trainable = [w for name, w in zip(layer.weight_names, weights) if name in layer.trainable_weight_names]
    assert len(weight_grads) == len(trainable)
    for name, got, tensor in zip(layer.trainable_weight_names, weight_grads, trainable):
        _assert_close(got, tensor.grad.numpy(), precision, f"gradient of {name}", case.bf16_tolerance)


def test_gradient_cases_cover_every_trainable_layer():
    trainable = {c.layer for c in LAYER_CASES if _model(c).layers[-1].trainable_weight_names}
    assert trainable <= {c.layer for c in GRADIENT_CASES}
    assert {layers.Dense, layers.Conv2D, layers.LSTM, layers.GRU, layers.BatchNormalization} <= trainable


@pytest.mark.parametrize("kernels", ["native", "bigdl"])
@pytest.mark.parametrize("pool,strides,padding", [(2, 1, "valid"), (3, 2, "same")], ids=["overlapping", "same"])
def test_max_pooling_routes_a_tied_window_to_its_first_maximum(spark, pool, strides, padding, kernels):
    """Small integers tie in most windows: each window's gradient goes to its first maximum in row-major order
    (PyTorch's and BigDL's rule), and never to padding; on the native kernel (columns then rows) as in the JVM's
    window walk."""
    model = bigwrap.Sequential([layers.Input((7, 6, 3)), layers.MaxPooling2D(pool, strides, padding)])
    x = np.random.default_rng(5).integers(0, 3, size=(4, 7, 6, 3)).astype(np.float32)
    grad_output = np.random.default_rng(6).normal(size=(4, *model.output_shape[1:])).astype(np.float32)
    inputs = torch.tensor(x, requires_grad=True)
    y = _pool2d("max", (pool, pool), (strides, strides), padding)(None, inputs, True)
    (y * torch.tensor(grad_output)).sum().backward()
    np.testing.assert_array_equal(model.predict(x), y.detach().numpy())
    (got,), _ = live_models.forward_backward(model, x, grad_output, kernels=kernels)
    np.testing.assert_allclose(got, inputs.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_every_layer_has_a_row():
    public = {name for name in layers.__all__ if name not in ("Input", "InputLayer", "Layer")}
    assert public == {case.layer.__name__ for case in LAYER_CASES}


@pytest.mark.parametrize("layer,kwargs,word", BAD_ARGUMENTS, ids=lambda v: str(v) if isinstance(v, str) else None)
def test_bad_arguments_raise_value_error_naming_layer_and_argument(layer, kwargs, word):
    with pytest.raises(ValueError) as raised:
        layer(name="the_layer", **kwargs)
    assert "the_layer" in str(raised.value) and word in str(raised.value)


def test_dense_applies_to_the_last_axis_of_any_rank_as_in_keras():
    model = bigwrap.Sequential([layers.Input((5, 6)), layers.Dense(4, name="hidden")])
    assert model.output_shape == (None, 5, 4) and model.get_layer("hidden").get_weights()[0].shape == (6, 4)


@pytest.mark.parametrize("build,pattern", [
    (lambda: layers.Conv2D(2, 3, name="c")(layers.Input((8, 8))),
     r"'c' \(Conv2D\) expects input of shape \(None, height, width, channels\), got \(None, 8, 8\)"),
    (lambda: layers.Conv2D(2, 5, name="c")(layers.Input((3, 3, 1))), r"'c' \(Conv2D\).*\(None, 3, 3, 1\)"),
    (lambda: layers.LSTM(2, name="r")(layers.Input((8,))), r"'r' \(LSTM\).*\(None, steps, features\).*\(None, 8\)"),
    (lambda: layers.Add(name="m")([layers.Input((3,)), layers.Input((4,))]), r"'m' \(Add\).*\(None, 3\).*\(None, 4\)"),
    (lambda: layers.Reshape((5,), name="r")(layers.Input((2, 3))), r"'r' \(Reshape\).*\(None, 2, 3\).*\(None, 5\)"),
])
def test_shape_errors_name_layer_expected_and_received_shapes(no_spark_job, build, pattern):
    with no_spark_job, pytest.raises(ValueError, match=pattern):
        build()


def test_auto_names_are_unique_and_explicit_names_are_checked():
    a, b = layers.Dense(2), layers.Dense(2)
    assert a.name != b.name
    with pytest.raises(ValueError, match="invalid layer name"):
        layers.Dense(2, name="bad name")


def test_the_guide_lists_every_supported_layer():
    from pathlib import Path

    guide = (Path(__file__).parent.parent / "docs" / "models.md").read_text()
    assert layers.catalogue() in guide, "regenerate docs/models.md's layer table with bigwrap.layers.catalogue()"
