"""Ctrl-C during fit: the Spark jobs stop, no new ones start, and the last checkpoint stays whole.

The fit runs in its own Python process, which gets a real SIGINT, as a user's terminal sends it.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

_SCRIPT = """
    import json, sys, time
    import bigwrap
    from bigwrap import checkpoints, layers
    from bigwrap.demo import digits_frames
    spark = bigwrap.session("local[2]")
    train, _ = digits_frames(spark)
    train.cache().count()
    directory, trainer = sys.argv[1], sys.argv[2]
    model = bigwrap.Sequential([layers.Input((64,)), layers.Dense(32, activation="relu"),
                                layers.Dense(10, activation="softmax")])
    settings = dict(model=model, loss="sparse_categorical_crossentropy", batchSize=64, trainer=trainer, verbose=0)
    print("FITTING", flush=True)
    try:
        bigwrap.Estimator(epochs=500, checkpointDir=directory, **settings).fit(train)
        print("FINISHED", flush=True)
    except KeyboardInterrupt:
        tracker = spark.sparkContext.statusTracker()
        active_now = list(tracker.getActiveJobsIds())
        time.sleep(3)  # a trainer that went on would have started its next epoch's job by now
        active_later = list(tracker.getActiveJobsIds())
        saved = checkpoints.load(directory)
        resumed = bigwrap.Estimator(epochs=saved.epoch + 1, resumeFrom=directory, **settings).fit(train)
        print("INTERRUPTED " + json.dumps({"active_now": active_now, "active_later": active_later,
                                           "checkpoint_epoch": saved.epoch,
                                           "resumed_epochs": resumed.history["epoch"].tolist()}), flush=True)
"""


@pytest.mark.parametrize("trainer", ["barrier", "bigdl"])
def test_ctrl_c_cancels_the_jobs_and_keeps_the_last_checkpoint(tmp_path, trainer):
    directory = tmp_path / "checkpoints"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_SCRIPT), str(directory), trainer],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
    try:
        deadline = time.time() + 300
        while not (directory / "epoch-0002").exists():
            assert child.poll() is None, child.stdout.read()[-3000:]
            assert time.time() < deadline, "no second checkpoint within 5 minutes"
            time.sleep(0.1)
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, output[-3000:]
    assert "FINISHED" not in output
    report = json.loads(output.split("INTERRUPTED ")[1].splitlines()[0])
    assert report["active_now"] == [] and report["active_later"] == [], report
    epoch = report["checkpoint_epoch"]
    assert epoch >= 2
    assert report["resumed_epochs"] == list(range(1, epoch + 2))
