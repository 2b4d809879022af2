"""`make bench`: bigwrap vs raw BigDL, PyTorch eager fp32 and autocast bf16 (also behind predict_batch_udf),
TorchDistributor and MLlib, same cores, same run.

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

from . import distributed, inference, native, systems, transformer
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


TORCH = {"fp32": "PyTorch eager fp32 (2 threads)", "bf16": "PyTorch eager autocast bf16 (2 threads)"}
BIGDL = "raw BigDL DistriOptimizer (BigDL kernels)"
# the throughput runs' SGD (momentum 0.9), the same for every system
LEARNING_RATE = 0.01


def bigwrap_systems(epochs: int) -> dict:
    """bigwrap's rows: each precision in both task layouts (a task per core, or one task with both cores), and
    the layout taskLayout="auto" picks (its choice and calibration times in the breakdown lines)."""
    rows = {}
    for precision in ("fp32", "bf16"):
        for layout, label in (("perCore", "2 tasks × 1 thread"), ("perExecutor", "1 task × 2 threads"),
                              ("auto", "taskLayout auto")):
            rows[f"bigwrap {precision} ({label})"] = (precision, epochs, dict(
                trainer="barrier", kernels="native", precision=precision, taskLayout=layout))
    rows[BIGDL] = ("fp32", 2, dict(trainer="bigdl", kernels="bigdl"))
    return rows


# The warm-up fit before the measured ones: a fresh JVM's C2 compiler takes a core's worth of time, off and on,
# over about its first 20 s of training (0.5 to 1.5 of every 2 s in the first fits, by thread CPU time), and a task
# it preempts makes every other task wait at the next barrier.
WARMUP_EPOCHS = 12
# Measured fits per system, the systems taking turns: a slow stretch of a shared machine falls on all of them.
ROUNDS = 2


def throughput(spark, name, bigwrap_model, make_torch, x, y, batch, epochs, channels_first=False, flatten_dims=None):
    """Training samples/s (the epochs after the first, wall clock) and test accuracy of every system, in steady
    state: after an unreported warm-up fit of each (bigwrap's WARMUP_EPOCHS long, its epoch rates reported as the
    cold start), over ROUNDS rounds in which every system fits once (raw BigDL, 8-15× slower, fits once).
    PyTorch starts from bigwrap's initial weights (Keras and PyTorch initialise differently), so the test
    accuracies compare the training alone."""
    def same_start():
        net = make_torch()
        systems.keras_to_torch(bigwrap_model, net, flatten_dims)
        return net

    split = len(x) * 5 // 6
    train, test = frame(spark, x[:split], y[:split]), frame(spark, x[split:], y[split:])
    sgd = bigwrap.optimizers.SGD(LEARNING_RATE, momentum=0.9)
    print(f"[{name}] warm-up fits ...", flush=True)
    warm, _ = systems.bigwrap_fit(spark, bigwrap_model, train, batch=batch, epochs=WARMUP_EPOCHS, trainer="barrier",
                                  kernels="native", optimizer=sgd)
    systems.bigwrap_fit(spark, bigwrap_model, train, batch=batch, epochs=2, trainer="barrier", kernels="native",
                        precision="bf16", optimizer=sgd)
    systems.torch_fit(make_torch(), x[:split], y[:split], batch, 1, LEARNING_RATE, channels_first)
    rounds = {}
    for round_ in range(ROUNDS):
        for label, (precision, n, options) in bigwrap_systems(epochs).items():
            if label == BIGDL and round_ > 0:
                continue
            print(f"[{name}] {label}, round {round_ + 1} ...", flush=True)
            fitted, row = systems.bigwrap_fit(spark, bigwrap_model, train, batch=batch, epochs=n, optimizer=sgd,
                                              **options)
            rounds.setdefault(label, []).append({**row, "precision": precision,
                                                 "accuracy": systems.accuracy(fitted, test)})
        for precision, label in TORCH.items():
            print(f"[{name}] {label}, round {round_ + 1} ...", flush=True)
            net, row = systems.torch_fit(same_start(), x[:split], y[:split], batch, epochs, LEARNING_RATE,
                                         channels_first, bf16=precision == "bf16")
            rounds.setdefault(label, []).append({**row, "precision": precision, "accuracy": systems.torch_accuracy(
                net, x[split:], y[split:], channels_first)})
    train.unpersist()
    test.unpersist()
    rows = {label: _over_rounds(fits) for label, fits in rounds.items()}
    return {"warm_up": list(warm.history["samples_per_second"]), "rows": rows}


def _over_rounds(fits: list) -> dict:
    """One system's rounds as one row: the rounds' rows over their seconds (each round trains as many rows), the
    mean wall, accuracy and phase times, the highest peak memory."""
    mean = lambda values: sum(values) / len(values)
    return {**fits[-1], "rounds": len(fits), "round_rates": [f["samples_per_s"] for f in fits],
            "samples_per_s": len(fits) / sum(1 / f["samples_per_s"] for f in fits),
            **{k: mean([f[k] for f in fits]) for k in ("wall_s", "accuracy")},
            "peak_mb": max(f["peak_mb"] for f in fits),
            **({"breakdown": {k: mean([f["breakdown"][k] for f in fits]) for k in fits[0]["breakdown"]}}
               if "breakdown" in fits[0] else {})}


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


def machine(cpu: dict) -> str:
    flags = ", ".join(f"{flag} {'yes' if cpu.get(flag) else 'no'}"
                      for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16"))
    generation = f" (family {cpu['family']}, model {cpu['model_number']})" if cpu.get("family") else ""
    return f"{cpu['model']}{generation}, {cpu['cores']} cores ({flags})"


def markdown(results) -> str:
    lines = [f"# bigwrap benchmarks, {results['date']}", "",
             f"CPU: {machine(results['cpu'])}. Spark local[2]; PyTorch with 2 threads; same model, batch and data.",
             "Training samples/s: the rows of the epochs after the first over their wall-clock seconds (bigwrap: the "
             "history's seconds, the driver's clock between epoch ends, each barrier stage's start and end included), "
             f"in steady state: after an unreported warm-up fit of each system, over {ROUNDS} rounds in which "
             "every system fits once (raw BigDL once). The warm-up line under each table shows how a fresh JVM's "
             "first fit runs while its compiler works.", ""]
    if not (results["cpu"].get("avx512_bf16") or results["cpu"].get("amx_bf16")):
        lines += ["This CPU has no bf16 instructions (AVX512-BF16 or AMX): bigwrap's bf16 rows compute in fp32, as "
                  "documented, while PyTorch's autocast rounds to bf16 in software. Only the fp32 rows compare "
                  "like with like.", ""]
    for name, section in results["throughput"].items():
        rows, warm_up = section["rows"], section["warm_up"]
        bigdl_rate = rows[BIGDL]["samples_per_s"]
        lines += [f"## {name}", "", "| system | samples/s | × PyTorch, same precision | × raw BigDL | test accuracy | "
                  "wall s | peak RSS MB |", "|---|---:|---:|---:|---:|---:|---:|"]
        for system, r in rows.items():
            torch_rate = rows[TORCH[r["precision"]]]["samples_per_s"]
            lines.append(f"| {system} | {r['samples_per_s']:,.0f} | {r['samples_per_s'] / torch_rate:.2f} | "
                         f"{r['samples_per_s'] / bigdl_rate:.1f} | {r['accuracy']:.3f} | {r['wall_s']:.1f} | "
                         f"{r['peak_mb']:,.0f} |")
        lines += ["", "bigwrap, mean ms per iteration (per task) over the same epochs, against the iteration's wall "
                  "time. What no phase holds is each barrier stage's start and end (the stage, its broadcast, each "
                  "task's model copy, the hand-back; a stage runs several epochs when nothing reads the weights "
                  "between them) and, in runs without a feed phase, reading each batch: "]
        lines += [f"- {system}: " + ", ".join(f"{k[:-3]} {v:.2f}" for k, v in sorted(r["breakdown"].items()))
                  + _wall_split(r) + _layout(r) for system, r in rows.items() if system.startswith("bigwrap")]
        lines += ["", f"Warm-up fit (bigwrap fp32, auto layout, not counted; for the MLP the JVM's first fit), samples/s "
                  f"by epoch: {', '.join(f'{rate:,.0f}' for rate in warm_up)}.", ""]
    tta = results["time_to_accuracy"]
    mllib = tta["MLlib MultilayerPerceptronClassifier"]
    lines += ["## Time to accuracy, 30k × 784 synthetic 10-class task, MLP [784, 256, 10]", "",
              "| system | wall s | test accuracy | MLlib wall ÷ this wall |", "|---|---:|---:|---:|"]
    for system, r in tta.items():
        reached = r["accuracy"] >= mllib["accuracy"] - 0.005
        ratio = f"{mllib['wall_s'] / r['wall_s']:.1f}" if reached else "— (lower accuracy)"
        lines.append(f"| {system} | {r['wall_s']:.1f} | {r['accuracy']:.3f} | {ratio} |")
    lines += ["", "Walls include each system's own data preparation inside fit (bigwrap: DataFrame → tensors).", ""]
    lines.append(distributed.markdown(results["parquet_to_model"]))
    lines.append(inference.markdown(results["inference"]))
    if "native" in results:
        lines.append(native.markdown(results["native"]))
    if "transformer" in results:
        lines.append(transformer.markdown(results["transformer"]))
    if "scale" in results:
        lines.append(bigger_than_memory.markdown(results["scale"]))
    return "\n".join(lines) + "\n"


def _layout(row: dict) -> str:
    """What taskLayout="auto" chose, from its own timing of one pass each way (forced layouts time nothing)."""
    layout = row.get("task_layout") or {}
    if layout.get("per_core_ms") is None:
        return ""
    return (f"; auto chose {layout['layout']} (a pass: {layout['per_core_ms']:.1f} ms per task per core, "
            f"{layout['per_executor_ms']:.1f} ms multithreaded)")


def _wall_split(row: dict) -> str:
    """Non-compute as a share of wall time: every millisecond of an iteration that is not forward/backward."""
    wall_ms = 1000 * row["batch"] / row["samples_per_s"]
    outside = wall_ms - sum(row["breakdown"].values())
    return (f"; wall {wall_ms:.2f}, in no phase {outside:.2f} "
            f"(non-compute {100 * (1 - row['breakdown']['compute_ms'] / wall_ms):.0f} % of wall)")


def chart(results, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(results["throughput"])
    fig, axes = plt.subplots(1, len(workloads), figsize=(6 * len(workloads), 4.2), squeeze=False)
    for ax, name in zip(axes[0], workloads):
        rows = results["throughput"][name]["rows"]
        ax.barh(list(rows), [r["samples_per_s"] for r in rows.values()],
                color=["#2a7" if s.startswith("bigwrap") else "#d63" if s.startswith("PyTorch") else "#999"
                       for s in rows])
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels collide on log axes
        ax.set_xlabel("samples/s (log)")
        ax.set_title(name, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    scale = 0.1 if parser.parse_args().quick else 1.0
    started = time.time()
    spark = inference.session("bigwrap-bench")
    results = {"date": dt.date.today().isoformat(), "cpu": systems.cpu(), "throughput": {}}
    x, y = blobs(int(60000 * scale), seed=3)
    results["throughput"]["MLP 784-512-256-10, batch 256, 60k rows (50k train)"] = throughput(
        spark, "mlp", mlp([784, 512, 256, 10]), lambda: systems.torch_mlp([784, 512, 256, 10]), x, y, 256, 5)
    x, y = images(int(20000 * scale), seed=5)
    results["throughput"]["LeNet-5, batch 128, 20k 28×28×1 images (16.7k train)"] = throughput(
        spark, "lenet", lenet(), systems.torch_lenet, x, y, 128, 5, channels_first=True, flatten_dims=(5, 5, 16))
    results["time_to_accuracy"] = time_to_accuracy(spark, scale)
    results["parquet_to_model"] = distributed.run(spark, scale, mlp)
    results["inference"] = inference.run(spark, scale, lambda: mlp([784, 512, 256, 10]), lenet)
    results["native"] = native.run(spark, scale < 1, lambda: mlp([784, 512, 256, 10]), lenet)
    results["transformer"] = transformer.run(spark, scale < 1)
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
