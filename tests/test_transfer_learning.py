"""The issue's acceptance: a CNN pretrained in PyTorch, imported, its head replaced and fine-tuned alone on digits
written as PNG files (read by Spark's image source, decoded by ImageTransformer), frozen weights unchanged."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pyspark.sql import functions as SF
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import bigwrap
from bigwrap import ImageTransformer, layers


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.features = nn.Linear(16 * 2 * 2, 32)
        self.classes = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = torch.flatten(F.relu(self.conv2(x)), 1)
        return self.classes(F.relu(self.features(x)))


def _pretrained(images, labels):
    """A quick PyTorch pre-training run: the 'pretrained network' a user brings."""
    torch.manual_seed(0)
    module = DigitsCNN()
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    x, y = torch.tensor(images[:, None] / 255.0, dtype=torch.float32), torch.tensor(labels)
    for _ in range(10):
        for batch in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            F.cross_entropy(module(x[batch]), y[batch]).backward()
            optimizer.step()
    return module.eval()


def _write_pngs(folder, images, labels):
    folder.mkdir()
    for k, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(folder / f"{label}_{k:04d}.png")
    return str(folder)


def test_fine_tuning_the_head_of_an_imported_cnn_on_png_digits(spark, tmp_path):
    x, y = load_digits(return_X_y=True)
    pixels = np.round(x.reshape(-1, 8, 8) * 255 / 16).astype(np.uint8)
    pre_x, rest_x, pre_y, rest_y = train_test_split(pixels, y, train_size=0.5, random_state=0, stratify=y)
    tune_x, test_x, tune_y, test_y = train_test_split(rest_x, rest_y, train_size=300, test_size=200, random_state=0,
                                                      stratify=rest_y)

    base = bigwrap.from_torch(_pretrained(pre_x, pre_y), (1, 8, 8))
    head = layers.Dense(10, activation="softmax", name="new_head")(base.get_layer("features").output)
    model = bigwrap.Model(base.inputs, head)
    model.freeze(up_to="features")
    frozen = {layer.name: layer.get_weights() for layer in model.layers if not layer.trainable}
    assert {"conv1", "bn1", "conv2", "features"} <= set(frozen)

    to_input = ImageTransformer(inputCol="image", outputCol="features", height=8, width=8, channels=1)

    def frame(folder):
        images = spark.read.format("image").load(folder)
        label = SF.regexp_extract(SF.element_at(SF.split("image.origin", "/"), -1), r"^(\d)_", 1).cast("double")
        return to_input.transform(images.withColumn("label", label)).cache()  # decode the files once

    tune = frame(_write_pngs(tmp_path / "tune", tune_x, tune_y))
    test = frame(_write_pngs(tmp_path / "test", test_x, test_y))
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy",
                               optimizer=bigwrap.optimizers.Adam(0.02), batchSize=32, epochs=8, verbose=0,
                               seed=5).fit(tune)
    accuracy = fitted.evaluate(test, metrics=["accuracy"])["accuracy"]
    # at least 90 % of the 200 images: counted, as float32's 0.9 (exactly 180) is below Python's 0.90
    assert round(accuracy * len(test_y)) >= len(test_y) * 9 // 10, accuracy
    for name, weights in frozen.items():
        for before, after in zip(weights, fitted.model.get_layer(name).get_weights()):
            np.testing.assert_array_equal(before, after, err_msg=f"frozen layer {name} changed")
    assert not np.array_equal(model.get_layer("new_head").get_weights()[0],
                              fitted.model.get_layer("new_head").get_weights()[0])
