"""Which MongoDB and which database: LibreChat's own `MONGO_URI`, the database in the URI's
path, a database that is not LibreChat's; and ERROR lines that name the failing part (MongoDB,
state file or directory, output directory) in their prefix."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

import librechat_textfile as lt
from librechat_metrics.settings import uri_database
from tests.fault_report import (
    fill_filesystem,
    job_argv,
    refusing_port,
    run_job,
    skip_or_fail,
    tmpfs,
)
from tests.librechat_data import GenOptions, ensure_indexes, generate
from tests.mongod import Mongod, MongodError, find_mongod_binary
from tests.promparse import parse
from tests.test_install import with_database

URI = "mongodb://db.example:27017/"


def settings(argv: list[str] | None = None, env: dict[str, str] | None = None,
             dotenv: str | None = None, tmp_path: Path | None = None) -> lt.Settings:
    args = list(argv or [])
    if dotenv is not None:
        assert tmp_path is not None
        (tmp_path / ".env").write_text(dotenv)
        args += ["--env-file", str(tmp_path / ".env")]
    else:
        args += ["--env-file", "/nonexistent"]
    return lt.load_settings(args, env or {})


# --------------------------------------------------------------------------------------------
# MONGO_URI


def test_mongo_uri_is_read_when_mongodb_uri_is_unset() -> None:
    assert settings(env={"MONGO_URI": "mongodb://m:27017/"}).mongodb_uri == "mongodb://m:27017/"


def test_mongodb_uri_wins_over_mongo_uri_from_any_source(tmp_path: Path) -> None:
    both = {"MONGO_URI": "mongodb://librechat:27017/", "MONGODB_URI": URI}
    assert settings(env=both).mongodb_uri == URI
    # MONGODB_URI in .env still beats an ambient MONGO_URI in the environment.
    got = settings(env={"MONGO_URI": "mongodb://librechat:27017/"},
                   dotenv=f"MONGODB_URI={URI}\n", tmp_path=tmp_path)
    assert got.mongodb_uri == URI
    assert settings(["--mongodb-uri", URI], env={"MONGO_URI": "mongodb://x/"}).mongodb_uri == URI


def test_mongo_uri_from_a_librechat_env_file(tmp_path: Path) -> None:
    got = settings(dotenv="MONGO_URI=mongodb://127.0.0.1:27017/LibreChat\n", tmp_path=tmp_path)
    assert got.mongodb_uri == "mongodb://127.0.0.1:27017/LibreChat"
    assert got.mongodb_database == "LibreChat"
    # The environment beats .env for MONGO_URI as for every variable.
    got = settings(env={"MONGO_URI": "mongodb://e/FromEnv"}, dotenv="MONGO_URI=mongodb://d/X\n",
                   tmp_path=tmp_path)
    assert got.mongodb_database == "FromEnv"


def test_default_uri_without_either() -> None:
    assert settings().mongodb_uri == "mongodb://127.0.0.1:27017/"


# --------------------------------------------------------------------------------------------
# The database: flag, MONGODB_DATABASE, the URI's path, LibreChat


@pytest.mark.parametrize(("uri", "database"), [
    ("mongodb://h:27017/Other", "Other"),
    ("mongodb://h:27017/Other?authSource=admin&directConnection=true", "Other"),
    ("mongodb://user:p%40ss@h1:1,h2:2/Other?replicaSet=rs0", "Other"),
    ("mongodb+srv://cluster0.example.net/Lib%20Chat?retryWrites=true", "Lib Chat"),
    ("mongodb://h:27017/", None),
    ("mongodb://h:27017", None),
    ("mongodb://h/?directConnection=true", None),
    ("not a uri", None),
])
def test_uri_database(uri: str, database: str | None) -> None:
    assert uri_database(uri) == database


def test_database_order() -> None:
    path_uri = "mongodb://h:27017/FromPath"
    assert settings(env={"MONGODB_URI": path_uri}).mongodb_database == "FromPath"
    assert settings(env={"MONGODB_URI": path_uri, "MONGODB_DATABASE": "FromVar"}) \
        .mongodb_database == "FromVar"
    assert settings(["--mongodb-database", "FromFlag"],
                    env={"MONGODB_URI": path_uri, "MONGODB_DATABASE": "FromVar"}) \
        .mongodb_database == "FromFlag"
    assert settings(env={"MONGODB_URI": "mongodb://h:27017/"}).mongodb_database == "LibreChat"
    assert settings(["--mongodb-uri", path_uri]).mongodb_database == "FromPath"


def count(text: str, family: str) -> float:
    match = re.search(rf"^{family} (\S+)$", text, re.M)
    assert match, family
    return float(match.group(1))


def plain_argv(uri: str, tmp_path: Path, *extra: str) -> list[str]:
    """A run's flags without --mongodb-database, so the database comes from the URI."""
    argv = job_argv(uri, tmp_path, *extra)
    i = argv.index("--mongodb-database")
    return argv[:i] + argv[i + 2:]


def test_the_uri_path_names_the_database(db: Database[Any], mongod: Any,
                                         tmp_path: Path) -> None:
    summary = generate(db, GenOptions(seed=31, days=2, users=3))
    run = run_job(plain_argv(with_database(mongod.uri, db.name), tmp_path))
    assert run.returncode == lt.EXIT_OK, run.stderr
    text = (tmp_path / "librechat.prom").read_text()
    assert count(text, "librechat_messages_total") == summary.counts["messages"]


def test_mongo_uri_with_the_database_in_its_path(db: Database[Any], mongod: Any,
                                                 tmp_path: Path) -> None:
    """LibreChat's variable as LibreChat writes it: `MONGO_URI=mongodb://host/LibreChat`."""
    summary = generate(db, GenOptions(seed=32, days=2, users=3))
    argv = plain_argv("unused", tmp_path)
    i = argv.index("--mongodb-uri")
    argv = argv[:i] + argv[i + 2:]
    env = {"PATH": "/usr/bin:/bin", "MONGO_URI": with_database(mongod.uri, db.name)}
    run = run_job(argv, env=env)
    assert run.returncode == lt.EXIT_OK, run.stderr
    text = (tmp_path / "librechat.prom").read_text()
    assert count(text, "librechat_messages_total") == summary.counts["messages"]


# --------------------------------------------------------------------------------------------
# A database that is not LibreChat's


def test_wrong_database_fails_and_names_the_right_one(
        db: Database[Any], mongod: Any, mongo_client: MongoClient[Any], tmp_path: Path) -> None:
    generate(db, GenOptions(seed=33, days=2, users=3))
    wrong = f"{db.name}_typo"
    try:
        run = run_job(job_argv(mongod.uri, tmp_path, database=wrong))
    finally:
        mongo_client.drop_database(wrong)
    assert run.returncode == lt.EXIT_FAILED, run.stderr
    errors = run.log_lines("ERROR")
    assert len(errors) == 1 and not run.log_lines("WARNING"), run.stderr
    assert f"database '{wrong}' holds none of LibreChat's collections" in errors[0]
    assert "look like LibreChat's" in errors[0] and db.name in errors[0]
    assert "run failed (MongoDB 127.0.0.1:" in errors[0]
    samples, _ = parse((tmp_path / "librechat.prom").read_text())
    assert samples["librechat_exporter_up"][()] == 0.0
    assert "librechat_messages_total" not in samples
    assert wrong not in mongo_client.list_database_names(), "the job created the database"


def test_a_just_started_librechat_is_librechat(db: Database[Any], mongod: Any,
                                               tmp_path: Path) -> None:
    """No document yet, but LibreChat's collections and indexes: a normal run of zeros."""
    ensure_indexes(db)
    run = run_job(job_argv(mongod.uri, tmp_path, database=db.name))
    assert run.returncode == lt.EXIT_OK, run.stderr
    text = (tmp_path / "librechat.prom").read_text()
    assert "librechat_exporter_up 1.0" in text
    assert count(text, "librechat_messages_total") == 0


@pytest.fixture(scope="module")
def auth_mongod() -> Iterator[Mongod]:
    """A mongod --auth whose LibreChat database has just been started (collections, no
    documents)."""
    try:
        binary = find_mongod_binary()
    except MongodError as exc:
        skip_or_fail(str(exc))
        raise
    with Mongod(binary=binary, auth=True) as server:
        with MongoClient(server.admin_uri) as admin:
            ensure_indexes(admin["LibreChat"])
        yield server


def test_wrong_database_for_a_user_who_may_not_list_databases(
        auth_mongod: Mongod, tmp_path: Path) -> None:
    """With only `read` on LibreChat the user may not read `librechat`, and listDatabases
    shows only the databases the user has a role on: the hint still names LibreChat's."""
    uri = auth_mongod.create_user("LibreChat", "reader_hint", "pw-hint",
                                  [{"role": "read", "db": "LibreChat"}])
    run = run_job(job_argv(uri, tmp_path, database="librechat"))
    assert run.returncode == lt.EXIT_FAILED, run.stderr
    (error,) = run.log_lines("ERROR")
    assert "this user may not read database 'librechat'" in error
    assert "databases on the server that look like LibreChat's: LibreChat;" in error


# --------------------------------------------------------------------------------------------
# The ERROR line names the failing part


def only_error(run: Any) -> str:
    errors = run.log_lines("ERROR")
    assert run.returncode == lt.EXIT_FAILED and len(errors) == 1, run.stderr
    return errors[0]


def test_error_prefix_mongodb(tmp_path: Path) -> None:
    with refusing_port() as port:
        run = run_job(job_argv(f"mongodb://127.0.0.1:{port}/?directConnection=true", tmp_path))
    assert f"run failed (MongoDB 127.0.0.1:{port})" in only_error(run)


def test_error_prefix_state_directory_for_the_lock(tmp_path: Path) -> None:
    (tmp_path / "not-a-directory").write_text("")
    run = run_job(job_argv("mongodb://127.0.0.1:1/", tmp_path,
                           state=tmp_path / "not-a-directory" / "state.json"))
    error = only_error(run)
    assert "run failed (state directory)" in error
    assert f"cannot create {tmp_path / 'not-a-directory'}" in error
    assert "MongoDB" not in error


def test_error_prefix_state_file(tmp_path: Path) -> None:
    (tmp_path / "state.json").mkdir()  # a directory where the state file should be
    run = run_job(job_argv("mongodb://127.0.0.1:1/", tmp_path))
    error = only_error(run)
    assert "run failed (state file)" in error and "cannot read state file" in error


def test_error_prefixes_state_and_output_directory(db: Database[Any], mongod: Any,
                                                   tmp_path: Path) -> None:
    generate(db, GenOptions(seed=34, days=2, users=3))
    for part in ("state directory", "output directory"):
        base = tmp_path / part.split()[0]
        with tmpfs(base / "full") as full:
            where = {"state": full / "state.json"} if part == "state directory" else {
                "output": full / "librechat.prom"}
            argv = job_argv(mongod.uri, base, database=db.name, **where)
            assert run_job(argv).returncode == lt.EXIT_OK
            fill_filesystem(full / "filler")
            error = only_error(run_job(argv))
        assert f"run failed ({part})" in error and "No space left on device" in error
