"""ImageTransformer: image files (Spark's `image` or `binaryFile` data source) → model input arrays, on the JVM."""
from __future__ import annotations

import json
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.sql import DataFrame

from . import data, runtime
from .params import _optional, _param
from .persistence import Persistable


class ImageTransformer(Transformer, HasInputCol, HasOutputCol, Persistable):
    """Decodes, resizes (bilinear), orders channels and scales images into an array<float> column of
    height·width·channels values, channels-last: what a model with `layers.Input((height, width, channels))`
    takes. The input column is the `image` struct of `spark.read.format("image")` or the `content` bytes of
    `spark.read.format("binaryFile")` (decoded by Spark's own image decoder). All work runs in the executors'
    JVMs; a null or undecodable image gives a null row (the Estimator then names the column).

    A Python stage with no Scala class (unlike Estimator / EstimatorModel): Scala users have Spark's own image
    source and BigDL's transformers, so its Params and their checks live here once, and its JVM work is one
    `imagesToArrays` call whose config bigwrap.api.BridgeConfigs parses strictly."""

    height = _param("height", "output height in pixels (positive)", TypeConverters.toInt)
    width = _param("width", "output width in pixels (positive)", TypeConverters.toInt)
    channels = _param("channels", "1 (grayscale, ITU-R 601 luma) or 3 (color)", TypeConverters.toInt)
    channelOrder = _param("channelOrder", "'RGB' or 'BGR' (Spark stores images as BGR)", TypeConverters.toString)
    scale = _param("scale", "each value 0..255 is multiplied by this first (1/255 gives [0, 1])", TypeConverters.toFloat)
    mean = _param("mean", "per-channel means subtracted after scaling, or None", _optional(TypeConverters.toListFloat))
    std = _param("std", "per-channel standard deviations divided by last, or None",
                 _optional(TypeConverters.toListFloat))

    @keyword_only
    def __init__(self, *, inputCol: str = "image", outputCol: str = "features", height: int | None = None,
                 width: int | None = None, channels: int = 3, channelOrder: str = "RGB", scale: float = 1 / 255,
                 mean: list[float] | None = None, std: list[float] | None = None):
        super().__init__()
        self._setDefault(inputCol="image", outputCol="features", channels=3, channelOrder="RGB", scale=1 / 255,
                         mean=None, std=None)
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "ImageTransformer":
        return self._set(**self._input_kwargs)

    def _config(self) -> dict[str, Any]:
        """Every parameter checked in one place, before any Spark job."""
        s = {p.name: self.getOrDefault(p) for p in self.params if self.isDefined(p)}
        for name in ("height", "width"):
            if not isinstance(s.get(name), int) or s[name] <= 0:
                raise ValueError(f"ImageTransformer: {name} must be a positive number of pixels, got {s.get(name)!r}")
        if s["channels"] not in (1, 3):
            raise ValueError(f"ImageTransformer: channels must be 1 or 3, got {s['channels']!r}")
        if s["channelOrder"] not in ("RGB", "BGR"):
            raise ValueError(f"ImageTransformer: channelOrder must be 'RGB' or 'BGR', got {s['channelOrder']!r}")
        for name in ("mean", "std"):
            if s[name] is not None and len(s[name]) != s["channels"]:
                raise ValueError(f"ImageTransformer: {name} needs one value per channel ({s['channels']}), "
                                 f"got {s[name]}")
        if s["std"] is not None and any(v == 0 for v in s["std"]):
            raise ValueError(f"ImageTransformer: std values must be non-zero, got {s['std']}")
        return {"input_col": s["inputCol"], "output_col": s["outputCol"], "height": s["height"], "width": s["width"],
                "channels": s["channels"], "channel_order": s["channelOrder"], "scale": s["scale"],
                "mean": s["mean"], "std": s["std"]}

    def _transform(self, dataset: DataFrame) -> DataFrame:
        config = self._config()
        column = config["input_col"]
        data.require_column(dataset, column, "image", "inputCol")  # its type: the JVM checks it (Images.transform)
        data.check_free_columns(dataset, [config["output_col"]], "outputCol")
        jdf = runtime.bridge(dataset.sparkSession).call("PythonFacade.imagesToArrays", dataset._jdf, json.dumps(config))
        return DataFrame(jdf, dataset.sparkSession)
