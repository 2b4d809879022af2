"""bigwrap's native kernels (native/): loading, one OpenMP runtime, bf16 training, the BigDL fallback, the option.

Forward and gradient agreement with PyTorch per layer lives in the layer table (test_layers.py, "-native-" ids).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import bigwrap
from bigwrap import _jars, layers, live_models
from bigwrap.runtime import bridge


def _info(spark) -> dict:
    return json.loads(bridge(spark).call("PythonFacade.nativeKernelsInfo"))


def _accuracy(fitted, test) -> float:
    return fitted.transform(test).selectExpr("avg(cast(prediction = label as double))").first()[0]


def _digits_cnn():
    return bigwrap.Sequential([
        layers.Input((8, 8, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(32, activation="relu"), layers.Dense(10, activation="softmax")])


def _digits_mlp():
    return bigwrap.Sequential([layers.Input((64,)), layers.Dense(64, activation="relu"),
                               layers.Dense(10, activation="softmax")])


def _fit(train, model, **kwargs):
    bigwrap.set_random_seed(0)
    settings = dict(loss="sparse_categorical_crossentropy", optimizer=bigwrap.optimizers.Adam(0.01), batchSize=64,
                    epochs=8, verbose=0, seed=1)
    return bigwrap.Estimator(model=model, **{**settings, **kwargs}).fit(train)


def _kernels_of(spark, fitted) -> dict:
    handle = live_models.handle(fitted.model, bridge(spark), fitted._kernels())
    return json.loads(bridge(spark).call("LiveModels.kernels", handle))


def _cpu_has_bf16() -> bool:
    flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def test_library_loads_in_place_and_finds_this_cpus_bf16(spark):
    info = _info(spark)
    assert info["available"], info
    # loaded where it lies, so that its $ORIGIN-relative RPATH finds MKL and oneDNN (tests/test_wheel.py)
    assert info["library"] == str(_jars.native_library())
    assert info["onednn"].startswith("3.") and "Math Kernel Library" in info["mkl"]
    # bf16 runs in hardware exactly where the CPU has AVX512-BF16 or AMX (else it computes in fp32)
    assert info["bf16"] == _cpu_has_bf16()
    assert info["mkl_threading"] == "tbb"  # MKL's GEMMs can use a task's cores, without a second OpenMP runtime


def test_bigdl_and_native_kernels_share_one_openmp_runtime(spark, digits):
    train, _ = digits
    x = np.random.default_rng(0).uniform(size=(8, 64)).astype(np.float32)
    _digits_mlp().predict(x, kernels="bigdl")  # BigDL's MKL kernels ...
    _fit(train, _digits_cnn(), epochs=1, kernels="native", numTasks=1)  # ... and ours, on 2 OpenMP threads
    runtimes = _info(spark)["openmp_runtimes"]
    assert len(runtimes) == 1, runtimes
    # the copy BigDL's core jar extracted, not the one pip installed next to MKL
    assert Path(runtimes[0]).name == "libiomp5.so" and Path(runtimes[0]).parent.name.startswith("mkl.native")


def test_bf16_predictions_are_bf16_maths_where_the_cpu_has_it_and_fp32_elsewhere(spark):
    bigwrap.set_random_seed(3)
    model = _digits_mlp()
    x = np.random.default_rng(0).uniform(size=(32, 64)).astype(np.float32)
    fp32, bf16 = model.predict(x, kernels="native"), model.predict(x, kernels="native", precision="bf16")
    np.testing.assert_allclose(model.predict(x, kernels="bigdl"), fp32, rtol=1e-4, atol=1e-5)
    if _cpu_has_bf16():
        assert not np.array_equal(fp32, bf16)  # bf16 maths ran, not a silent fp32 fallback
        np.testing.assert_allclose(bf16, fp32, atol=1e-2)
    else:  # as documented: without AVX512-BF16 or AMX, a bf16 request computes in fp32
        np.testing.assert_array_equal(bf16, fp32)


@pytest.mark.parametrize("name,build", [("mlp", _digits_mlp), ("cnn", _digits_cnn)])
def test_digits_train_to_95_percent_with_bf16_native_layers(spark, digits, name, build):
    train, test = digits
    fitted = _fit(train, build(), kernels="native", precision="bf16")
    assert _kernels_of(spark, fitted) == {"kernels": "native", "precision": "bf16"}
    assert _accuracy(fitted, test) >= 0.95


def test_native_layers_train_with_bigdls_distri_optimizer(spark, digits):
    train, test = digits
    fitted = _fit(train, _digits_mlp(), kernels="native", trainer="bigdl", epochs=3)
    assert _kernels_of(spark, fitted) == {"kernels": "native", "precision": "fp32"}
    assert _accuracy(fitted, test) >= 0.9


@pytest.mark.parametrize("kwargs,word", [({"kernels": "fast"}, "kernels"), ({"precision": "fp16"}, "precision"),
                                         ({"kernels": "bigdl", "precision": "bf16"}, "bf16")])
def test_bad_kernel_options_fail_before_any_spark_job(digits, no_spark_job, kwargs, word):
    train, _ = digits
    with no_spark_job, pytest.raises(ValueError, match=word):
        _fit(train, _digits_mlp(), **kwargs)


def test_without_the_library_training_runs_on_bigdl_and_warns_once():
    """A fresh JVM whose library is hidden: fits and a transform still work, and the JVM says so once."""
    script = """
        import json, warnings
        import bigwrap
        from bigwrap import layers, live_models
        from bigwrap.demo import digits_frames
        from bigwrap.runtime import bridge
        spark = bigwrap.session("local[2]", conf={"spark.driver.extraJavaOptions": "-Dbigwrap.native.library=none"})
        train, test = digits_frames(spark)
        model = bigwrap.Sequential([layers.Input((64,)), layers.Dense(64, activation="relu"),
                                    layers.Dense(10, activation="softmax")])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fits = [bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", kernels="native",
                                      optimizer=bigwrap.optimizers.Adam(0.01), batchSize=64, epochs=epochs,
                                      verbose=0, seed=1).fit(train) for epochs in (5, 1)]
        fitted = fits[0]
        accuracy = fitted.transform(test).selectExpr("avg(cast(prediction = label as double))").first()[0]
        handle = live_models.handle(fitted.model, bridge(spark), fitted._kernels())
        print(json.dumps({"warnings": [str(w.message) for w in caught], "accuracy": accuracy,
                          "info": json.loads(bridge(spark).call("PythonFacade.nativeKernelsInfo")),
                          "kernels": json.loads(bridge(spark).call("LiveModels.kernels", handle))}))
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["info"] == {"available": False, "reason": "hidden by bigwrap.native.library=none"}
    assert report["kernels"] == {"kernels": "bigdl", "precision": "fp32"}
    assert len(report["warnings"]) == 1 and "native kernels unavailable" in report["warnings"][0], report
    assert result.stderr.count("native kernels unavailable") == 1, result.stderr  # the JVM's log line, once
    assert report["accuracy"] >= 0.9


@pytest.fixture
def force_native(spark):
    """Forces kernel choices in the (local-mode) JVM for one test (a TestHooks setter and a mode), then puts each
    one it forced back to "auto"."""
    forced = set()

    def force(hook: str, mode: str) -> None:
        forced.add(hook)
        bridge(spark).hook(hook, mode)
    yield force
    for hook in forced:
        bridge(spark).hook(hook, "auto")


def _weights_under_each(force, hook: str, modes, train, model, **fit_options) -> dict:
    """The weights one epoch trains `model` to under each mode of one kernel choice."""
    weights = {}
    for mode in modes:
        force(hook, mode)
        weights[mode] = _fit(train, model, epochs=1, numTasks=1, **fit_options).model.get_weights()
    return weights


def _assert_same_training(weights: dict, start: list, precision: str) -> None:
    """The weights two kernel choices trained agree within the layer table's tolerances (fp32 1e-4, bf16 1 % of
    the maximum), and training moved them from `start`."""
    first, second = weights.values()
    for a, b in zip(first, second):
        if precision == "fp32":
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        else:
            assert np.abs(a - b).max() <= 0.01 * np.abs(a).max()
    assert not np.allclose(first[0], start[0])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_mkl_and_onednn_dense_train_to_the_same_weights(spark, digits, force_native, precision):
    """Both GEMM backends (the automatic choice picks one per layer shape and CPU) give the same forward and
    gradients: weights after an epoch agree."""
    model = _digits_mlp()
    weights = _weights_under_each(force_native, "setNativeGemm", ("mkl", "onednn"), digits[0], model,
                                  precision=precision)
    _assert_same_training(weights, model.get_weights(), precision)


def test_direct_and_onednn_few_channel_convolutions_train_to_the_same_weights(spark, digits, force_native):
    """Stride-1 convolutions over 1 and 3 input channels (each shape takes its weight gradient from whichever of
    oneDNN and the direct kernel is measured faster): the gradients agree, so an epoch ends at the same weights."""
    model = bigwrap.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(3, 5, padding="same", activation="relu"),
                                layers.Conv2D(6, 3, activation="tanh"), layers.Flatten(),
                                layers.Dense(10, activation="softmax")])
    # plain SGD: Adam's steps do not move when a gradient is scaled, so a wrong scale would pass
    weights = _weights_under_each(force_native, "setNativeConvDirect", ("never", "always"), digits[0], model,
                                  optimizer=bigwrap.optimizers.SGD(0.1))
    _assert_same_training(weights, model.get_weights(), "fp32")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_conv_backward_data_declarations_train_to_the_same_weights(spark, digits, force_native, precision):
    """A second convolution with few input channels (6→16, as LeNet-5's) is where oneDNN's backward data takes a
    different implementation for an NHWC result than for "any" layout (the automatic choice measures both): both
    train to the same weights."""
    model = bigwrap.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(6, 5, padding="same", activation="relu"),
                                layers.Conv2D(16, 5, activation="relu"), layers.Flatten(),
                                layers.Dense(10, activation="softmax")])
    weights = _weights_under_each(force_native, "setNativeConvLayout", ("nhwc", "any"), digits[0], model,
                                  precision=precision)
    _assert_same_training(weights, model.get_weights(), precision)


def test_auto_gemm_choice_is_measured_per_shape_and_bf16_never_lands_on_a_slow_path(spark):
    """Under "auto" each Dense shape runs on the backend measured faster here; a bf16 layer on a CPU without
    AMX (AVX512-BF16 only, e.g. AMD Zen 4/5) must run on oneDNN, the one that uses those instructions."""
    call = bridge(spark).hook
    backends = {(bf16, threads): call("nativeGemmBackend", 128, 784, 512, bf16, threads)
                for bf16 in (False, True) for threads in (1, 2)}
    assert set(backends.values()) <= {"mkl", "onednn"}, backends
    info = _info(spark)
    if info["bf16"] and not info["amx"]:
        assert backends[(True, 1)] == backends[(True, 2)] == "onednn", backends
    elif not info["bf16"]:  # bf16 computes in fp32 here, so it takes fp32's measured choice
        assert all(backends[(True, t)] == backends[(False, t)] for t in (1, 2)), backends
