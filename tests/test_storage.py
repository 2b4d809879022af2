"""Saving, loading, checkpoints, TensorBoard logs, imports and exports on real stores on 127.0.0.1: an HDFS
minicluster (atomic rename: temporary sibling + rename) and an S3 endpoint (no atomic rename: manifest written
last, readers take only manifested directories) — docs/persistence.md, "Storage"."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml import PipelineModel

import bigwrap
from bigwrap import layers, storage

from .storage_servers import BUCKET, s3a_settings, spark_jars, unique

pytestmark = [pytest.mark.storage, pytest.mark.slow]
MANIFEST = "_bigwrap_manifest.json"


@pytest.fixture(params=["hdfs", "s3a"])
def store(request) -> str:
    """The root URL of a directory on the store under test."""
    if request.param == "hdfs":
        return request.getfixturevalue("hdfs") + "/bigwrap"
    request.getfixturevalue("s3")
    return f"s3a://{BUCKET}/bigwrap"


def _mlp():
    return bigwrap.Sequential([layers.Input((64,)), layers.Dense(16, activation="relu"),
                               layers.Dense(10, activation="softmax")], name="mlp")


def _estimator(**settings):
    settings = {"loss": "sparse_categorical_crossentropy", "optimizer": bigwrap.optimizers.Adam(0.01),
                "batchSize": 128, "epochs": 1, "verbose": 0, "seed": 3, **settings}
    return bigwrap.Estimator(model=_mlp(), **settings)


@pytest.fixture(scope="module")
def fitted(digits):
    return _estimator().fit(digits[0])


def _probabilities(model, frame) -> np.ndarray:
    return np.array([r.probability.toArray() for r in model.transform(frame).orderBy("id").collect()])


def _hadoop(spark, url: str):
    """(FileSystem, Path) of `url` with the session's Hadoop configuration."""
    path = spark._jvm.org.apache.hadoop.fs.Path(url)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def _exists(spark, url: str) -> bool:
    fs, path = _hadoop(spark, url)
    return fs.exists(path)


def _names(spark, url: str) -> list[str]:
    fs, path = _hadoop(spark, url)
    return sorted(status.getPath().getName() for status in fs.listStatus(path))


def test_fitted_model_and_estimator_save_and_load_with_identical_predictions(spark, store, fitted, digit_rows):
    path = unique(store, "mlp")
    fitted.save(path)
    assert _exists(spark, f"{path}/{MANIFEST}") and _exists(spark, f"{path}/model/weights.bin")
    loaded = bigwrap.EstimatorModel.load(path)
    assert np.array_equal(_probabilities(loaded, digit_rows), _probabilities(fitted, digit_rows))
    with pytest.raises(FileExistsError, match="already exists"):
        fitted.save(path)
    fitted.write().overwrite().save(path)
    assert np.array_equal(_probabilities(bigwrap.EstimatorModel.load(path), digit_rows),
                          _probabilities(fitted, digit_rows))

    estimator_path = unique(store, "estimator")
    saved = _estimator(batchSize=64)
    saved.save(estimator_path)
    estimator = bigwrap.Estimator.load(estimator_path)
    assert estimator.getOrDefault("batchSize") == 64
    assert json.loads(estimator.getOrDefault("model").to_json()) == json.loads(saved.getOrDefault("model").to_json())


def test_pipeline_save_and_load_with_identical_predictions(spark, store, digits, digit_rows):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import StandardScaler

    pipeline = Pipeline(stages=[StandardScaler(inputCol="features", outputCol="scaled"),
                                _estimator(featuresCol="scaled")]).fit(digits[0])
    path = unique(store, "pipeline")
    pipeline.write().save(path)  # Spark's JVM writer, which calls bigwrap's stage writer for its stage
    stage_dir = f"{path}/stages/" + next(n for n in _names(spark, f"{path}/stages") if n.startswith("1_"))
    assert MANIFEST in _names(spark, stage_dir)
    loaded = PipelineModel.load(path)
    assert isinstance(loaded.stages[-1], bigwrap.EstimatorModel)
    assert np.array_equal(_probabilities(loaded, digit_rows), _probabilities(pipeline, digit_rows))


def test_checkpoints_resume_and_tensorboard_logs(spark, store, digits, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train = digits[0]
    checkpoints, logs = unique(store, "checkpoints"), unique(store, "logs")
    estimator = _estimator(epochs=2, checkpointDir=checkpoints, logDir=logs, trainer="barrier")
    first = estimator.fit(train)
    assert _names(spark, checkpoints) == ["epoch-0001", "epoch-0002"]
    assert MANIFEST in _names(spark, f"{checkpoints}/epoch-0002")
    iterations = -(-train.count() // 128)
    fs, events_dir = _hadoop(spark, f"{logs}/bigwrap/train")
    fs.copyToLocalFile(events_dir, spark._jvm.org.apache.hadoop.fs.Path(str(tmp_path)))
    events = EventAccumulator(str(tmp_path / "train"))
    events.Reload()
    losses = events.Scalars("loss")
    assert [e.step for e in losses] == list(range(1, 2 * iterations + 1))
    assert np.mean([e.value for e in losses[:iterations]]) == pytest.approx(first.history["loss"][0], rel=1e-5)

    resumed = estimator.copy({estimator.epochs: 3, estimator.resumeFrom: checkpoints}).fit(train)
    assert list(resumed.history["epoch"]) == [1, 2, 3]
    assert resumed.history.iloc[:2].equals(first.history)
    with storage.local_copy(f"{checkpoints}/epoch-0003") as latest:
        with open(os.path.join(latest, "optimizer.json")) as f:  # Adam's step counter went on from epoch 2
            assert json.load(f)["counters"]["evalCounter"]["value"] == 3 * iterations


def test_importers_and_exports_read_and_write_the_store(spark, store, tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = _mlp()
    keras_url = unique(store, "model") + ".keras"
    model.to_keras(keras_url)
    assert [np.array_equal(a, b) for a, b in zip(bigwrap.from_keras(keras_url).get_weights(), model.get_weights())] \
        == [True] * 4

    dl4j_url, dl4j_local = unique(store, "model") + ".zip", str(tmp_path / "model.zip")
    model.to_dl4j(dl4j_url)
    model.to_dl4j(dl4j_local)
    with pytest.raises(ValueError, match="already exists"):
        model.to_dl4j(dl4j_url)
    from_store, from_disk = bigwrap.from_dl4j(dl4j_url), bigwrap.from_dl4j(dl4j_local)
    assert all(np.array_equal(a, b) for a, b in zip(from_store.get_weights(), from_disk.get_weights()))

    weight = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "matmul",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
                              [numpy_helper.from_array(weight, "w")])
    onnx_url = unique(store, "model") + ".onnx"
    with storage.local_target(onnx_url) as local:
        onnx.save(helper.make_model(graph), local)
    imported = bigwrap.from_onnx(onnx_url)
    x = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_allclose(imported.predict(x), x @ weight, rtol=1e-6)


def test_s3_readers_take_only_manifested_directories(spark, s3, fitted, digit_rows):
    path = unique(f"s3a://{BUCKET}/bigwrap", "mlp")
    fitted.save(path)
    prefix = path.removeprefix(f"s3a://{BUCKET}/")
    name = prefix.rsplit("/", 1)[1]
    # a save killed while it copied its complete staged copy into place: the target lost its manifest first
    staged = prefix.replace(name, f".{name}.tmp-0123")
    for key in s3.keys(prefix + "/"):
        s3.client.copy_object(Bucket=BUCKET, Key=key.replace(prefix, staged), CopySource={"Bucket": BUCKET, "Key": key})
    s3.client.delete_object(Bucket=BUCKET, Key=f"{prefix}/{MANIFEST}")
    loaded = bigwrap.EstimatorModel.load(path)  # from the complete staged copy
    assert np.array_equal(_probabilities(loaded, digit_rows), _probabilities(fitted, digit_rows))
    # with no complete copy anywhere, nothing loads: not half a model
    for key in s3.keys(staged + "/"):
        s3.client.delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(ValueError, match=f"has no complete {MANIFEST}"):
        bigwrap.EstimatorModel.load(path)
    fitted.write().overwrite().save(path)  # a new save replaces it whole
    assert np.array_equal(_probabilities(bigwrap.EstimatorModel.load(path), digit_rows),
                          _probabilities(fitted, digit_rows))


def test_hdfs_save_killed_between_its_renames_is_restored(spark, hdfs, fitted, digit_rows):
    path = unique(f"{hdfs}/bigwrap", "mlp")
    fitted.save(path)
    fs, target = _hadoop(spark, path)
    aside = spark._jvm.org.apache.hadoop.fs.Path(target.getParent(), f".{target.getName()}.old-5f3a")
    assert fs.rename(target, aside)  # what a save killed between "set the old one aside" and "rename the new in" leaves
    loaded = bigwrap.EstimatorModel.load(path)
    assert np.array_equal(_probabilities(loaded, digit_rows), _probabilities(fitted, digit_rows))
    assert fs.exists(target) and not fs.exists(aside)


_KILLED_SAVER = textwrap.dedent("""
    import sys
    import bigwrap
    from bigwrap import layers

    endpoint, jars, path = sys.argv[1:4]
    settings = {f"spark.hadoop.{k}": v for k, v in SETTINGS.items()}
    bigwrap.session("local[1]", conf={**settings, "spark.driver.extraClassPath": jars})
    big = bigwrap.Sequential([layers.Input((4096,)), layers.Dense(4096), layers.Dense(10, activation="softmax")])
    estimator = bigwrap.Estimator(model=big, loss="sparse_categorical_crossentropy", batchSize=8)
    print("SAVING", flush=True)
    estimator.write().overwrite().save(path)
    print("SAVED", flush=True)
""")


def test_s3_save_killed_midway_leaves_the_previous_model_loadable(spark, s3, fitted, digit_rows, tmp_path):
    path = unique(f"s3a://{BUCKET}/bigwrap", "killed")
    fitted.save(path)
    expected = _probabilities(fitted, digit_rows)
    prefix = path.removeprefix(f"s3a://{BUCKET}/")
    script = tmp_path / "saver.py"
    script.write_text(_KILLED_SAVER.replace("SETTINGS", repr(s3a_settings(s3.endpoint))))
    saver = subprocess.Popen([sys.executable, str(script), s3.endpoint, ":".join(spark_jars()), path],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        staging = f"{prefix.rsplit('/', 1)[0]}/.{prefix.rsplit('/', 1)[1]}.tmp-"
        deadline = time.time() + 300
        # kill it once its first files are staged: its 64 MB of weights are then still on their way
        while not s3.keys(staging) and saver.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert saver.poll() is None, f"the saver ended before it was killed:\n{saver.stdout.read()[-3000:]}"
        saver.kill()
    finally:
        saver.kill()
        saver.wait()
    staged = s3.keys(staging)
    assert staged and not any(k.endswith(MANIFEST) for k in staged), staged  # killed midway: nothing committed
    loaded = bigwrap.EstimatorModel.load(path)
    assert np.array_equal(_probabilities(loaded, digit_rows), expected)


@pytest.mark.spark_shell
def test_spark_shell_loads_what_python_saved_to_hdfs_and_s3_and_python_loads_what_it_saved(
        spark, hdfs, s3, fitted, digits, digit_rows, tmp_path):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import StandardScaler

    from bigwrap.__main__ import spark_shell_command
    from bigwrap.runtime import spark_conf

    pipeline = Pipeline(stages=[StandardScaler(inputCol="features", outputCol="scaled"),
                                _estimator(featuresCol="scaled")]).fit(digits[0])
    saved = {"model_hdfs": unique(f"{hdfs}/bigwrap", "mlp"), "model_s3a": unique(f"s3a://{BUCKET}/bigwrap", "mlp"),
             "pipeline_hdfs": unique(f"{hdfs}/bigwrap", "pipeline"),
             "pipeline_s3a": unique(f"s3a://{BUCKET}/bigwrap", "pipeline")}
    for name, url in saved.items():
        (pipeline.write() if name.startswith("pipeline") else fitted.write()).save(url)
    digit_rows.write.parquet(str(tmp_path / "rows.parquet"))
    scala_saves = unique(f"{hdfs}/bigwrap", "from-scala")

    settings = spark_conf({"spark.driver.extraClassPath": ":".join(spark_jars()),
                           **{f"spark.hadoop.{k}": v for k, v in s3a_settings(s3.endpoint).items()}})
    command = [spark_shell_command([])[0], *[part for k, v in settings.items() for part in ("--conf", f"{k}={v}")],
               "--master", "local[2]", "-i", str(Path(__file__).parent / "scala" / "storage_interop.scala")]
    env = {**os.environ, "BIGWRAP_INTEROP_DIR": str(tmp_path), "BIGWRAP_SCALA_SAVES": scala_saves,
           "BIGWRAP_STORE_MODELS": ",".join(f"{name}={url}" for name, url in saved.items())}
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    for name in saved:
        ours = _probabilities(pipeline if name.startswith("pipeline") else fitted, digit_rows)
        theirs = np.array([r.probability.toArray() for r in
                           spark.read.parquet(str(tmp_path / f"scala_{name}.parquet")).orderBy("id").collect()])
        np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-6)
    assert np.array_equal(_probabilities(bigwrap.EstimatorModel.load(scala_saves), digit_rows),
                          _probabilities(fitted, digit_rows))
