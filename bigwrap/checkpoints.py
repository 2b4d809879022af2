"""Reading the checkpoints the JVM writes (docs/persistence.md, "Checkpoints") to resume a fit."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import stored

_EPOCH_DIR = re.compile(r"^epoch-(\d+)$")


def local_path(path: str) -> str:
    """bigwrap writes checkpoints, logs and saved models with local file I/O on the driver."""
    if path.startswith("file://"):
        path = path[len("file://"):]
    elif path.startswith("file:"):
        path = path[len("file:"):]
    elif re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+://", path):
        raise ValueError(f"{path!r}: bigwrap reads and writes local (driver) paths only in this version")
    return os.path.abspath(path)


@dataclass
class Checkpoint:
    path: str
    epoch: int
    iteration: int
    history: list[dict[str, Any]]
    weights: list[tuple[str, str, np.ndarray]]


def latest(directory: str) -> str:
    """`directory` itself if it is a checkpoint, else its newest epoch-NNNN subdirectory."""
    directory = local_path(directory)
    if os.path.exists(os.path.join(directory, "training.json")):
        return directory
    epochs = sorted((int(m.group(1)), name) for name in (os.listdir(directory) if os.path.isdir(directory) else [])
                    if (m := _EPOCH_DIR.match(name)))
    if not epochs:
        raise ValueError(f"resumeFrom={directory!r} is neither a checkpoint nor a checkpointDir with epoch-NNNN "
                         "checkpoints in it")
    return os.path.join(directory, epochs[-1][1])


def load(directory: str) -> Checkpoint:
    path = latest(directory)
    training = stored.read_json(os.path.join(path, "training.json"))
    if not isinstance(training, dict) or training.get("format") != "bigwrap.checkpoint" or training.get("version") != 1:
        raise ValueError(f"{path!r} is not a bigwrap checkpoint this version reads")
    return Checkpoint(path, int(training["epoch"]), int(training["iteration"]), training["history"],
                      stored.read_weights(path))
