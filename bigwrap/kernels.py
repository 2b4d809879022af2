"""Which kernels Dense and Conv2D run on: BigDL's, or bigwrap's native ones (native/) in fp32 or bf16.

A build option of the JVM model, never part of the spec: the same model and weights train and predict
on either. bf16 computes in bfloat16 with fp32 accumulation and fp32 master weights where the CPU has
AVX512-BF16 / AMX, and in fp32 elsewhere; without the native library (not built, or hidden with
BIGWRAP_NATIVE_LIBRARY=none) native requests run on BigDL's kernels and the JVM says so once.
"""
from __future__ import annotations

import json

# The JVM stage whose Params hold the defaults (native, fp32: native kernels beat BigDL's on every layer in
# bench/native.py; fp32 keeps results equal to BigDL's (1e-4), where bf16, faster still, moves them by up to 1 %)
# and the rules of both options.
_STAGE = "bigwrap.ml.BigwrapModel"


def to_json(kernels: str | None = None, precision: str | None = None, owner: str = "predict") -> str:
    """The JVM's kernel option ({"kernels", "precision"}), defaults filled in and checked by the JVM stage's
    rules (a ValueError starting with `owner`)."""
    from .params import jvm_params
    from .runtime import bridge

    given = {"kernels": kernels, "precision": precision}
    choice = {name: jvm_params(_STAGE)["defaults"][name] if value is None else value for name, value in given.items()}
    bridge().call("StageHandoff.checkParams", _STAGE, json.dumps(choice), owner)
    return json.dumps(choice)
