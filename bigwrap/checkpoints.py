"""Reading the checkpoints the JVM writes (docs/persistence.md, "Checkpoints"), on any store, to resume a fit."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import storage, stored


@dataclass
class Checkpoint:
    path: str
    epoch: int
    iteration: int
    history: list[dict[str, Any]]
    weights: list[tuple[str, str, np.ndarray]]


def load(directory: str) -> Checkpoint:
    """The checkpoint at `directory`, or the newest complete one in the checkpointDir `directory`, on any store
    (the JVM finds it: bigwrap.train.Checkpoints.latest). `path` stays where it is; it is read from a local copy."""
    from .runtime import bridge

    path = bridge().call("PythonFacade.latestCheckpoint", os.fspath(directory))
    with storage.local_copy(path) as local:
        training = stored.read_json(os.path.join(local, "training.json"))
        if not isinstance(training, dict) or training.get("format") != "bigwrap.checkpoint" \
                or training.get("version") != 1:
            raise ValueError(f"{path!r} is not a bigwrap checkpoint this version reads")
        return Checkpoint(path, int(training["epoch"]), int(training["iteration"]), training["history"],
                          stored.read_weights(local))
