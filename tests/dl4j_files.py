"""Test helpers for DL4J files: where the shared fixtures are, an ND4J writer (the reader's inverse, for the header
generations and layouts the fixtures lack) and DL4J configuration JSON as DL4J itself writes it."""
from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

_DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "dl4j"
FIXTURES = Path(os.environ.get("BIGWRAP_DL4J_FIXTURES", _DEFAULT))
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"DL4J fixtures not found at {FIXTURES} (set "
                                    "BIGWRAP_DL4J_FIXTURES to the folder holding MLPMoon/, MLPMnist/, ...)")

_TYPES = {"FLOAT": ">f4", "DOUBLE": ">f8", "HALF": ">f2", "INT": ">i4", "LONG": ">i8"}


def _buffer(mode: str, dtype: str, values) -> bytes:
    def utf(text: str) -> bytes:
        return struct.pack(">H", len(text)) + text.encode()
    values = np.asarray(values).astype(_TYPES[dtype])
    length = struct.pack(">i" if mode == "JAVACPP" else ">q", values.size)
    return utf(mode) + length + utf(dtype) + values.tobytes()


def nd4j_bytes(array: np.ndarray, mode: str = "MIXED_DATA_TYPES", dtype: str = "FLOAT", order: str = "c",
               layout: tuple[int, ...] | None = None) -> bytes:
    """`Nd4j.write` of `array`: its values stored in `order`, or in the axis order `layout` (slowest first) with
    the matching strides while the header still claims `order`."""
    array = np.asarray(array)
    if layout is None:
        layout = tuple(range(array.ndim)) if order == "c" else tuple(reversed(range(array.ndim)))
    data = array.transpose(layout).ravel()
    strides = [0] * array.ndim
    step = 1
    for axis in reversed(layout):
        strides[axis] = step
        step *= array.shape[axis]
    info = [array.ndim, *array.shape, *strides, 8192 if mode == "MIXED_DATA_TYPES" else 0, 1, ord(order)]
    shape_type = "INT" if mode == "JAVACPP" else "LONG"
    return _buffer(mode, shape_type, info) + _buffer(mode, dtype, data)


# -- configuration JSON --------------------------------------------------------------------------------------------

def layer(cls: str, package: str = "org.deeplearning4j.nn.conf.layers", **fields) -> dict:
    return {"@class": f"{package}.{cls}", **fields}


def act(name: str, **params) -> dict:
    return {"@class": f"org.nd4j.linalg.activations.impl.Activation{name}", **params}


def loss(name: str) -> dict:
    return {"@class": f"org.nd4j.linalg.lossfunctions.impl.Loss{name}"}


def pre(cls: str, **fields) -> dict:
    return {"@class": f"org.deeplearning4j.nn.conf.preprocessor.{cls}", **fields}


def multilayer(layers: list[dict], preprocessors: dict[int, dict] | None = None) -> dict:
    return {"backpropType": "Standard", "confs": [{"layer": l, "seed": 1} for l in layers],
            "inputPreProcessors": {str(k): v for k, v in (preprocessors or {}).items()}}


def write_model(path: Path, configuration: dict | str, params: np.ndarray, **extra: bytes) -> Path:
    """A ModelSerializer zip: configuration.json and coefficients.bin (a [1, N] row), plus any other entries."""
    with zipfile.ZipFile(path, "w") as archive:
        text = configuration if isinstance(configuration, str) else json.dumps(configuration)
        archive.writestr("configuration.json", text)
        archive.writestr("coefficients.bin", nd4j_bytes(np.asarray(params, np.float32).reshape(1, -1)))
        for name, data in extra.items():
            archive.writestr(name.replace("_", "."), data)
    return path


def flat(*arrays_in_order: tuple[np.ndarray, str]) -> np.ndarray:
    """DL4J's flat parameter vector from (array, order) pairs in DL4J's parameter order."""
    return np.concatenate([np.asarray(a, np.float32).ravel(order=o.upper()) for a, o in arrays_in_order])


def legacy(value):
    """The same configuration as DL4J ≤ 1.0.0-alpha wrote it: wrapper objects {"name": {...}} instead of "@class"."""
    if isinstance(value, list):
        return [legacy(v) for v in value]
    if not isinstance(value, dict):
        return value
    fields = {k: legacy(v) for k, v in value.items() if k != "@class"}
    if "@class" not in value:
        return fields
    name = value["@class"].rsplit(".", 1)[-1]
    for prefix in ("Activation", "Loss"):
        name = name[len(prefix):] if name.startswith(prefix) else name
    return {{"DenseLayer": "dense", "OutputLayer": "output"}.get(name, name): fields}
