"""Acceptance: CNN, LSTM, Embedding + GRU and a two-input functional model trained through the Estimator,
plus shared layers and BatchNormalization's moving statistics checked against PyTorch/Keras arithmetic."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bigwrap
from bigwrap import layers, live_models, spec
from bigwrap.runtime import bridge


def _accuracy(fitted, test) -> float:
    rows = fitted.transform(test).select("label", "prediction").collect()
    return float(np.mean([r.label == r.prediction for r in rows]))


def _frames(spark, columns, arrays, labels, test_fraction=0.25):
    rows = [tuple([*(a[i].tolist() for a in arrays), float(labels[i])]) for i in range(len(labels))]
    df = spark.createDataFrame(rows, [*columns, "label"])
    return df.randomSplit([1 - test_fraction, test_fraction], seed=3)


def test_lenet_style_cnn_on_8x8_digits(digits):
    bigwrap.set_random_seed(0)
    train, test = digits
    model = bigwrap.Sequential([
        layers.Input((8, 8, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(32, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy",
                               optimizer=bigwrap.optimizers.Adam(0.01), batchSize=64, epochs=8, verbose=0,
                               seed=1).fit(train)
    assert _accuracy(fitted, test) >= 0.95


def test_lstm_classifies_synthetic_sequence_trends(spark):
    rng = np.random.default_rng(0)
    n, steps = 800, 12
    labels = rng.integers(0, 3, size=n)                 # 0: falling, 1: flat, 2: rising
    slope = (labels - 1.0)[:, None] * np.linspace(0, 1, steps)[None, :]
    x = np.stack([slope + rng.normal(scale=0.3, size=(n, steps)), rng.normal(size=(n, steps))], axis=-1)
    train, test = _frames(spark, ["features"], [x.reshape(n, -1)], labels)
    bigwrap.set_random_seed(0)
    model = bigwrap.Sequential([layers.Input((steps, 2)), layers.LSTM(16), layers.Dense(3, activation="softmax")])
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy",
                               optimizer=bigwrap.optimizers.Adam(0.01), batchSize=32, epochs=6, verbose=0,
                               seed=1).fit(train)
    assert _accuracy(fitted, test) >= 0.90


def test_embedding_gru_finds_a_keyword_token(spark):
    rng = np.random.default_rng(1)
    n, steps, vocabulary, keyword = 800, 10, 20, 3
    tokens = rng.integers(4, vocabulary, size=(n, steps))
    labels = rng.integers(0, 2, size=n)
    tokens[labels == 1, rng.integers(0, steps, size=int(labels.sum()))] = keyword
    train, test = _frames(spark, ["features"], [tokens.astype(float)], labels)
    bigwrap.set_random_seed(0)
    model = bigwrap.Sequential([layers.Input((steps,)), layers.Embedding(vocabulary, 8), layers.GRU(16),
                                layers.Dense(2, activation="softmax")])
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy",
                               optimizer=bigwrap.optimizers.Adam(0.01), batchSize=32, epochs=6, verbose=0,
                               seed=1).fit(train)
    assert _accuracy(fitted, test) >= 0.90


@pytest.mark.parametrize("trainer", ["barrier", "bigdl"])
def test_two_input_model_with_a_shared_layer_trains_and_predicts(spark, trainer):
    rng = np.random.default_rng(2)
    n = 600
    a, b = rng.normal(size=(n, 4)), rng.normal(size=(n, 4))
    labels = (a.sum(axis=1) > b.sum(axis=1)).astype(int)
    train, test = _frames(spark, ["left", "right"], [a, b], labels)
    bigwrap.set_random_seed(0)
    left, right = layers.Input((4,), name="left"), layers.Input((4,), name="right")
    shared = layers.Dense(8, activation="tanh", name="shared")
    merged = layers.Subtract()([shared(left), shared(right)])
    model = bigwrap.Model([left, right], layers.Dense(2, activation="softmax")(merged))
    assert [w.shape for w in model.get_layer("shared").get_weights()] == [(4, 8), (8,)]
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", featuresCol=["left", "right"],
                               trainer=trainer, optimizer=bigwrap.optimizers.Adam(0.02), batchSize=32, epochs=5, verbose=0,
                               seed=1).fit(train)
    assert _accuracy(fitted, test) >= 0.90
    # The trained model predicts from two arrays too, and agrees with transform.
    rows = fitted.transform(test).select("left", "right", "probability").collect()
    probabilities = fitted.model.predict([np.array([r.left for r in rows]), np.array([r.right for r in rows])])
    np.testing.assert_allclose(probabilities, np.array([r.probability.toArray() for r in rows]), atol=1e-5)


def test_shared_layer_gradients_add_up_over_its_calls(spark):
    x1, x2 = layers.Input((3,)), layers.Input((3,))
    shared = layers.Dense(2, activation="tanh")
    model = bigwrap.Model([x1, x2], layers.Multiply()([shared(x1), shared(x2)]))
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)])
    a, b = (rng.normal(size=(5, 3)).astype(np.float32) for _ in range(2))
    dy = rng.normal(size=(5, 2)).astype(np.float32)

    kernel, bias = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    y = torch.tanh(ta @ kernel + bias) * torch.tanh(tb @ kernel + bias)
    (y * torch.tensor(dy)).sum().backward()

    np.testing.assert_allclose(model.predict([a, b]), y.detach().numpy(), rtol=1e-4, atol=1e-4)
    (grad_a, grad_b), (grad_kernel, grad_bias) = live_models.forward_backward(model, [a, b], dy)
    for got, want in [(grad_a, ta.grad), (grad_b, tb.grad), (grad_kernel, kernel.grad), (grad_bias, bias.grad)]:
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4)


def test_batch_normalization_moving_statistics_follow_pytorch(spark):
    """Keras' momentum convention; the variance folded in is the unbiased batch variance (BigDL's and PyTorch's,
    where Keras folds in the biased one: docs/models.md, "Where bigwrap differs from Keras")."""
    momentum = 0.9
    model = bigwrap.Sequential([layers.Input((3,)), layers.BatchNormalization(momentum=momentum)])
    rng = np.random.default_rng(5)
    old_mean, old_var = rng.normal(size=3).astype(np.float32), rng.uniform(0.5, 2, size=3).astype(np.float32)
    model.set_weights([np.ones(3, np.float32), np.zeros(3, np.float32), old_mean, old_var])
    x = rng.normal(loc=2.0, scale=3.0, size=(8, 3)).astype(np.float32)
    b = bridge(spark)
    handle = live_models.handle(model, b)
    b.call("LiveModels.forwardBackward", handle, x.tobytes(), None, 8, np.ones((8, 3), "<f4").tobytes(), None)
    weights = {name: value for _, name, value in
               spec.decode_weights(*b.model_weights(handle))}
    running_mean, running_var = torch.tensor(old_mean), torch.tensor(old_var)
    torch.nn.functional.batch_norm(torch.tensor(x), running_mean, running_var, training=True, momentum=1 - momentum,
                                   eps=1e-3)
    np.testing.assert_allclose(weights["moving_mean"], running_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(weights["moving_variance"], running_var.numpy(), rtol=1e-5)
    assert json.loads(b.model_weights(handle)[0])["weights"][2]["name"] == "moving_mean"


def test_convolution_trains_on_batches_of_changing_size(spark):
    """Trainers end epochs with short batches; BigDL's own convolution fails on a second batch size."""
    x = layers.Input((5, 5, 2))
    model = bigwrap.Model(x, layers.Conv2D(3, 3, padding="same")(x))
    rng = np.random.default_rng(6)
    kernel, bias = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    b = bridge(spark)
    handle = live_models.handle(model, b)  # one JVM module for both batches
    for rows in (8, 3):
        inputs = rng.normal(size=(rows, 5, 5, 2)).astype(np.float32)
        dy = rng.normal(size=(rows, 5, 5, 3)).astype(np.float32)
        kernel.grad = bias.grad = None
        y = torch.nn.functional.conv2d(torch.tensor(inputs).permute(0, 3, 1, 2), kernel.permute(3, 2, 0, 1), bias,
                                       padding=1).permute(0, 2, 3, 1)
        (y * torch.tensor(dy)).sum().backward()
        flat = np.frombuffer(b.receive(b.call("LiveModels.forwardBackward", handle, inputs.tobytes(), None, rows,
                                              dy.tobytes(), None)), dtype="<f4")
        grads = flat[inputs.size:]
        np.testing.assert_allclose(grads[:54].reshape(3, 3, 2, 3), kernel.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(grads[54:], bias.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_embedding_rows_step_by_their_summed_gradients(spark):
    # bigwrap's table (not BigDL's LookupTable): rows gathered forward, gradients added back per id, so an id that
    # repeats within the batch steps by the sum of its gradients. Checked against numpy over one full-batch step.
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 5, size=(40, 3)).astype(np.float64)
    target = rng.normal(size=40)
    frame = spark.createDataFrame([(r.tolist(), float(t)) for r, t in zip(ids, target)],
                                  "features array<double>, label double")
    bigwrap.set_random_seed(2)
    model = bigwrap.Sequential([layers.Input((3,)), layers.Embedding(5, 2, name="tokens"), layers.Flatten(),
                                layers.Dense(1)])
    table, w, b = (p.astype(np.float64) for p in model.get_weights())
    fitted = bigwrap.Estimator(model=model, loss="mse", optimizer=bigwrap.optimizers.SGD(0.1), batchSize=40,
                               epochs=1, verbose=0, trainer="barrier").fit(frame)
    flat = table[ids.astype(int)].reshape(40, 6)
    dy = 2 * (flat @ w + b - target[:, None]) / 40
    expected = table.copy()
    np.add.at(expected, ids.astype(int), 0.1 * -(dy @ w.T).reshape(40, 3, 2))
    np.testing.assert_allclose(fitted.model.get_weights()[0], expected, rtol=1e-5, atol=1e-6)

    bad = spark.createDataFrame([([1.0, 7.0, 2.0], 0.0), ([1.0, 7.0, 2.0], 1.0)], "features array<double>, label double")
    message = r"^layer 'tokens' \(Embedding\) got the token id 7\.0; its table has ids 0\.\.4$"
    with pytest.raises(ValueError, match=message):
        bigwrap.Estimator(model=model, loss="mse", batchSize=2, epochs=1, verbose=0).fit(bad)
    # inference fails in the user's own Spark action, with the same Python error (not Py4J's Java trace)
    with pytest.raises(ValueError, match=message):
        fitted.transform(bad).collect()
