"""Training on a real standalone cluster: 2 workers with 1 core each on 127.0.0.1."""
from __future__ import annotations

import pytest

from .cluster import StandaloneCluster

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StandaloneCluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def test_digits_mlp_trains_across_two_executors(cluster):
    result = cluster.run("""
        from bigwrap import layers
        from bigwrap.demo import digits_frames
        train, test = digits_frames(spark)
        bigwrap.set_random_seed(0)
        model = bigwrap.Sequential([layers.Input((64,)), layers.Dense(64, activation="relu"),
                                    layers.Dense(10, activation="softmax")])
        fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", trainer="barrier",
                                   optimizer=bigwrap.optimizers.Adam(0.01), batchSize=64, epochs=8, seed=3,
                                   verbose=0).fit(train)
        accuracy = fitted.transform(test).selectExpr("avg(cast(prediction = label as double))").first()[0]
        print("ACCURACY", accuracy)
        print("EXECUTORS", spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1)
    """)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "EXECUTORS 2" in result.stdout, output[-3000:]
    accuracy = float(result.stdout.split("ACCURACY")[1].split()[0])
    assert accuracy >= 0.95
