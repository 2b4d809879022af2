"""Inference: rows/s of `transform` (batched forwards on the executors' JVMs) vs PyTorch behind Spark's
`predict_batch_udf` (Arrow batches to Python workers): same weights, data, batch size and cores.
"""
from __future__ import annotations

import os
import sys

import numpy as np

import bigwrap

from . import systems
from .workloads import blobs, frame, images

BATCH = 256
BIGWRAP, TORCH = "bigwrap transform (JVM, batched)", "PyTorch predict_batch_udf (1 thread per task)"
SQL = "bigwrap SQL function in SELECT (batched by the optimizer rule)"


def session(app_name: str):
    """local[2], with Python workers on this interpreter (they need torch for predict_batch_udf)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return bigwrap.session("local[2]", app_name=app_name)


def compare(spark, name: str, model, make_torch, x: np.ndarray, flatten_dims=None) -> dict:
    data = frame(spark, x, np.zeros(len(x), dtype=np.float32))
    fitted = bigwrap.EstimatorModel(model=model, loss="sparse_categorical_crossentropy")
    fitted = fitted.copy({fitted.inferenceBatchSize: BATCH})
    net = make_torch()
    systems.keras_to_torch(model, net, flatten_dims)
    udf = systems.torch_predict_column(make_torch, net.state_dict(), x.shape[1:], x.ndim == 4, BATCH)
    # the same model on both sides: their probabilities agree on a sample
    sample = data.limit(200).cache()
    ours = np.array([r.probability.toArray() for r in fitted.transform(sample).orderBy("features").collect()])
    theirs = np.array([r.out.probability
                       for r in sample.withColumn("out", udf("features")).orderBy("features").collect()])
    print(f"[{name} inference] bigwrap transform ...", flush=True)
    rows = {BIGWRAP: systems.rows_per_second(data, fitted.transform(data))}
    print(f"[{name} inference] bigwrap SQL function ...", flush=True)
    fitted.register_udf(spark, f"bench_classify_{name}")
    rows[SQL] = systems.rows_per_second(data, data.selectExpr("*", f"bench_classify_{name}(features) AS prediction"))
    print(f"[{name} inference] PyTorch predict_batch_udf ...", flush=True)
    rows[TORCH] = systems.rows_per_second(data, data.withColumn("out", udf("features")))
    rows["max |probability difference|"] = float(np.abs(ours - theirs).max())
    data.unpersist()
    sample.unpersist()
    return rows


def run(spark, scale: float, mlp, lenet) -> dict:
    x, _ = blobs(int(60000 * scale), seed=13)
    results = {"MLP 784-512-256-10": compare(spark, "mlp", mlp(), lambda: systems.torch_mlp([784, 512, 256, 10]), x)}
    x, _ = images(int(20000 * scale), seed=17)
    results["LeNet-5, 28×28×1"] = compare(spark, "lenet", lenet(), systems.torch_lenet, x, flatten_dims=(5, 5, 16))
    return results


def markdown(results: dict) -> str:
    lines = [f"## Inference: rows/s of transform on a cached DataFrame (noop sink), batch {BATCH}", "",
             "| model | rows | bigwrap transform | × PyTorch | bigwrap SQL function | × PyTorch "
             "| PyTorch predict_batch_udf | max abs diff |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        ours, sql, theirs = r[BIGWRAP], r[SQL], r[TORCH]
        lines.append(f"| {name} | {ours['rows']:,} | {ours['rows_per_s']:,.0f} | "
                     f"{ours['rows_per_s'] / theirs['rows_per_s']:.2f} | {sql['rows_per_s']:,.0f} | "
                     f"{sql['rows_per_s'] / theirs['rows_per_s']:.2f} | {theirs['rows_per_s']:,.0f} | "
                     f"{r['max |probability difference|']:.1e} |")
    lines += ["", "The SQL function computes the prediction column only; transform adds the probability vector too."]
    return "\n".join(lines) + "\n"


def main() -> int:
    """`python -m bench.inference [--quick]`: this section alone (make bench runs it with the rest)."""
    import argparse

    from .run import lenet, mlp

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    scale = 0.1 if parser.parse_args().quick else 1.0
    spark = session("bigwrap-bench-inference")
    print(markdown(run(spark, scale, lambda: mlp([784, 512, 256, 10]), lenet)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
