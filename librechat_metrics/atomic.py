"""Atomic files: a temp file beside the target, flushed to disk, renamed over it. Used for the
.prom file (mode 0644) and the state file (mode 0600)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile

log = logging.getLogger("librechat_textfile")

def stage_file(path: str, data: bytes, mode: int = 0o644) -> str:
    """Write `data` to a temp file beside `path`, flushed to disk; `commit_file` publishes it.

    The temp file sits in the same directory (rename is atomic only within one filesystem),
    its name does not end in .prom (node_exporter would read it), and its mode is set
    explicitly: mkstemp makes 0600 and the umask must not decide what node_exporter can read.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
    except BaseException:
        discard_file(tmp)
        raise
    return tmp


def commit_file(tmp: str, path: str) -> None:
    """Rename the staged file over `path`: a reader sees the old file or the new, never a part."""
    try:
        os.replace(tmp, path)
    except BaseException:
        discard_file(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def discard_file(tmp: str | None) -> None:
    if tmp:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    commit_file(stage_file(path, data, mode), path)


def remove_stale_temps(path: str) -> None:
    """Temp files left by a run that was killed between write and rename."""
    directory, base = os.path.split(os.path.abspath(path))
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if name.startswith(f".{base}.") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
                    log.info("removed stale temp file %s", name)


