"""Reading the checkpoints bigwrap wrote (saved stages are read on the JVM, bigwrap.ml.StageFiles) with
errors that name the path and the problem. Nothing here unpickles or Java-deserializes: a file holding such an object is
refused, because loading one can run arbitrary code."""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from . import spec as spec_format

_PICKLE_PROTOCOLS = range(2, 6)
_JAVA_SERIALIZATION = b"\xac\xed\x00\x05"


def _foreign_object(head: bytes) -> str | None:
    if len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return "a Python pickle"
    if head.startswith(_JAVA_SERIALIZATION):
        return "a Java-serialized object"
    return None


def _refuse(path: str, kind: str) -> ValueError:
    return ValueError(f"{path} holds {kind}; bigwrap never loads pickled or Java-serialized objects (loading "
                      "one can run arbitrary code). Save models with bigwrap (fitted.save(path)) or import "
                      "them (bigwrap.from_onnx / from_torch / from_dl4j)")


def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ValueError(f"{path} is missing: the saved directory is incomplete or was altered") from None


def read_json(path: str) -> Any:
    data = read_bytes(path)
    kind = _foreign_object(data[:4])
    if kind:
        raise _refuse(path, kind)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is corrupted: it is not valid JSON ({e})") from None


def read_weights(directory_path: str) -> list[tuple[str, str, np.ndarray]]:
    """weights.json + weights.bin of `directory_path`, checked against each other."""
    index_path, data_path = os.path.join(directory_path, "weights.json"), os.path.join(directory_path, "weights.bin")
    index = read_json(index_path)
    data = read_bytes(data_path)
    try:
        return spec_format.decode_weights(index, data)
    except ValueError as e:
        kind = _foreign_object(data[:4])
        if kind:
            raise _refuse(data_path, kind) from None
        raise ValueError(f"{data_path} does not match {index_path}: {e}; the weights are truncated or "
                         "corrupted") from None
