"""The console progress of a fit, drawn from the JVM's progress record (polled; never log parsing)."""
from __future__ import annotations

import json
import sys
import threading
import warnings
from typing import Any

_WIDTH = 24


def redraws_in_place(stream) -> bool:
    """Whether `stream` shows a bar redrawn with \\r as one line: a terminal or a notebook (as Keras decides).
    Elsewhere (spark-submit logs, CI, files) each redraw would stay in the log as a partial bar."""
    return bool(getattr(stream, "isatty", lambda: False)()) or "ipykernel" in sys.modules


class ProgressPrinter:
    """verbose 1: a live bar per epoch (iteration, loss, samples/s, ETA) redrawn in place, then the
    epoch's line, on a terminal or in a notebook; elsewhere, and with verbose 2, the epoch lines only;
    verbose 0: nothing. Warnings the trainer records (e.g. an epoch retried after a lost executor) always
    reach the user, as RuntimeWarnings."""

    def __init__(self, bridge, run_id: str, epochs: int, verbose: int, done_epochs: int = 0, interval: float = 0.25):
        self._bridge, self._run_id, self._epochs, self._verbose = bridge, run_id, epochs, verbose
        self._live_bar = verbose == 1 and redraws_in_place(sys.stdout)
        self._interval = interval
        # a resumed fit's history starts with the rows of the run it continues, printed back then
        self._printed_epochs: set[int] = set(range(1, done_epochs + 1))
        self._drawn: tuple[int, int] | None = None  # (epoch, iteration) of the bar on screen
        self._warned = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bigwrap-progress", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                record = json.loads(self._bridge.call("FitRuns.progress", self._run_id))
            except Exception:  # the fit itself reports failures; polling just stops
                return
            if record:
                self._draw(record)

    def _draw(self, record: dict[str, Any]) -> None:
        with self._lock:
            for message in record.get("warnings", [])[self._warned:]:
                warnings.warn(f"bigwrap: {message}", RuntimeWarning, stacklevel=2)
            self._warned = max(self._warned, len(record.get("warnings", [])))
            if not self._verbose:
                return
            self._epoch_lines(record["history"])
            position = (record["epoch"], record["iteration"])
            if (not self._live_bar or not record["iteration"] or record["epoch"] in self._printed_epochs
                    or position == self._drawn):
                return
            self._drawn = position
            done, total = record["iteration"], max(record["iterations_per_epoch"], 1)
            filled = min(_WIDTH, _WIDTH * done // total)
            bar = "=" * max(filled - 1, 0) + (">" if filled < _WIDTH else "=") + "." * (_WIDTH - filled)
            rate = done / max(record["seconds"], 1e-9)
            eta = max(total - done, 0) / max(rate, 1e-9)
            sys.stdout.write(f"\rEpoch {record['epoch']}/{self._epochs} [{bar}] {done}/{total} - "
                             f"loss: {record['loss']:.4f} - {rate * record['batch_size']:,.0f} samples/s - "
                             f"ETA {eta:.0f}s")
            sys.stdout.flush()

    def _epoch_lines(self, history: list[dict[str, Any]]) -> None:
        for row in history:
            if row["epoch"] in self._printed_epochs:
                continue
            self._printed_epochs.add(row["epoch"])
            prefix = "\r" if self._live_bar else ""
            names = ["loss"] + [k for k in row if k.startswith("val_")]
            metrics = " - ".join(f"{name}: {row[name]:.4f}" for name in names if row.get(name) is not None)
            sys.stdout.write(f"{prefix}Epoch {row['epoch']}/{self._epochs} - {metrics} - "
                             f"{row['samples_per_second']:,.0f} samples/s - {row['seconds']:.1f}s\n")
            sys.stdout.flush()

    def finish(self, record: dict[str, Any]) -> None:
        """The fit's final record: remaining warnings and epoch lines (no bar: no epoch is under way)."""
        self.__exit__()
        self._draw(record)
