"""The Spark ML Params of Estimator and EstimatorModel: typed, documented, with defaults.

Shared names come from pyspark's mixins (featuresCol, labelCol, predictionCol, probabilityCol,
seed), so bigwrap stages spell them as every MLlib stage does.
"""
from __future__ import annotations

from typing import Any, Callable

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasLabelCol, HasPredictionCol, HasProbabilityCol, HasSeed

from .kernels import DEFAULT_KERNELS, DEFAULT_PRECISION


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A converter that also lets a Param be set back to None (its "off" value)."""
    return lambda value: None if value is None else convert(value)


def _param(name: str, doc: str, converter=TypeConverters.identity) -> Param:
    return Param(Params._dummy(), name, doc, converter)


class OutputParams(HasFeaturesCol, HasPredictionCol, HasProbabilityCol):
    featuresCol = _param("featuresCol", "features column name, or a list of names: one per model input, in the "
                         "order of the model's inputs")
    inferenceBatchSize = _param("inferenceBatchSize", "rows per forward pass when transforming (positive)",
                                TypeConverters.toInt)
    kernels = _param("kernels", "'native' (bigwrap's MKL/oneDNN kernels for Dense and Conv2D) or 'bigdl' "
                     "(BigDL's); see bigwrap.kernels", TypeConverters.toString)
    precision = _param("precision", "'fp32' or 'bf16' (native kernels: bfloat16 maths, fp32 weights; fp32 "
                       "where the CPU has no bf16)", TypeConverters.toString)


class EstimatorParams(OutputParams, HasLabelCol, HasSeed):
    model = _param("model", "the bigwrap model (Sequential or Model) to train; grid over it to vary the "
                   "architecture, e.g. addGrid(est.model, [build(32), build(64)])")
    loss = _param("loss", "a loss name (sparse_categorical_crossentropy, categorical_crossentropy, "
                  "binary_crossentropy, mse, mae, huber) or a bigwrap.losses.Loss")
    optimizer = _param("optimizer", "an optimizer name (sgd, adam, adamw, rmsprop, adagrad) or a "
                       "bigwrap.optimizers object (learning rate or schedule, clipnorm, clipvalue)")
    batchSize = _param("batchSize", "global mini-batch size, a multiple of the training cores", TypeConverters.toInt)
    epochs = _param("epochs", "the epoch to train up to (positive); with resumeFrom, counted from the first run",
                    TypeConverters.toInt)
    verbose = _param("verbose", "0: silent, 1: live progress bar per epoch, 2: one line per epoch",
                     TypeConverters.toInt)
    trainer = _param("trainer", "'barrier' (bigwrap's trainer) or 'bigdl' (BigDL's DistriOptimizer)",
                     TypeConverters.toString)
    numTasks = _param("numTasks", "tasks training in parallel (barrier trainer); None: one per core")
    taskLayout = _param("taskLayout", "barrier trainer without numTasks: 'auto' (time the model both ways, take the "
                        "faster), 'perCore' (a task per core) or 'perExecutor' (one task per executor, multithreaded "
                        "kernels)", TypeConverters.toString)
    validationData = _param("validationData", "a DataFrame evaluated after every epoch (not saved with the "
                            "estimator), or None")
    validationSplit = _param("validationSplit", "fraction of the training rows held out for validation when "
                             "validationData is None; 0 for none", TypeConverters.toFloat)
    metrics = _param("metrics", "metrics computed on the validation data besides the loss: accuracy, "
                     "top_k_accuracy (e.g. top_5_accuracy), auc, mae, mse", TypeConverters.toListString)
    earlyStopping = _param("earlyStopping", "stop when `monitor` has not improved for `patience` epochs",
                           TypeConverters.toBoolean)
    monitor = _param("monitor", "the history column early stopping watches (loss, val_loss, val_accuracy, ...)",
                     TypeConverters.toString)
    patience = _param("patience", "epochs without improvement before early stopping (at least 1 is used)",
                      TypeConverters.toInt)
    minDelta = _param("minDelta", "the smallest change of `monitor` that counts as an improvement",
                      TypeConverters.toFloat)
    restoreBestWeights = _param("restoreBestWeights", "with earlyStopping: end with the best epoch's weights",
                                TypeConverters.toBoolean)
    checkpointDir = _param("checkpointDir", "local directory for checkpoints (epoch-NNNN/ subdirectories), or None",
                           _optional(TypeConverters.toString))
    checkpointEvery = _param("checkpointEvery", "write a checkpoint every this many epochs (and after the last)",
                             TypeConverters.toInt)
    resumeFrom = _param("resumeFrom", "a checkpoint directory (or a checkpointDir: its latest epoch) to continue "
                        "from: weights, optimizer state, epoch count and history", _optional(TypeConverters.toString))
    logDir = _param("logDir", "directory for TensorBoard event files (train loss per iteration, validation "
                    "metrics per epoch), or None", _optional(TypeConverters.toString))
    dataCache = _param("dataCache", "where converted training and validation rows live between epochs: 'auto' "
                       "(in memory while they fit, the rest spilled to local disk), 'memory', 'disk', or 'none' "
                       "(re-read the source every epoch); see docs/data.md", TypeConverters.toString)


ESTIMATOR_DEFAULTS: dict[str, Any] = dict(
    optimizer="adam", batchSize=32, epochs=1, featuresCol="features", labelCol="label",
    predictionCol="prediction", probabilityCol="probability", verbose=1, trainer="barrier", numTasks=None,
    taskLayout="auto",
    inferenceBatchSize=256, validationData=None, validationSplit=0.0, metrics=[], earlyStopping=False,
    monitor="val_loss", patience=0, minDelta=0.0, restoreBestWeights=False, checkpointDir=None,
    checkpointEvery=1, resumeFrom=None, logDir=None, kernels=DEFAULT_KERNELS, precision=DEFAULT_PRECISION,
    dataCache="auto")

OUTPUT_DEFAULTS: dict[str, Any] = dict(featuresCol="features", predictionCol="prediction",
                                       probabilityCol="probability", inferenceBatchSize=256,
                                       kernels=DEFAULT_KERNELS, precision=DEFAULT_PRECISION)
