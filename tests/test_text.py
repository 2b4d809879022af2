"""TokenSequencer: a fitted vocabulary, padded id sequences on the JVM, persistence, and a text classifier."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import RegexTokenizer

import bigwrap
from bigwrap import TokenSequencer, TokenSequencerModel, layers


@pytest.fixture(scope="module")
def tokens(spark):
    return spark.createDataFrame([(["b", "a", "b", "c"],), (["b", "a", "d"],), (["e", "b"],), ([],), (None,)],
                                 "tokens array<string>")


def _ids(model, df):
    return [row["features"] for row in model.transform(df).collect()]


def test_vocabulary_is_ordered_by_frequency_then_alphabet(spark, tokens):
    model = TokenSequencer(maxLength=5).fit(tokens)
    assert model.vocabulary == ["", "[UNK]", "b", "a", "c", "d", "e"]
    assert model.vocabularySize == 7
    assert _ids(model, tokens) == [[2, 3, 2, 4, 0], [2, 3, 5, 0, 0], [6, 2, 0, 0, 0], [0] * 5, None]


def test_unknown_tokens_padding_truncation_and_limits(spark, tokens):
    model = TokenSequencer(maxLength=3, vocabSize=4, padding="pre", truncating="pre").fit(tokens)
    assert model.vocabulary == ["", "[UNK]", "b", "a"]
    unseen = spark.createDataFrame([(["a", "zebra", "b", "b"],), (["zebra"],)], "tokens array<string>")
    assert _ids(model, unseen) == [[1, 2, 2], [0, 0, 1]]
    assert TokenSequencer(minCount=2).fit(tokens).vocabulary == ["", "[UNK]", "b", "a"]


def test_bad_settings_fail_before_any_spark_job(spark, tokens, no_spark_job):
    with no_spark_job:
        with pytest.raises(ValueError, match="maxLength must be at least 1"):
            TokenSequencer(maxLength=0).fit(tokens)
        with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
            TokenSequencer(padding="left").fit(tokens)
        with pytest.raises(TypeError, match="tokens column 'text' has type string.*RegexTokenizer"):
            TokenSequencer(inputCol="text").fit(spark.createDataFrame([("a b",)], "text string"))
    with pytest.raises(ValueError, match="starts with the padding"):
        TokenSequencerModel(vocabulary=["a", "b"])


def test_saved_and_loaded_alone_and_in_a_pipeline(spark, tokens, tmp_path):
    model = TokenSequencer(maxLength=4, padding="pre").fit(tokens)
    model.save(str(tmp_path / "sequencer"))
    loaded = TokenSequencerModel.load(str(tmp_path / "sequencer"))
    assert loaded.vocabulary == model.vocabulary and loaded.getOrDefault("padding") == "pre"
    assert _ids(loaded, tokens) == _ids(model, tokens)

    text = spark.createDataFrame([("The cat, the HAT!",), ("a cat",)], ["text"])
    pipeline = Pipeline(stages=[RegexTokenizer(inputCol="text", outputCol="tokens", pattern="\\W+"),
                                TokenSequencer(maxLength=4)]).fit(text)
    pipeline.write().save(str(tmp_path / "pipeline"))
    again = PipelineModel.load(str(tmp_path / "pipeline"))
    assert again.stages[1].vocabulary == ["", "[UNK]", "cat", "the", "a", "hat"]
    assert [r["features"] for r in again.transform(text).collect()] == [[3, 2, 3, 5], [4, 2, 0, 0]]


TOPICS = {
    0: "goal match striker keeper league referee stadium penalty coach season",
    1: "oven flour butter recipe simmer garlic bake dough sauce pepper",
    2: "compiler kernel server network database cache thread debug binary cloud",
}
FILLER = ("the a of and to in is it that was for on with as at by this from they we "
          "were have has had but not or an some very just then").split()


def _corpus(spark, rows, seed):
    """Sentences of filler words with two to four words of their topic, in mixed case and punctuation."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rows):
        label = int(rng.integers(0, 3))
        words = list(rng.choice(FILLER, size=int(rng.integers(5, 10))))
        for word in rng.choice(TOPICS[label].split(), size=int(rng.integers(2, 5))):
            words.insert(int(rng.integers(0, len(words) + 1)), word.upper() if rng.random() < 0.3 else word)
        out.append((" ".join(words).capitalize() + rng.choice([".", "!", "?"]), float(label)))
    return spark.createDataFrame(out, ["text", "label"])


def test_regex_tokenizer_sequencer_embedding_lstm_classifies_text(spark):
    """The issue's acceptance: RegexTokenizer → TokenSequencer → Embedding + LSTM, ≥ 0.90 test accuracy."""
    train, test = _corpus(spark, 600, seed=1), _corpus(spark, 200, seed=2)
    features = Pipeline(stages=[RegexTokenizer(inputCol="text", outputCol="tokens", pattern="\\W+"),
                                TokenSequencer(maxLength=16)]).fit(train)
    vocabulary = features.stages[1].vocabularySize
    bigwrap.set_random_seed(4)
    model = bigwrap.Sequential([layers.Input((16,)), layers.Embedding(vocabulary, 16), layers.LSTM(16),
                                layers.Dense(3, activation="softmax")])
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy",
                               optimizer=bigwrap.optimizers.Adam(0.01), batchSize=32, epochs=5, verbose=0,
                               seed=4).fit(features.transform(train))
    accuracy = fitted.evaluate(features.transform(test), metrics=["accuracy"])["accuracy"]
    assert accuracy >= 0.90, accuracy
