"""The command line: `librechat-textfile [options]` runs the job, `... indexes [--create]`
lists the indexes. `main(argv=None)` returns the exit code."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from .errors import EXIT_FAILED, EXIT_USAGE, Interrupted, JobError
from .logs import configure_logging, log
from .run import run_job
from .settings import SettingsError, load_settings


def _interrupt(signum: int, _frame: Any) -> None:
    raise Interrupted(f"stopped by {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings(argv, os.environ)
    except SettingsError as exc:
        print(f"librechat_textfile: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings)
    if settings.command == "indexes":
        from .indexes import run_indexes  # only this command needs it

        return run_indexes(settings)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    # A last resort if a call escapes pymongo's deadline (a stuck DNS lookup, say).
    signal.alarm(int(settings.timeout + settings.connect_timeout + 5))
    try:
        return run_job(settings)
    except JobError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    except Interrupted as exc:
        log.error("run interrupted (%s) while writing; state and file left as they were", exc)
        return EXIT_FAILED
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, previous)


def run_and_exit() -> None:
    """The installed command's entry point: exit without pymongo's exit hook."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skips pymongo's exit hook, which waits ~0.5 s for the (closed) client's monitor threads:
    # everything is written, flushed and fsynced by now.
    os._exit(code)
