"""Losses, optimizers, learning-rate schedules, gradient clipping and kernel regularizers, trained for real."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors

import bigwrap
from bigwrap import layers, optimizers, regularizers, schedules


@pytest.fixture(scope="module")
def linear(spark):
    rng = np.random.default_rng(12)
    x = rng.normal(size=(160, 4))
    y = x @ np.array([2.0, -1.0, 0.5, 1.5]) + 0.3
    return spark.createDataFrame([(Vectors.dense(r), float(t)) for r, t in zip(x, y)], ["features", "label"]).cache()


def _fit(frame, loss="mse", optimizer="adam", epochs=3, units=1, inputs=4, trainer="barrier", **layer_args):
    bigwrap.set_random_seed(7)
    model = bigwrap.Sequential([layers.Input((inputs,)), layers.Dense(units, **layer_args)])
    initial = model.get_weights()
    fitted = bigwrap.Estimator(model=model, loss=loss, optimizer=optimizer, batchSize=20, epochs=epochs,
                               verbose=0, seed=1, trainer=trainer).fit(frame)
    return initial, fitted


@pytest.mark.parametrize("optimizer", [
    optimizers.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    optimizers.Adam(0.1), optimizers.AdamW(0.1, weight_decay=0.01), optimizers.RMSprop(0.05),
    optimizers.Adagrad(0.5)], ids=lambda o: o.name)
def test_each_optimizer_fits_a_linear_model(linear, optimizer):
    _, fitted = _fit(linear, optimizer=optimizer, epochs=4)
    assert fitted.history["loss"].iloc[-1] < fitted.history["loss"].iloc[0] / 4


@pytest.mark.parametrize("loss", ["mae", "huber"])
def test_robust_regression_losses_reduce_the_error(linear, loss):
    _, fitted = _fit(linear, loss=loss, optimizer=optimizers.Adam(0.1), epochs=4)
    assert fitted.history["loss"].iloc[-1] < fitted.history["loss"].iloc[0] / 2


@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy_takes_one_hot_labels(spark, from_logits):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 2))
    classes = (x @ np.array([[2.0, -1.0, -1.0], [0.0, 1.7, -1.7]])).argmax(axis=1)  # linearly separable
    rows = [(Vectors.dense(r), Vectors.dense(np.eye(3)[c])) for r, c in zip(x, classes)]
    frame = spark.createDataFrame(rows, ["features", "label"])
    activation = None if from_logits else "softmax"
    _, fitted = _fit(frame, loss=bigwrap.losses.CategoricalCrossentropy(from_logits=from_logits),
                     optimizer=optimizers.Adam(0.1), epochs=6, units=3, inputs=2, activation=activation)
    predicted = np.array([r.prediction for r in fitted.transform(frame).select("prediction").collect()])
    assert (predicted == classes).mean() >= 0.9


@pytest.mark.parametrize("trainer", ["barrier", "bigdl"])
def test_clipvalue_bounds_every_weight_step(linear, trainer):
    initial, fitted = _fit(linear, optimizer=optimizers.SGD(1.0, clipvalue=1e-4), epochs=1, trainer=trainer)
    steps = 160 // 20
    change = np.abs(fitted.model.get_weights()[0] - initial[0])
    assert change.max() <= steps * 1e-4 * 1.001 and change.max() > steps * 1e-4 * 0.5


def test_clipnorm_bounds_the_global_gradient_norm(linear):
    initial, fitted = _fit(linear, optimizer=optimizers.SGD(1.0, clipnorm=1e-3), epochs=1, trainer="bigdl")
    delta = np.concatenate([(a - b).ravel() for a, b in zip(fitted.model.get_weights(), initial)])
    assert np.linalg.norm(delta) <= 8 * 1e-3 * 1.001


@pytest.mark.parametrize("trainer", ["barrier", "bigdl"])
def test_a_learning_rate_schedule_drives_the_steps(linear, trainer):
    # the rate falls a millionfold after the first iteration, so training all but stops there
    decayed = optimizers.SGD(schedules.ExponentialDecay(0.05, decay_steps=1, decay_rate=1e-6, staircase=True))
    _, one_step = _fit(linear, optimizer=optimizers.SGD(0.05), epochs=1, trainer=trainer)
    initial, scheduled = _fit(linear, optimizer=decayed, epochs=1, trainer=trainer)
    moved = np.abs(scheduled.model.get_weights()[0] - initial[0]).max()
    assert 0 < moved < np.abs(one_step.model.get_weights()[0] - initial[0]).max() / 3
    warm = optimizers.Adam(schedules.LinearWarmup(schedules.CosineDecay(0.1, decay_steps=16), warmup_steps=4))
    assert _fit(linear, optimizer=warm, epochs=2)[1].history["loss"].iloc[-1] < 10


def test_l2_kernel_regularizer_shrinks_the_kernel(linear):
    _, plain = _fit(linear, optimizer=optimizers.Adam(0.1), epochs=4)
    _, shrunk = _fit(linear, optimizer=optimizers.Adam(0.1), epochs=4, kernel_regularizer=regularizers.L2(5.0))
    assert np.linalg.norm(shrunk.model.get_weights()[0]) < np.linalg.norm(plain.model.get_weights()[0]) / 2
    assert shrunk.model.get_config()["layers"][1]["config"]["kernel_regularizer"] == {"name": "l1l2", "l1": 0.0,
                                                                                       "l2": 5.0}


def test_optimizer_and_schedule_configs_round_trip():
    optimizer = optimizers.AdamW(schedules.LinearWarmup(schedules.StepDecay(0.1, 10, 0.5), 3), weight_decay=0.1,
                                 clipnorm=1.0)
    assert optimizers.get(optimizer.get_config()) == optimizer
    plateau = optimizers.SGD(schedules.ReduceLROnPlateau(0.1, factor=0.5, patience=1))
    assert optimizers.get(plateau.get_config()) == plateau


def _steps_by_the_documented_rule(x, y, w, b, optimizer, steps):
    """Full-batch steps of a linear model under MSE, in float64 numpy, by the rule each optimizer's docstring gives."""
    params, slots = [w.astype(np.float64), b.astype(np.float64)], {}
    rate, config = optimizer.learning_rate, optimizer.get_config()
    for t in range(1, steps + 1):
        error = x @ params[0] + params[1] - y[:, None]
        grads = [2 * x.T @ error / len(x), 2 * error.sum(axis=0) / len(x)]
        for i, (p, g) in enumerate(zip(params, grads)):
            if optimizer.clipvalue is not None:
                g = np.clip(g, -optimizer.clipvalue, optimizer.clipvalue)
            if config["name"] == "sgd":
                g = g + optimizer.weight_decay * p
                v = slots[i] = optimizer.momentum * slots.get(i, 0) + g
                p -= rate * (g + optimizer.momentum * v if optimizer.nesterov else v)
            else:
                p *= 1 - rate * config.get("weight_decay", 0.0)
                m, s = slots.get(i, (0, 0))
                m, s = slots[i] = (optimizer.beta_1 * m + (1 - optimizer.beta_1) * g,
                                   optimizer.beta_2 * s + (1 - optimizer.beta_2) * g * g)
                step = rate * np.sqrt(1 - optimizer.beta_2 ** t) / (1 - optimizer.beta_1 ** t)
                p -= step * m / (np.sqrt(s) + optimizer.epsilon)
    return params


@pytest.mark.parametrize("optimizer", [
    optimizers.SGD(0.05), optimizers.SGD(0.05, momentum=0.9, weight_decay=0.01),
    optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipvalue=0.5), optimizers.Adam(0.05),
    optimizers.AdamW(0.05, weight_decay=0.1, clipvalue=0.5)], ids=lambda o: str(o.get_config()))
def test_each_barrier_step_follows_the_optimizers_documented_rule(linear, optimizer):
    # The barrier trainer applies these rules in one pass per step (its own code, not BigDL's methods). One batch
    # of all 160 rows per epoch: every step's gradient is the full-batch mean, whatever the shuffle. (BigDL's
    # DistriOptimizer draws each partition's sub-batch from its own rows, so its steps are not full-batch.)
    bigwrap.set_random_seed(7)
    model = bigwrap.Sequential([layers.Input((4,)), layers.Dense(1)])
    initial = model.get_weights()
    fitted = bigwrap.Estimator(model=model, loss="mse", optimizer=optimizer, batchSize=160, epochs=6, verbose=0,
                               seed=1, trainer="barrier").fit(linear)
    rows = linear.collect()
    x, y = np.array([r.features.toArray() for r in rows]), np.array([r.label for r in rows])
    expected = _steps_by_the_documented_rule(x, y, *initial, optimizer, steps=6)
    for got, want, start in zip(fitted.model.get_weights(), expected, initial):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5 * np.abs(want - start).max())


@pytest.mark.parametrize("from_logits", [False, True])
def test_classifier_steps_follow_softmax_cross_entropy(spark, from_logits):
    # Softmax and sparse_categorical_crossentropy are bigwrap's own loops (not BigDL's per-row tensors): forward
    # and backward, from probabilities and from logits, checked against the calculus in float64 numpy over full-batch
    # SGD steps (barrier trainer: one batch of all rows is the full batch), and the first epoch's loss against the
    # loss at the initial weights.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(160, 4))
    labels = np.argmax(x @ rng.normal(size=(4, 3)) + rng.normal(scale=0.5, size=(160, 3)), axis=1)
    frame = spark.createDataFrame([(Vectors.dense(r), float(t)) for r, t in zip(x, labels)], ["features", "label"])
    bigwrap.set_random_seed(3)
    model = bigwrap.Sequential([layers.Input((4,)), layers.Dense(3, activation=None if from_logits else "softmax")])
    w, b = (p.astype(np.float64) for p in model.get_weights())
    fitted = bigwrap.Estimator(model=model, loss=bigwrap.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
                               optimizer=optimizers.SGD(0.5), batchSize=160, epochs=4, verbose=0, seed=1,
                               trainer="barrier").fit(frame)
    one_hot = np.eye(3)[labels]
    losses = []
    for _ in range(4):
        logits = x @ w + b
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        losses.append(-np.log((p * one_hot).sum(axis=1)).mean())
        grad = (p - one_hot) / len(x)  # d(mean cross-entropy)/d(logits)
        w, b = w - 0.5 * x.T @ grad, b - 0.5 * grad.sum(axis=0)
    got_w, got_b = fitted.model.get_weights()
    np.testing.assert_allclose(got_w, w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_b, b, rtol=1e-4, atol=1e-5)
    assert fitted.history["loss"].iloc[0] == pytest.approx(losses[0], rel=1e-5)
