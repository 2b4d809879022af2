"""Reading the checkpoints the JVM writes (docs/persistence.md, "Checkpoints"), on any store, to resume a fit."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import spec as spec_format


@dataclass
class Checkpoint:
    path: str
    epoch: int
    iteration: int
    history: list[dict[str, Any]]
    weights: list[tuple[str, str, np.ndarray]]


def load(directory: str) -> Checkpoint:
    """The checkpoint at `directory`, or the newest complete one in the checkpointDir `directory`, on any store,
    read and checked on the JVM (bigwrap.api.FitRuns.checkpoint, which refuses pickled or Java-serialized files)."""
    from .runtime import bridge

    jvm = bridge()
    checkpoint = jvm.call("FitRuns.checkpoint", os.fspath(directory))
    training = json.loads(checkpoint.json())
    return Checkpoint(training["path"], int(training["epoch"]), int(training["iteration"]), training["history"],
                      spec_format.decode_weights(*jvm.receive_weights(checkpoint.weights())))
