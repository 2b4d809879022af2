"""A 2-block Transformer encoder (sequence 64, width 64, 4 heads) vs PyTorch eager at the same precision.

End to end: training samples/s through Estimator.fit (barrier trainer, local[2]) against the same network in
PyTorch eager on 2 threads (nn.TransformerEncoderLayer with the padding mask), in fp32 and in bf16 (bigwrap's
native bf16 GEMMs; PyTorch's CPU autocast to bfloat16). Per layer: forward + backward of one self-attention
layer at the batch one task sees, on one thread: bigwrap's MultiHeadAttention (timed by
bigwrap.bench.SpecBench in a JVM of its own) against torch.nn.MultiheadAttention.
"""
from __future__ import annotations

import time

import numpy as np

import bigwrap
from bigwrap import layers

from . import native, systems

LENGTH, WIDTH, HEADS, INTERMEDIATE, VOCABULARY, BATCH, TASKS = 64, 64, 4, 128, 1000, 64, 2


def sequences(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids padded with 0 to LENGTH; label: whether token 7 comes before token 9 (an order task)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((rows, LENGTH), np.float32)
    labels = np.zeros(rows, np.float32)
    for r in range(rows):
        n = int(rng.integers(16, LENGTH + 1))
        ids[r, :n] = rng.integers(10, VOCABULARY, size=n)
        i, j = rng.choice(n, size=2, replace=False)
        ids[r, i], ids[r, j] = 7, 9
        labels[r] = float(i < j)
    return ids, labels


def encoder() -> bigwrap.Model:
    ids = layers.Input((LENGTH,))
    x = layers.Embedding(VOCABULARY, WIDTH, mask_zero=True)(ids)
    x = layers.Add()([x, layers.PositionEmbedding(LENGTH)(x)])
    for _ in range(2):
        x = layers.TransformerEncoder(INTERMEDIATE, HEADS)(x)
    return bigwrap.Model(ids, layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(x)))


def torch_encoder():
    import torch
    nn = torch.nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCABULARY, WIDTH)
            self.positions = nn.Parameter(torch.randn(LENGTH, WIDTH) * 0.05)
            self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(WIDTH, HEADS, INTERMEDIATE, dropout=0.0,
                                                                   batch_first=True, layer_norm_eps=1e-5)
                                        for _ in range(2))
            self.head = nn.Linear(WIDTH, 2)

        def forward(self, ids):
            ids = ids.long()
            keep = ids != 0
            x = self.embedding(ids) + self.positions
            for block in self.blocks:
                x = block(x, src_key_padding_mask=~keep)
            pooled = (x * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
            return self.head(pooled)

    return Encoder()


def torch_fit(x, y, epochs: int, bf16: bool) -> dict:
    import contextlib

    import torch

    torch.set_num_threads(2)
    torch.manual_seed(7)
    net = torch_encoder()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    features, labels = torch.from_numpy(x), torch.from_numpy(y).long()
    rates = []
    for _ in range(epochs):
        start = time.perf_counter()
        for i in range(0, len(features), BATCH):
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
                loss = torch.nn.functional.cross_entropy(net(features[i:i + BATCH]), labels[i:i + BATCH])
            loss.backward()
            optimizer.step()
        rates.append(len(features) / (time.perf_counter() - start))
    return {"samples_per_s": max(rates[1:] or rates)}


def attention_layer(quick: bool) -> dict:
    """Forward + backward ms of one self-attention layer, batch BATCH / TASKS, 1 thread."""
    import contextlib

    import torch

    batch = BATCH // TASKS
    x = layers.Input((LENGTH, WIDTH))
    spec = bigwrap.Model(x, layers.MultiHeadAttention(HEADS, WIDTH // HEADS)(x, x)).get_config()
    runs = {"threads": 1, "iterations": 5 if quick else 30, "warmup": 2 if quick else 5}
    ours = native.jvm_bench("bigwrap.bench.SpecBench", {
        **runs, "spec": spec, "input": [batch, LENGTH, WIDTH],
        "kernels": [{"kernels": "native", "precision": p} for p in ("fp32", "bf16")]})
    table = {f"bigwrap {r['precision']}": r["ms"] for r in ours["runs"]}
    torch.set_num_threads(1)
    module = torch.nn.MultiheadAttention(WIDTH, HEADS, batch_first=True)
    data = torch.randn(batch, LENGTH, WIDTH, requires_grad=True)
    for precision in ("fp32", "bf16"):
        context = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        times = []
        for _ in range(runs["warmup"] + runs["iterations"]):
            start = time.perf_counter()
            with context:
                out = module(data, data, data, need_weights=False)[0]
            out.float().sum().backward()
            times.append((time.perf_counter() - start) * 1000)
        table[f"PyTorch {precision}"] = float(np.median(times[runs["warmup"]:]))
    return table


def run(spark, quick: bool) -> dict:
    rows = 512 if quick else 2048
    x, y = sequences(rows, seed=3)
    train = spark.createDataFrame([(r.tolist(), float(t)) for r, t in zip(x, y)], "features array<float>, label double")
    train = train.repartition(4).cache()
    train.count()
    results = {"end_to_end": {}, "attention_layer": attention_layer(quick)}
    # steady state, as the throughput section: a fresh JVM's first fit runs at half speed while it compiles
    print("[transformer] warm-up fit ...", flush=True)
    systems.bigwrap_fit(spark, encoder(), train, "barrier", BATCH, 2, bigwrap.optimizers.Adam(1e-3), kernels="native")
    for precision in ("fp32", "bf16"):
        print(f"[transformer] bigwrap {precision} ...", flush=True)
        bigwrap.set_random_seed(7)
        _, stats = systems.bigwrap_fit(spark, encoder(), train, "barrier", BATCH, 3, bigwrap.optimizers.Adam(1e-3),
                                       kernels="native", precision=precision)
        print(f"[transformer] PyTorch eager {precision} ...", flush=True)
        results["end_to_end"][precision] = {"bigwrap": stats["samples_per_s"],
                                            "PyTorch eager": torch_fit(x, y, 3, precision == "bf16")["samples_per_s"]}
    train.unpersist()
    return results


def markdown(results: dict) -> str:
    lines = ["## Transformer encoder: 2 blocks, sequence 64, width 64, 4 heads, batch 64", "",
             "Training samples/s (barrier trainer, local[2]; PyTorch eager on 2 threads, same network with the "
             "padding mask; samples/s over the epochs after the first of 3, after one unreported warm-up fit):", "",
             "| precision | bigwrap | PyTorch eager | × PyTorch |", "|---|---:|---:|---:|"]
    for precision, row in results["end_to_end"].items():
        lines.append(f"| {precision} | {row['bigwrap']:,.0f} | {row['PyTorch eager']:,.0f} | "
                     f"{row['bigwrap'] / row['PyTorch eager']:.2f} |")
    layer = results["attention_layer"]
    lines += ["", f"One self-attention layer, forward + backward, batch {BATCH // TASKS} (one task's share), "
              "1 thread, median ms:", "", "| precision | bigwrap | PyTorch | × PyTorch |", "|---|---:|---:|---:|"]
    for precision in ("fp32", "bf16"):
        ours, theirs = layer[f"bigwrap {precision}"], layer[f"PyTorch {precision}"]
        lines.append(f"| {precision} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """`python -m bench.transformer [--quick]`: this section alone (make bench runs it with the rest)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    quick = parser.parse_args().quick
    spark = bigwrap.session("local[2]", app_name="bigwrap-bench-transformer")
    print(markdown(run(spark, quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
