"""Task layout (a task per core, or one multithreaded task per executor) and the barrier trainer's one
synchronisation round per iteration: the same exact SGD whatever the tasks, the layout or the topology."""
from __future__ import annotations

import numpy as np
import pytest

import bigwrap
from bigwrap import layers

from .cluster import StandaloneCluster, run_python
from .test_barrier_trainer import _rule_frame, _small_model


def _fit(frame, **params):
    return bigwrap.Estimator(model=_small_model(6), loss="sparse_categorical_crossentropy", batchSize=64, epochs=2,
                             seed=17, verbose=0, optimizer=bigwrap.optimizers.Adam(0.01), **params).fit(frame)


@pytest.fixture(scope="module")
def rule_frame(spark):
    frame = _rule_frame(spark, 640, 6, seed=8).repartition(3).cache()
    yield frame
    frame.unpersist()


def test_each_forced_layout_runs_its_tasks_and_trains_the_same_model(rule_frame):
    per_core, per_executor = _fit(rule_frame, taskLayout="perCore"), _fit(rule_frame, taskLayout="perExecutor")
    assert per_core.task_layout["tasks"] == 2 and per_core.task_layout["layout"] == "perCore"
    assert per_executor.task_layout["tasks"] == 1 and per_executor.task_layout["layout"] == "perExecutor"
    assert per_core.task_layout["per_core_ms"] is None  # forced: nothing timed
    # 2 tasks' sub-batches are not 1 task's batch (each task streams its own rows), so not the same numbers:
    # the same quality of model
    assert abs(per_core.history["loss"].iloc[-1] - per_executor.history["loss"].iloc[-1]) < 0.1


def test_auto_layout_times_the_model_both_ways_and_takes_the_faster(rule_frame):
    layout = _fit(rule_frame).task_layout
    assert layout["per_core_ms"] > 0 and layout["per_executor_ms"] > 0
    faster_together = layout["per_executor_ms"] <= layout["per_core_ms"]
    assert (layout["layout"], layout["tasks"]) == (("perExecutor", 1) if faster_together else ("perCore", 2))
    assert _fit(rule_frame, numTasks=2).task_layout == {"tasks": 2, "layout": "numTasks", "per_core_ms": None,
                                                        "per_executor_ms": None}


_SAME_WEIGHTS = """
    import json
    import numpy as np
    from pyspark.ml.linalg import Vectors
    import bigwrap
    from bigwrap import layers
    rng = np.random.default_rng(3)
    x = rng.normal(size=(330, 6))
    y = (x[:, :3].sum(axis=1) > 0).astype(float) + (x[:, 3] > 1)
    rows = [(Vectors.dense(r), float(t)) for r, t in zip(x, y)]
    frame = None
    for low, high in zip([0, 10, 30, 70, 150], [10, 30, 70, 150, 330]):  # uneven partitions: uneven task shares
        part = spark.createDataFrame(rows[low:high], ["features", "label"]).coalesce(1)
        frame = part if frame is None else frame.union(part)
    frame = frame.cache()
    fits = {}
    for tasks in TASKS:
        bigwrap.set_random_seed(4)
        model = bigwrap.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"),
                                    layers.Dense(3, activation="softmax")])
        fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=1320, epochs=4,
                                   seed=17, verbose=0, numTasks=tasks, optimizer=bigwrap.optimizers.Adam(0.05)).fit(frame)
        fits[tasks] = {"weights": [w.tolist() for w in fitted.model.get_weights()], "loss": list(fitted.history["loss"])}
    print("FITS", json.dumps(fits))
"""


def _same_weights(result, tasks):
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    fits = __import__("json").loads(result.stdout.split("FITS", 1)[1])
    one = fits["1"]
    for count in tasks[1:]:
        for a, b in zip(one["weights"], fits[str(count)]["weights"]):
            np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(one["loss"], fits[str(count)]["loss"], rtol=1e-5)
    assert one["loss"][-1] < one["loss"][0]


@pytest.mark.slow
def test_one_round_per_iteration_gives_one_tasks_weights_on_two_and_three_tasks_in_one_jvm():
    """Tasks holding uneven shares of 330 rows, a global batch bigger than all of them: each iteration's gradient
    is the mean over every row however the tasks share them, so 2 and 3 tasks must end with 1 task's weights."""
    tasks = [1, 2, 3]
    _same_weights(run_python(f"    TASKS = {tasks}" + _SAME_WEIGHTS, "local[3]", {}), tasks)


@pytest.mark.cluster
def test_tasks_across_executors_and_within_one_give_one_tasks_weights(tmp_path):
    """2 executors of 2 cores: 3 tasks are 2 in one JVM (memory) and 1 in the other (blocks), 4 are 2 + 2."""
    tasks = [1, 3, 4]
    with StandaloneCluster(tmp_path, workers=2, cores=2) as cluster:
        result = run_python(f"    TASKS = {tasks}" + _SAME_WEIGHTS, cluster.url, {
            "spark.executor.cores": "2", "spark.cores.max": "4", "spark.executor.memory": "1g"})
    _same_weights(result, tasks)
