"""Running the job as users do, checking a failed run, and recording measured figures.

Used by the fault, security, hostile-document and atomicity tests:

    run = run_job(job_argv(uri, directory, timeout=3, connect_timeout=1))
    assert_failed_run(run, directory / "librechat.prom", before, timeout=3,
                      connect_timeout=1, says=["run failed"], state=directory / "state.json")
    reliability.record("MongoDB down", "exit 1, up 0", exit_code=1, seconds=run.seconds)

``recorder(config)`` (each test module wraps it in a small ``reliability`` fixture) collects one
row per fault: what the job did and what was measured (exit code, seconds to exit, the state
of the .prom and state files, cases tried). Each row is
written at once to ``.pytest_cache/d/reliability/reliability-report.{json,md}`` (or the
directory in ``$LIBRECHAT_RELIABILITY_DIR``), so the README's "Reliability" table can be made
from any CI run; ``tests/reliability_plugin.py`` also prints the table in the terminal summary
when conftest.py registers it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import librechat_textfile  # noqa: E402  (needs the sys.path entry above)
from tests.promparse import parse  # noqa: E402

JOB = ROOT / "librechat_textfile.py"
SLACK_S = 5.0
"""Seconds a run may take beyond --timeout + --connect-timeout: interpreter start, imports,
rendering, fsync, and a loaded CI machine."""

PASSWORD = "S3cr3t-Pa55@word"
"""A distinctive password; in a URI it is percent-encoded as PASSWORD_IN_URI."""
PASSWORD_IN_URI = "S3cr3t-Pa55%40word"
SECRET_FRAGMENTS = (PASSWORD, PASSWORD_IN_URI, "S3cr3t", "Pa55")
"""Strings that must not appear in stdout, stderr or the .prom on any path."""

LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - ")
"""The default LOGGING_FORMAT, as a user sees it in the journal."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip a test whose tool or privilege is missing; fail it under CI=true."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------------------------
# Running the job


@dataclasses.dataclass
class JobRun:
    """One run of the job: exit code, wall time, and everything it printed."""

    argv: list[str]
    returncode: int
    seconds: float
    stdout: str
    stderr: str

    def log_lines(self, level: str | None = None) -> list[str]:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        if level is None:
            return lines
        return [line for line in lines if f" - {level} - " in line]


def job_argv(uri: str, directory: Path, *extra: str, timeout: float = 3.0,
             connect_timeout: float = 1.0, database: str = "LibreChat",
             output: Path | None = None, state: Path | None = None) -> list[str]:
    """The scheduled command line, with every path inside ``directory`` unless given."""
    return ["--mongodb-uri", uri, "--mongodb-database", database,
            "--output", str(output or directory / "librechat.prom"),
            "--state-file", str(state or directory / "state.json"),
            "--timeout", f"{timeout:g}", "--connect-timeout", f"{connect_timeout:g}",
            "--env-file", "/nonexistent", *extra]


def run_job(argv: Sequence[str], *, python: str | None = None, env: dict[str, str] | None = None,
            preexec_fn: Callable[[], None] | None = None, wall_limit: float = 120.0) -> JobRun:
    """Run ``python3 librechat_textfile.py ARGV`` as a cron job or systemd unit would."""
    command = [python or sys.executable, str(JOB), *argv]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, env=env,
                          preexec_fn=preexec_fn, timeout=wall_limit, cwd="/", check=False)
    return JobRun(list(argv), proc.returncode, time.monotonic() - started, proc.stdout,
                  proc.stderr)


def start_job(argv: Sequence[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(JOB), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd="/")


def run_in_process(argv: Sequence[str]) -> JobRun:
    """``librechat_textfile.main(argv)`` in this process (fast), with its stderr captured."""
    err, out = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = librechat_textfile.main(list(argv))
    return JobRun(list(argv), code, time.monotonic() - started, out.getvalue(), err.getvalue())


# --------------------------------------------------------------------------------------------
# Files before and after a run


def digest(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when it does not exist."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


@dataclasses.dataclass
class Snapshot:
    """The bytes, mode and mtime of the files a run may touch, to compare after it."""

    files: dict[str, tuple[str | None, float | None]]
    contents: dict[str, bytes | None] = dataclasses.field(default_factory=dict)

    @classmethod
    def take(cls, *paths: Path) -> Snapshot:
        files: dict[str, tuple[str | None, float | None]] = {}
        contents: dict[str, bytes | None] = {}
        for path in paths:
            try:
                mtime: float | None = path.stat().st_mtime_ns
                contents[str(path)] = path.read_bytes()
            except FileNotFoundError:
                mtime = None
                contents[str(path)] = None
            except OSError:
                mtime, contents[str(path)] = None, None
            files[str(path)] = (digest(path), mtime)
        return cls(files, contents)

    def changed(self) -> list[str]:
        after = Snapshot.take(*(Path(p) for p in self.files))
        return [p for p in self.files if after.files[p] != self.files[p]]


def directory_listing(directory: Path) -> set[str]:
    try:
        return set(os.listdir(directory))
    except FileNotFoundError:
        return set()


CARRIED_GAUGES = ("librechat_token_source_info",)
"""The one business gauge a failed run writes: which source the carried token counters are."""


def self_metrics_only(text: str) -> dict[str, dict[Any, float]]:
    """Parse a .prom and check it holds the job's self-metrics and counters only (a failed
    run carries every counter at its last value, README "How counting works"), no stored-now
    gauge; return its samples."""
    samples, types = parse(text)
    gauges = sorted(n for n in samples if not n.startswith("librechat_exporter_")
                    and types.get(n) != "counter" and n not in CARRIED_GAUGES)
    assert not gauges, f"a failed run wrote stored-now gauges: {gauges[:5]}"
    return samples


def assert_state_kept(before: Snapshot, state: Path, *, counted: bool | None = None) -> None:
    """The state file's counts as they were: the same bytes, or (a failed run that could
    save it) the same but for the runs counter, one more `failed`. `counted` True or False
    requires one of the two."""
    old, new = before.contents.get(str(state)), state.read_bytes() if state.exists() else None
    if old == new:
        assert counted is not True, "the failed run was not counted in the state"
        return
    assert counted is not False, "the state file changed"
    assert old is not None and new is not None, "the state file appeared or vanished"
    old_state, new_state = json.loads(old), json.loads(new)
    old_runs, new_runs = old_state.pop("runs", {}), new_state.pop("runs", {})
    assert new_state == old_state, "a failed run changed the state's counts"
    assert new_runs == {**old_runs, "failed": old_runs.get("failed", 0.0) + 1}, (old_runs,
                                                                                new_runs)


def up_value(text: str) -> float:
    samples, _ = parse(text)
    assert "librechat_exporter_up" in samples, "no librechat_exporter_up in the file"
    return samples["librechat_exporter_up"][()]


def assert_no_secret(*texts: str, secrets: Sequence[str] = SECRET_FRAGMENTS) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"secret {secret!r} leaked: ...{_around(text, secret)}..."


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 80):at + 80]


def assert_clean_log(run: JobRun, error_lines: int | None = 1) -> None:
    """Every stderr line is a log line (no traceback), with the expected number of ERRORs."""
    for line in run.log_lines():
        assert LOG_LINE.match(line), f"not a log line (traceback?): {line!r}\n{run.stderr}"
    if error_lines is not None:
        errors = run.log_lines("ERROR")
        assert len(errors) == error_lines, f"expected {error_lines} ERROR line(s):\n{run.stderr}"


def assert_failed_run(run: JobRun, output: Path, before: Snapshot, *, timeout: float,
                      connect_timeout: float, says: str | Sequence[str],
                      state: Path | None = None) -> None:
    """The contract of a failed run (README, exit codes): exit 1 within the configured time,
    a .prom with up 0, the self-metrics and the counters carried, the state's counts as they
    were, one ERROR line that says what happened, no password anywhere."""
    assert run.returncode == librechat_textfile.EXIT_FAILED, run.stderr
    assert run.seconds <= timeout + connect_timeout + SLACK_S, run.seconds
    text = output.read_text()
    assert up_value(text) == 0.0
    self_metrics_only(text)
    if state is not None:
        assert_state_kept(before, state)
    assert_clean_log(run, error_lines=1)
    error = run.log_lines("ERROR")[0]
    for word in [says] if isinstance(says, str) else says:
        assert word.lower() in error.lower(), f"ERROR line does not say {word!r}: {error}"
    assert_no_secret(run.stdout, run.stderr, text)


# --------------------------------------------------------------------------------------------
# Faults


class HangingServer:
    """A TCP server on loopback that accepts connections and never answers (a hung mongod,
    a firewall that drops replies, a wrong port forwarded to something silent)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)  # kept open, never read from or written to

    def __enter__(self) -> HangingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self._conns:
            conn.close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the context lasts: bound by
    this process but not listening, so nobody else can take it and every connect gets a
    reset (never a fixed port such as 1 or 9, which something may listen on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "64k") -> Iterator[Path]:
    """A small tmpfs mounted on ``path`` (needs CAP_SYS_ADMIN); unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        skip_or_fail("mounting a tmpfs needs root and mount(8)")
    proc = subprocess.run([mount, "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                           str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        skip_or_fail(f"this container cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def read_only_bind(path: Path) -> Iterator[Path]:
    """``path`` bind-mounted read-only onto itself: not writable even for root (EROFS)."""
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        skip_or_fail("a read-only bind mount needs root and mount(8)")
    first = subprocess.run([mount, "--bind", str(path), str(path)], capture_output=True,
                           text=True, check=False)
    if first.returncode != 0:
        skip_or_fail(f"this container cannot bind-mount: {first.stderr.strip()}")
    try:
        second = subprocess.run([mount, "-o", "remount,ro,bind", str(path)],
                                capture_output=True, text=True, check=False)
        if second.returncode != 0:
            skip_or_fail(f"this container cannot remount read-only: {second.stderr.strip()}")
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill_filesystem(path: Path) -> None:
    """Write ``path`` until the filesystem it is on has not a byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# A non-root user (the tests run as root, which ignores directory modes)


@dataclasses.dataclass(frozen=True)
class Unprivileged:
    """How to run the job as ``nobody``: a Python the user can execute and the job's
    dependencies copied where the user can read them (root's pyenv is under /root, 0700)."""

    python: str
    env: dict[str, str]
    uid: int
    gid: int

    def preexec(self) -> None:
        os.setgroups([])
        os.setgid(self.gid)
        os.setuid(self.uid)

    def own(self, *paths: Path) -> None:
        for path in paths:
            os.chown(path, self.uid, self.gid)


RUNTIME_PACKAGES = ("pymongo", "bson", "gridfs", "dns", "prometheus_client", "dotenv")


def make_unprivileged(directory: Path) -> Unprivileged:
    """Prepare running the job as ``nobody``, or skip when that cannot work here."""
    if os.geteuid() != 0:
        skip_or_fail("dropping to another user needs root")
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        skip_or_fail("there is no user 'nobody'")
        raise
    runtime = directory / "runtime"
    runtime.mkdir(parents=True)
    import importlib

    for name in RUNTIME_PACKAGES:
        module = importlib.import_module(name)
        source = Path(module.__file__ or "").parent
        shutil.copytree(source, runtime / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [directory, *runtime.rglob("*"), runtime]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IRGRP | stat.S_IROTH
                   | (stat.S_IXGRP | stat.S_IXOTH if path.is_dir() else 0))
    python = _python_for(user.pw_uid, user.pw_gid, runtime)
    if python is None:
        skip_or_fail("no Python 3.11 that user nobody can execute with the job's dependencies")
        raise AssertionError("unreachable")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(runtime), "LANG": "C.UTF-8"}
    return Unprivileged(python, env, user.pw_uid, user.pw_gid)


def _python_for(uid: int, gid: int, runtime: Path) -> str | None:
    """An interpreter of this Python's minor version that ``uid`` can run (the C extensions
    of the copied packages are built for it)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"

    def drop() -> None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    for candidate in (sys.executable, f"/usr/bin/python{version}",
                      f"/usr/local/bin/python{version}"):
        if not os.path.exists(candidate):
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys, pymongo, prometheus_client, dotenv; "
                 f"assert sys.version_info[:2] == {tuple(sys.version_info[:2])!r}"],
                env={"PYTHONPATH": str(runtime), "PATH": "/usr/bin:/bin"},
                capture_output=True, check=False, cwd="/", preexec_fn=drop)
        except OSError:
            continue
        if probe.returncode == 0:
            return candidate
    return None


# --------------------------------------------------------------------------------------------
# MongoDB fault tools


def fail_point(client: Any, block_ms: int, commands: Sequence[str] = ("aggregate", "find"),
               app_name: str = "librechat-textfile") -> None:
    """Make every listed command of the job's connections wait ``block_ms`` (a slow server).
    Needs mongod started with ``--setParameter enableTestCommands=1``."""
    client.admin.command({"configureFailPoint": "failCommand", "mode": "alwaysOn",
                          "data": {"failCommands": list(commands), "blockConnection": True,
                                   "blockTimeMS": block_ms, "appName": app_name}})


def fail_point_off(client: Any) -> None:
    client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


TEST_COMMANDS = ("--setParameter", "enableTestCommands=1")


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# The reliability report


@dataclasses.dataclass
class Row:
    fault: str
    outcome: str
    exit_code: str
    seconds_to_exit: str
    file_state: str
    cases: str
    test: str


class Recorder:
    """Rows of the README's "Reliability" table, written to disk as soon as each is added."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.directory: Path | None = None

    def configure(self, directory: Path) -> None:
        if self.directory is None:
            self.directory = Path(os.environ.get("LIBRECHAT_RELIABILITY_DIR", directory))

    def record(self, fault: str, outcome: str, *, exit_code: int | str | Sequence[int] = "",
               seconds: float | Sequence[float] | None = None, file_state: str = "",
               cases: int | str = "", test: str = "") -> None:
        codes = exit_code if isinstance(exit_code, str) else (
            str(exit_code) if isinstance(exit_code, int) else
            ", ".join(f"{c} ({list(exit_code).count(c)}x)" for c in sorted(set(exit_code))))
        if seconds is None:
            timing = ""
        elif isinstance(seconds, (int, float)):
            timing = f"{seconds:.2f} s"
        else:
            values = list(seconds)
            timing = f"{min(values):.2f} to {max(values):.2f} s" if values else ""
        self.rows = [r for r in self.rows if r.fault != fault]
        self.rows.append(Row(fault, outcome, codes, timing, file_state, str(cases), test))
        self.write()

    def markdown(self) -> str:
        head = ("| fault | what the job did | exit | time to exit | .prom / state | cases |\n"
                "|---|---|---|---|---|---|\n")
        body = "".join(
            f"| {r.fault} | {r.outcome} | {r.exit_code} | {r.seconds_to_exit} | "
            f"{r.file_state} | {r.cases} |\n" for r in self.rows)
        return head + body

    def write(self) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "reliability-report.json").write_text(
            json.dumps([dataclasses.asdict(r) for r in self.rows], indent=1,
                       ensure_ascii=False))
        (self.directory / "reliability-report.md").write_text(
            "## Reliability (measured by tests/test_faults.py and friends)\n\n"
            + self.markdown())


REPORT = Recorder()


def recorder(config: pytest.Config) -> Recorder:
    """The session's report, writing under the pytest cache directory of ``config``.
    Each test module wraps this in a small ``reliability`` fixture."""
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    REPORT.configure(Path(cache.mkdir("reliability")) if cache is not None
                     else Path(config.rootpath) / ".pytest_cache" / "d" / "reliability")
    return REPORT


def scratch_dir(prefix: str) -> Path:
    """A world-traversable temporary directory (0755), for the unprivileged user too."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path
