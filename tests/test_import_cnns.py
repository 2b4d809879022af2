"""The issue's acceptance: ResNet-18 and MobileNetV2 in torchvision's layouts (symmetric padding, max pooling over
-inf pads, depthwise convolutions, residual adds) import through from_torch and through an ONNX export + from_onnx,
predict PyTorch's outputs, and the imported ResNet fine-tunes on Spark."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import bigwrap

from .torchvision_models import MobileNetV2, randomized, resnet18

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
SIZE = 32  # small images keep the test quick; every layer of the networks still runs


def _network(kind: str):
    torch.manual_seed(0)
    return randomized(resnet18(num_classes=10) if kind == "resnet18" else MobileNetV2(num_classes=10))


def _images(rows: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, 3, SIZE, SIZE)).astype(np.float32)


def _onnx(module) -> bytes:
    buffer = io.BytesIO()
    torch.onnx.export(module, torch.zeros(1, 3, SIZE, SIZE), buffer, dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}})
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("kind", ["resnet18", "mobilenet_v2"])
def test_torchvision_cnn_imports_from_torch_and_from_onnx(spark, kind):
    module = _network(kind)
    x = _images()
    with torch.no_grad():
        expected = module(torch.tensor(x)).numpy()
    pixels = x.transpose(0, 2, 3, 1)
    from_torch = bigwrap.from_torch(module, (3, SIZE, SIZE))
    np.testing.assert_allclose(from_torch.predict(pixels), expected, **TOLERANCE)
    from_onnx = bigwrap.from_onnx(_onnx(module))
    np.testing.assert_allclose(from_onnx.predict(pixels), expected, **TOLERANCE)
    kinds = {type(layer).__name__ for layer in from_torch.layers}
    assert ("DepthwiseConv2D" in kinds) == (kind == "mobilenet_v2")
    assert "ZeroPadding2D" not in kinds  # the padding lives in the convolutions and poolings themselves


def test_imported_resnet_fine_tunes_on_spark(spark):
    model = bigwrap.from_torch(_network("resnet18"), (3, 16, 16))  # 16x16 still reaches every block (at 1x1)
    x = np.random.default_rng(2).normal(size=(8, 16, 16, 3)).astype(np.float32)
    rows = [(image.ravel().tolist(), float(k % 10)) for k, image in enumerate(x)]
    frame = spark.createDataFrame(rows, ["features", "label"])
    before = model.get_layer("fc").get_weights()[0]
    fitted = bigwrap.Estimator(model=model, loss=bigwrap.losses.SparseCategoricalCrossentropy(from_logits=True),
                               optimizer=bigwrap.optimizers.SGD(0.01), batchSize=4, epochs=1, verbose=0,
                               seed=3).fit(frame)
    after = fitted.model.get_layer("fc").get_weights()[0]
    assert after.shape == before.shape and not np.array_equal(before, after)
    assert np.isfinite(fitted.model.predict(x)).all()
