"""Data bigger than memory (docs/data.md): the barrier trainer streams rows that Spark's block manager
spilled to local disk, and the driver keeps nothing per row. Each test runs its own local[2] Spark with a
1 GB heap (a process has one SparkContext) on Parquet it generates and deletes."""
from __future__ import annotations

import json
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from .cluster import run_python

pytestmark = pytest.mark.slow

ONE_GB_HEAP = {"spark.driver.memory": "1g"}
# Writes `rows` x `width` uniform floats with label = (features[0] + features[1] > 1) as Parquet to `path`.
GENERATE = """
import json, time
from pyspark.sql import DataFrame
from bigwrap import layers

def generate(path, rows, width, partitions, seed=5):
    return spark._jvm.bigwrap.bench.SyntheticRows.writeParquet(spark._jsparkSession, path, rows, width, partitions, seed)

def frame(rows, width, seed):
    return DataFrame(spark._jvm.bigwrap.bench.SyntheticRows.frame(spark._jsparkSession, rows, width, 2, seed), spark)

def mlp(width):
    bigwrap.set_random_seed(1)
    return bigwrap.Sequential([layers.Input((width,)), layers.Dense(32, activation="relu"),
                               layers.Dense(2, activation="softmax")])

def accuracy(fitted, test):
    return fitted.transform(test).selectExpr("avg(cast(prediction = label as double))").first()[0]
"""


@pytest.fixture
def scratch():
    """A directory of our own, deleted afterwards: pytest prunes old tmp_path directories when other pytest
    runs start, which must not happen to gigabytes of Parquet in use, nor leave them behind."""
    path = Path(tempfile.mkdtemp(prefix="bigwrap-big-data-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _run(body: str, timeout: int = 900):
    return run_python(GENERATE + textwrap.dedent(body), "local[2]", ONE_GB_HEAP, timeout)


def _line(output: str, key: str) -> str:
    """The rest of the line the script printed after `key`."""
    return output.split(f"{key} ", 1)[1].split("\n", 1)[0]


def test_two_gigabytes_of_parquet_train_in_a_one_gigabyte_heap(scratch):
    path = scratch / "wide.parquet"
    result = _run(f"""
        print("PARQUET_BYTES", generate({str(path)!r}, 2_000_000, 256, 16))
        train = spark.read.parquet({str(path)!r})
        started = time.time()
        try:  # DistriOptimizer would cache every row in the heap: refused before any long job
            bigwrap.Estimator(model=mlp(256), loss="sparse_categorical_crossentropy", trainer="bigdl",
                              batchSize=512, verbose=0).fit(train)
        except ValueError as refusal:
            print("REFUSED", round(time.time() - started, 1), str(refusal).replace(chr(10), " "))
        fitted = bigwrap.Estimator(model=mlp(256), loss="sparse_categorical_crossentropy",
                                   optimizer=bigwrap.optimizers.Adam(0.003), batchSize=512, epochs=1, seed=1,
                                   verbose=0).fit(train)
        print("STORED", json.dumps(fitted.training_data))
        print("ACCURACY", accuracy(fitted, frame(20_000, 256, seed=99)))
    """)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "OutOfMemoryError" not in output, output[-3000:]
    assert int(_line(result.stdout, "PARQUET_BYTES")) >= 2 * 10**9
    seconds, refusal = _line(result.stdout, "REFUSED").split(" ", 1)
    assert "trainer='barrier'" in refusal and float(seconds) < 60, refusal
    stored = json.loads(_line(result.stdout, "STORED"))
    assert stored["data_cache"] == "auto" and stored["rows"] == 2_000_000
    assert stored["disk_bytes"] > 10**9, stored  # most of the 2 GB went to local disk
    assert float(_line(result.stdout, "ACCURACY")) >= 0.9


def test_thirty_million_rows_train_in_a_one_gigabyte_heap(scratch):
    """The driver keeps one number per partition, not per row (the old layout's permutation of 30 M rows
    alone did not fit this heap)."""
    path = scratch / "long.parquet"
    result = _run(f"""
        generate({str(path)!r}, 30_000_000, 4, 16)
        fitted = bigwrap.Estimator(model=mlp(4), loss="sparse_categorical_crossentropy",
                                   optimizer=bigwrap.optimizers.Adam(0.01), batchSize=8192, epochs=1, seed=1,
                                   verbose=0).fit(spark.read.parquet({str(path)!r}))
        print("STORED", json.dumps(fitted.training_data))
        print("ACCURACY", accuracy(fitted, frame(20_000, 4, seed=99)))
    """)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "OutOfMemoryError" not in output, output[-3000:]
    assert json.loads(_line(result.stdout, "STORED"))["rows"] == 30_000_000
    assert float(_line(result.stdout, "ACCURACY")) >= 0.9
