"""`python -m bigwrap {doctor,demo,classpath,shell}`."""
from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
from pathlib import Path


def classpath_args(executor_environment: str | None = None) -> list[str]:
    """`--conf key=value` pairs for spark-submit / spark-shell: the settings bigwrap.session() applies
    (jars on the driver and executor classpaths, log configuration, BigDL's recommended settings); see
    runtime.spark_conf for `executor_environment`."""
    from .runtime import spark_conf

    settings = spark_conf(executor_environment=executor_environment)
    return [part for key, value in settings.items() for part in ("--conf", f"{key}={value}")]


def spark_shell_command(args: list[str]) -> list[str]:
    """pyspark's own bin/spark-shell with exactly the arguments `classpath` prints, then `args`."""
    import pyspark

    return [str(Path(pyspark.__file__).parent / "bin" / "spark-shell"), *classpath_args(), *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bigwrap", description="bigwrap command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check Java, pyspark, the jars and the BigDL engine, with fixes")
    sub.add_parser("demo", help="train an MLP on scikit-learn's digits on local Spark")
    classpath = sub.add_parser("classpath",
                               help="print the --conf arguments that put bigwrap on spark-submit/spark-shell")
    classpath.add_argument("--executor-environment", metavar="DIR",
                           help="executors run in a packed copy of this environment that spark.archives unpacks "
                                "at DIR (e.g. --archives env.tar.gz#environment): their paths point there")
    sub.add_parser("shell", help="start pyspark's spark-shell with bigwrap's jars and settings; every further "
                                 "argument goes to spark-shell (e.g. --master local[2] -i script.scala)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["shell"]:  # before argparse, which would claim spark-shell's own options
        command = spark_shell_command(argv[1:])
        os.execv(command[0], command)  # the shell takes over this process (terminal, signals, exit code)
    arguments = parser.parse_args(argv)
    if arguments.command in ("doctor", "demo"):  # bigwrap.doctor.main, bigwrap.demo.main
        return importlib.import_module(f"bigwrap.{arguments.command}").main()
    from .errors import SetupError

    try:
        print(shlex.join(classpath_args(arguments.executor_environment)))
    except SetupError as e:
        print(f"bigwrap: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
