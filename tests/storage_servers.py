"""Real storage on 127.0.0.1 for the tests: an HDFS (and, for the YARN test, a YARN) minicluster from
tests/storage_harness (Hadoop 3.3.4, pyspark's own Hadoop; `make storage-harness`, which make test runs), and
moto's standalone S3 server. Each runs as long as its session fixture (tests/conftest.py) and is always stopped."""
from __future__ import annotations

import os
import subprocess
import threading
import uuid
from pathlib import Path

from bigwrap import java
from .cluster import _free_port

HARNESS = Path(__file__).resolve().parent / "storage_harness" / "target"
# What the Spark side needs of the harness's classpath: the s3a connector, its AWS SDK, Spark's YARN module
_SPARK_JARS = ("hadoop-aws-", "aws-java-sdk-bundle-", "wildfly-openssl-", "spark-yarn_")
# what YARN's web code (Guice, Jersey) reaches into on Java 17, as Spark's own launcher opens it
_OPENS = [f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in (
    "java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net", "java.nio", "java.util",
    "java.util.concurrent", "java.util.concurrent.atomic", "sun.nio.ch", "sun.nio.cs", "sun.security.action",
    "sun.util.calendar")]
BUCKET = "bigwrap-tests"
S3_KEY = "testing"  # moto accepts any credentials


def _classpath() -> list[str]:
    listed = HARNESS / "classpath.txt"
    if not listed.exists():
        raise RuntimeError(f"the storage harness is not built ({HARNESS}); run `make storage-harness` (make test does)")
    return listed.read_text().strip().split(":")


def spark_jars() -> list[str]:
    """The harness jars Spark needs on its classpath (empty when the harness is not built: then only the tests
    that use these stores fail, saying how to build it)."""
    try:
        return [j for j in _classpath() if os.path.basename(j).startswith(_SPARK_JARS)]
    except RuntimeError:
        return []


def s3a_settings(endpoint: str) -> dict[str, str]:
    """Hadoop settings that point s3a:// at the loopback S3 endpoint."""
    return {"fs.s3a.endpoint": endpoint, "fs.s3a.endpoint.region": "us-east-1", "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": "false", "fs.s3a.access.key": S3_KEY, "fs.s3a.secret.key": S3_KEY,
            "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            "fs.s3a.change.detection.version.required": "false", "fs.s3a.attempts.maximum": "3",
            "fs.s3a.retry.limit": "3"}


class MiniClusters:
    """tests/storage_harness's launcher in its own JVM: HDFS (and YARN with `yarn=True`) until stop()."""

    def __init__(self, workdir: Path, yarn: bool = False, timeout: float = 300):
        self.workdir = workdir
        self.conf_dir = workdir / "conf"
        self.log = workdir / "miniclusters.log"
        command = [java.executable(), "-Xmx1g", *_OPENS, "-cp", ":".join([str(HARNESS / "classes"), *_classpath()]),
                   "bigwrap.storageharness.MiniClusters", str(workdir), *(["--yarn"] if yarn else [])]
        # YARN's containers start `$JAVA_HOME/bin/java`; the NodeManager passes its own JAVA_HOME on
        java_home = str(Path(os.path.realpath(command[0])).parent.parent)
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=workdir,
                                        env={**os.environ, "JAVA_HOME": java_home}, stderr=self.log.open("w"),
                                        text=True, start_new_session=True)
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not ready or not ready[0].startswith("READY "):
            self.stop()
            raise RuntimeError(f"the miniclusters did not start in {timeout}s:\n{self.log.read_text()[-3000:]}")
        self.hdfs = ready[0].split()[1].rstrip("/")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # the launcher shuts its clusters down when its input ends
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class S3Server:
    """moto's S3 server on 127.0.0.1 (in this process, in threads) with one bucket, until stop()."""

    def __init__(self):
        import boto3
        from moto.server import ThreadedMotoServer

        self.port = _free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                                   aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY)
        self.client.create_bucket(Bucket=BUCKET)

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def stop(self) -> None:
        self.server.stop()


def unique(root: str, name: str) -> str:
    """A fresh directory URL under `root` (tests share one store per session)."""
    return f"{root}/{name}-{uuid.uuid4().hex[:8]}"
