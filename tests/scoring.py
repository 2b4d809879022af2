"""Helpers of the inference tests: a classifier to score with, and results keyed by row id."""
from __future__ import annotations

import bigwrap
from bigwrap import layers


def untrained_classifier(seed: int = 0) -> bigwrap.EstimatorModel:
    """Untrained weights predict as well as trained ones for comparing two paths of the same model."""
    bigwrap.set_random_seed(seed)
    model = bigwrap.Sequential([layers.Input((64,)), layers.Dense(32, activation="relu"),
                                layers.Dense(10, activation="softmax")])
    return bigwrap.EstimatorModel(model=model, loss="sparse_categorical_crossentropy")


def by_id(frame, *columns) -> dict:
    return {r.id: tuple(r[c] for c in columns) for r in frame.select("id", *columns).collect()}
