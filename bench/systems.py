"""The systems measured: bigwrap (each trainer, and transform), raw BigDL DistriOptimizer, PyTorch eager (and
behind Spark's predict_batch_udf), MLlib."""
from __future__ import annotations

import os
import platform
import resource
import time

import numpy as np

import bigwrap


def cpu() -> dict:
    """The CPU the run measured: model name, family/model (a VM's name may hide the generation, e.g. "AMD
    EPYC" for Zen 3 and Zen 5 alike), cores, and the flags that decide which kernels run."""
    fields = {}
    with open("/proc/cpuinfo") as info:
        for line in info:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", platform.processor() or platform.machine()),
            "family": fields.get("cpu family"), "model_number": fields.get("model"), "cores": os.cpu_count(),
            **{flag: flag in flags for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")}}


def jvm_peak_mb(spark) -> float:
    """Peak resident memory of the driver JVM (all local executors live in it)."""
    pid = spark.sparkContext._gateway.proc.pid
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def python_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def accuracy(fitted, frame) -> float:
    return fitted.transform(frame).selectExpr("avg(cast(prediction = label as double))").first()[0]


def after_first(epochs):
    """The steady-state epochs a rate is taken over: all after the first (the first alone if it is the only one)."""
    return epochs[1:] if len(epochs) > 1 else epochs


def bigwrap_fit(spark, model, train, trainer: str, batch: int, epochs: int, optimizer, **options):
    """Fits through the Estimator (`options`: more Estimator params, e.g. kernels); samples/s is over the epochs
    after the first (steady state): their rows over their wall-clock seconds in the history."""
    started = time.perf_counter()
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", optimizer=optimizer,
                               batchSize=batch, epochs=epochs, trainer=trainer, seed=7, verbose=0,
                               **options).fit(train)
    wall = time.perf_counter() - started
    steady = after_first(fitted.history)
    rows = (steady["samples_per_second"] * steady["seconds"]).sum()
    return fitted, {"samples_per_s": rows / steady["seconds"].sum(), "batch": batch, "wall_s": wall,
                    "peak_mb": jvm_peak_mb(spark),
                    "breakdown": {k: steady[k].mean() for k in steady.columns if k.endswith("_ms")},
                    "task_layout": fitted.task_layout}


def torch_mlp(sizes):
    import torch

    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def torch_lenet():
    import torch
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


def torch_fit(net, x: np.ndarray, y: np.ndarray, batch: int, epochs: int, lr: float, channels_first=False,
              adam: bool = False, bf16: bool = False):
    """PyTorch eager on 2 threads over in-memory tensors (with `bf16`: under torch.autocast("cpu", bfloat16));
    samples/s is over the epochs after the first, each epoch timed by the wall clock."""
    import contextlib

    import torch

    torch.set_num_threads(2)
    torch.manual_seed(7)
    features = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2) if channels_first else x))
    labels = torch.from_numpy(y).long()
    optimizer = (torch.optim.Adam(net.parameters(), lr=lr) if adam
                 else torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9))
    seconds, started = [], time.perf_counter()
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        order = torch.randperm(len(features))
        for i in range(0, len(features), batch):
            index = order[i:i + batch]
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
                loss = torch.nn.functional.cross_entropy(net(features[index]), labels[index])
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - epoch_start)
    steady = after_first(seconds)
    return net, {"samples_per_s": len(features) * len(steady) / sum(steady), "wall_s": time.perf_counter() - started,
                 "peak_mb": python_peak_mb()}


def torch_accuracy(net, x, y, channels_first=False) -> float:
    import torch

    with torch.no_grad():
        features = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2) if channels_first else x))
        return float((net(features).argmax(1).numpy() == y).mean())


def mllib_fit(train, test, hidden: int, max_iter: int):
    from pyspark.ml.classification import MultilayerPerceptronClassifier
    from pyspark.ml.functions import array_to_vector

    vector_train = train.withColumn("features", array_to_vector("features"))
    vector_test = test.withColumn("features", array_to_vector("features"))
    started = time.perf_counter()
    model = MultilayerPerceptronClassifier(layers=[784, hidden, 10], maxIter=max_iter, blockSize=128,
                                           seed=7).fit(vector_train)
    wall = time.perf_counter() - started
    acc = model.transform(vector_test).selectExpr("avg(cast(prediction = label as double))").first()[0]
    return {"wall_s": wall, "accuracy": acc}


def rows_per_second(frame, transformed, runs: int = 3) -> dict:
    """rows/s of computing every column of `transformed` (a noop write), best of `runs` after a warm-up."""
    rows = frame.count()
    walls = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        transformed.write.format("noop").mode("overwrite").save()
        walls.append(time.perf_counter() - started)
    return {"rows_per_s": rows / min(walls[1:]), "rows": rows}


def keras_to_torch(model, net, flatten_dims=None) -> None:
    """Copies a bigwrap Dense/Conv2D stack's weights into the same PyTorch net; `flatten_dims` (h, w, c) is
    what its Flatten sees, which Keras flattens in (h, w, c) order and PyTorch in (c, h, w)."""
    import torch

    weights = [w for layer in model.layers for w in layer.get_weights()]
    params = list(net.parameters())
    with torch.no_grad():
        for i in range(0, len(weights), 2):
            kernel, bias = weights[i], weights[i + 1]
            if kernel.ndim == 4:  # (kh, kw, in, out) -> (out, in, kh, kw)
                kernel = kernel.transpose(3, 2, 0, 1)
            else:
                if flatten_dims is not None and kernel.shape[0] == int(np.prod(flatten_dims)):
                    h, w, c = flatten_dims
                    kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
                kernel = kernel.T
            params[i].copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            params[i + 1].copy_(torch.from_numpy(bias))


def torch_predict_column(make_net, state, input_shape, channels_first: bool, batch: int):
    """PyTorch behind Spark's predict_batch_udf: prediction and softmax probabilities, 1 thread per task."""
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType, StructField, StructType

    def make_predict_fn():
        import torch

        torch.set_num_threads(1)  # Spark runs one Python worker per core
        net = make_net()
        net.load_state_dict(state)
        net.eval()

        def predict(inputs):
            x = torch.from_numpy(inputs.reshape(len(inputs), *input_shape))
            if channels_first:
                x = x.permute(0, 3, 1, 2)
            with torch.no_grad():
                probability = torch.softmax(net(x), dim=1)
            return {"prediction": probability.argmax(1).float().numpy(), "probability": probability.numpy()}
        return predict

    schema = StructType([StructField("prediction", FloatType()), StructField("probability", ArrayType(FloatType()))])
    return predict_batch_udf(make_predict_fn, return_type=schema, batch_size=batch,
                             input_tensor_shapes=[[int(np.prod(input_shape))]])
