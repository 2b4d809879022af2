"""The issue's acceptance: Keras models round-trip Keras → .keras file → from_keras → fit on Spark → to_keras → Keras,
whose predictions equal bigwrap's; a legacy .h5 from Keras' own legacy saver loads; what bigwrap cannot take is
refused by name."""
from __future__ import annotations

import numpy as np
import pytest

import bigwrap
from bigwrap import layers

from .keras_models import MODELS, K, keras

# Keras 3.15 on torch with numpy 2 warns on every predict (its __array__ lacks `copy`): noise, not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}
ROWS = 8


def _inputs(model, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = any(isinstance(layer, K.Embedding) for layer in model.layers)
    return [rng.integers(0, 12, size=(ROWS, *t.shape[1:])).astype(np.float32) if tokens
            else rng.normal(size=(ROWS, *t.shape[1:])).astype(np.float32) for t in model.inputs]


def _one(arrays):
    return arrays if len(arrays) > 1 else arrays[0]


def test_keras_models_round_trip_through_files_and_one_spark_fit(spark, tmp_path):
    """Every model of keras_models: Keras → .keras → from_keras (equal predictions) → trained on Spark → to_keras →
    Keras, predicting what the trained bigwrap model predicts. The models train side by side as the branches of one
    model (their heads concatenated), so one Spark fit trains them all."""
    keras.utils.set_random_seed(0)
    imported, inputs = [], []
    for k, build in enumerate(MODELS):
        original = build()
        original.save(tmp_path / f"{build.__name__}.keras")
        model = bigwrap.from_keras(str(tmp_path / f"{build.__name__}.keras"))
        x = _inputs(original, seed=k)
        np.testing.assert_allclose(model.predict(_one(x)), original.predict(_one(x), verbose=0), **TOLERANCE,
                                   err_msg=f"{build.__name__} imported")
        for layer in model.layers + [t.layer for t in model.inputs]:
            layer.name = f"m{k}_{layer.name}"  # one namespace for the joint model
        imported.append((build, original, model))
        inputs.append(x)

    joint = bigwrap.Model([t for _, _, m in imported for t in m.inputs],
                          layers.Concatenate(name="heads")([m.outputs[0] for _, _, m in imported]))
    columns = [t.layer.name for t in joint.inputs]
    arrays = [a for x in inputs for a in x]
    rows = [(*(a[i].ravel().tolist() for a in arrays), np.eye(3)[i % 3].tolist() * len(imported))
            for i in range(ROWS)]
    frame = spark.createDataFrame(rows, [*columns, "label"])
    trained = bigwrap.Estimator(model=joint, loss="mse", featuresCol=columns, optimizer=bigwrap.optimizers.SGD(0.5),
                                batchSize=4, epochs=1, verbose=0, seed=1).fit(frame).model

    for k, ((build, original, model), x) in enumerate(zip(imported, inputs)):
        name = build.__name__
        part = bigwrap.Model([trained.get_layer(t.layer.name).output for t in model.inputs],
                             trained.get_layer(model.outputs[0].layer.name).output, name=name)
        changed = [not np.array_equal(a, b) for a, b in zip(model.get_weights(), part.get_weights())]
        assert any(changed), f"{name}: training changed no weight"
        part.to_keras(str(tmp_path / f"{name}_trained.keras"))
        served = keras.saving.load_model(tmp_path / f"{name}_trained.keras")
        np.testing.assert_allclose(served.predict(_one(x), verbose=0), part.predict(_one(x)), **TOLERANCE,
                                   err_msg=f"{name} served by Keras after training")
        assert _trainable(served, prefix=f"m{k}_") == _trainable(original), name


def _trainable(model, prefix: str = "") -> dict[str, bool]:
    return {layer.name.removeprefix(prefix): layer.trainable for layer in model.layers
            if not isinstance(layer, K.InputLayer)}


def test_a_legacy_h5_file_loads(spark, tmp_path):
    keras.utils.set_random_seed(1)
    original = MODELS[0]()
    path = tmp_path / "legacy.h5"
    keras.src.legacy.saving.legacy_h5_format.save_model_to_hdf5(original, str(path))
    x = _inputs(original)
    np.testing.assert_allclose(bigwrap.from_keras(str(path)).predict(x[0]), original.predict(x[0], verbose=0),
                               **TOLERANCE)


def test_live_models_import_without_a_file(spark):
    keras.utils.set_random_seed(2)
    original = MODELS[4]()  # shared layers
    model = bigwrap.from_keras(original)
    assert len(model.get_layer("shared")._weights) == 2 and len(model.layers) == len(original.layers)
    x = _inputs(original)
    np.testing.assert_allclose(model.predict(x), original.predict(x, verbose=0), **TOLERANCE)


def test_what_bigwrap_lacks_is_refused_by_name(tmp_path):
    unknown = keras.Sequential([keras.Input((4, 4, 1)), K.Conv2D(2, 3, groups=1, name="ok"),
                                K.GaussianNoise(0.1, name="noise"), K.Flatten(),
                                K.Dense(2, kernel_constraint="non_neg", name="constrained")])
    with pytest.raises(ValueError, match=r"'noise' \(GaussianNoise\): bigwrap has no such layer.*'constrained' "
                                         r"\(Dense\): argument kernel_constraint"):
        bigwrap.from_keras(unknown)
    with pytest.raises(ValueError, match=r"'peephole' \(PeepholeLSTM\) has no Keras counterpart"):
        bigwrap.Sequential([layers.Input((3, 2)), layers.PeepholeLSTM(2, name="peephole")]).to_keras(
            str(tmp_path / "m.keras"))
    with pytest.raises(ValueError, match=r"'pool' \(MaxPooling2D\) with explicit `padding`"):
        bigwrap.Sequential([layers.Input((4, 4, 1)), layers.MaxPooling2D(3, padding=1, name="pool")]).to_keras(
            str(tmp_path / "m.keras"))
    with pytest.raises(FileNotFoundError, match="no Keras model file"):
        bigwrap.from_keras(str(tmp_path / "missing.keras"))


def test_the_guide_lists_the_keras_differences():
    from pathlib import Path

    from bigwrap.importers.keras import differences_table

    guide = (Path(__file__).parent.parent / "docs" / "import-export.md").read_text()
    assert differences_table() in guide, "regenerate docs/import-export.md's Keras differences with differences_table()"
