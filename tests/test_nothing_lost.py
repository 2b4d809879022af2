"""Nothing the user saved is lost: a save that fails or is killed leaves the previous model loadable at
its path, checkpoints are whole or absent, and a long session does not leak JVM threads or heap."""
from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import bigwrap
from bigwrap import layers, runtime


def _fitted(seed: int, width: int = 8):
    bigwrap.set_random_seed(seed)
    model = bigwrap.Sequential([layers.Input((4,)), layers.Dense(width, activation="relu"),
                                layers.Dense(3, activation="softmax")])
    return bigwrap.EstimatorModel(model=model, loss="sparse_categorical_crossentropy")


def _same_weights(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.model.get_weights(), b.model.get_weights()))


def test_a_failing_save_leaves_the_previous_model(spark, tmp_path):
    path = str(tmp_path / "model")
    previous = _fitted(1)
    previous.save(path)

    # the JVM's stage writer fails after metadata/part-00000, metadata/_SUCCESS and model/spec.json
    runtime.bridge(spark).hook("failNextSaveAfter", 3, "disk full")
    with pytest.raises(OSError, match="disk full"):
        _fitted(2).write().overwrite().save(path)
    assert _same_weights(bigwrap.EstimatorModel.load(path), previous)
    assert sorted(os.listdir(tmp_path)) == ["model"]  # the half-written temporary directory is gone


_KILLED_SAVE = """
    import os, sys
    import bigwrap
    from bigwrap import layers
    sys.path.insert(0, {tests!r})
    from test_nothing_lost import _fitted
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "between-renames":  # the worst instant: the old stage moved aside, the new one not yet in
        bigwrap.runtime.bridge().hook("haltNextSaveBetweenRenames")  # the JVM's writer halts there (exit 9)
    models = [_fitted(1, 256), _fitted(2, 256)]
    n = 0
    while True:
        try:
            models[n % 2].write().overwrite().save(path)
        except (bigwrap.errors.JvmError, ConnectionError):  # the JVM halted between the renames: die with it
            os._exit(9)
        n += 1
        print("SAVED", n, flush=True)
"""


@pytest.mark.parametrize("mode", ["between-renames", "at-random"])
def test_a_killed_save_leaves_a_loadable_model(spark, tmp_path, mode):
    path = str(tmp_path / "model")
    candidates = [_fitted(1, 256), _fitted(2, 256)]
    candidates[1].save(path)
    script = textwrap.dedent(_KILLED_SAVE.format(tests=os.path.dirname(__file__)))
    for delay in ([None] if mode == "between-renames" else [0.0, 0.005, 0.01, 0.02, 0.05]):
        child = subprocess.Popen([sys.executable, "-c", script, path, mode], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        if delay is not None:
            first = child.stdout.readline()
            assert first.startswith("SAVED"), first + child.stdout.read()
            time.sleep(delay)  # lands somewhere inside the following saves
            child.send_signal(signal.SIGKILL)
        output, _ = child.communicate(timeout=120)
        assert child.returncode in (-signal.SIGKILL, 9), output
        loaded = bigwrap.EstimatorModel.load(path)
        assert any(_same_weights(loaded, c) for c in candidates), f"after a kill at {delay}s the model changed"


def test_a_partial_checkpoint_is_never_resumed_from(spark, digits, tmp_path):
    train, _ = digits
    directory = tmp_path / "checkpoints"
    model = bigwrap.Sequential([layers.Input((64,)), layers.Dense(10, activation="softmax")])
    bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=64, epochs=2,
                      checkpointDir=str(directory), verbose=0).fit(train)
    # what a JVM killed while writing epoch 3 leaves: its temporary sibling, never an epoch-0003
    partial = directory / ".epoch-0003.tmp-0123"
    partial.mkdir()
    (partial / "weights.bin").write_bytes(b"\x00" * 7)
    assert bigwrap.checkpoints.load(str(directory)).epoch == 2


def _jvm_threads_and_heap(spark) -> tuple[int, float]:
    jvm = spark.sparkContext._jvm
    management = jvm.java.lang.management.ManagementFactory
    for _ in range(3):
        jvm.java.lang.System.gc()
        time.sleep(0.2)
    heap = management.getMemoryMXBean().getHeapMemoryUsage().getUsed() / 2 ** 20
    return management.getThreadMXBean().getThreadCount(), heap


def test_twenty_fit_transform_cycles_do_not_leak_threads_or_heap(spark, digits):
    train, test = (frame.limit(256).cache() for frame in digits)

    def cycle(seed: int) -> None:
        bigwrap.set_random_seed(seed)
        model = bigwrap.Sequential([layers.Input((64,)), layers.Dense(32, activation="relu"),
                                    layers.Dense(10, activation="softmax")])
        fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=128, epochs=1,
                                   trainer="barrier" if seed % 2 else "bigdl", verbose=0).fit(train)
        assert fitted.transform(test).count() == test.count()

    # warm-up: Spark's and BigDL's thread pools grow to their caps over the first ~6 cycles (measured)
    for seed in range(6):
        cycle(seed)
    gc.collect()
    threads_before, heap_before = _jvm_threads_and_heap(spark)
    for seed in range(6, 26):
        cycle(seed)
    gc.collect()  # drops the Python models, whose finalizers release their JVM handles
    threads_after, heap_after = _jvm_threads_and_heap(spark)
    print(f"JVM threads {threads_before} -> {threads_after}, heap {heap_before:.0f} -> {heap_after:.0f} MiB")
    assert threads_after <= threads_before + 4
    assert heap_after <= heap_before + 64
