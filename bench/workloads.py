"""Synthetic workloads shared by the benchmarks: the same arrays for Spark and for PyTorch."""
from __future__ import annotations

import numpy as np

FEATURES, CLASSES = 784, 10


def blobs(rows: int, seed: int, scale: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """A 10-class task in 784 dims (noisy class centroids) that a small MLP learns to ~0.95."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(CLASSES, FEATURES)).astype(np.float32) * scale
    labels = rng.integers(0, CLASSES, size=rows)
    features = centroids[labels] + rng.normal(size=(rows, FEATURES)).astype(np.float32)
    return features, labels.astype(np.float32)


def images(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28x1 images: a class-dependent bright patch plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, size=rows)
    x = rng.normal(scale=0.5, size=(rows, 28, 28, 1)).astype(np.float32)
    for c in range(CLASSES):
        r, col = divmod(c, 5)
        x[labels == c, 4 + 10 * r:12 + 10 * r, 2 + 5 * col:6 + 5 * col, 0] += 1.5
    return x, labels.astype(np.float32)


def frame(spark, features: np.ndarray, labels: np.ndarray, partitions: int = 4):
    """A cached DataFrame (features: array<float>, label: double) built through Arrow, not row pickling."""
    import pandas as pd

    flat = features.reshape(len(features), -1)
    pdf = pd.DataFrame({"features": list(flat), "label": labels.astype(np.float64)})
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    df = spark.createDataFrame(pdf, "features array<float>, label double").repartition(partitions).cache()
    df.count()
    return df
