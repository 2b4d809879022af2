"""Parquet to trained model: bigwrap's Estimator vs Spark's TorchDistributor (PyTorch DDP over gloo, 2 processes).

Both start from the same Parquet files (features array<float>, label double) and train the same MLP with the
same optimizer, global batch and epochs; the wall clock runs from reading the files to a trained model, and
each model's accuracy on the same held-out Parquet file is reported next to it.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

import bigwrap

from . import systems
from .workloads import blobs, frame

SIZES, BATCH, EPOCHS, LR = [784, 512, 256, 10], 256, 3, 0.001
BIGWRAP, TORCH = "bigwrap Estimator (barrier trainer)", "TorchDistributor (DDP, gloo, 2 processes)"


def _torch_train(path: str, sizes: list, batch: int, epochs: int, lr: float) -> dict:
    """Runs in each TorchDistributor process: its shard of the Parquet rows, DDP over gloo, 1 thread each."""
    import pyarrow.parquet as pq
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)  # 2 processes share the 2 cores
    torch.manual_seed(7)
    table = pq.read_table(path)
    x = table.column("features").combine_chunks().flatten().to_numpy().reshape(len(table), sizes[0])
    y = table.column("label").to_numpy()
    features = torch.from_numpy(np.ascontiguousarray(x[rank::world], dtype=np.float32))
    labels = torch.from_numpy(y[rank::world]).long()
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Sequential(*layers[:-1]))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    local = batch // world
    steps = len(features) // local  # equal step counts on every rank, as DDP needs
    for epoch in range(epochs):
        order = torch.randperm(len(features), generator=torch.Generator().manual_seed(epoch))
        for step in range(steps):
            index = order[step * local:(step + 1) * local]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(features[index]), labels[index]).backward()
            optimizer.step()
    # every rank returns its weights (DDP keeps them equal): in local mode each process pickles its return value
    # to the same file, so the last to finish is the one TorchDistributor hands back (once rank 1's None)
    state = {k: v.detach().clone() for k, v in model.module.state_dict().items()}
    dist.destroy_process_group()
    return state


def run(spark, scale: float, mlp) -> dict:
    """`mlp(sizes)` builds bench.run's bigwrap MLP."""
    from pyspark.ml.torch.distributor import TorchDistributor

    rows = int(30000 * scale)
    x, y = blobs(rows, seed=13)
    split = rows * 5 // 6
    with tempfile.TemporaryDirectory(prefix="bigwrap-bench-parquet") as tmp:
        train_path, test_path = str(Path(tmp) / "train.parquet"), str(Path(tmp) / "test.parquet")
        frame(spark, x[:split], y[:split]).write.parquet(train_path)
        frame(spark, x[split:], y[split:]).write.parquet(test_path)
        test = spark.read.parquet(test_path).cache()
        test.count()

        print("[parquet to model] bigwrap ...", flush=True)
        started = time.perf_counter()
        fitted = bigwrap.Estimator(model=mlp(SIZES), loss="sparse_categorical_crossentropy",
                                   optimizer=bigwrap.optimizers.Adam(LR), batchSize=BATCH, epochs=EPOCHS, seed=7,
                                   verbose=0).fit(spark.read.parquet(train_path))
        results = {BIGWRAP: {"wall_s": time.perf_counter() - started, "accuracy": systems.accuracy(fitted, test)}}

        print("[parquet to model] TorchDistributor ...", flush=True)
        started = time.perf_counter()
        state = TorchDistributor(num_processes=2, local_mode=True, use_gpu=False).run(
            _torch_train, train_path, SIZES, BATCH, EPOCHS, LR)
        wall = time.perf_counter() - started
        net = systems.torch_mlp(SIZES)
        net.load_state_dict(state)
        results[TORCH] = {"wall_s": wall, "accuracy": systems.torch_accuracy(net, x[split:], y[split:])}
        test.unpersist()
    return results


def markdown(results: dict) -> str:
    torch_wall = results[TORCH]["wall_s"]
    lines = [f"## Parquet to trained model: MLP {'-'.join(map(str, SIZES))}, Adam, batch {BATCH}, {EPOCHS} epochs",
             "", "| system | wall s | test accuracy | TorchDistributor wall ÷ this wall |", "|---|---:|---:|---:|"]
    for system, r in results.items():
        lines.append(f"| {system} | {r['wall_s']:.1f} | {r['accuracy']:.3f} | {torch_wall / r['wall_s']:.2f} |")
    lines += ["", "Walls run from reading the Parquet files to a trained model (TorchDistributor: process start, "
              "gloo rendezvous, reading and sharding the files, training, returning the weights).", ""]
    return "\n".join(lines)
