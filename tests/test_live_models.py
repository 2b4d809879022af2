"""The DSL is pure Python, and the JVM copies of its models do not pile up in a long session: predict, set_weights
and fits (good, failed and cancelled) release every handle they replace or no longer need (bigwrap/live_models.py)."""
from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F

import bigwrap
from bigwrap import layers, live_models


def test_the_dsl_imports_nothing_of_pyspark_or_py4j():
    script = ("import sys, bigwrap.layers, bigwrap.models, bigwrap.importers\n"
              "assert not [m for m in sys.modules if m.startswith(('pyspark', 'py4j'))], 'the DSL loaded Spark'\n"
              "assert 'Estimator' in dir(bigwrap) and 'session' in bigwrap.__all__\n"
              "assert bigwrap.Estimator.__module__ == 'bigwrap.estimator'  # loaded on first use\n"
              "assert [m for m in sys.modules if m.startswith('pyspark')]\n")
    subprocess.run([sys.executable, "-c", script], check=True)


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Estimater'"):
        bigwrap.Estimater


def _live_handles(spark) -> int:
    gc.collect()  # a collected model's finalizer notes its handle ...
    live_models.release_collected()  # ... which the next load, or this, releases
    return bigwrap.runtime.bridge(spark).hook("liveModels")


def test_the_collector_makes_no_jvm_call_and_the_next_load_releases_what_it_collected(spark):
    """The garbage collector runs wherever Python allocates, also inside a py4j call on the same thread, where a
    second call breaks the connection: so a collected model's handle is released later, from ordinary code."""
    x = np.ones((2, 4), dtype=np.float32)
    model = bigwrap.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    model.predict(x)
    before = _live_handles(spark)
    del model
    gc.collect()
    assert bigwrap.runtime.bridge(spark).hook("liveModels") == before
    other = bigwrap.Sequential([layers.Input((4,)), layers.Dense(2, activation="softmax")])
    other.predict(x)  # its load releases the collected model's handle first
    assert bigwrap.runtime.bridge(spark).hook("liveModels") == before


def _interrupted_fit(spark, estimator, frame) -> None:
    """Ctrl-C while `estimator` fits `frame`: a real SIGINT once its first Spark job runs."""
    tracker = spark.sparkContext.statusTracker()

    def interrupt():
        deadline = time.monotonic() + 120
        while not tracker.getActiveJobsIds() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            estimator.fit(frame)
    finally:
        thread.join()


@pytest.mark.slow
def test_live_handles_do_not_grow_over_20_cycles(spark):
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    good = spark.createDataFrame([(Vectors.dense(row), float(i % 3)) for i, row in enumerate(x)],
                                 ["features", "label"]).cache()
    bad = good.withColumn("label", F.lit(7.0))  # class 7 of 3: refused on the JVM, during the fit's data pass
    model = bigwrap.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    settings = dict(model=model, loss="sparse_categorical_crossentropy", batchSize=16, verbose=0)
    model.predict(x)
    before = _live_handles(spark)
    counts = []
    for cycle in range(20):
        model.predict(x)
        model.set_weights([w * 0.99 for w in model.get_weights()])
        np.testing.assert_allclose(model.predict(x).sum(axis=1), 1, rtol=1e-5)  # on the new weights' handle
        with pytest.raises(ValueError, match="label column 'label' has the value 7.0"):
            bigwrap.Estimator(epochs=1, **settings).fit(bad)
        if cycle % 5 == 0:
            fitted = bigwrap.Estimator(epochs=1, **settings).fit(good)
            assert fitted.model.predict(x).shape == (64, 3)
            del fitted
            _interrupted_fit(spark, bigwrap.Estimator(epochs=100_000, **settings), good)
        counts.append(_live_handles(spark))
    assert max(counts) <= before, f"live JVM models grew from {before}: {counts}"
