"""Training on a real standalone cluster: 2 workers with 1 core each on 127.0.0.1."""
from __future__ import annotations

import pytest

from .cluster import StandaloneCluster, assert_succeeded

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StandaloneCluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def test_digits_mlp_trains_across_two_executors(cluster):
    result = cluster.run("""
        from bigwrap import layers, live_models
        from bigwrap.demo import digits_frames
        train, test = digits_frames(spark)
        bigwrap.set_random_seed(0)
        model = bigwrap.Sequential([layers.Input((64,)), layers.Dense(64, activation="relu"),
                                    layers.Dense(10, activation="softmax")])
        fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", trainer="barrier",
                                   optimizer=bigwrap.optimizers.Adam(0.01), batchSize=64, epochs=8, seed=3,
                                   verbose=0).fit(train)
        accuracy = fitted.transform(test).selectExpr("avg(cast(prediction = label as double))").first()[0]
        print("ACCURACY", accuracy)
        print("EXECUTORS", spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1)
        for _ in range(2):  # 16 more inference tasks: the model reaches each executor once, not each task
            fitted.transform(test.repartition(8)).write.format("noop").mode("overwrite").save()
        fitted.register_udf(spark, "classify")  # SQL functions on executors: batched, and row by row in a branch
        test.createOrReplaceTempView("digits_test")
        print("SQL_BATCHED", spark.sql("SELECT avg(cast(classify(features) = label as double)) FROM digits_test")
              .first()[0])
        print("SQL_ROWS", spark.sql("SELECT avg(CASE WHEN label >= 0 THEN cast(classify(features) = label as double) "
                                    "END) FROM digits_test").first()[0])
        jvm = bigwrap.runtime.bridge(spark)
        print("MODULES", jvm.hook("modulesBuilt", live_models.handle(fitted.model, jvm)))
    """)
    output = assert_succeeded(result)
    assert "EXECUTORS 2" in result.stdout, output[-3000:]
    assert int(result.stdout.split("MODULES")[1].split()[0]) in (1, 2)  # one per executor core at most
    accuracy = float(result.stdout.split("ACCURACY")[1].split()[0])
    assert accuracy >= 0.95
    assert float(result.stdout.split("SQL_BATCHED")[1].split()[0]) == accuracy
    assert float(result.stdout.split("SQL_ROWS")[1].split()[0]) == accuracy


@pytest.mark.parametrize("data_cache", ["auto", "disk"])
def test_a_lost_executor_costs_one_stage_not_the_fit(cluster, data_cache):
    """Kills one executor JVM while a barrier stage of epoch 2 or later runs (one epoch, or several when they need
    no weights in between): that stage is retried, the user is warned, and the model is the same fit's without the
    fault, weight for weight: the retry replays the stage's epochs from the driver's weights and optimizer state on
    the same batches. The rows the executor stored (in memory, or on its local disk with dataCache="disk") are lost
    with it and recomputed from the source before the retry (the source's 2 partitions dealt over 2 tasks x 2
    without a shuffle, so each row keeps its place).

    Dense's GEMM is pinned to oneDNN: by default each executor JVM times MKL against oneDNN, and a replacement
    executor may choose the other, whose last-bit differences Adam's first steps amplify.

    Epochs are long (batch 4: ~360 iterations; with batch 8 a whole epoch once passed between
    two polls of the watcher) and the stage after the first holds nine of them (with five, one CI run's watcher
    never saw it running), so the kill lands inside a stage even on a loaded machine."""
    result = cluster.run(f"""
        import subprocess, threading, time, warnings, os, signal
        from bigwrap import layers
        from bigwrap.demo import digits_frames
        train, test = digits_frames(spark)
        train.cache().count()
        tracker = spark.sparkContext.statusTracker()

        def kill_during_a_later_epoch():
            while True:
                for stage in filter(None, map(tracker.getStageInfo, tracker.getActiveStageIds())):
                    epochs = stage.name.rpartition(": ")[2]  # "epoch 2", or "epochs 2–10" for a stage of several
                    # both tasks running and none finished: the kill lands inside the stage, not after a task's end
                    if (stage.name.startswith("bigwrap barrier trainer") and int(epochs.split()[1].split("–")[0]) >= 2
                            and stage.numActiveTasks == 2 and stage.numCompletedTasks == 0):
                        # this application's executors only (other Spark apps may run on the machine)
                        pattern = "java.*[C]oarseGrainedExecutorBackend.*" + spark.sparkContext.applicationId
                        pid = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()[0]
                        os.kill(int(pid), signal.SIGKILL)
                        print("KILLED executor", pid, "during", epochs, flush=True)
                        return
                time.sleep(0.01)

        def fit():
            import hashlib, numpy as np
            bigwrap.set_random_seed(0)
            model = bigwrap.Sequential([layers.Input((64,)), layers.Dense(64, activation="relu"),
                                        layers.Dense(10, activation="softmax")])
            fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", trainer="barrier",
                                       optimizer=bigwrap.optimizers.Adam(0.001), batchSize=4, epochs=10, seed=3,
                                       verbose=0, dataCache={data_cache!r}).fit(train)
            weights = hashlib.sha1(b"".join(np.asarray(w, np.float32).tobytes() for w in fitted.model.get_weights()))
            accuracy = fitted.transform(test).selectExpr("avg(cast(prediction = label as double))").first()[0]
            return fitted, (accuracy, weights.hexdigest())

        unfaulted, unfaulted_outcome = fit()
        threading.Thread(target=kill_during_a_later_epoch, daemon=True).start()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted, outcome = fit()
        for w in caught:
            print("WARNING", w.message)
        print("EPOCHS", fitted.history["epoch"].tolist())
        print("ACCURACY", *outcome, *unfaulted_outcome)  # accuracy and a hash of the weights, each fit
    """, conf={"spark.executorEnv.BIGWRAP_NATIVE_GEMM": "onednn"})
    output = assert_succeeded(result)
    assert "KILLED executor" in result.stdout, output[-3000:]
    killed_in = result.stdout.split("during ")[1].splitlines()[0]
    assert f"WARNING bigwrap: {killed_in} failed" in result.stdout and "retrying" in result.stdout, output[-3000:]
    assert "EPOCHS [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" in result.stdout
    accuracy, weights, unfaulted, unfaulted_weights = result.stdout.split("ACCURACY")[1].split()[:4]
    assert float(accuracy) >= 0.95 and (accuracy, weights) == (unfaulted, unfaulted_weights), output[-3000:]
