"""Validation, history, early stopping, checkpoints/resume, TensorBoard, progress bar, plots."""
from __future__ import annotations

import contextlib
import json
import os
import pty
import sys
import termios
import threading

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors

import bigwrap
from bigwrap import layers


def _frame(spark, x, y):
    return spark.createDataFrame([(Vectors.dense(r), float(t)) for r, t in zip(x, y)], ["features", "label"])


@pytest.fixture(scope="module")
def noise(spark):
    """Labels independent of the features: validation loss can only plateau, then rise."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(240, 8))
    y = rng.integers(0, 2, size=240)
    return _frame(spark, x[:160], y[:160]).cache(), _frame(spark, x[160:], y[160:]).cache()


@pytest.fixture(scope="module")
def separable(spark):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 4))
    return _frame(spark, x, (x[:, 0] - x[:, 2] > 0).astype(float)).cache()


def _classifier(units: int = 2, inputs: int = 8):
    bigwrap.set_random_seed(5)
    return bigwrap.Sequential([layers.Input((inputs,)), layers.Dense(32, activation="relu"),
                               layers.Dense(units, activation="softmax")])


@pytest.mark.parametrize("trainer", ["barrier", "bigdl"])
def test_early_stopping_stops_on_a_plateau_and_restores_the_best_epoch(noise, trainer):
    train, validation = noise
    fitted = bigwrap.Estimator(model=_classifier(), loss="sparse_categorical_crossentropy",
                               optimizer=bigwrap.optimizers.Adam(0.05), batchSize=40, epochs=25, verbose=0,
                               validationData=validation, metrics=["accuracy"], earlyStopping=True,
                               monitor="val_loss", patience=2, restoreBestWeights=True, seed=1,
                               trainer=trainer).fit(train)
    history = fitted.history
    assert list(history.columns[:4]) == ["epoch", "loss", "seconds", "samples_per_second"]
    assert list(history.columns[-2:]) == ["val_loss", "val_accuracy"]
    assert len(history) < 25 and fitted.stopped_epoch == len(history)
    best = history.loc[history["val_loss"].idxmin()]
    assert fitted.best_epoch == best["epoch"] < fitted.stopped_epoch
    assert fitted.evaluate(validation)["loss"] == pytest.approx(best["val_loss"], rel=1e-6)


def test_validation_split_and_metrics_match_an_independent_computation(separable):
    from sklearn.metrics import roc_auc_score

    model = bigwrap.Sequential([layers.Input((4,)), layers.Dense(1, activation="sigmoid")])
    estimator = bigwrap.Estimator(model=model, loss="binary_crossentropy", optimizer="adam", batchSize=20,
                                  epochs=2, verbose=0, validationSplit=0.25, seed=9,
                                  metrics=["accuracy", "auc", "mae", "mse"])
    fitted = estimator.fit(separable)
    assert list(fitted.history.columns[-5:]) == ["val_loss", "val_accuracy", "val_auc", "val_mae", "val_mse"]
    rows = fitted.transform(separable).select("label", "probability").collect()
    label = np.array([r.label for r in rows])
    p = np.array([r.probability[1] for r in rows])
    scores = fitted.evaluate(separable, ["auc", "mae", "mse", "accuracy"])
    assert scores["auc"] == pytest.approx(roc_auc_score(label, p), abs=1e-3)
    assert scores["mae"] == pytest.approx(np.abs(p - label).mean(), abs=1e-5)
    assert scores["mse"] == pytest.approx(((p - label) ** 2).mean(), abs=1e-5)
    assert scores["accuracy"] == pytest.approx(((p > 0.5) == label).mean(), abs=1e-6)


@pytest.mark.parametrize("trainer", ["barrier", "bigdl"])
def test_resume_continues_epochs_history_and_optimizer_state(noise, tmp_path, trainer):
    train, validation = noise
    checkpoints = tmp_path / "checkpoints"
    estimator = bigwrap.Estimator(model=_classifier(), loss="sparse_categorical_crossentropy",
                                  optimizer=bigwrap.optimizers.Adam(0.01), batchSize=40, epochs=2, verbose=0,
                                  checkpointDir=str(checkpoints), seed=2, trainer=trainer)
    first = estimator.fit(train)
    assert sorted(os.listdir(checkpoints)) == ["epoch-0001", "epoch-0002"]
    resumed = estimator.copy({estimator.epochs: 4, estimator.resumeFrom: str(checkpoints)}).fit(train)
    history = resumed.history
    assert list(history["epoch"]) == [1, 2, 3, 4]
    assert history.iloc[:2].equals(first.history)
    # the loss goes on falling from where it stopped, not from an untrained model's level
    assert history["loss"][2] < history["loss"][1] < history["loss"][0]
    # Adam's step counter went on from the first run's 2 epochs × 4 iterations
    with open(checkpoints / "epoch-0004" / "optimizer.json") as f:
        optimizer = json.load(f)
    assert optimizer["counters"]["evalCounter"]["value"] == 16
    assert {w["name"] for w in optimizer["weights"]} >= {"s", "r"}
    with pytest.raises(ValueError, match="set epochs above 4"):
        estimator.copy({estimator.resumeFrom: str(checkpoints)}).fit(train)


def test_tensorboard_events_hold_the_training_loss_per_iteration(noise, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train, validation = noise
    fitted = bigwrap.Estimator(model=_classifier(), loss="sparse_categorical_crossentropy", batchSize=40,
                               epochs=2, verbose=0, validationData=validation, logDir=str(tmp_path)).fit(train)
    events = EventAccumulator(str(tmp_path / "bigwrap" / "train"))
    events.Reload()
    losses = events.Scalars("loss")
    assert [e.step for e in losses] == list(range(1, 9))  # 160 rows / batch 40 = 4 iterations × 2 epochs
    assert np.mean([e.value for e in losses[:4]]) == pytest.approx(fitted.history["loss"][0], rel=1e-5)
    validation_events = EventAccumulator(str(tmp_path / "bigwrap" / "validation"))
    validation_events.Reload()
    assert [e.value for e in validation_events.Scalars("loss")] == pytest.approx(list(fitted.history["val_loss"]))


@contextlib.contextmanager
def _terminal_stdout():
    """sys.stdout on a real pseudo-terminal; yields a function returning what was written (newlines as written)."""
    main, side = pty.openpty()
    attributes = termios.tcgetattr(side)
    attributes[1] &= ~termios.OPOST  # no \n -> \r\n translation: read back exactly what was written
    termios.tcsetattr(side, termios.TCSANOW, attributes)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: _drain(main, chunks), daemon=True)
    reader.start()
    terminal, saved = open(side, "w", closefd=True), sys.stdout
    sys.stdout = terminal
    try:
        yield lambda: b"".join(chunks).decode()
    finally:
        sys.stdout = saved
        terminal.close()  # the reader sees end of input
        reader.join(timeout=5)
        os.close(main)


def _drain(fd: int, chunks: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the terminal's other side closed
            return
        if not chunk:
            return
        chunks.append(chunk)


def test_progress_bar_is_drawn_live_on_a_terminal_and_verbose_0_is_silent(noise, capsys):
    train, _ = noise
    # BigDL's trainer takes ~0.1 s per iteration here: 20 iterations outlast several 0.25 s polls of the bar
    # (the barrier trainer can finish an epoch this small between two polls)
    estimator = bigwrap.Estimator(model=_classifier(), loss="sparse_categorical_crossentropy", batchSize=8,
                                  epochs=2, verbose=1, trainer="bigdl")
    with _terminal_stdout() as written:
        estimator.fit(train)
    out = written()
    frames = [s for s in out.replace("\n", "\r").split("\r") if "ETA" in s]
    assert frames and all("/20 - loss: " in f and "samples/s" in f for f in frames)
    lines = [line.split("\r")[-1] for line in out.split("\n") if line]  # each bar frame is redrawn over by \r
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    estimator.copy({estimator.verbose: 0}).fit(train)
    assert capsys.readouterr().out == ""


def test_progress_off_a_terminal_is_one_line_per_epoch(noise, capsys):
    """spark-submit logs, CI, files: verbose 1 writes no redraws there, only each epoch's line."""
    train, _ = noise
    bigwrap.Estimator(model=_classifier(), loss="sparse_categorical_crossentropy", batchSize=8, epochs=2,
                      verbose=1, trainer="bigdl").fit(train)
    out = capsys.readouterr().out
    assert "\r" not in out and "ETA" not in out
    assert [line.split(" - ")[0] for line in out.splitlines()] == ["Epoch 1/2", "Epoch 2/2"]


def test_plot_history_writes_a_png(noise, tmp_path):
    train, validation = noise
    fitted = bigwrap.Estimator(model=_classifier(), loss="sparse_categorical_crossentropy", batchSize=40,
                               epochs=2, verbose=0, validationData=validation, metrics=["accuracy"]).fit(train)
    path = fitted.plot_history(str(tmp_path / "history.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
