"""TokenSequencer: token arrays (e.g. from RegexTokenizer) → padded id sequences with a fitted vocabulary."""
from __future__ import annotations

import json
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.sql import DataFrame, functions as F
from pyspark.sql.types import ArrayType, StringType

from . import data, runtime
from .params import _param
from .persistence import Persistable

PADDING, OUT_OF_VOCABULARY = "", "[UNK]"  # ids 0 and 1, as in Keras' TextVectorization


class _SequencerParams(HasInputCol, HasOutputCol):
    maxLength = _param("maxLength", "length of every output sequence: shorter ones are padded, longer ones cut",
                       TypeConverters.toInt)
    vocabSize = _param("vocabSize", "the most ids, padding (0) and out-of-vocabulary (1) included: the "
                       "vocabSize - 2 most frequent tokens get ids 2, 3, ...", TypeConverters.toInt)
    minCount = _param("minCount", "tokens seen fewer times than this in the fitted data are out of vocabulary",
                      TypeConverters.toInt)
    padding = _param("padding", "'post' pads at the end, 'pre' at the start", TypeConverters.toString)
    truncating = _param("truncating", "'post' cuts the end of long sequences, 'pre' the start",
                        TypeConverters.toString)

    _DEFAULTS: dict[str, Any] = dict(inputCol="tokens", outputCol="features", maxLength=100, vocabSize=20000,
                                     minCount=1, padding="post", truncating="post")

    def _settings(self) -> dict[str, Any]:
        s = {p.name: self.getOrDefault(p) for p in self.params if self.isDefined(p)}
        for name, low in (("maxLength", 1), ("vocabSize", 3), ("minCount", 1)):
            if s[name] < low:
                raise ValueError(f"{type(self).__name__}: {name} must be at least {low}, got {s[name]}")
        for name in ("padding", "truncating"):
            if s[name] not in ("pre", "post"):
                raise ValueError(f"{type(self).__name__}: {name} must be 'pre' or 'post', got {s[name]!r}")
        return s

    def _check_tokens(self, dataset: DataFrame) -> str:
        column = self.getInputCol()
        data.require_column(dataset, column, "tokens", "inputCol")
        dtype = dataset.schema[column].dataType
        if not (isinstance(dtype, ArrayType) and isinstance(dtype.elementType, StringType)):
            raise TypeError(f"tokens column {column!r} has type {dtype.simpleString()}; {type(self).__name__} reads "
                            "array<string>, e.g. from pyspark.ml.feature.RegexTokenizer or Tokenizer")
        return column


class TokenSequencer(Estimator, _SequencerParams, Persistable):
    """`fit` learns a vocabulary from a column of token arrays: the most frequent tokens (ties in alphabetical
    order), counted by Spark. The fitted TokenSequencerModel turns each token array into `maxLength` ids for an
    `Embedding(input_dim=model.vocabularySize, ...)`: 0 pads, 1 marks an unknown token.

    A Python stage with no Scala class (unlike Estimator / EstimatorModel): its Params and their checks live here
    once; the model's JVM work is one `tokensToIds` call whose config bigwrap.api.BridgeConfigs parses strictly."""

    @keyword_only
    def __init__(self, *, inputCol: str = "tokens", outputCol: str = "features", maxLength: int = 100,
                 vocabSize: int = 20000, minCount: int = 1, padding: str = "post", truncating: str = "post"):
        super().__init__()
        self._setDefault(**self._DEFAULTS)
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "TokenSequencer":
        return self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> "TokenSequencerModel":
        s = self._settings()
        column = self._check_tokens(dataset)
        counts = (dataset.select(F.explode(column).alias("token"))
                  .where(F.col("token").isNotNull() & ~F.col("token").isin(PADDING, OUT_OF_VOCABULARY))
                  .groupBy("token").count().where(F.col("count") >= s["minCount"])
                  .orderBy(F.desc("count"), F.asc("token")).limit(s["vocabSize"] - 2))
        vocabulary = [PADDING, OUT_OF_VOCABULARY] + [row["token"] for row in counts.collect()]
        model = TokenSequencerModel(vocabulary=vocabulary)
        self._copyValues(model)
        return model


class TokenSequencerModel(Model, _SequencerParams, Persistable):
    """Maps token arrays to ids on the JVM (no Python per row). Learned state: `vocabulary`, where the token at
    index i has id i (index 0 is padding "", index 1 the out-of-vocabulary marker "[UNK]")."""

    def __init__(self, vocabulary: list[str] | None = None):
        super().__init__()
        self._setDefault(**self._DEFAULTS)
        self.vocabulary = list(vocabulary) if vocabulary is not None else [PADDING, OUT_OF_VOCABULARY]
        if self.vocabulary[:2] != [PADDING, OUT_OF_VOCABULARY]:
            raise ValueError(f"TokenSequencerModel: a vocabulary starts with the padding and out-of-vocabulary "
                             f"entries {[PADDING, OUT_OF_VOCABULARY]}, got {self.vocabulary[:2]}")

    @property
    def vocabularySize(self) -> int:
        """The number of ids: what `Embedding(input_dim=...)` needs."""
        return len(self.vocabulary)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        s = self._settings()
        column = self._check_tokens(dataset)
        data.check_free_columns(dataset, [s["outputCol"]], "outputCol")
        config = {"input_col": column, "output_col": s["outputCol"], "max_length": s["maxLength"],
                  "padding": s["padding"], "truncating": s["truncating"], "vocabulary": self.vocabulary}
        jdf = runtime.bridge(dataset.sparkSession).call("PythonFacade.tokensToIds", dataset._jdf, json.dumps(config))
        return DataFrame(jdf, dataset.sparkSession)

    # -- persistence: the vocabulary is learned state beside the params (docs/persistence.md) -----
    def _learned_state(self) -> dict[str, Any]:
        return {"vocabulary": self.vocabulary}

    @classmethod
    def _from_learned_state(cls, state: dict[str, Any]) -> "TokenSequencerModel":
        return cls(vocabulary=state["vocabulary"])
