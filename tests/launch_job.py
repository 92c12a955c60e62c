"""Run the job as its own process with test controls: ``python3 launch_job.py CONTROL ARGV...``.

CONTROL is a JSON object (tests/job_control.py writes it):

    globals   {"BACKFILL_CHUNK": 1}: set in every job module that defines the name
    budget    an integer: each run may start that many first-count chunks or daily summaries
              (replaces the time budget, Clock.has_time), or null
    stop_at   pause the write phase at one of job_control.STOP_POINTS, or null
    marker    the file written (with the stop point's name) once paused there
    root      the repository root, put on sys.path

Pausing means: write the marker, then sleep until a signal ends the process. The write phase
is recognised by the job's own system calls (the fsync of the .prom's temp file, the renames
onto the state file and the .prom), so nothing in the job needs to know about this.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def _option(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


_PAUSED: list[str] = []


def _pause(marker: str, point: str) -> None:
    """Once per process: a run that goes on after a signal (SIGTERM writes up 0) passes the
    same point again and must not stop there a second time."""
    if _PAUSED:
        return
    _PAUSED.append(point)
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write(point)
    while True:
        time.sleep(3600)


def _install_stop(point: str, marker: str, argv: list[str]) -> None:
    output = os.path.abspath(_option(argv, "--output") or "")
    state = os.path.abspath(_option(argv, "--state-file") or "")
    staging_prefix = "." + os.path.basename(output) + "."
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        target = os.path.abspath(os.fspath(dst))
        if (point, target) in (("before-state-rename", state), ("before-prom-rename", output)):
            _pause(marker, point)
        real_replace(src, dst, *args, **kwargs)
        if (point, target) == ("after-prom-rename", output):
            _pause(marker, point)

    def fsync(fd: Any) -> None:
        if point == "staging" and isinstance(fd, int):
            try:
                name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                name = ""
            if name.startswith(staging_prefix):
                _pause(marker, point)
        real_fsync(fd)

    os.replace = replace  # type: ignore[assignment]
    os.fsync = fsync  # type: ignore[assignment]


def main() -> None:
    control = json.loads(sys.argv[1])
    argv = sys.argv[2:]
    sys.path.insert(0, control["root"])
    import librechat_textfile as job

    modules = [m for name, m in sorted(sys.modules.items()) if m is not None and (
        name == "librechat_textfile" or name.split(".")[0] == "librechat_metrics")]
    for name, value in control["globals"].items():
        holders = [m for m in modules if name in vars(m)]
        if not holders:
            sys.exit(f"launch_job: no job module defines {name}")
        for module in holders:
            setattr(module, name, value)
    if control.get("budget") is not None:
        per_run, used = int(control["budget"]), [0]

        def has_time(_clock: Any) -> bool:
            used[0] += 1
            return used[0] <= per_run

        job.Clock.has_time = has_time  # type: ignore[method-assign]
    if control.get("stop_at"):
        _install_stop(control["stop_at"], control["marker"], argv)
    code = job.main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # as the installed command does: no wait for pymongo's exit hook


if __name__ == "__main__":
    main()
