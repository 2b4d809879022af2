"""Which kernels Dense and Conv2D run on: BigDL's, or bigwrap's native ones (native/) in fp32 or bf16.

A build option of the JVM model, never part of the spec: the same model and weights train and predict
on either. bf16 computes in bfloat16 with fp32 accumulation and fp32 master weights where the CPU has
AVX512-BF16 / AMX, and in fp32 elsewhere; without the native library (not built, or hidden with
BIGWRAP_NATIVE_LIBRARY=none) native requests run on BigDL's kernels and the JVM says so once.
"""
from __future__ import annotations

import json

KERNELS = ("native", "bigdl")
PRECISIONS = ("fp32", "bf16")
# Mirrored by KernelChoice.Default on the JVM. Native kernels beat BigDL's on every layer in bench/native.py;
# fp32 keeps results equal to BigDL's (1e-4), where bf16, faster still, moves them by up to 1 %.
DEFAULT_KERNELS = "native"
DEFAULT_PRECISION = "fp32"


def check(kernels: str, precision: str, owner: str = "Estimator") -> None:
    """Raises a ValueError naming the option and the choices."""
    if kernels not in KERNELS:
        raise ValueError(f"{owner}: kernels must be one of {KERNELS}, got {kernels!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"{owner}: precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "bf16" and kernels != "native":
        raise ValueError(f"{owner}: precision='bf16' needs kernels='native' (BigDL's kernels are fp32)")


def to_json(kernels: str | None = None, precision: str | None = None, owner: str = "predict") -> str:
    """The JVM's kernel option ({"kernels", "precision"}), defaults filled in and checked."""
    kernels = DEFAULT_KERNELS if kernels is None else kernels
    precision = DEFAULT_PRECISION if precision is None else precision
    check(kernels, precision, owner)
    return json.dumps({"kernels": kernels, "precision": precision})
