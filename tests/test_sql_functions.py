"""SQL functions of a fitted model: equal to transform, batched where Spark would call them row by row."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.errors import AnalysisException
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

import bigwrap

from .scoring import by_id, untrained_classifier


def _executed_plan(frame) -> str:
    return frame._jdf.queryExecution().executedPlan().toString()


def _batched_forwards(frame) -> int:
    """Plan nodes scoring rows in batches (AppendColumns prints the model it runs 'in batches of N')."""
    return _executed_plan(frame).count(" in batches of ")


@pytest.fixture(scope="module")
def fitted(spark, digit_rows):
    model = untrained_classifier(7)
    model.register_udf(spark, "classify")
    model.register_udf(spark, "classify_probability", output="probability")
    digit_rows.createOrReplaceTempView("digits_rows")
    return model


@pytest.fixture(scope="module")
def expected(fitted, digit_rows):
    return by_id(fitted.transform(digit_rows), "prediction", "probability")


def test_select_equals_transform_with_one_batched_forward_for_both_functions(spark, fitted, expected, digit_rows):
    sql = spark.sql("SELECT id, classify(features) AS prediction, classify_probability(features) AS probability "
                    "FROM digits_rows")
    assert _batched_forwards(sql) == 1
    got = by_id(sql, "prediction", "probability")
    assert got.keys() == expected.keys() and len(got) == digit_rows.count()
    for key, (prediction, probability) in expected.items():
        assert got[key][0] == prediction
        np.testing.assert_allclose(got[key][1].toArray(), probability.toArray(), atol=1e-6)
    # the function register_udf returns works in DataFrame expressions, through the same batched path
    classify = fitted.register_udf(spark, "classify")
    frame = digit_rows.select("id", classify("features").alias("p"))
    assert _batched_forwards(frame) == 1
    assert by_id(frame, "p") == {k: (v[0],) for k, v in expected.items()}


def test_where_clause_scores_in_batches_after_the_other_conditions(spark, expected):
    sql = spark.sql("SELECT id FROM digits_rows WHERE id % 2 = 0 AND classify(features) = 3")
    plan = _executed_plan(sql)
    assert plan.count(" in batches of ") == 1
    # the plain condition filters below the scoring node, so the rows it drops are never scored
    assert plan.index("AppendColumns bigwrap") < plan.index("% 2) = 0)")
    assert {r.id for r in sql.collect()} == {k for k, v in expected.items() if v[0] == 3 and k % 2 == 0}


def test_aggregate_inputs_and_group_keys_score_in_batches(spark, expected):
    per_parity = spark.sql("SELECT id % 2 AS parity, avg(cast(classify(features) = 3 AS double)) AS threes, "
                           "count(*) AS n FROM digits_rows GROUP BY id % 2")
    assert _batched_forwards(per_parity) == 1
    for row in per_parity.collect():
        predictions = [v[0] for k, v in expected.items() if k % 2 == row.parity]
        assert row.n == len(predictions) and row.threes == pytest.approx(np.mean(np.equal(predictions, 3)))
    per_digit = spark.sql("SELECT classify(features) AS digit, count(*) AS n FROM digits_rows GROUP BY 1")
    assert _batched_forwards(per_digit) == 1
    counts = np.bincount([int(v[0]) for v in expected.values()], minlength=10)
    assert {r.digit: r.n for r in per_digit.collect()} == {d: int(n) for d, n in enumerate(counts) if n}


@pytest.fixture(scope="module")
def arrays(digit_rows):
    return digit_rows.select("id", vector_to_array("features").alias("a"))


def test_computed_arguments_and_null_arguments_are_scored_in_batches(expected, arrays):
    frame = arrays.select("id", F.expr("classify(concat(slice(a, 1, 30), slice(a, 31, 34)))").alias("p"),
                          F.expr("classify(CASE WHEN id % 5 = 0 THEN NULL ELSE a END)").alias("q"))
    assert _batched_forwards(frame) == 2
    assert by_id(frame, "p", "q") == {k: (v[0], None if k % 5 == 0 else v[0]) for k, v in expected.items()}


def test_calls_in_branches_and_lambdas_run_row_by_row_and_honour_guards(spark, expected, arrays):
    guarded = arrays.union(spark.createDataFrame([(-1, [1.0, 2.0, 3.0])], arrays.schema)) \
        .select("id", F.expr("CASE WHEN size(a) = 64 THEN classify(a) END").alias("p"))
    assert _batched_forwards(guarded) == 0
    assert by_id(guarded, "p") == {**{k: (v[0],) for k, v in expected.items()}, -1: (None,)}
    lambdas = arrays.select("id", F.expr("transform(array(a), x -> classify(x))[0]").alias("p"))
    assert _batched_forwards(lambdas) == 0
    assert by_id(lambdas, "p") == {k: (v[0],) for k, v in expected.items()}


def test_streaming_query_of_a_sql_function_predicts_every_row_once_as_batch(spark, expected, digit_rows, tmp_path):
    digit_rows.write.parquet(str(tmp_path / "incoming"))
    stream = spark.readStream.schema(digit_rows.schema).parquet(str(tmp_path / "incoming"))
    query = (stream.selectExpr("id", "classify(features) AS p").writeStream.format("memory")
             .queryName("streamed_sql_predictions").option("checkpointLocation", str(tmp_path / "checkpoint")).start())
    try:
        query.processAllAvailable()
        assert _batched_forwards_of(query) == 1
    finally:
        query.stop()
    assert by_id(spark.table("streamed_sql_predictions"), "p") == {k: (v[0],) for k, v in expected.items()}


def _batched_forwards_of(query) -> int:
    return query._jsq.streamingQuery().lastExecution().executedPlan().toString().count(" in batches of ")


def test_bad_names_outputs_arguments_and_rows_are_named(spark, fitted):
    with pytest.raises(ValueError, match="SQL identifier"):
        fitted.register_udf(spark, "drop table")
    regression = bigwrap.EstimatorModel(model=fitted.model, loss="mse")
    with pytest.raises(ValueError, match=r"output must be one of \['prediction'\]"):
        regression.register_udf(spark, "score", output="probability")
    with pytest.raises(AnalysisException, match="classify argument 1 has type string; use an ml Vector"):
        spark.sql("SELECT classify('seven')")
    with pytest.raises(AnalysisException, match=r"classify takes 1 argument\(s\), one per model input; got 2"):
        spark.sql("SELECT classify(features, features) FROM digits_rows")
    short = spark.createDataFrame([([1.0, 2.0, 3.0],)], ["features"])
    with pytest.raises(Exception, match="classify argument 1' has a row of 3 values; the model needs 64"):
        short.select(F.expr("classify(features)")).collect()
