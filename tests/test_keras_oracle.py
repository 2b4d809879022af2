"""Keras itself as the oracle: every layer-table row whose layer Keras has is built in both (Keras 3 on torch), the
weights copied from Keras into bigwrap, and the outputs compared. A row is left out only where KERAS_DIFFERENCES
(the one list docs/import-export.md prints) says bigwrap differs."""
from __future__ import annotations

import numpy as np
import pytest

from bigwrap import layers
from bigwrap.importers.keras import KERAS_DIFFERENCES

from .keras_models import keras
from .layer_cases import LAYER_CASES
from .test_layers import _model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def _difference(case):
    """The documented difference that concerns the row's layer, or a layer it wraps."""
    wrapped = [(type(v).__name__, v.get_config()) for v in case.kwargs.values() if isinstance(v, layers.Layer)]
    return next((d for d in KERAS_DIFFERENCES for name, kwargs in [(case.layer.__name__, case.kwargs), *wrapped]
                 if name in d.layers and d.applies(kwargs)), None)


KERAS_CASES = [case for case in LAYER_CASES if hasattr(keras.layers, case.layer.__name__) and not _difference(case)]


def _keras_argument(value):
    if isinstance(value, layers.Layer):  # the layer a wrapper wraps
        config = {k: v for k, v in value.get_config().items() if k != "name"}
        return getattr(keras.layers, type(value).__name__)(**config)
    return value


def test_every_row_without_a_documented_difference_is_compared():
    left_out = {case.id for case in LAYER_CASES} - {case.id for case in KERAS_CASES}
    unexplained = [i for i in left_out if hasattr(keras.layers, i.split("-")[0])
                   and not _difference(next(c for c in LAYER_CASES if c.id == i))]
    assert not unexplained and len(KERAS_CASES) >= 75


@pytest.mark.parametrize("case", KERAS_CASES, ids=lambda c: c.id)
def test_layer_computes_what_keras_computes(spark, case):
    rng = np.random.default_rng(3)
    inputs = [keras.Input(shape) for shape in case.shapes]
    keras_layer = getattr(keras.layers, case.layer.__name__)(**{k: _keras_argument(v) for k, v in case.kwargs.items()})
    sources = [keras.layers.Masking()(t) for t in inputs] if case.padded else inputs
    if case.layer.call_inputs:  # named tensors (query, value, key), as the layer table calls bigwrap's layer
        outputs = keras_layer(*sources, **case.call)
    else:
        outputs = keras_layer(sources if isinstance(case.input_shape, list) else sources[0])
    keras_model = keras.Model(inputs, outputs)
    weights = [rng.uniform(0.5, 1.5, w.shape) if "variance" in v.path else rng.normal(scale=0.5, size=w.shape)
               for w, v in zip(keras_layer.get_weights(), keras_layer.weights)]
    keras_layer.set_weights([w.astype(np.float32) for w in weights])

    model = _model(case)
    model.layers[-1].set_weights(keras_layer.get_weights())  # weights copied from Keras, in Keras' layout
    x = [rng.integers(0, case.tokens, size=(5, *s)) if case.tokens else rng.normal(size=(5, *s)) for s in case.shapes]
    x = [a.astype(np.float32) for a in x]
    if case.padded:  # row r keeps its first steps - r % steps steps (at least one), as tests/test_layers.py pads
        for a in x:
            for r in range(len(a)):
                a[r, max(1, a.shape[1] - r % a.shape[1]):] = 0
    expected = keras_model.predict(x if len(x) > 1 else x[0], verbose=0)
    np.testing.assert_allclose(model.predict(x if len(x) > 1 else x[0]), expected, **TOLERANCE)
