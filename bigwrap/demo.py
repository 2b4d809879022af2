"""`make demo`: an MLP on scikit-learn's digits (real data shipped in a package), on local Spark."""
from __future__ import annotations

import time

import numpy as np


def digits_frames(spark, seed: int = 42):
    """scikit-learn's 1,797 8x8 digits as (train, test) DataFrames: features scaled to [0, 1], 80/20 split."""
    from pyspark.ml.linalg import Vectors
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.2, random_state=seed, stratify=y)

    def frame(features, labels):
        rows = [(Vectors.dense(f), float(label)) for f, label in zip(features, labels)]
        return spark.createDataFrame(rows, ["features", "label"])

    return frame(x_train, y_train), frame(x_test, y_test)


def main() -> int:
    import bigwrap
    from bigwrap import layers

    started = time.time()
    spark = bigwrap.session("local[2]", app_name="bigwrap-demo")
    train, test = digits_frames(spark)
    bigwrap.set_random_seed(42)
    model = bigwrap.Sequential([
        layers.Input(shape=(64,)),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.1),
        layers.Dense(10, activation="softmax"),
    ], name="digits_mlp")
    model.summary()
    estimator = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy",
                                  optimizer=bigwrap.optimizers.Adam(learning_rate=0.01),
                                  batchSize=64, epochs=8, seed=42)
    fitted = estimator.fit(train)
    predictions = fitted.transform(test)
    accuracy = predictions.selectExpr("avg(cast(prediction = label as double))").first()[0]
    print(f"test accuracy: {accuracy:.4f} on {test.count()} held-out digits "
          f"({time.time() - started:.0f}s including Spark start-up)")
    return 0 if np.isfinite(accuracy) else 1
