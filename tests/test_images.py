"""ImageTransformer: PNG/JPEG files written here, read by Spark's image and binaryFile sources, decoded on the JVM."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from pyspark.ml import Pipeline, PipelineModel

import bigwrap
from bigwrap import ImageTransformer


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Gray and RGB PNGs (lossless) and an RGB JPEG, with the pixel arrays they hold."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("pictures")
    arrays = {"gray.png": rng.integers(0, 256, size=(8, 8), dtype=np.uint8),
              "rgb.png": rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)}
    for name, array in arrays.items():
        Image.fromarray(array).save(folder / name)
    yy, xx = np.mgrid[0:16, 0:16]  # smooth, so JPEG's loss stays small
    arrays["smooth.jpg"] = np.stack([yy * 15, xx * 15, (yy + xx) * 7], axis=-1).astype(np.uint8)
    Image.fromarray(arrays["smooth.jpg"]).save(folder / "smooth.jpg", quality=95)
    (folder / "broken.png").write_bytes(b"not an image at all")
    return folder, arrays


def _by_file(df, column="features"):
    rows = df.collect()
    key = lambda row: (row["image"].origin if "image" in row else row["path"]).rsplit("/", 1)[-1]
    return {key(row): None if row[column] is None else np.array(row[column], dtype=np.float32) for row in rows}


def test_png_pixels_arrive_exactly_in_channels_last_rgb_order(spark, pictures):
    folder, arrays = pictures
    images = spark.read.format("image").load(str(folder / "*.png"))
    rgb = _by_file(ImageTransformer(height=10, width=12, channels=3).transform(images.where("image.width = 12")))
    np.testing.assert_allclose(rgb["rgb.png"], (arrays["rgb.png"] / 255.0).ravel(), rtol=0, atol=1e-7)
    bgr = _by_file(ImageTransformer(height=10, width=12, channelOrder="BGR", scale=1.0)
                   .transform(images.where("image.width = 12")))
    np.testing.assert_array_equal(bgr["rgb.png"], arrays["rgb.png"][..., ::-1].ravel())
    gray = _by_file(ImageTransformer(height=8, width=8, channels=1, scale=1.0).transform(images.where("image.width = 8")))
    np.testing.assert_array_equal(gray["gray.png"], arrays["gray.png"].ravel())


def test_binary_files_decode_as_the_image_source_does_and_broken_ones_give_null(spark, pictures):
    folder, arrays = pictures
    files = spark.read.format("binaryFile").load(str(folder / "*.png"))
    out = _by_file(ImageTransformer(inputCol="content", height=10, width=12, mean=[0.5, 0.5, 0.5],
                                    std=[0.25, 0.5, 1.0]).transform(files))
    expected = (arrays["rgb.png"] / 255.0 - 0.5) / np.array([0.25, 0.5, 1.0])
    np.testing.assert_allclose(out["rgb.png"], expected.ravel(), rtol=1e-6, atol=1e-6)
    assert out["broken.png"] is None


def test_resizing_is_bilinear_with_half_pixel_centres(spark, pictures):
    folder, arrays = pictures
    images = spark.read.format("image").load(str(folder / "rgb.png"))
    source = torch.tensor(arrays["rgb.png"] / 255.0, dtype=torch.float32).permute(2, 0, 1)[None]
    for size in [(5, 6), (16, 20), (7, 12)]:
        got = _by_file(ImageTransformer(height=size[0], width=size[1]).transform(images))["rgb.png"]
        expected = F.interpolate(source, size=size, mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
        np.testing.assert_allclose(got, expected.numpy().ravel(), rtol=1e-5, atol=1e-5)


def test_jpeg_decodes_close_to_pillow(spark, pictures):
    folder, _ = pictures
    images = spark.read.format("image").load(str(folder / "smooth.jpg"))
    got = _by_file(ImageTransformer(height=16, width=16, scale=1.0).transform(images))["smooth.jpg"]
    pillow = np.asarray(Image.open(folder / "smooth.jpg").convert("RGB"), dtype=np.float32).ravel()
    assert np.abs(got - pillow).mean() < 1.0 and np.abs(got - pillow).max() <= 6  # decoders round differently


def test_bad_settings_fail_before_any_spark_job(spark, pictures, no_spark_job):
    folder, _ = pictures
    images = spark.read.format("image").load(str(folder / "gray.png"))
    with no_spark_job:
        with pytest.raises(ValueError, match="height must be a positive"):
            ImageTransformer(width=8).transform(images)
        with pytest.raises(ValueError, match="mean needs one value per channel"):
            ImageTransformer(height=8, width=8, mean=[0.5]).transform(images)
        with pytest.raises(TypeError, match="image column 'origin' has type string"):
            ImageTransformer(inputCol="origin", height=8, width=8).transform(images.select("image.origin"))
        with pytest.raises(ValueError, match="already has column"):
            ImageTransformer(height=8, width=8, outputCol="image").transform(images)


def test_saved_in_a_pipeline(spark, pictures, tmp_path):
    folder, arrays = pictures
    images = spark.read.format("image").load(str(folder / "gray.png"))
    stage = ImageTransformer(height=4, width=4, channels=1, scale=2.0)
    Pipeline(stages=[stage]).fit(images).write().save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    assert isinstance(loaded.stages[0], ImageTransformer) and loaded.stages[0].getOrDefault("scale") == 2.0
    np.testing.assert_array_equal(_by_file(loaded.transform(images))["gray.png"],
                                  _by_file(stage.transform(images))["gray.png"])
