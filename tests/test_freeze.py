"""Freezing: `layer.trainable = False` / `model.freeze(up_to=...)` in the spec, and honoured by both trainers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import bigwrap
from bigwrap import layers, live_models, optimizers, regularizers


def _cnn():
    bigwrap.set_random_seed(3)
    return bigwrap.Sequential([
        layers.Input((64,)),
        layers.Reshape((8, 8, 1), name="image"),
        layers.Conv2D(6, 3, activation="relu", name="conv"),
        layers.BatchNormalization(name="bn"),
        layers.Flatten(name="flat"),
        layers.Dense(24, activation="relu", kernel_regularizer=regularizers.L2(0.01), name="features"),
        layers.Dense(10, activation="softmax", name="head"),
    ])


def test_trainable_is_in_the_layer_config_and_the_spec():
    model = _cnn()
    model.get_layer("conv").trainable = False
    assert model.get_layer("conv").get_config()["trainable"] is False
    assert "trainable" not in model.get_layer("head").get_config()  # written only when False
    spec = json.loads(model.to_json())
    assert [entry["config"].get("trainable", True) for entry in spec["layers"][1:]] == [
        True, False, True, True, True, True]
    rebuilt = bigwrap.model_from_json(model.to_json())
    assert [layer.trainable for layer in rebuilt.layers] == [layer.trainable for layer in model.layers]
    assert layers.Conv2D.from_config(model.get_layer("conv").get_config()).trainable is False
    with pytest.raises(ValueError, match="`trainable`"):
        model.get_layer("conv").trainable = "no"


def test_freeze_up_to_freezes_the_layer_and_everything_it_depends_on():
    model = _cnn()
    model.freeze(up_to="features")
    assert [(layer.name, layer.trainable) for layer in model.layers] == [
        ("image", False), ("conv", False), ("bn", False), ("flat", False), ("features", False), ("head", True)]
    model.unfreeze()
    assert all(layer.trainable for layer in model.layers)

    left, right = layers.Input((4,), name="left"), layers.Input((4,), name="right")
    a, b = layers.Dense(3, name="a")(left), layers.Dense(3, name="b")(right)
    graph = bigwrap.Model([left, right], layers.Dense(2, name="out")(layers.Add(name="sum")([a, b])))
    graph.freeze(up_to="a")
    assert {layer.name: layer.trainable for layer in graph.layers if layer.name in "a b sum out".split()} == {
        "a": False, "b": True, "sum": True, "out": True}


def test_a_new_head_on_a_trained_model_through_the_functional_api():
    base = _cnn()
    features = base.get_layer("features").output
    new_head = layers.Dense(3, activation="softmax", name="new_head")(features)
    model = bigwrap.Model(base.inputs, new_head)
    assert [layer.name for layer in model.layers][-2:] == ["features", "new_head"]
    assert model.get_layer("conv") is base.get_layer("conv")  # the trained layers and weights, not copies
    with pytest.raises(ValueError, match="called 2 times"):
        shared = layers.Dense(2, name="twice")
        shared(features), shared(features)
        shared.output


def test_frozen_batch_norm_computes_inference_mode_in_training_too(spark):
    """Keras' rule; forward and input gradient of a training-mode pass equal PyTorch's eval-mode BN."""
    rng = np.random.default_rng(5)
    model = bigwrap.Sequential([layers.Input((3, 4)), layers.BatchNormalization(epsilon=0.01, name="bn")])
    gamma, beta, mean = (rng.normal(size=4).astype(np.float32) for _ in range(3))
    variance = rng.uniform(0.5, 2.0, size=4).astype(np.float32)
    model.set_weights([gamma, beta, mean, variance])
    model.get_layer("bn").trainable = False
    x = rng.normal(size=(5, 3, 4)).astype(np.float32)
    grad_output = rng.normal(size=x.shape).astype(np.float32)

    xt = torch.tensor(x, requires_grad=True)
    expected = F.batch_norm(xt.reshape(-1, 4), torch.tensor(mean), torch.tensor(variance), torch.tensor(gamma),
                            torch.tensor(beta), training=False, eps=0.01).reshape(x.shape)
    (expected * torch.tensor(grad_output)).sum().backward()
    np.testing.assert_allclose(model.predict(x), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    (input_grad,), weight_grads = live_models.forward_backward(model, x, grad_output)
    np.testing.assert_allclose(input_grad, xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert all(not g.any() for g in weight_grads)  # frozen: no gradient reaches gamma and beta
    np.testing.assert_array_equal(model.get_weights()[2], mean)


@pytest.mark.parametrize("trainer, optimizer", [
    ("barrier", optimizers.SGD(0.05, momentum=0.9, weight_decay=0.01)),
    ("bigdl", optimizers.AdamW(0.01, weight_decay=0.05)),
])
def test_frozen_weights_are_bit_identical_after_fit(spark, digits, trainer, optimizer):
    """Momentum, weight decay, a kernel regularizer and BatchNormalization statistics would all move frozen
    weights if anything but the trainers' own masking kept them."""
    train = digits[0].limit(640)
    model = _cnn()
    model.freeze(up_to="features")
    before = {layer.name: layer.get_weights() for layer in model.layers}
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", optimizer=optimizer,
                               batchSize=64, epochs=2, trainer=trainer, verbose=0, seed=1).fit(train)
    after = {layer.name: layer.get_weights() for layer in fitted.model.layers}
    for name in ("conv", "bn", "features"):
        for old, new in zip(before[name], after[name]):
            np.testing.assert_array_equal(old, new, err_msg=f"frozen layer {name} changed")
    assert not np.array_equal(before["head"][0], after["head"][0])
    assert fitted.history["loss"].iloc[-1] < fitted.history["loss"].iloc[0]
