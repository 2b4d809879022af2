"""The barrier trainer: exact synchronous SGD over tasks holding uneven shares of the rows, whatever the
dataCache (docs/data.md)."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F

import bigwrap
from bigwrap import layers


def _fit(frame, model, tasks, epochs=1, optimizer=None, batch=32, **params):
    estimator = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=batch,
                                  epochs=epochs, seed=17, verbose=0, trainer="barrier", numTasks=tasks,
                                  optimizer=optimizer or bigwrap.optimizers.SGD(0.1), **params)
    return estimator.fit(frame)


def _rule_rows(rows, width, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, width))
    y = (x[:, :3].sum(axis=1) > 0).astype(float) + (x[:, 3] > 1)
    return [(Vectors.dense(r), float(t)) for r, t in zip(x, y)]


def _rule_frame(spark, rows, width, seed):
    return spark.createDataFrame(_rule_rows(rows, width, seed), ["features", "label"])


def _small_model(width):
    bigwrap.set_random_seed(4)
    return bigwrap.Sequential([layers.Input((width,)), layers.Dense(8, activation="relu"),
                               layers.Dense(3, activation="softmax")])


def test_full_batches_give_the_same_weights_on_one_task_or_two_uneven_ones(spark):
    """Partitions of 10, 20, 40, 80 and 170 rows: 2 tasks hold 170 and 150 rows. With a global batch of every
    row, each iteration's gradient is the mean over all 320 rows however the tasks share them (the old layout
    gave this for every first-epoch batch; the streaming one gives it for batches that cover the data)."""
    rows, bounds = _rule_rows(320, 6, seed=3), [0, 10, 30, 70, 150, 320]
    frame = None
    for low, high in zip(bounds, bounds[1:]):
        part = spark.createDataFrame(rows[low:high], ["features", "label"]).coalesce(1)
        frame = part if frame is None else frame.union(part)
    frame = frame.cache()
    sizes = frame.groupBy(F.spark_partition_id().alias("p")).count().orderBy("p").collect()
    assert [row["count"] for row in sizes] == [10, 20, 40, 80, 170]
    model = _small_model(6)
    one, two = (_fit(frame, model, tasks, epochs=3, batch=340) for tasks in (1, 2))
    for a, b in zip(one.model.get_weights(), two.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert not np.allclose(one.model.get_weights()[0], model.get_weights()[0])
    np.testing.assert_allclose(one.history["loss"], two.history["loss"], rtol=1e-5)
    assert two.training_data["rows"] == 320 and two.training_data["partitions"] == 5


def test_where_rows_are_stored_changes_no_number(spark):
    """The same seed and tasks give the same batches from memory, local disk or the source itself."""
    train, test = _rule_frame(spark, 4000, 8, seed=5).repartition(6).cache(), _rule_frame(spark, 1000, 8, seed=6)
    fits = {cache: _fit(train, _small_model(8), tasks=2, epochs=2, batch=64, dataCache=cache,
                        optimizer=bigwrap.optimizers.Adam(0.01)) for cache in ("memory", "disk", "none", "auto")}
    accuracy = {cache: fitted.transform(test).selectExpr("avg(cast(prediction = label as double))").first()[0]
                for cache, fitted in fits.items()}
    assert accuracy["memory"] >= 0.8 and abs(accuracy["disk"] - accuracy["memory"]) <= 0.005, accuracy
    for cache in ("disk", "none", "auto"):
        for a, b in zip(fits["memory"].model.get_weights(), fits[cache].model.get_weights()):
            np.testing.assert_array_equal(a, b)
    stored = {cache: fitted.training_data for cache, fitted in fits.items()}
    assert stored["disk"]["disk_bytes"] > 0 and stored["disk"]["memory_bytes"] == 0, stored
    assert stored["memory"]["memory_bytes"] > 0 and stored["memory"]["disk_bytes"] == 0, stored
    assert stored["none"]["memory_bytes"] == stored["none"]["disk_bytes"] == 0, stored


def test_history_reports_where_iteration_time_goes(digits):
    train, _ = digits
    fitted = _fit(train, bigwrap.Sequential([layers.Input((64,)), layers.Dense(10, activation="softmax")]),
                  tasks=2, epochs=2, optimizer=bigwrap.optimizers.Adam(0.01))
    for row in fitted.history.to_dict("records"):
        phases = [row[f"{p}_ms"] for p in ("compute", "feed", "exchange", "update", "sync")]
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

    rows = 120000  # 7,500 iterations an epoch (seconds, even on a loaded machine): 10 % of that is more than the
    # driver's own work around an epoch's stage (the start broadcast, job submission), ~0.1 s under load
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


def test_epochs_that_need_no_weights_in_between_share_a_stage(spark, tmp_path):
    """Spark's cost per barrier stage (launch, broadcast, model copies, hand-back) is paid once for several epochs
    when nothing reads the weights between them: the first stage runs one epoch and measures it, the rest share
    stages, cut after each epoch a checkpoint saves, and after every epoch when validation data is given. The
    weights are the same, bit for bit, however the epochs are staged, and each epoch keeps its own history row:
    its loss, its seconds (the stages' wall time between them) and its phases."""
    frame = _rule_frame(spark, 2000, 6, seed=5).cache()
    model = _small_model(6)

    def staged(**params):
        before = set(_stages(spark))
        fitted = _fit(frame, model, 2, epochs=5, **params)
        stages = sorted((stage, name.rpartition(": ")[2], seconds) for stage, (name, seconds) in _stages(spark).items()
                        if stage not in before and name.startswith("bigwrap barrier trainer"))
        return fitted, [name for _, name, _ in stages], sum(seconds for _, _, seconds in stages)

    shared, shared_stages, shared_seconds = staged()
    saved, saved_stages, _ = staged(checkpointDir=str(tmp_path), checkpointEvery=2)
    validated, validated_stages, _ = staged(validationData=frame)
    assert shared_stages == ["epoch 1", "epochs 2–5"]
    assert saved_stages == ["epoch 1", "epoch 2", "epochs 3–4", "epoch 5"]
    assert validated_stages == [f"epoch {e}" for e in range(1, 6)]
    for fitted in (saved, validated):
        for a, b in zip(shared.model.get_weights(), fitted.model.get_weights()):
            assert np.array_equal(a, b)
        assert fitted.history["loss"].tolist() == shared.history["loss"].tolist()
    history = shared.history
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5] and history["compute_ms"].notna().all()
    assert history["seconds"].sum() >= shared_seconds - 0.01
    assert history["samples_per_second"].tolist() == pytest.approx((2000 / history["seconds"]).tolist(), rel=1e-9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0002", "epoch-0004", "epoch-0005"]
    frame.unpersist()


def _dense_called_twice(width):
    x = layers.Input((width,))
    shared = layers.Dense(4, activation="tanh")
    both = layers.Add()([shared(x), shared(layers.Dense(width, activation="tanh")(x))])
    return bigwrap.Model(x, layers.Dense(3, activation="softmax")(both))


def _frozen_first_layer(width):
    model = _small_model(width)
    model.layers[0].trainable = False
    return model


@pytest.mark.parametrize("build", [_small_model, _dense_called_twice, _frozen_first_layer], ids=lambda b: b.__name__[1:])
def test_native_dense_layers_write_their_gradients_and_train_as_bigdls(spark, build):
    """Native Dense layers write each pass's gradients where BigDL's add them to zeroed ones (GradientReset): a
    shared layer's calls still add up and a frozen layer's gradient stays zero, so both train to the same weights."""
    frame = _rule_frame(spark, 1200, 6, seed=8).cache()
    bigwrap.set_random_seed(5)
    model = build(6)
    fits = {kernels: _fit(frame, model, tasks=2, epochs=2, kernels=kernels,
                          optimizer=bigwrap.optimizers.SGD(0.1, momentum=0.9)) for kernels in ("native", "bigdl")}
    for a, b in zip(fits["native"].model.get_weights(), fits["bigdl"].model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert not np.allclose(fits["native"].model.get_weights()[-2], model.get_weights()[-2])
    frame.unpersist()
