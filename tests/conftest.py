"""One SparkSession for the whole test session (local[2], as the CI machine has 2 cores)."""
from __future__ import annotations

import uuid

import pytest

import bigwrap
from bigwrap.demo import digits_frames


@pytest.fixture(scope="session")
def spark():
    session = bigwrap.session("local[2]", app_name="bigwrap-tests")
    yield session
    session.stop()


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
