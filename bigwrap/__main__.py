"""`python -m bigwrap {doctor,demo,classpath}`."""
from __future__ import annotations

import argparse
import shlex
import sys


def _classpath() -> int:
    from .runtime import spark_conf

    conf = spark_conf()
    keys = ("spark.driver.extraClassPath", "spark.executor.extraClassPath",
            "spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")
    print(" ".join(f"--conf {shlex.quote(f'{key}={conf[key]}')}" for key in keys))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bigwrap", description="bigwrap command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check Java, pyspark, the jars and the BigDL engine, with fixes")
    sub.add_parser("demo", help="train an MLP on scikit-learn's digits on local Spark")
    sub.add_parser("classpath", help="print the --conf arguments that put bigwrap on spark-submit/spark-shell")
    command = parser.parse_args(argv).command
    if command == "doctor":
        from .doctor import main as doctor
        return doctor()
    if command == "demo":
        from .demo import main as demo
        return demo()
    return _classpath()


if __name__ == "__main__":
    sys.exit(main())
