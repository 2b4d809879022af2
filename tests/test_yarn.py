"""docs/cluster.md's YARN instructions, run for real: a YARN minicluster (one ResourceManager and one NodeManager,
tests/storage_harness) and HDFS on 127.0.0.1; the wheel installed in a fresh venv, packed with venv-pack and shipped
with spark.archives; pyspark's spark-submit --master yarn (client mode) with `python -m bigwrap classpath
--executor-environment environment`; a fit, a transform and a save to HDFS in one job, whose saved model this
session loads and checks against the job's own predictions."""
from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml import PipelineModel

from .storage_servers import MiniClusters, spark_jars
from .wheel_env import run

pytestmark = [pytest.mark.slow, pytest.mark.storage]

JOB = textwrap.dedent("""
    import json
    import sys

    import numpy as np
    from pyspark.ml import PipelineModel
    from pyspark.ml.linalg import Vectors

    import bigwrap
    from bigwrap import layers

    spark = bigwrap.session()  # as docs/cluster.md says: spark-submit's master and settings
    root = sys.argv[1]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 8))
    y = (x[:, 0] + x[:, 1] - x[:, 2] > 0).astype(float)
    frame = spark.createDataFrame([(i, Vectors.dense(r), float(t)) for i, (r, t) in enumerate(zip(x, y))],
                                  ["id", "features", "label"]).repartition(2)
    model = bigwrap.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"),
                                layers.Dense(2, activation="softmax")])
    fitted = bigwrap.Estimator(model=model, loss="sparse_categorical_crossentropy", batchSize=64, epochs=5,
                               optimizer=bigwrap.optimizers.Adam(0.02), verbose=0, seed=4).fit(frame)
    predicted = fitted.transform(frame)
    accuracy = predicted.selectExpr("avg(cast(prediction = label as double))").first()[0]
    predicted.select("id", "features", "probability").write.parquet(f"{root}/predictions.parquet")
    PipelineModel(stages=[fitted]).write().save(f"{root}/pipeline")
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
    print("RESULT " + json.dumps({"accuracy": accuracy, "master": spark.sparkContext.master,
                                  "executors": executors}), flush=True)
    spark.stop()
""")


@pytest.fixture(scope="module")
def yarn(tmp_path_factory):
    clusters = MiniClusters(tmp_path_factory.mktemp("yarn"), yarn=True)
    yield clusters
    clusters.stop()


def test_a_packed_venv_fits_transforms_and_saves_to_hdfs_on_yarn(spark, yarn, node, tmp_path):
    venv = node / "venv"
    packed = tmp_path / "bigwrap-env.tar"  # uncompressed: packing and unpacking a 1 GB venv stays quick
    run([str(Path(sys.executable).parent / "venv-pack"), "-p", str(venv), "-o", str(packed)],
        cwd=tmp_path, timeout=900)
    classpath = run([str(venv / "bin" / "python"), "-m", "bigwrap", "classpath", "--executor-environment",
                     "environment"], cwd=tmp_path).stdout.split()
    [spark_yarn] = [j for j in spark_jars() if Path(j).name.startswith("spark-yarn_")]
    jars = Path(run([str(venv / "bin" / "python"), "-c", "import pyspark, os; print(os.path.dirname(pyspark.__file__))"],
                    cwd=tmp_path).stdout.strip()) / "jars"
    (tmp_path / "job.py").write_text(JOB)
    root = f"{yarn.hdfs}/yarn-job"
    submitted = run([str(venv / "bin" / "spark-submit"), "--master", "yarn", "--deploy-mode", "client",
                     "--archives", f"{packed}#environment", *classpath,
                     # pyspark's jars hold no YARN module: the client and the containers get Spark's from Maven
                     "--conf", f"spark.yarn.jars=local:{jars}/*,local:{spark_yarn}",
                     "--conf", f"spark.yarn.stagingDir=file://{tmp_path}/staging",  # the archive stays local
                     "--conf", "spark.executor.instances=1", "--conf", "spark.executor.cores=1",
                     "--conf", "spark.executor.memory=1g", "--conf", "spark.yarn.am.memory=512m",
                     "--conf", "spark.driver.memory=1g", "--name", "bigwrap-on-yarn", str(tmp_path / "job.py"), root],
                    cwd=tmp_path, timeout=1500,
                    env={"HADOOP_CONF_DIR": str(yarn.conf_dir), "YARN_CONF_DIR": str(yarn.conf_dir),
                         "SPARK_DIST_CLASSPATH": spark_yarn,
                         "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"})  # the venv activated
    [line] = [line for line in submitted.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["master"] == "yarn" and result["executors"] == 1, result
    assert result["accuracy"] >= 0.9, result

    loaded = PipelineModel.load(f"{root}/pipeline")  # this session reads what the YARN job saved to HDFS
    theirs = spark.read.parquet(f"{root}/predictions.parquet").orderBy("id").collect()
    rows = spark.createDataFrame([(r.id, r.features) for r in theirs], ["id", "features"])
    ours = loaded.transform(rows).orderBy("id").collect()
    np.testing.assert_allclose(np.array([r.probability.toArray() for r in ours]),
                               np.array([r.probability.toArray() for r in theirs]), rtol=0, atol=1e-6)
