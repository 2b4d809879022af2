"""The model spec format (docs/spec.md) and the bulk weight encoding shared with the JVM and disk."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

FORMAT = "bigwrap.model"
# Version 2 added calls with named tensors ({"inputs": {...}, "arguments": {...}} in `inbound`); a spec without
# them is still written as version 1, so older readers keep reading what they can build.
VERSION = 2
READS = (1, VERSION)


def check(spec: Any) -> dict[str, Any]:
    """`spec` as a dict if it is a spec this version reads; else a ValueError saying what is wrong."""
    if isinstance(spec, (str, bytes)):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as e:
            raise ValueError(f"the model spec is not valid JSON: {e}") from None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise ValueError(f'not a bigwrap model spec: expected {{"format": "{FORMAT}", ...}}')
    if spec.get("version") not in READS:
        raise ValueError(f"model spec version {spec.get('version')!r} is not supported by this bigwrap "
                         f"(it reads versions {', '.join(map(str, READS))})")
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


def decode_weights(index: str | dict, data: bytes) -> list[tuple[str, str, np.ndarray]]:
    """The inverse of encode_weights; a ValueError says where the index and the data disagree."""
    if isinstance(index, str):
        index = json.loads(index)
    if len(data) % 4:
        raise ValueError(f"{len(data)} bytes is not a whole number of float32 values")
    flat = np.frombuffer(data, dtype="<f4")
    out = []
    try:
        for entry in index["weights"]:
            shape, offset = [int(d) for d in entry["shape"]], int(entry["offset"])
            size = int(np.prod(shape))
            if offset < 0 or offset + size > flat.size:
                raise ValueError(f"{entry['layer']}/{entry['name']} needs values {offset}..{offset + size}, "
                                 f"the data holds {flat.size}")
            values = flat[offset:offset + size]
            out.append((entry["layer"], entry["name"], values.reshape(shape).astype(np.float32)))
    except (KeyError, TypeError) as e:
        raise ValueError(f"the weight index is malformed ({type(e).__name__}: {e})") from None
    described = sum(values.size for _, _, values in out)
    if described != flat.size:
        raise ValueError(f"the data holds {flat.size} values, the index describes {described}")
    return out
