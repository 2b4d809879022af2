"""Deeplearning4j itself as the test oracle: runs the Java harness in tests/dl4j_harness (built by `make
dl4j-harness`, which `make test` runs) in one plain JVM — DL4J's jars only, no Spark, no bigwrap."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

HARNESS = Path(__file__).resolve().parent / "dl4j_harness" / "target"
DL4J_TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}   # DL4J's float32 arithmetic


def _classpath() -> str:
    if not (HARNESS / ".built").exists():
        raise RuntimeError(f"the DL4J harness is not built ({HARNESS}); run `make dl4j-harness` (make test does)")
    return f"{HARNESS / 'classes'}:{(HARNESS / 'classpath.txt').read_text().strip()}"


def run_harness(mode: str, directory: Path) -> list[dict]:
    """`Harness build|run directory`; returns cases.json (build) or results.json (run)."""
    java = shutil.which("java")
    # ND4J unpacks its native libraries (~400 MB) once per machine, into ~/.javacpp/cache as for any DL4J user.
    done = subprocess.run([java, "-Xmx1g", "-cp", _classpath(), "bigwrap.dl4jharness.Harness", mode, str(directory)],
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"the DL4J harness ({mode}) failed:\n{done.stderr[-4000:]}")
    return json.loads((directory / ("cases.json" if mode == "build" else "results.json")).read_text())


def read_arrays(directory: Path, entries: list[dict]) -> list[np.ndarray]:
    return [np.fromfile(directory / e["file"], dtype="<f4").reshape(e["shape"]) for e in entries]


def write_arrays(directory: Path, stem: str, arrays: list[np.ndarray]) -> list[dict]:
    entries = []
    for i, array in enumerate(arrays):
        array = np.ascontiguousarray(array, dtype="<f4")
        array.tofile(directory / f"{stem}.input_{i}.f32")
        entries.append({"file": f"{stem}.input_{i}.f32", "shape": list(array.shape)})
    return entries


def dl4j_outputs(directory: Path, requests: dict[str, tuple], labels: dict[str, np.ndarray] = {}) -> dict[str, dict]:
    """DL4J's outputs for {name: (zip file name in `directory`, inputs)}, all in one JVM: {name: {"class": ...,
    "outputs": [arrays], and for names in `labels` "score_after_fit": the loss after one DL4J training step}}."""
    listed = [{"name": name, "zip": zip_name, "inputs": write_arrays(directory, name, inputs)}
              for name, (zip_name, inputs) in requests.items()]
    for request in listed:
        if request["name"] in labels:
            [request["labels"]] = write_arrays(directory, f"{request['name']}.labels", [labels[request["name"]]])
    (directory / "requests.json").write_text(json.dumps(listed))
    return {r["name"]: {**r, "outputs": read_arrays(directory, r["outputs"])} for r in run_harness("run", directory)}
