"""The command line: `librechat-textfile [options]` runs the job, `... indexes [--create]`
lists the indexes. `main(argv=None)` returns the exit code."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from . import __version__
from .client import mongo_hosts
from .errors import EXIT_FAILED, EXIT_USAGE, Interrupted, JobError
from .logs import configure_logging, log
from .run import run_job
from .settings import SettingsError, load_settings


def _interrupt(signum: int, _frame: Any) -> None:
    raise Interrupted(f"stopped by {signal.Signals(signum).name}")


PROG = "librechat-textfile"
# The names the job is started by: the installed command, or the entry module of a clone.
PROGS = (PROG, "librechat_textfile.py")


def program_name() -> str:
    """What usage lines and errors call the command: the name it was started by."""
    started_as = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return started_as if started_as in PROGS else PROG


def main(argv: list[str] | None = None) -> int:
    prog = program_name()
    try:
        settings = load_settings(argv, os.environ, prog=prog)
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings)
    log.debug("%s %s: MongoDB %s, database %s, output %s, state %s, timezone %s, timeout "
              "%g s", prog, __version__, mongo_hosts(settings.mongodb_uri),
              settings.mongodb_database, "stdout" if settings.stdout else settings.output,
              settings.state_file, settings.timezone, settings.timeout)
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
