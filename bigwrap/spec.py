"""The model spec format (docs/spec.md) and the bulk weight encoding shared with the JVM and disk."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

FORMAT = "bigwrap.model"
VERSION = 1


def check(spec: Any) -> dict[str, Any]:
    """`spec` as a dict if it is a spec this version reads; else a ValueError saying what is wrong."""
    if isinstance(spec, (str, bytes)):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as e:
            raise ValueError(f"the model spec is not valid JSON: {e}") from None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise ValueError(f'not a bigwrap model spec: expected {{"format": "{FORMAT}", ...}}')
    if spec.get("version") != VERSION:
        raise ValueError(f"model spec version {spec.get('version')!r} is not supported by this bigwrap "
                         f"(it reads version {VERSION})")
    for key in ("layers", "inputs", "outputs"):
        if not isinstance(spec.get(key), list) or not spec[key]:
            raise ValueError(f"the model spec needs a non-empty list `{key}`")
    return spec


def encode_weights(entries: list[tuple[str, str, np.ndarray]]) -> tuple[str, bytes]:
    """(layer, name, array) triples → the JSON index and little-endian float32 bytes."""
    index, chunks, offset = [], [], 0
    for layer, name, array in entries:
        array = np.ascontiguousarray(array, dtype="<f4")
        index.append({"layer": layer, "name": name, "shape": list(array.shape), "offset": offset})
        chunks.append(array.tobytes())
        offset += array.size
    return json.dumps({"dtype": "float32", "byte_order": "little", "weights": index}), b"".join(chunks)


def decode_weights(index_json: str, data: bytes) -> list[tuple[str, str, np.ndarray]]:
    index = json.loads(index_json)
    flat = np.frombuffer(data, dtype="<f4")
    out = []
    for entry in index["weights"]:
        size = int(np.prod(entry["shape"]))
        values = flat[entry["offset"]:entry["offset"] + size]
        out.append((entry["layer"], entry["name"], values.reshape(entry["shape"]).astype(np.float32)))
    return out
