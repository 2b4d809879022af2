"""Transformers end to end: masks from token ids, named-tensor calls in the spec, a word-order task that only
attention with positions can learn (on both trainers), and a saved encoder predicting alike in Python and Scala."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from pyspark.ml import Pipeline
from pyspark.ml.feature import RegexTokenizer
from pyspark.sql import functions as F

import bigwrap
from bigwrap import TokenSequencer, layers
from bigwrap.__main__ import spark_shell_command

from .masked_reference import _attention

LENGTH = 12
GOOD = "good great fine nice superb".split()
BAD = "bad awful poor dull boring".split()
FILLER = "the film movie plot was is really quite and but so very".split()


def _sentences(spark, rows, seed):
    """One good and one bad adjective, one of them negated by the "not" just before it: "not bad ... good" is
    positive (1), "not good ... bad" negative (0). Both classes hold the same words; only their order tells."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rows):
        label = int(rng.integers(0, 2))
        good, bad = rng.choice(GOOD), rng.choice(BAD)
        phrases = [f"not {bad}", good] if label else [f"not {good}", bad]
        if rng.random() < 0.5:
            phrases.reverse()
        words = list(rng.choice(FILLER, size=int(rng.integers(2, 6))))
        for phrase in phrases:
            words.insert(int(rng.integers(0, len(words) + 1)), phrase)
        out.append((" ".join(words).capitalize() + ".", float(label)))
    return spark.createDataFrame(out, ["text", "label"])


@pytest.fixture(scope="module")
def word_order(spark):
    train, test = _sentences(spark, 800, seed=1), _sentences(spark, 200, seed=2)
    features = Pipeline(stages=[RegexTokenizer(inputCol="text", outputCol="tokens", pattern="\\W+"),
                                TokenSequencer(maxLength=LENGTH)]).fit(train)
    return (features.stages[1].vocabularySize, features.transform(train).cache(),
            features.transform(test).withColumn("id", F.monotonically_increasing_id()).cache())


def _encoder(vocabulary, blocks=2, width=32):
    ids = layers.Input((LENGTH,), name="ids")
    x = layers.Embedding(vocabulary, width, mask_zero=True)(ids)
    x = layers.Add()([x, layers.PositionEmbedding(LENGTH)(x)])
    for _ in range(blocks):
        x = layers.TransformerEncoder(intermediate_dim=2 * width, num_heads=4)(x)
    x = layers.GlobalAveragePooling1D()(x)
    return bigwrap.Model(ids, layers.Dense(2, activation="softmax")(x), name="word_order")


def _fit(model, frame, epochs, trainer="barrier"):
    return bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=32, epochs=epochs,
                             optimizer=bigwrap.optimizers.Adam(0.003), verbose=0, seed=3, trainer=trainer).fit(frame)


def test_bag_of_embeddings_cannot_tell_the_word_order(word_order):
    vocabulary, train, test = word_order
    bigwrap.set_random_seed(3)
    ids = layers.Input((LENGTH,))
    pooled = layers.GlobalAveragePooling1D()(layers.Embedding(vocabulary, 16, mask_zero=True)(ids))
    model = bigwrap.Model(ids, layers.Dense(2, activation="softmax")(layers.Dense(16, activation="relu")(pooled)))
    accuracy = _fit(model, train, epochs=5).evaluate(test, metrics=["accuracy"])["accuracy"]
    assert accuracy <= 0.65, accuracy


@pytest.mark.parametrize("trainer", ["barrier", "bigdl"])
def test_two_block_transformer_encoder_learns_the_word_order(word_order, trainer):
    vocabulary, train, test = word_order
    bigwrap.set_random_seed(3)
    accuracy = _fit(_encoder(vocabulary), train, epochs=20, trainer=trainer).evaluate(test, metrics=["accuracy"])
    assert accuracy["accuracy"] >= 0.95, accuracy


def test_attention_dropout_trains_alike_on_the_native_kernel_and_the_jvm(word_order):
    """Attention's dropout factors come from the task's seeded random stream in the same order whether the native
    kernel or the JVM's head loops run the attention, so an epoch with dropout ends at the same weights; and the
    dropout took part (without it, the same start ends elsewhere)."""
    vocabulary, train, _ = word_order

    def trained(dropout, kernels):
        bigwrap.set_random_seed(3)
        ids = layers.Input((LENGTH,))
        x = layers.Embedding(vocabulary, 16, mask_zero=True)(ids)
        attended = layers.MultiHeadAttention(2, 8, dropout=dropout)(x, x)
        model = bigwrap.Model(ids, layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(attended)))
        return bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=32, epochs=1, seed=3,
                                 numTasks=1, optimizer=bigwrap.optimizers.SGD(0.5), kernels=kernels,
                                 verbose=0).fit(train).model.get_weights()

    native, jvm, undropped = trained(0.5, "native"), trained(0.5, "bigdl"), trained(0.0, "native")
    for a, b in zip(native, jvm):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert max(np.abs(a - b).max() for a, b in zip(native, undropped)) > 1e-3


@pytest.fixture(scope="module")
def saved_encoder(word_order, tmp_path_factory):
    vocabulary, train, test = word_order
    directory = tmp_path_factory.mktemp("encoder")
    bigwrap.set_random_seed(5)
    fitted = _fit(_encoder(vocabulary, blocks=1, width=16), train, epochs=1)
    fitted.save(str(directory / "model"))
    test.select("id", "features").write.parquet(str(directory / "test.parquet"))
    return fitted, directory


def test_saved_transformer_predicts_identically_after_load(spark, saved_encoder):
    fitted, directory = saved_encoder
    test = spark.read.parquet(str(directory / "test.parquet"))
    loaded = bigwrap.EstimatorModel.load(str(directory / "model"))
    spec = json.loads((directory / "model/model/spec.json").read_text())
    assert spec["version"] == 1  # no layer of it is called with named tensors
    before = fitted.transform(test).orderBy("id").select("probability").collect()
    after = loaded.transform(test).orderBy("id").select("probability").collect()
    assert before == after


@pytest.mark.spark_shell
def test_saved_transformer_predicts_identically_in_spark_shell(spark, saved_encoder):
    fitted, directory = saved_encoder
    script = Path(__file__).parent / "scala" / "transformer.scala"
    result = subprocess.run([*spark_shell_command(["--master", "local[1]"]), "-i", str(script)],
                            env={**os.environ, "BIGWRAP_INTEROP_DIR": str(directory)},
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    ours = fitted.transform(spark.read.parquet(str(directory / "test.parquet"))).orderBy("id").collect()
    theirs = spark.read.parquet(str(directory / "from_scala.parquet")).orderBy("id").collect()
    assert [r.id for r in ours] == [r.id for r in theirs] and len(ours) == 200
    assert [r.prediction for r in ours] == [r.prediction for r in theirs]
    assert np.abs(np.array([r.probability.toArray() for r in ours]) -
                  np.array([r.probability.toArray() for r in theirs])).max() <= 1e-6


def _weights(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return [torch.tensor(w) for w in model.get_weights()]


def test_explicit_attention_mask_and_named_call_match_keras_semantics(spark):
    query, value, mask = layers.Input((5, 6)), layers.Input((4, 6)), layers.Input((5, 4))
    out = layers.MultiHeadAttention(2, 3, name="mha")(query, value=value, attention_mask=mask)
    model = bigwrap.Model([query, value, mask], out)
    spec = json.loads(model.to_json())
    assert spec["version"] == 2 and spec["layers"][-1]["inbound"] == [
        {"inputs": {"query": query.layer.name, "value": value.layer.name, "attention_mask": mask.layer.name},
         "arguments": {"use_causal_mask": False}}]
    weights = _weights(model)
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(3, 5, 6)), rng.normal(size=(3, 4, 6)), (rng.random((3, 5, 4)) > 0.4).astype(float)]
    x[2][0, 1] = 0  # a query row that attends to nothing averages every value, as in Keras
    expected = _attention(weights, *(torch.tensor(a, dtype=torch.float32) for a in x[:2]),
                          attention_mask=torch.tensor(x[2]))
    np.testing.assert_allclose(model.predict(x), expected.numpy(), atol=1e-5)
    rebuilt = bigwrap.model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(x), expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("kernels", ["native", "bigdl"])
def test_a_masked_key_has_probability_zero_not_a_tiny_one(spark, kernels):
    """Keras' -1e9 score gives a masked key probability 0 exactly. A tiny one instead (exp of the clamped score,
    ~1e-38) is a subnormal float in every masked cell, which made each GEMM reading them 4× slower on Intel; the
    key's value here is big enough (~1e36) for any such probability to show in the output."""
    query, value, mask = layers.Input((3, 4)), layers.Input((5, 4)), layers.Input((3, 5))
    model = bigwrap.Model([query, value, mask], layers.MultiHeadAttention(2, 2)(query, value=value,
                                                                              attention_mask=mask))
    weights = _weights(model)
    rng = np.random.default_rng(4)
    x = [rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), np.ones((2, 3, 5))]
    x[1][:, 2] = 1e36  # key 2 is masked for every query
    x[2][:, :, 2] = 0
    expected = _attention(weights, *(torch.tensor(a, dtype=torch.float32) for a in x[:2]),
                          attention_mask=torch.tensor(x[2])).numpy()
    assert np.abs(expected).max() < 100
    np.testing.assert_allclose(model.predict(x, kernels=kernels), expected, atol=1e-5)


def test_embedding_mask_reaches_shared_and_frozen_consumers(spark):
    """Token id 0 is padding for attention and pooling, also where a layer runs as a sub-graph (shared, frozen)."""
    ids = layers.Input((6,))
    embedded = layers.Embedding(9, 4, mask_zero=True)(ids)
    projected = layers.Dense(4)(embedded)  # passes the mask on
    attention = layers.MultiHeadAttention(2, 2)
    both = layers.Add()([attention(embedded, embedded), attention(projected, embedded)])
    model = bigwrap.Model(ids, layers.GlobalAveragePooling1D()(both))
    weights = _weights(model)
    x = np.array([[3, 1, 4, 1, 5, 0], [2, 6, 0, 0, 0, 0], [8, 0, 0, 0, 0, 0]], dtype=np.float32)
    mask = torch.tensor(x != 0)
    e = torch.nn.functional.embedding(torch.tensor(x).long(), weights[0])
    p = e @ weights[1] + weights[2]
    y = (_attention(weights[3:], e, e, query_mask=mask, value_mask=mask) +
         _attention(weights[3:], p, e, query_mask=mask, value_mask=mask))
    expected = (y * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    np.testing.assert_allclose(model.predict(x), expected.numpy(), atol=1e-5)
    model.freeze()
    np.testing.assert_allclose(model.predict(x), expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("call,error", [
    (lambda mha, t: mha(t), "`value` is missing"),
    (lambda mha, t: mha(t, t, causal=True), "unexpected argument `causal`"),
    (lambda mha, t: mha(t, t, query=t), "got `query` twice"),
    (lambda mha, t: mha(t, t, attention_mask=layers.Input((3, 3))), r"attention_mask.*\(None, 5, 5\)"),
])
def test_bad_calls_name_the_layer_and_the_argument(no_spark_job, call, error):
    with no_spark_job, pytest.raises((TypeError, ValueError), match=f"'mha'.*{error}"):
        call(layers.MultiHeadAttention(2, 4, name="mha"), layers.Input((5, 8)))


def test_specs_of_version_1_still_build_and_unknown_call_forms_are_refused(spark):
    from bigwrap.runtime import bridge

    old = bigwrap.Sequential([layers.Input((5, 3)), layers.Dense(2)]).to_json()
    assert json.loads(old)["version"] == 1
    assert json.loads(bridge(spark).call("LiveModels.shapes", old)) == {"inputs": [[5, 3]], "outputs": [[5, 2]]}
    named = json.loads(old)
    named["layers"][1]["inbound"] = [{"inputs": {"inputs": named["layers"][0]["name"]}}]
    with pytest.raises(Exception, match="must be a list of tensor references"):
        bridge(spark).call("LiveModels.shapes", json.dumps(named))  # objects need version 2
