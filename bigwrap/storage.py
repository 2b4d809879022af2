"""Paths on any Hadoop FileSystem (docs/persistence.md, "Storage"): the JVM's bigwrap.io.Storage reads and writes
them; Python code that needs local files (importers, Keras' writer, the checkpoint reader) works on a local copy.
A bare path or a file: URL is a local path of the driver."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")


def local_path(path: str) -> str | None:
    """The local path `path` names (bare, or a file: URL), made absolute; None for another store's URL."""
    path = os.fspath(path)
    for prefix in ("file://", "file:"):
        if path.startswith(prefix):
            return os.path.abspath(path[len(prefix):])
    return None if _URL.match(path) else os.path.abspath(path)


def absolute(path: str) -> str:
    """`path` with a local one made absolute (the JVM may not share this process's working directory)."""
    return local_path(path) or os.fspath(path)


@contextmanager
def local_copy(path: str) -> Iterator[str]:
    """`path` as a local file or directory: itself when local, else a temporary copy (a directory only when it is
    complete, bigwrap.io.Storage.complete) removed when the block ends."""
    local = local_path(path)
    if local is not None:
        yield local
        return
    from .runtime import bridge

    copy = bridge().call("PythonFacade.fetch", os.fspath(path))
    try:
        yield copy
    finally:
        shutil.rmtree(os.path.dirname(copy), ignore_errors=True)


@contextmanager
def local_target(path: str, overwrite: bool = True) -> Iterator[str]:
    """A local file path for the block to write `path`'s content to: `path` itself when local, else a temporary
    file copied to `path` whole when the block ends without error."""
    local = local_path(path)
    if local is not None:
        yield local
        return
    from .runtime import bridge

    with tempfile.TemporaryDirectory(prefix="bigwrap-put-") as scratch:
        staged = os.path.join(scratch, os.path.basename(os.fspath(path).rstrip("/")))
        yield staged
        bridge().call("PythonFacade.put", staged, os.fspath(path), bool(overwrite))
