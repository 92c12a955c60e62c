"""Driving the job deterministically: no sleep that assumes a run is still going.

A test waits for something the job itself does, or makes the job stop at a named point:

* a log line: ``LogReader(proc).wait_for("first count")`` reads the job's stderr as it comes;
* a file: ``start_launched(..., stop_at="before-state-rename")`` runs the job through
  ``tests/launch_job.py``, which makes the job pause right before (or after) one of the renames
  or fsyncs of its write phase and writes a marker file; ``wait_for_marker`` waits for it;
* a MongoDB operation: ``wait_for_job_operation(client)`` waits until ``currentOp`` shows a
  command of the job (appName ``librechat-textfile``) in progress, which a ``failCommand`` fail
  point with ``blockTimeMS`` keeps in progress for a known time;
* a first-count budget: ``chunk_budget(monkeypatch, n)`` lets each run start ``n`` first-count
  chunks or daily summaries (the job's ``Clock.has_time``), whatever the machine's speed.

``set_job_global`` sets one of the job's module constants (``BACKFILL_CHUNK``) in every job
module that defines it, wherever the package keeps it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = Path(__file__).resolve().parent / "launch_job.py"
APP_NAME = "librechat-textfile"
STOP_POINTS = ("staging", "before-state-rename", "before-prom-rename", "after-prom-rename")
"""Where a launched job can be made to pause in its write phase, in the order a run gets
there: the .prom's temp file is being flushed; both temp files are complete and the state's
is about to be renamed; the state is renamed and the .prom's temp file is about to be; both
are renamed."""


def job_modules() -> list[Any]:
    """The job's modules loaded in this process: the entry module and the package's."""
    import librechat_textfile  # noqa: F401  (loads the package)

    return [module for name, module in sorted(sys.modules.items())
            if module is not None and (name == "librechat_textfile"
                                       or name.split(".")[0] == "librechat_metrics")]


def set_job_global(monkeypatch: pytest.MonkeyPatch, name: str, value: Any) -> None:
    """Set a module constant of the job in every job module that holds it."""
    holders = [m for m in job_modules() if name in vars(m)]
    assert holders, f"no job module defines {name}"
    for module in holders:
        monkeypatch.setattr(module, name, value)


class Budget:
    """How many first-count chunks (or daily summaries) each run may start."""

    def __init__(self, per_run: int) -> None:
        self.per_run = per_run
        self.used: dict[Any, int] = {}

    def has_time(self, clock: Any) -> bool:
        # Keyed by the clock itself (a frozen dataclass: now, zone, deadline): one per run.
        used = self.used.get(clock, 0)
        self.used[clock] = used + 1
        return used < self.per_run


@contextlib.contextmanager
def chunk_budget(monkeypatch: pytest.MonkeyPatch, per_run: int) -> Iterator[Budget]:
    """Replace the first count's time budget by a count: ``per_run`` chunks per run."""
    from librechat_textfile import Clock

    budget = Budget(per_run)
    with monkeypatch.context() as patch:
        patch.setattr(Clock, "has_time", lambda clock: budget.has_time(clock))
        yield budget


# --------------------------------------------------------------------------------------------
# The job as its own process


def job_env() -> dict[str, str]:
    """This environment without the job's own variables, so only the flags decide."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MONGODB_", "LIBRECHAT_TEXTFILE_", "LOGGING_"))}


def start_launched(argv: Sequence[str], *, globals_: dict[str, Any] | None = None,
                   budget: int | None = None, stop_at: str | None = None,
                   marker: Path | None = None, cwd: Path | str = "/") -> subprocess.Popen[str]:
    """``python3 tests/launch_job.py`` running the job with ``argv``: module constants set,
    optionally a first-count budget, optionally pausing at ``stop_at`` (see STOP_POINTS)."""
    if stop_at is not None:
        assert stop_at in STOP_POINTS, stop_at
        assert marker is not None, "a stop point needs a marker file"
    control = {"globals": globals_ or {}, "budget": budget, "stop_at": stop_at,
               "marker": str(marker) if marker else None, "root": str(ROOT)}
    return subprocess.Popen([sys.executable, str(LAUNCHER), json.dumps(control), *argv],
                            cwd=cwd, env=job_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_marker(marker: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """Wait until the launched job writes its marker (it is then paused); its content names
    the stop point. Fails if the job exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text():
            return marker.read_text()
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the job exited ({proc.returncode}) before its stop point:\n"
                                 f"{err}")
        time.sleep(0.01)
    raise AssertionError(f"the job did not reach its stop point in {timeout:.0f} s")


class LogReader:
    """Reads a job process's stderr line by line in a thread, so a test can wait for one."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The first new line containing ``text``; fails if the job ends without one."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no log line with {text!r} in {timeout:.0f} s:\n"
                                     + "".join(self.lines))
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the job ended without a log line with {text!r}:\n"
                                     + "".join(self.lines))
            self.lines.append(line)
            if text in line:
                return line

    def rest(self, timeout: float = 60.0) -> str:
        """Everything the job wrote to stderr, once it has ended."""
        self.proc.wait(timeout=timeout)
        self._thread.join(timeout=timeout)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)


# --------------------------------------------------------------------------------------------
# MongoDB: what the job has in progress


def job_operations(client: Any) -> list[dict[str, Any]]:
    """The job's commands in progress on the server ``client`` is connected to."""
    answer = client.admin.command({"currentOp": 1, "appName": APP_NAME, "active": True})
    return [op for op in answer.get("inprog", []) if op.get("command")]


def wait_for_job_operation(client: Any, proc: subprocess.Popen[Any] | None = None,
                           timeout: float = 60.0, exclude: set[Any] | None = None
                           ) -> dict[str, Any]:
    """Wait until the job has a command in progress (one whose opid is not in ``exclude``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for op in job_operations(client):
            if exclude is None or op.get("opid") not in exclude:
                return op
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the job exited ({proc.returncode}) before any operation "
                                 "of it was seen in progress")
        time.sleep(0.005)
    raise AssertionError(f"no operation of the job in progress within {timeout:.0f} s")


def watch_job_operations(client: Any, proc: subprocess.Popen[Any],
                         timeout: float = 120.0) -> set[Any]:
    """The opids of the job's commands seen in progress until the job exits (with a
    ``blockTimeMS`` fail point every blocked command is seen)."""
    seen: set[Any] = set()
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"the job did not end within {timeout:.0f} s")
        seen.update(op.get("opid") for op in job_operations(client))
        time.sleep(0.005)
    return seen
