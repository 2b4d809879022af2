"""from_dl4j against Deeplearning4j itself: networks DL4J 1.0.0-M2.1 builds with its own API (tests/dl4j_harness,
Cases.java) and saves with ModelSerializer, imported and run by bigwrap on the same inputs as DL4J."""
from __future__ import annotations

import numpy as np
import pytest

import bigwrap

from .dl4j_oracle import DL4J_TOLERANCE, read_arrays, run_harness

# case (Cases.java) → input_shape where DL4J's configuration does not say it (a first layer with no nIn).
CASES = {"dense": None, "cnn_nchw": None, "cnn_nhwc": (6, 7, 3), "lstm": (3, 5), "lstm_last_step": (3, 4),
         "embedding": None, "embedding_sequence": None, "graph_merge": None, "graph_cnn": {"image": (2, 8, 8)}}


@pytest.fixture(scope="module")
def dl4j_built(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dl4j_built")
    return directory, {case["name"]: case for case in run_harness("build", directory)}


def test_the_harness_builds_every_case(dl4j_built):
    assert sorted(dl4j_built[1]) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_import_matches_dl4j(spark, dl4j_built, name):
    directory, cases = dl4j_built
    case = cases[name]
    model = bigwrap.from_dl4j(directory / case["zip"], input_shape=CASES[name])
    inputs, expected = read_arrays(directory, case["inputs"]), read_arrays(directory, case["outputs"])
    assert len(model.outputs) == len(expected)
    for output, want in zip(model.outputs, expected):
        got = bigwrap.Model(model.inputs, output).predict(inputs)
        np.testing.assert_allclose(got, want, **DL4J_TOLERANCE, err_msg=f"{name} {output.layer.name}")
