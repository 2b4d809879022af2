"""`make bench`: bigwrap vs raw BigDL, PyTorch eager (also behind predict_batch_udf) and MLlib, same cores, same run.

Writes bench/results/<date>.md (tables with ratios to each baseline) and bench/results/<date>.png.
bigwrap rows use the default kernels (bigwrap.kernels); the "Native kernels" section compares them.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

import bigwrap
from bigwrap import layers

from . import inference, native, systems
from . import scale as bigger_than_memory
from .workloads import blobs, frame, images

RESULTS = Path(__file__).resolve().parent / "results"


def mlp(sizes):
    return bigwrap.Sequential([layers.Input((sizes[0],))] + [
        layers.Dense(n, activation="relu") for n in sizes[1:-1]] + [layers.Dense(sizes[-1], activation="softmax")])


def lenet():
    return bigwrap.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(6, 5, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(16, 5, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
        layers.Dense(120, activation="relu"), layers.Dense(84, activation="relu"),
        layers.Dense(10, activation="softmax")])


def throughput(spark, name, bigwrap_model, torch_model, x, y, batch, epochs, channels_first=False):
    train = frame(spark, x, y)
    sgd = bigwrap.optimizers.SGD(0.01, momentum=0.9)
    rows = {}
    for trainer, label, n in (("barrier", "bigwrap (barrier trainer)", epochs),
                              ("bigdl", "raw BigDL DistriOptimizer", 2)):
        print(f"[{name}] {label} ...", flush=True)
        fitted, rows[label] = systems.bigwrap_fit(spark, bigwrap_model, train, trainer, batch, n, sgd)
        rows[label]["loss"] = fitted.history["loss"].iloc[-1]
    print(f"[{name}] PyTorch eager ...", flush=True)
    _, rows["PyTorch eager (2 threads)"] = systems.torch_fit(torch_model, x, y, batch, epochs, 0.01, channels_first)
    train.unpersist()
    return rows


def time_to_accuracy(spark, scale: float):
    """Time to a test accuracy on the 30k x 784 task: MLlib's MLP vs bigwrap vs PyTorch, same MLP [784, 256, 10]."""
    rows = int(30000 * scale)
    x, y = blobs(rows, seed=11)
    split = rows * 4 // 5
    train, test = frame(spark, x[:split], y[:split]), frame(spark, x[split:], y[split:])
    print("[time-to-accuracy] MLlib MultilayerPerceptronClassifier ...", flush=True)
    mllib = systems.mllib_fit(train, test, hidden=256, max_iter=max(5, int(100 * scale)))
    rows = {"MLlib MultilayerPerceptronClassifier": mllib}
    print("[time-to-accuracy] bigwrap ...", flush=True)
    fitted, stats = systems.bigwrap_fit(spark, mlp([784, 256, 10]), train, "barrier", 256, 3,
                                        bigwrap.optimizers.Adam(0.001))
    rows["bigwrap (barrier trainer)"] = {"wall_s": stats["wall_s"], "accuracy": systems.accuracy(fitted, test)}
    net, stats = systems.torch_fit(systems.torch_mlp([784, 256, 10]), x[:split], y[:split], 256, 3, 0.001, adam=True)
    rows["PyTorch eager (2 threads)"] = {"wall_s": stats["wall_s"], "accuracy": systems.torch_accuracy(net, x[split:], y[split:])}
    return rows


def markdown(results) -> str:
    lines = [f"# bigwrap benchmarks, {results['date']}", "",
             f"Machine: {results['machine']}. Spark local[2]; PyTorch with 2 threads; same model, batch and data.", ""]
    for name, rows in results["throughput"].items():
        torch_rate = rows["PyTorch eager (2 threads)"]["samples_per_s"]
        bigdl_rate = rows["raw BigDL DistriOptimizer"]["samples_per_s"]
        lines += [f"## {name}", "", "| system | samples/s | × PyTorch | × raw BigDL | wall s | peak RSS MB |",
                  "|---|---:|---:|---:|---:|---:|"]
        for system, r in rows.items():
            lines.append(f"| {system} | {r['samples_per_s']:,.0f} | {r['samples_per_s'] / torch_rate:.2f} | "
                         f"{r['samples_per_s'] / bigdl_rate:.1f} | {r['wall_s']:.1f} | {r['peak_mb']:,.0f} |")
        breakdown = rows["bigwrap (barrier trainer)"]["breakdown"]
        lines += ["", "Barrier trainer, mean ms per iteration: " + ", ".join(
            f"{k[:-3]} {v:.2f}" for k, v in sorted(breakdown.items())), ""]
    tta = results["time_to_accuracy"]
    mllib = tta["MLlib MultilayerPerceptronClassifier"]
    lines += ["## Time to accuracy, 30k × 784 synthetic 10-class task, MLP [784, 256, 10]", "",
              "| system | wall s | test accuracy | MLlib wall ÷ this wall |", "|---|---:|---:|---:|"]
    for system, r in tta.items():
        reached = r["accuracy"] >= mllib["accuracy"] - 0.005
        ratio = f"{mllib['wall_s'] / r['wall_s']:.1f}" if reached else "— (lower accuracy)"
        lines.append(f"| {system} | {r['wall_s']:.1f} | {r['accuracy']:.3f} | {ratio} |")
    lines += ["", "Walls include each system's own data preparation inside fit (bigwrap: DataFrame → tensors).", ""]
    lines.append(inference.markdown(results["inference"]))
    if "native" in results:
        lines.append(native.markdown(results["native"]))
    if "scale" in results:
        lines.append(bigger_than_memory.markdown(results["scale"]))
    return "\n".join(lines) + "\n"


def chart(results, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(results["throughput"])
    fig, axes = plt.subplots(1, len(workloads), figsize=(6 * len(workloads), 3.2), squeeze=False)
    for ax, name in zip(axes[0], workloads):
        rows = results["throughput"][name]
        ax.barh(list(rows), [r["samples_per_s"] for r in rows.values()], color=["#2a7", "#999", "#d63"])
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels collide on log axes
        ax.set_xlabel("samples/s (log)")
        ax.set_title(name, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    import argparse
    import os
    import platform

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    scale = 0.1 if parser.parse_args().quick else 1.0
    started = time.time()
    spark = inference.session("bigwrap-bench")
    results = {"date": dt.date.today().isoformat(), "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
               "throughput": {}}
    x, y = blobs(int(60000 * scale), seed=3)
    results["throughput"]["MLP 784-512-256-10, batch 256, 60k rows"] = throughput(
        spark, "mlp", mlp([784, 512, 256, 10]), systems.torch_mlp([784, 512, 256, 10]), x, y, 256, 3)
    if hasattr(layers, "Conv2D"):
        x, y = images(int(20000 * scale), seed=5)
        results["throughput"]["LeNet-5, batch 128, 20k 28×28×1 images"] = throughput(
            spark, "lenet", lenet(), systems.torch_lenet(), x, y, 128, 3, channels_first=True)
    results["time_to_accuracy"] = time_to_accuracy(spark, scale)
    results["inference"] = inference.run(spark, scale, lambda: mlp([784, 512, 256, 10]), lenet)
    results["native"] = native.run(spark, scale < 1, lambda: mlp([784, 512, 256, 10]), lenet)
    results["scale"] = bigger_than_memory.run(quick=scale < 1)  # own small-heap JVMs
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / (results["date"] + ("-quick" if scale < 1 else ""))
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1))
    stem.with_suffix(".md").write_text(markdown(results))
    chart(results, stem.with_suffix(".png"))
    print(markdown(results))
    print(f"wrote {stem}.md/.png/.json in {time.time() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
