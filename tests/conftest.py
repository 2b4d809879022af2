"""One SparkSession for the whole test session (local[2], as the CI machine has 2 cores)."""
from __future__ import annotations

import uuid

import pytest

import bigwrap
from bigwrap.demo import digits_frames
from . import storage_servers, wheel_env


@pytest.fixture(scope="session")
def spark():
    jars = ":".join(storage_servers.spark_jars())  # the s3a connector, for the s3 fixture
    session = bigwrap.session("local[2]", app_name="bigwrap-tests",
                              conf={"spark.driver.extraClassPath": jars} if jars else None)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def hdfs(tmp_path_factory):
    """An HDFS minicluster on 127.0.0.1 for the session; its hdfs://127.0.0.1:PORT URL."""
    clusters = storage_servers.MiniClusters(tmp_path_factory.mktemp("hdfs"))
    yield clusters.hdfs
    clusters.stop()


@pytest.fixture(scope="session")
def s3(spark):
    """moto's S3 server on 127.0.0.1 for the session, with the test session's s3a:// pointed at it."""
    server = storage_servers.S3Server()
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in storage_servers.s3a_settings(server.endpoint).items():
        hadoop.set(key, value)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def digits(spark):
    train, test = digits_frames(spark)
    return train.cache(), test.cache()


@pytest.fixture(scope="session")
def digit_rows(digits):
    """The digits' training rows with an id, for comparing one row's predictions across inference paths."""
    from pyspark.sql import functions as F
    return digits[0].select(F.monotonically_increasing_id().alias("id"), "features").cache()


@pytest.fixture
def no_spark_job(spark):
    """Asserts the block runs no Spark job: every job started in this thread joins a probe job group."""
    context = spark.sparkContext

    class Probe:
        def __enter__(self):
            self.group = f"bigwrap-no-job-probe-{uuid.uuid4()}"
            context.setJobGroup(self.group, "jobs must not start here")
            return self

        def __exit__(self, *exc):
            jobs = context.statusTracker().getJobIdsForGroup(self.group)
            context.setLocalProperty("spark.jobGroup.id", None)
            context.setLocalProperty("spark.job.description", None)
            assert list(jobs) == [], f"expected no Spark job, but jobs {list(jobs)} ran"
            return False

    return Probe()


@pytest.fixture(scope="session")
def wheel():
    """dist/bigwrap-<version>-py3-none-<platform>.whl, built by `make wheel`."""
    return wheel_env.build_wheel()


@pytest.fixture(scope="session")
def node(wheel, tmp_path_factory):
    """A directory whose venv/ is a fresh venv outside the checkout with the wheel installed."""
    return wheel_env.install_node(wheel, tmp_path_factory.mktemp("node"))
