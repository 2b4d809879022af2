"""EstimatorModel: a trained bigwrap model as a Spark ML Model, with its training history."""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from pyspark.ml import Model as SparkModel
from pyspark.ml.util import JavaMLWritable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from . import data, live_models, losses, runtime
from . import kernels as kernel_options
from .models import Model
from .params import OutputParams
from .persistence import Persistable, stage_parts

_SQL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EstimatorModel(SparkModel, OutputParams, Persistable, JavaMLWritable):
    """transform adds prediction (and, for classification, probability). Learned state: `model`
    (the trained DSL model), `loss`, and the per-epoch `history`.

    Its Params' defaults and rules are those of the JVM's `bigwrap.ml.BigwrapModel` (bigwrap.params.JvmParams);
    the trained network is the DSL `model`, which runs on the JVM through its handle. Saved as
    `bigwrap.ml.BigwrapModel`, the JVM class of the same files. Being a JavaMLWritable with
    `_to_java` lets pyspark save a PipelineModel holding it with Spark's own (JVM) writer, which
    Scala's `PipelineModel.load` reads; its own `write()` stays the Python writer.
    """

    _stage_class = "bigwrap.ml.BigwrapModel"

    def __init__(self, model: Model | None = None, loss: Any = "mse", history: list[dict[str, Any]] | None = None):
        super().__init__()
        self._set_jvm_defaults()
        self.model = model
        self.loss = losses.get(loss)
        self._history = list(history or [])
        self.stopped_epoch: int | None = None  # the epoch early stopping stopped after, if it did
        self.best_epoch: int | None = None  # the best epoch early stopping saw, if it watched
        # where the fit stored its training rows (barrier trainer): dataCache, storage level, rows, memory/disk bytes
        self.training_data: dict | None = None
        self.task_layout: dict | None = None  # the fit's tasks, layout and calibration times (barrier trainer)

    @property
    def history(self):
        """One row per epoch (epoch, loss, seconds, samples_per_second, val_* metrics) as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self._history)

    def plot_history(self, path: str) -> str:
        """Writes a PNG of the loss and each metric per epoch (training and validation) to `path`."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        history = self.history
        if history.empty:
            raise ValueError("this model has no training history to plot")
        names = ["loss"] + [c[len("val_"):] for c in history.columns if c.startswith("val_") and c != "val_loss"]
        figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
        for axis, name in zip(axes[0], names):
            for column, label in ((name, "train"), (f"val_{name}", "validation")):
                if column in history:
                    axis.plot(history["epoch"], history[column], marker="o", label=label)
            axis.set_title(name)
            axis.set_xlabel("epoch")
            axis.legend()
        figure.tight_layout()
        figure.savefig(path, format="png")
        plt.close(figure)
        return path

    def _outputs(self) -> list[str]:
        """What this model's task outputs: prediction, and probability for classifiers."""
        return ["prediction"] if self.loss.task == "regression" else ["prediction", "probability"]

    def _output_columns(self) -> list[str]:
        return [self.getOrDefault(f"{output}Col") for output in self._outputs()]

    def _transform(self, dataset: DataFrame) -> DataFrame:
        """Batched forwards on the executors' JVMs (no Python UDF); `dataset` may be a streaming DataFrame."""
        data.check_feature_columns(dataset, self.getFeaturesCol(), self.model)
        data.check_free_columns(dataset, self._output_columns())
        jdf = self._jvm_call(dataset.sparkSession, "LiveModels.transform", dataset._jdf,
                             features_col=self.getFeaturesCol(), prediction_col=self.getPredictionCol(),
                             probability_col=self.getProbabilityCol())
        return DataFrame(jdf, dataset.sparkSession)

    def _jvm_call(self, spark: SparkSession, method: str, first: Any, *rest: Any, **config: Any) -> Any:
        """`method(first, this model's handle, *rest, config)` once this model's Params pass the JVM's rules; the
        config (bigwrap.api.BridgeConfigs) is `config` with the batch size and, for inference, the task."""
        self._check_params("EstimatorModel")
        config["batch_size"] = self.getOrDefault(self.inferenceBatchSize)
        if method != "FitRuns.evaluate":
            config.update(task=self.loss.task, from_logits=self.loss.from_logits)
        bridge = runtime.bridge(spark)
        return bridge.call(method, first, live_models.handle(self.model, bridge, self._kernels()), *rest,
                           json.dumps(config))

    def register_udf(self, spark: SparkSession, name: str, output: str = "prediction") -> Callable[..., Column]:
        """Registers the SQL function `name(features)` (one argument per model input: an ml Vector or a
        numeric array) returning `output`: "prediction", or "probability" for classifiers. It runs on the
        executors' JVMs: calls in SELECT lists, WHERE clauses, GROUP BYs and aggregate functions' inputs
        score `inferenceBatchSize` rows per forward, calls elsewhere (e.g. a CASE WHEN branch) a row at a
        time; a null argument gives null.
        Returns a function of columns for DataFrame expressions, e.g. `df.select(classify("features"))`."""
        if not isinstance(name, str) or not _SQL_NAME.match(name):
            raise ValueError(f"register_udf: the function name must be a SQL identifier (letters, digits, '_'), "
                             f"got {name!r}")
        available = self._outputs()
        if output not in available:
            raise ValueError(f"register_udf: output must be one of {available} for a model trained with loss "
                             f"'{self.loss.name}', got {output!r}")
        self._jvm_call(spark, "LiveModels.registerUdf", spark._jsparkSession, name, output=output)
        return lambda *columns: F.call_function(name, *columns)

    def evaluate(self, dataset: DataFrame, metrics: list[str] = (), labelCol: str = "label") -> dict[str, float]:
        """The loss and `metrics` of this model on `dataset`, computed as validation computes them."""
        data.check_feature_columns(dataset, self.getFeaturesCol(), self.model)
        data.check_label(dataset, labelCol, self.loss)
        return json.loads(self._jvm_call(dataset.sparkSession, "FitRuns.evaluate", dataset._jdf,
                                         loss=self.loss.get_config(), metrics=list(metrics),
                                         features_col=self.getFeaturesCol(), label_col=labelCol))

    def to_dl4j(self, path, overwrite: bool = False) -> str:
        """The trained model as a Deeplearning4j zip (`Model.to_dl4j`) whose output layer carries this model's loss;
        for a loss on logits DL4J outputs probabilities, as the `probability` column holds them."""
        return self.model.to_dl4j(path, overwrite=overwrite, loss=self.loss)

    def _kernels(self) -> str:
        return kernel_options.to_json(self.getOrDefault(self.kernels), self.getOrDefault(self.precision),
                                      "EstimatorModel")

    def _to_java(self):
        """The JVM BigwrapModel equal to this model (what pyspark's Java pipeline writer saves)."""
        metadata, model, history, _ = stage_parts(self)
        return runtime.bridge().call_with_model("StageHandoff.modelFromParts", (json.dumps(metadata),), model,
                                                (json.dumps(history),))
