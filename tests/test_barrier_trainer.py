"""The barrier trainer: synchronous SGD whose result does not depend on how many tasks share the batch."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors

import bigwrap
from bigwrap import layers


def _fit(frame, model, tasks, epochs=1, optimizer=None):
    estimator = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=32,
                                  epochs=epochs, seed=17, verbose=0, trainer="barrier", numTasks=tasks,
                                  optimizer=optimizer or bigwrap.optimizers.SGD(0.1))
    return estimator.fit(frame)


def test_one_epoch_on_one_or_two_tasks_gives_the_same_weights(spark):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 6))  # 300 rows: 9 full batches of 32 and an uneven last one of 12
    y = (x[:, :3].sum(axis=1) > 0).astype(float) + (x[:, 3] > 1)
    frame = spark.createDataFrame([(Vectors.dense(r), float(t)) for r, t in zip(x, y)], ["features", "label"])
    bigwrap.set_random_seed(4)
    model = bigwrap.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"),
                                layers.Dense(3, activation="softmax")])
    one, two = _fit(frame, model, tasks=1), _fit(frame, model, tasks=2)
    for a, b in zip(one.model.get_weights(), two.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert not np.allclose(one.model.get_weights()[0], model.get_weights()[0])
    assert one.history["loss"][0] == pytest.approx(two.history["loss"][0], rel=1e-4)


def test_history_reports_where_iteration_time_goes(digits):
    train, _ = digits
    fitted = _fit(train, bigwrap.Sequential([layers.Input((64,)), layers.Dense(10, activation="softmax")]),
                  tasks=2, epochs=2, optimizer=bigwrap.optimizers.Adam(0.01))
    for row in fitted.history.to_dict("records"):
        phases = [row[f"{p}_ms"] for p in ("compute", "exchange", "update", "sync")]
        assert all(v >= 0 for v in phases) and row["compute_ms"] > 0
        assert sum(phases) <= row["seconds"] * 1000 / 45 * 1.5  # 45 iterations; phases fit inside them



def _stages(spark) -> dict:
    """Spark's own record of every stage so far: id -> (name, seconds from submission to completion)."""
    store = spark.sparkContext._jsc.sc().statusStore()
    stages = store.stageList(None, False, False, getattr(store, "stageList$default$4")(),
                             getattr(store, "stageList$default$5")())
    done = [stages.apply(i) for i in range(stages.size()) if stages.apply(i).completionTime().isDefined()]
    return {s.stageId(): (s.name(), (s.completionTime().get().getTime() - s.submissionTime().get().getTime()) / 1000)
            for s in done}


def test_history_seconds_are_the_epochs_wall_time(spark):
    """Each epoch's seconds is the driver's wall clock around its stage: not less than Spark's own record of the
    stage, and within 10 % of it; samples/s is the epoch's rows over those seconds."""
    from pyspark.sql import functions as F

    rows = 24000  # 1,500 iterations an epoch: long enough that 10 % is more than the driver's own work per epoch
    features = F.array(*[F.rand(seed=k).cast("float") for k in range(40)])
    frame = (spark.range(rows).select(features.alias("features")).withColumn(
        "label", (F.col("features")[0] > 0.5).cast("double")).cache())
    model = bigwrap.Sequential([layers.Input((40,)), layers.Dense(64, activation="relu"),
                                layers.Dense(2, activation="softmax")])
    before = set(_stages(spark))
    history = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=16, epochs=2,
                                seed=3, verbose=0, numTasks=2).fit(frame).history
    epochs = {name: seconds for stage, (name, seconds) in _stages(spark).items() if stage not in before}
    for row in history.to_dict("records"):
        stage = epochs[f"bigwrap barrier trainer: epoch {row['epoch']}"]
        assert stage - 0.002 <= row["seconds"] <= stage * 1.1, (row, stage)
        assert row["samples_per_second"] == pytest.approx(rows / row["seconds"], rel=1e-9)
    frame.unpersist()
