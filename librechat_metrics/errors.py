"""The job's exceptions and exit codes, shared by every stage."""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_LOCKED = 0, 1, 2, 3, 75


class JobError(RuntimeError):
    """A failure that ends the run with one clear log line."""


class LockUnavailable(JobError):
    """The lock file cannot be opened (a read-only or missing state directory)."""


class Interrupted(BaseException):
    """SIGTERM (systemd's or timeout's) or the watchdog alarm ended the run.

    A BaseException, so that the per-section `except Exception` cannot swallow it.
    """
