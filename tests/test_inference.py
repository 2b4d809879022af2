"""Inference at scale: batched JVM transform, Structured Streaming, model reuse, large models (SQL functions:
test_sql_functions.py)."""
from __future__ import annotations

import numpy as np
import py4j.protocol
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F

import bigwrap
from bigwrap import layers, live_models
from bigwrap import spec as spec_format
from bigwrap.runtime import bridge

from .scoring import by_id, untrained_classifier


def test_streaming_parquet_to_memory_sink_predicts_every_row_once_as_batch(spark, digit_rows, tmp_path):
    fitted = untrained_classifier(1)
    source = tmp_path / "incoming"
    first, second = digit_rows.filter("id % 2 = 0"), digit_rows.filter("id % 2 = 1")
    first.write.parquet(str(source / "part-1"))
    stream = spark.readStream.schema(digit_rows.schema).parquet(str(source / "*"))
    assert stream.isStreaming
    query = (fitted.transform(stream).writeStream.format("memory").queryName("streamed_predictions")
             .option("checkpointLocation", str(tmp_path / "checkpoint")).start())
    try:
        query.processAllAvailable()
        second.write.parquet(str(source / "part-2"))  # a second micro-batch
        query.processAllAvailable()
    finally:
        query.stop()
    streamed = spark.table("streamed_predictions")
    assert streamed.count() == digit_rows.count() == streamed.select("id").distinct().count()
    batch = by_id(fitted.transform(digit_rows), "prediction", "probability")
    got = by_id(streamed, "prediction", "probability")
    assert got.keys() == batch.keys()
    for key, (prediction, probability) in batch.items():
        assert got[key][0] == prediction
        np.testing.assert_allclose(got[key][1].toArray(), probability.toArray(), atol=1e-6)


def test_each_executor_builds_the_model_once_per_core_not_once_per_task(spark, digit_rows):
    """local[2] is one executor with 2 cores: 12 tasks, over two transforms and a SQL query, build 2 modules."""
    fitted = untrained_classifier(2)
    many = digit_rows.repartition(12)
    for _ in range(2):
        assert many.rdd.getNumPartitions() == 12
        fitted.transform(many).write.format("noop").mode("overwrite").save()
    fitted.register_udf(spark, "classify_again")
    many.select(F.expr("classify_again(features)")).write.format("noop").mode("overwrite").save()
    jvm = bridge(spark)
    assert 1 <= jvm.hook("modulesBuilt", live_models.handle(fitted.model, jvm)) <= 2


def test_transform_keeps_columns_and_reads_vectors_arrays_and_sparse_rows(spark):
    fitted = untrained_classifier(3)
    x = np.random.default_rng(0).random((6, 64))
    x[:, 5:] = 0.0
    dense = spark.createDataFrame([(i, Vectors.dense(r), r.tolist()) for i, r in enumerate(x)], ["id", "v", "a"])
    sparse = spark.createDataFrame([(i, Vectors.sparse(64, dict(enumerate(r[:5])))) for i, r in enumerate(x)],
                                   ["id", "v"])
    expected = fitted.model.predict(x)
    for frame, column in ((dense, "v"), (dense, "a"), (sparse, "v")):
        out = fitted.copy({fitted.featuresCol: column, fitted.inferenceBatchSize: 4}).transform(frame)
        assert out.columns == frame.columns + ["prediction", "probability"]
        got = np.array([r.probability.toArray() for r in out.orderBy("id").collect()])
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_floats_cross_the_bridge_through_files_unless_few(spark, monkeypatch):
    """Py4J sends bytes as base64 text (~10 ms a MB, with a stall on long messages) and decodes a byte array the JVM
    returns one byte at a time in Python (0.1-0.35 s for an MLP's 2 MB of weights): weights, inputs, predictions and
    gradients over 64 KB going in and 8 KB coming back cross through files instead, as the same floats."""
    crossed = []
    encode, decode = py4j.protocol.encode_bytearray, py4j.protocol.decode_bytearray
    monkeypatch.setattr(py4j.protocol, "encode_bytearray", lambda data: crossed.append(len(data)) or encode(data))
    monkeypatch.setattr(py4j.protocol, "decode_bytearray", lambda text: crossed.append(len(text)) or decode(text))
    bigwrap.set_random_seed(6)
    model = bigwrap.Sequential([layers.Input((64,)), layers.Dense(256, name="wide")])  # 66 KB of weights
    kernel, bias = model.get_weights()
    x = np.random.default_rng(6).normal(size=(300, 64)).astype(np.float32)  # 77 KB in, 307 KB out
    jvm = bridge(spark)
    back = spec_format.decode_weights(*jvm.model_weights(live_models.handle(model, jvm)))
    np.testing.assert_array_equal(back[0][2], kernel)
    np.testing.assert_allclose(model.predict(x), x @ kernel + bias, atol=1e-5)
    gradients = live_models.forward_backward(model, x, np.ones((300, 256), np.float32))
    np.testing.assert_allclose(gradients[1][0], x.T @ np.ones((300, 256)), atol=1e-4)
    assert crossed == []
    np.testing.assert_allclose(model.predict(x[:2]), x[:2] @ kernel + bias, atol=1e-5)
    assert len(crossed) == 2  # 2 rows: 512 bytes in, 2 KB out, inline


def test_a_model_of_over_300_mb_loads_broadcasts_and_predicts(spark):
    """Py4J cannot carry 256 MiB of bytes (its base64 decoder overflows): weights this large reach the JVM
    and come back (as after a fit) through a file, and reach executors through Spark's chunked TorrentBroadcast."""
    bigwrap.set_random_seed(4)
    model = bigwrap.Sequential([layers.Input((3,)), layers.Embedding(1_250_000, 64, name="big"),
                                layers.Flatten(), layers.Dense(4, activation="softmax", name="head")])
    assert model.count_params() * 4 > 300 * 2**20
    fitted = bigwrap.EstimatorModel(model=model, loss="sparse_categorical_crossentropy")
    ids = np.random.default_rng(5).integers(0, 1_250_000, size=(500, 3)).astype(float)
    frame = spark.createDataFrame([(i, r.tolist()) for i, r in enumerate(ids)], ["id", "features"]).repartition(3)
    got = np.array([r.probability.toArray() for r in fitted.transform(frame).orderBy("id").collect()])
    table, (kernel, bias) = model.get_layer("big").get_weights()[0], model.get_layer("head").get_weights()
    logits = table[ids.astype(int)].reshape(len(ids), -1) @ kernel + bias
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(got, expected / expected.sum(1, keepdims=True), atol=1e-5)
    jvm = bridge(spark)
    back = spec_format.decode_weights(*jvm.model_weights(live_models.handle(model, jvm)))
    assert [(layer, name) for layer, name, _ in back] == [("big", "embeddings"), ("head", "kernel"), ("head", "bias")]
    np.testing.assert_array_equal(back[0][2], table)
    # and as a JVM stage, the way pyspark's Java pipeline writer and reader hand it over
    handed_back = bigwrap.EstimatorModel._from_java(fitted._to_java())
    np.testing.assert_array_equal(handed_back.model.get_layer("big").get_weights()[0], table)
