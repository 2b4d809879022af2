"""Native kernels (native/) vs BigDL's: per layer (MklBlas, MklDnn, ours in fp32 and bf16) and end to end.

Per layer: forward + backward of each MLP and LeNet-5 layer at the batch one task sees (global batch / 2
tasks), on one thread (a Spark task owns one core), timed by bigwrap.bench.LayerBench in JVMs of its own
(MklDnn needs BigDL's engine type set for the whole JVM). GFLOP/s are set against the peak of one large GEMM
through the same kernels. End to end: the barrier trainer's epoch with each kernel choice, same data, same
seed, and the test accuracy each reaches.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import bigwrap
from bigwrap import _jars

from . import systems
from .workloads import blobs, frame, images

VARIANTS = ("bigdl", "native-fp32", "native-bf16")
MLP_BATCH, LENET_BATCH, TASKS = 256, 128, 2
PEAK = {"name": "GEMM 2048³ (peak)", "kind": "dense", "batch": 2048, "in": 2048, "out": 2048}


def _layers() -> list[dict]:
    mlp, lenet = MLP_BATCH // TASKS, LENET_BATCH // TASKS
    dense = lambda name, batch, n_in, n_out: {"name": name, "kind": "dense", "batch": batch, "in": n_in, "out": n_out}
    return [dense("MLP dense 784→512", mlp, 784, 512), dense("MLP dense 512→256", mlp, 512, 256),
            dense("MLP dense 256→10", mlp, 256, 10),
            {"name": "LeNet conv 5×5 1→6 (28×28, same)", "kind": "conv", "batch": lenet, "h": 28, "w": 28, "c": 1,
             "f": 6, "k": 5, "same": True},
            {"name": "LeNet conv 5×5 6→16 (14×14)", "kind": "conv", "batch": lenet, "h": 14, "w": 14, "c": 6,
             "f": 16, "k": 5},
            dense("LeNet dense 400→120", lenet, 400, 120), dense("LeNet dense 120→84", lenet, 120, 84)]


def jvm_bench(main_class: str, config: dict, mkldnn: bool = False) -> dict:
    """Runs a bigwrap.bench timer (LayerBench, SpecBench) in a JVM of its own; it prints its result as JSON."""
    import pyspark

    jars = [str(j) for j in _jars.all_jars()] + [str(Path(pyspark.__file__).parent / "jars" / "*")]
    command = ["java", "-cp", ":".join(jars), _jars.log_config_option(),
               f"-Djava.library.path={_jars.native_library().parent}"]
    command += ["-Dbigdl.engineType=mkldnn"] if mkldnn else []
    out = subprocess.run(command + [main_class, json.dumps(config)], capture_output=True,
                         text=True, check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _layer_bench(config: dict, mkldnn: bool) -> dict:
    return jvm_bench("bigwrap.bench.LayerBench", config, mkldnn)


def per_layer(quick: bool) -> dict:
    runs = {"threads": 1, "iterations": 10 if quick else 100, "warmup": 3 if quick else 20}
    ours = _layer_bench({**runs, "variants": list(VARIANTS), "layers": _layers()}, mkldnn=False)
    dnn = _layer_bench({**runs, "variants": ["mkldnn"], "layers": _layers()}, mkldnn=True)
    peak = _layer_bench({**runs, "iterations": 3 if quick else 10, "warmup": 1 if quick else 3,
                         "variants": ["native-fp32", "native-bf16"], "layers": [PEAK]}, mkldnn=False)
    table: dict[str, dict] = {}
    for row in ours["layers"] + dnn["layers"]:
        table.setdefault(row["name"], {})[row["variant"]] = {"ms": row["ms"], "gflops": row["gflops"]}
    return {"layers": table, "peak_gflops": {r["variant"]: r["best_gflops"] for r in peak["layers"]},
            "native": ours["native"]}


def end_to_end(spark, quick: bool, mlp, lenet) -> dict:
    """`mlp()` and `lenet()` build bench.run's models."""
    scale = 0.1 if quick else 1.0
    workloads = {"MLP 784-512-256-10, batch 256": (mlp, blobs(int(60000 * scale), 3), MLP_BATCH),
                 "LeNet-5, batch 128": (lenet, images(int(20000 * scale), 5), LENET_BATCH)}
    results = {}
    for name, (build, (x, y), batch) in workloads.items():
        split = len(x) * 5 // 6
        train, test = frame(spark, x[:split], y[:split]), frame(spark, x[split:], y[split:])
        for variant in VARIANTS:
            kernels, _, precision = variant.partition("-")
            print(f"[native] {name}: {variant} ...", flush=True)
            bigwrap.set_random_seed(7)
            fitted, stats = systems.bigwrap_fit(spark, build(), train, "barrier", batch, 3,
                                                bigwrap.optimizers.SGD(0.01, momentum=0.9),
                                                kernels=kernels, precision=precision or "fp32")
            stats["accuracy"] = systems.accuracy(fitted, test)
            results.setdefault(name, {})[variant] = stats
        train.unpersist()
        test.unpersist()
    return results


def run(spark, quick: bool, mlp, lenet) -> dict:
    print("[native] per-layer timings (separate JVMs) ...", flush=True)
    return {"per_layer": per_layer(quick), "end_to_end": end_to_end(spark, quick, mlp, lenet)}


def markdown(results: dict) -> str:
    layers, peak = results["per_layer"]["layers"], results["per_layer"]["peak_gflops"]
    info = results["per_layer"]["native"]
    lines = ["## Native kernels (native/) vs BigDL's", "",
             f"oneDNN {info.get('onednn', '?')}, {info.get('mkl', 'MKL ?').split(' Version ')[-1][:30]}; bf16 in "
             f"hardware: {info.get('bf16')}, AMX: {info.get('amx')}. Forward + backward of one layer with its ReLU, "
             "at the batch one of 2 tasks sees, on 1 thread; median ms.", "",
             "| layer | BigDL MklBlas | BigDL MklDnn | native fp32 | × MklBlas | native bf16 | × MklBlas | "
             "GFLOP/s fp32 (% peak) | GFLOP/s bf16 (% peak) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in layers.items():
        blas = row["bigdl"]["ms"]
        fp32, bf16 = row["native-fp32"], row["native-bf16"]
        lines.append(f"| {name} | {blas:.3f} | {row['mkldnn']['ms']:.3f} | {fp32['ms']:.3f} | "
                     f"{blas / fp32['ms']:.1f} | {bf16['ms']:.3f} | {blas / bf16['ms']:.1f} | "
                     f"{fp32['gflops']:.0f} ({100 * fp32['gflops'] / peak['native-fp32']:.0f} %) | "
                     f"{bf16['gflops']:.0f} ({100 * bf16['gflops'] / peak['native-bf16']:.0f} %) |")
    lines += ["", f"Peak (the best of one 2048³ GEMM + ReLU through the same kernels, 1 thread): fp32 "
              f"{peak['native-fp32']:.0f} GFLOP/s, bf16 {peak['native-bf16']:.0f} GFLOP/s.", "",
              "End to end (barrier trainer, local[2], SGD momentum 0.9, 3 epochs, samples/s over the epochs after the first):", "",
              "| workload | kernels | samples/s | × BigDL | compute ms/iteration | test accuracy |",
              "|---|---|---:|---:|---:|---:|"]
    for name, rows in results["end_to_end"].items():
        base = rows["bigdl"]["samples_per_s"]
        for variant, r in rows.items():
            lines.append(f"| {name} | {variant} | {r['samples_per_s']:,.0f} | {r['samples_per_s'] / base:.2f} | "
                         f"{r['breakdown'].get('compute_ms', float('nan')):.2f} | {r['accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """`python -m bench.native [--quick]`: this section alone (make bench runs it with the rest)."""
    import argparse

    from .run import lenet, mlp

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    quick = parser.parse_args().quick
    spark = bigwrap.session("local[2]", app_name="bigwrap-bench-native")
    print(markdown(run(spark, quick, lambda: mlp([784, 512, 256, 10]), lenet)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
