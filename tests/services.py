"""Real node_exporter and Prometheus processes for the test suite, on free loopback ports.

    with NodeExporter(textfile_dir) as node:      # only the textfile collector
        text = node.scrape()                      # GET /metrics
    with Prometheus([node.address], rule_files=[rules]) as prom:
        prom.wait_for_samples("librechat_exporter_up")
        answer = prom.query("librechat_exporter_up")   # the /api/v1/query JSON

Both are the Debian binaries (``prometheus-node-exporter`` 1.5.0, ``prometheus`` 2.42);
``require_binary`` skips a test when one is missing, or fails it when ``CI=true``. Every process
is stopped by its pid (SIGTERM, then SIGKILL), never by name, and its temporary directory is
removed.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

from tests.mongod import terminate

NODE_EXPORTER_BINARY = "prometheus-node-exporter"
PROMETHEUS_BINARY = "prometheus"
PROMTOOL_BINARY = "promtool"

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
START_ATTEMPTS = 3  # a free port can be taken by someone else before the process binds it
HTTP_TIMEOUT_S = 5.0


class ServiceError(RuntimeError):
    """A service could not be started, or did not answer."""


def in_ci(environ: dict[str, str] | None = None) -> bool:
    """True when missing tools must fail the run instead of skipping (``CI=true``)."""
    return (environ if environ is not None else os.environ).get("CI", "").lower() == "true"


def find_binary(name: str) -> str | None:
    """Absolute path of ``name`` on PATH (or in /usr/bin, /usr/sbin), or None."""
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/bin", "/usr/sbin", "/usr/local/bin"):
        candidate = Path(directory) / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_binary(name: str) -> str:
    """The path of ``name``; skip the test when it is missing, but fail when ``CI=true``."""
    path = find_binary(name)
    if path is not None:
        return path
    reason = (f"{name} is not installed (Debian: apt-get install prometheus-node-exporter "
              "prometheus)")
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = HTTP_TIMEOUT_S) -> tuple[int, str]:
    """(status, body) of a GET; HTTP error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


class _Service:
    """A child process listening on a free loopback port, with its own temporary directory."""

    name = "service"

    def __init__(self, binary: str | None) -> None:
        self.binary = binary
        self.port = 0
        self.tmpdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- to be provided by subclasses -------------------------------------------------------

    def _command_line(self, binary: str) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files into self.tmpdir before each start attempt."""

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """host:port, also the ``instance`` label Prometheus gives this target."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise ServiceError(f"{self.name} is not started")
        return self._proc.pid

    @property
    def logpath(self) -> Path:
        if self.tmpdir is None:
            raise ServiceError(f"{self.name} is not started")
        return self.tmpdir / f"{self.name}.log"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logpath.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, ServiceError):
            return "(no log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Self:
        if self._proc is not None:
            raise ServiceError(f"{self.name} is already started")
        binary = self.binary or find_binary(self.default_binary())
        if binary is None:
            raise ServiceError(f"{self.default_binary()} is not installed")
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"librechat-{self.name}-"))
        atexit.register(self.stop)  # a crashed test run must not leave the process behind
        try:
            for attempt in range(START_ATTEMPTS):
                self.port = free_port()
                self._prepare()
                try:
                    self._spawn_and_wait(binary)
                    return self
                except ServiceError:
                    in_use = "address already in use" in self.log_tail().lower()
                    if not in_use or attempt == START_ATTEMPTS - 1:
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def default_binary(self) -> str:
        raise NotImplementedError

    def _spawn_and_wait(self, binary: str) -> None:
        with open(self.logpath, "ab") as log:
            self._proc = subprocess.Popen(self._command_line(binary), stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code, self._proc = self._proc.returncode, None
                raise ServiceError(f"{self.name} exited with {code}:\n{self.log_tail()}")
            try:
                if self._ready():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self._terminate()
        raise ServiceError(f"{self.name} did not answer in {START_TIMEOUT_S:.0f} s:\n"
                           f"{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL after a timeout, then remove the temporary directory."""
        self._terminate()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        atexit.unregister(self.stop)

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        terminate(proc, STOP_TIMEOUT_S)


class NodeExporter(_Service):
    """node_exporter with only the textfile collector, reading ``textfile_dir``.

    The textfile directory belongs to the caller (it is not removed on stop); the exporter's
    own metrics (go_*, process_*, promhttp_*) are off, so a scrape holds only node_textfile_*,
    node_scrape_collector_* and the series of the .prom files.
    """

    name = "node_exporter"

    def __init__(self, textfile_dir: str | os.PathLike[str], *, binary: str | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        super().__init__(binary)
        self.textfile_dir = Path(textfile_dir)
        self.extra_args = tuple(extra_args)

    def default_binary(self) -> str:
        return NODE_EXPORTER_BINARY

    def _command_line(self, binary: str) -> list[str]:
        return [binary, f"--web.listen-address={self.address}",
                "--collector.disable-defaults", "--collector.textfile",
                f"--collector.textfile.directory={self.textfile_dir}",
                "--web.disable-exporter-metrics", *self.extra_args]

    def _ready(self) -> bool:
        status, _ = http_get(f"{self.url}/metrics", timeout=1.0)
        return status == 200

    def scrape(self) -> str:
        """The text of one GET /metrics."""
        status, body = http_get(f"{self.url}/metrics")
        if status != 200:
            raise ServiceError(f"node_exporter answered {status}: {body[:300]}")
        return body


class Prometheus(_Service):
    """A Prometheus server scraping ``targets`` under one job name, with a throw-away TSDB.

    ``rule_files`` are loaded and evaluated every ``evaluation_interval``.
    """

    name = "prometheus"

    def __init__(self, targets: Iterable[str], *, job: str = "node",
                 scrape_interval: str = "1s", evaluation_interval: str = "1s",
                 rule_files: Iterable[str | os.PathLike[str]] = (),
                 binary: str | None = None) -> None:
        super().__init__(binary)
        self.targets = list(targets)
        self.job = job
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.rule_files = [str(Path(p).resolve()) for p in rule_files]

    def default_binary(self) -> str:
        return PROMETHEUS_BINARY

    @property
    def config_path(self) -> Path:
        if self.tmpdir is None:
            raise ServiceError("prometheus is not started")
        return self.tmpdir / "prometheus.yml"

    def _prepare(self) -> None:
        # JSON is YAML: no YAML library needed to write the configuration.
        config = {
            "global": {"scrape_interval": self.scrape_interval,
                       "scrape_timeout": self.scrape_interval,
                       "evaluation_interval": self.evaluation_interval},
            "rule_files": self.rule_files,
            "scrape_configs": [{"job_name": self.job,
                                "static_configs": [{"targets": self.targets}]}],
        }
        self.config_path.write_text(json.dumps(config, indent=2))

    def _command_line(self, binary: str) -> list[str]:
        assert self.tmpdir is not None
        return [binary, f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.tmpdir / 'tsdb'}",
                f"--web.listen-address={self.address}"]

    def _ready(self) -> bool:
        status, _ = http_get(f"{self.url}/-/ready", timeout=1.0)
        return status == 200

    def api(self, path: str, **params: str) -> dict[str, Any]:
        """The decoded JSON of GET /api/v1/<path>; error answers are returned, not raised."""
        query = urllib.parse.urlencode(params)
        status, body = http_get(f"{self.url}/api/v1/{path}?{query}")
        try:
            answer: dict[str, Any] = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ServiceError(f"prometheus answered {status} with non-JSON: {body[:300]}") \
                from exc
        return answer

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """An instant query: {"status": "success", "data": {"resultType", "result"}} or an error."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self.api("query", **params)

    def series_count(self, expr: str) -> int:
        """How many series ``expr`` returns now (0 on an error answer)."""
        answer = self.query(expr)
        if answer.get("status") != "success":
            return 0
        return len(answer["data"]["result"])

    def wait_for(self, expr: str, timeout: float = 30.0, at_least: int = 1) -> None:
        """Block until ``expr`` returns at least ``at_least`` series."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.series_count(expr) >= at_least:
                return
            time.sleep(0.25)
        raise ServiceError(f"{expr!r} returned fewer than {at_least} series in {timeout:.0f} s:"
                           f"\n{self.log_tail()}")
