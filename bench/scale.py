"""Data bigger than memory (docs/data.md): the MLP workload on Parquet of 1x, 4x and 16x the JVM heap.

Each size trains one epoch with the barrier trainer in its own local[2] Spark with a 1 GB heap (a
subprocess: a process has one SparkContext). Reported per run: the epoch's wall time and samples/s (the
trainer's own history), the whole fit's wall (conversion included), the JVM's peak RSS, and the bytes the
block manager held on disk. An eighth of the heap (what fits half of Spark's storage memory) trains from
memory and from disk for the spilling path's ratio. 16x needs about 2 x 16 GB of free local disk (the
Parquet and the spilled chunks). Part of `make bench`, or alone: `python -m bench.scale [--quick]`.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAP_MB = 1024
WIDTH = 256  # floats per row: 1 KiB of features
HIDDEN = 128
BATCH = 1024
# (label, data size as a multiple of the heap, dataCache)
RUNS = [("⅛× heap, dataCache=memory", 0.125, "memory"), ("⅛× heap, dataCache=disk", 0.125, "disk"),
        ("1× heap", 1, "auto"), ("4× heap", 4, "auto"), ("16× heap", 16, "auto")]


def child(path: str, rows: int, cache: str) -> dict:
    """In the subprocess: generates the Parquet, trains one epoch, measures."""
    import bigwrap
    from bigwrap import layers
    from bench.systems import jvm_peak_mb

    spark = bigwrap.session("local[2]", app_name="bigwrap-bench-scale", conf={"spark.driver.memory": f"{HEAP_MB}m"})
    parquet_bytes = spark._jvm.bigwrap.bench.SyntheticRows.writeParquet(spark._jsparkSession, path, rows, WIDTH,
                                                                         max(2, rows * WIDTH * 4 // (64 << 20)), 5)
    model = bigwrap.Sequential([layers.Input((WIDTH,)), layers.Dense(HIDDEN, activation="relu"),
                                layers.Dense(2, activation="softmax")])
    started = time.perf_counter()
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=BATCH, epochs=1,
                               seed=1, verbose=0, dataCache=cache, optimizer=bigwrap.optimizers.Adam(0.01)
                               ).fit(spark.read.parquet(path))
    wall = time.perf_counter() - started
    epoch = fitted.history.iloc[0]
    return {"rows": rows, "parquet_mb": parquet_bytes / 1e6, "epoch_s": float(epoch["seconds"]),
            "samples_per_s": rows / float(epoch["seconds"]), "fit_wall_s": wall, "peak_rss_mb": jvm_peak_mb(spark),
            "disk_mb": fitted.training_data["disk_bytes"] / 1e6, "memory_mb": fitted.training_data["memory_bytes"] / 1e6,
            "loss": float(epoch["loss"])}


def run(quick: bool = False) -> dict:
    results = {}
    for label, multiple, cache in RUNS:
        rows = int(multiple * HEAP_MB * 2**20 / (WIDTH * 4) * (0.05 if quick else 1))
        scratch = Path(tempfile.mkdtemp(prefix="bigwrap-scale-"))
        try:
            print(f"[scale] {label}: {rows:,} rows ...", flush=True)
            out = subprocess.run([sys.executable, "-m", "bench.scale", "--child", str(scratch / "data.parquet"),
                                  str(rows), cache], capture_output=True, text=True,
                                 cwd=Path(__file__).resolve().parent.parent)
            if out.returncode != 0:
                raise RuntimeError(f"{label} failed:\n{out.stderr[-3000:]}")
            results[label] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"[scale] {label}: {json.dumps(results[label])}", flush=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return results


def markdown(results: dict) -> str:
    base = results["1× heap"]
    lines = [f"## Data bigger than memory: MLP {WIDTH}-{HIDDEN}-2, batch {BATCH}, one epoch, local[2], "
             f"{HEAP_MB} MB heap", "",
             "| data | rows | Parquet MB | epoch s | samples/s | s per M rows (× 1× heap) | fit wall s | "
             "peak JVM RSS MB | on disk MB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, r in results.items():
        per_million = r["epoch_s"] / r["rows"] * 1e6
        ratio = per_million / (base["epoch_s"] / base["rows"] * 1e6)
        lines.append(f"| {label} | {r['rows']:,} | {r['parquet_mb']:,.0f} | {r['epoch_s']:.1f} | "
                     f"{r['samples_per_s']:,.0f} | {per_million:.1f} ({ratio:.2f}) | {r['fit_wall_s']:.1f} | "
                     f"{r['peak_rss_mb']:,.0f} | {r['disk_mb']:,.0f} |")
    memory, disk = results.get("⅛× heap, dataCache=memory"), results.get("⅛× heap, dataCache=disk")
    if memory and disk:
        lines += ["", f"Spilling path vs in-memory path (⅛× heap, same rows): "
                  f"{disk['samples_per_s'] / memory['samples_per_s']:.2f}× the samples/s."]
    if "16× heap" in results and "4× heap" in results:
        lines.append(f"Peak RSS 16× ÷ 4×: {results['16× heap']['peak_rss_mb'] / results['4× heap']['peak_rss_mb']:.2f}.")
    lines += ["Fit wall includes converting the Parquet into stored chunks (once per fit).", ""]
    return "\n".join(lines)


def main() -> int:
    import argparse
    import datetime as dt
    import os
    import platform

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    parser.add_argument("--child", nargs=3, metavar=("PATH", "ROWS", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.child[2])))
        return 0
    results = run(args.quick)
    text = f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}.\n\n" + markdown(results)
    stem = Path(__file__).resolve().parent / "results" / (dt.date.today().isoformat() + "-scale" +
                                                          ("-quick" if args.quick else ""))
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1))
    stem.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
