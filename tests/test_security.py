"""Security: a read-only user is enough and nothing is written; no password or personal data
in any output; the systemd unit's sandbox.

Against a real ``mongod --auth`` whose profiler (level 2) records every operation the job's
connections (appName ``librechat-textfile``) send.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
import pytest

import librechat_textfile as lt
from tests.fault_report import (
    PASSWORD,
    ROOT,
    Recorder,
    assert_clean_log,
    assert_no_secret,
    job_argv,
    recorder,
    run_job,
    skip_or_fail,
)
from tests.librechat_data import (
    GenOptions,
    generate,
    make_agent,
    make_conversation,
    make_file,
    make_message,
    make_transaction,
    make_user,
    object_id_at,
)
from tests.mongod import Mongod, MongodError, find_mongod_binary
from tests.promparse import parse

APP_NAME = "librechat-textfile"
READ_COMMANDS = {"aggregate", "find", "getMore", "count", "distinct", "listCollections",
                 "listIndexes", "killCursors", "buildInfo", "hello", "isMaster", "ping",
                 "endSessions", "collStats", "dbStats"}
WRITE_OPS = {"insert", "update", "remove", "delete"}
WRITE_COMMANDS = {"insert", "update", "delete", "findAndModify", "createIndexes", "dropIndexes",
                  "create", "drop", "collMod", "renameCollection", "dropDatabase", "bulkWrite",
                  "mapReduce", "applyOps"}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
HEX24 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{24}(?![0-9a-fA-F])")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Recorder:
    return recorder(request.config)


@pytest.fixture(scope="module")
def auth_mongod() -> Iterator[Mongod]:
    try:
        binary = find_mongod_binary()
    except MongodError as exc:
        skip_or_fail(str(exc))
        raise
    server = Mongod(binary=binary, auth=True).start()
    try:
        with pymongo.MongoClient(server.admin_uri, tz_aware=True) as admin:
            generate(admin["LibreChat"], GenOptions(seed=61, users=12, days=20))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def reader_uri(auth_mongod: Mongod) -> str:
    """A user with the built-in ``read`` role on LibreChat's database, and nothing else."""
    return auth_mongod.create_user("LibreChat", "librechat_metrics", PASSWORD,
                                   [{"role": "read", "db": "LibreChat"}])


def profiled(admin: pymongo.MongoClient[Any], since: datetime) -> list[dict[str, Any]]:
    """Operations the job's connections sent to LibreChat's database since ``since``."""
    return list(admin["LibreChat"]["system.profile"].find(
        {"appName": APP_NAME, "ts": {"$gte": since}}))


def command_name(entry: dict[str, Any]) -> str:
    command = entry.get("command") or {}
    return next(iter(command), entry.get("op", "?"))


def writes_in(entries: list[dict[str, Any]]) -> list[str]:
    return [f"{e.get('op')}:{command_name(e)} on {e.get('ns')}" for e in entries
            if e.get("op") in WRITE_OPS or command_name(e) in WRITE_COMMANDS]


@pytest.fixture
def profiler(auth_mongod: Mongod) -> Iterator[pymongo.MongoClient[Any]]:
    with pymongo.MongoClient(auth_mongod.admin_uri, tz_aware=True) as admin:
        admin["LibreChat"].command("profile", 0)
        admin["LibreChat"]["system.profile"].drop()
        admin["LibreChat"].command("profile", 2)
        try:
            yield admin
        finally:
            admin["LibreChat"].command("profile", 0)


def test_read_role_is_enough_and_the_job_writes_nothing(
        reader_uri: str, profiler: pymongo.MongoClient[Any], tmp_path: Path,
        reliability: Recorder) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    runs = [run_job(job_argv(reader_uri, tmp_path, timeout=20, connect_timeout=5))
            for _ in range(2)]  # a first (backfill) and a steady-state run
    for run in runs:
        assert run.returncode == lt.EXIT_OK, run.stderr
        assert_clean_log(run, error_lines=0)
        assert_no_secret(run.stdout, run.stderr, (tmp_path / "librechat.prom").read_text())
    samples, _ = parse((tmp_path / "librechat.prom").read_text())
    assert samples["librechat_exporter_up"][()] == 1.0
    assert not any(v for v in samples["librechat_exporter_errors"].values())
    entries = profiled(profiler, since)
    names = sorted({command_name(e) for e in entries})
    assert len(entries) > 20, f"the profiler saw too little: {names}"
    assert writes_in(entries) == []
    assert set(names) <= READ_COMMANDS, f"unexpected commands: {set(names) - READ_COMMANDS}"
    reliability.record("MongoDB user with only the built-in read role",
                       "full run, exit 0; the profiler saw no write from appName "
                       f"librechat-textfile ({len(entries)} operations: {', '.join(names)})",
                       exit_code=[r.returncode for r in runs], seconds=[r.seconds for r in runs],
                       cases=len(entries))


def test_indexes_without_create_writes_nothing(
        reader_uri: str, auth_mongod: Mongod, profiler: pymongo.MongoClient[Any],
        reliability: Recorder) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    listed = run_job(["indexes", "--mongodb-uri", reader_uri, "--env-file", "/nonexistent"])
    assert listed.returncode == lt.EXIT_OK, listed.stderr
    assert "missing" in listed.stdout and "present" in listed.stdout
    assert_no_secret(listed.stdout, listed.stderr)
    entries = profiled(profiler, since)
    assert writes_in(entries) == []
    # The control: the same check sees the writes of `indexes --create` by an admin.
    created = run_job(["indexes", "--create", "--mongodb-uri", auth_mongod.admin_uri,
                       "--env-file", "/nonexistent"])
    assert created.returncode == lt.EXIT_OK, created.stderr
    assert any("createIndexes" in w for w in writes_in(profiled(profiler, since)))
    with pymongo.MongoClient(auth_mongod.admin_uri) as admin:  # leave the database as it was
        admin["LibreChat"].messages.drop_index("librechat_textfile_feedback")
        admin["LibreChat"].conversations.drop_index("librechat_textfile_archived")
    refused = run_job(["indexes", "--create", "--mongodb-uri", reader_uri,
                       "--env-file", "/nonexistent"])
    assert refused.returncode == lt.EXIT_FAILED
    assert_clean_log(refused, error_lines=1)  # one ERROR line, no traceback
    assert "not authorized" in refused.log_lines("ERROR")[0]
    assert_no_secret(refused.stdout, refused.stderr)
    with pymongo.MongoClient(auth_mongod.admin_uri) as admin:  # nothing was created
        names = {ix["name"] for coll in ("messages", "conversations")
                 for ix in admin["LibreChat"][coll].list_indexes()}
    assert not {"librechat_textfile_feedback", "librechat_textfile_archived"} & names
    reliability.record("`indexes` (no --create) with the read role",
                       "lists present/missing, no write seen by the profiler; --create by the "
                       "read user: exit 1 'not authorized'",
                       exit_code=[listed.returncode, refused.returncode],
                       seconds=[listed.seconds, refused.seconds], cases=len(entries))


def test_no_password_on_a_successful_debug_run(reader_uri: str, tmp_path: Path) -> None:
    run = run_job(job_argv(reader_uri, tmp_path, "--log-level", "debug", timeout=20,
                           connect_timeout=5))
    assert run.returncode == lt.EXIT_OK, run.stderr
    assert_no_secret(run.stdout, run.stderr, (tmp_path / "librechat.prom").read_text())
    stdout = run_job(["--stdout", "--log-level", "debug", "--mongodb-uri", reader_uri,
                      "--state-file", str(tmp_path / "state.json"), "--env-file",
                      "/nonexistent"])
    assert stdout.returncode == lt.EXIT_OK, stdout.stderr
    assert_no_secret(stdout.stdout, stdout.stderr)


# --------------------------------------------------------------------------------------------
# Personal data never becomes a label


def _personal_documents(now: datetime) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """LibreChat documents whose label-bearing fields hold e-mail addresses, user ids and
    conversation ids; returns them and the sensitive strings that must not be exported."""
    people = [make_user(100 + i, now - timedelta(days=3, minutes=i), provider="local")
              for i in range(4)]
    emails = [str(p["email"]) for p in people]
    for person, email in zip(people, emails, strict=True):
        person["name"] = email
        person["username"] = email
    people[1]["provider"] = emails[1]
    people[2]["role"] = emails[2]
    ids = [str(p["_id"]) for p in people]
    convs = [make_conversation(ids[i], now - timedelta(minutes=30 - i), rng=200 + i,
                               endpoint=[emails[0], ids[1], "openAI", "agents"][i],
                               title=f"Salary talk with {emails[i]}") for i in range(4)]
    conv_ids = [str(c["conversationId"]) for c in convs]
    agent = make_agent(people[0], now - timedelta(days=2), name=emails[3], rng=300)
    at = now - timedelta(seconds=90)
    models: list[Any] = [emails[0], ids[1], conv_ids[2], f" {ids[3]} ", emails[1].upper()]
    messages = [make_message(ids[i % 4], conv_ids[i % 4], at + timedelta(seconds=i),
                             by_user=False, model=m, endpoint="custom", rng=400 + i)
                for i, m in enumerate(models)]
    messages += [make_message(ids[0], conv_ids[1], at + timedelta(seconds=10 + i),
                              by_user=False, model="gpt-4o", endpoint=e, rng=500 + i)
                 for i, e in enumerate([emails[2], ids[0], conv_ids[0]])]
    messages.append(make_message(ids[0], conv_ids[3], at + timedelta(seconds=20),
                                 by_user=False, model=agent["id"], endpoint="agents", rng=600))
    tools = [emails[0], ids[2], f"lookup_mcp_{emails[1]}", f"{conv_ids[1]}_mcp_crm",
             f"search_mcp_{ids[3]}"]
    messages += [make_message(
        ids[1], conv_ids[1], at + timedelta(seconds=30 + i), by_user=False, model="gpt-4o",
        rng=700 + i, content=[{"type": "tool_call", "tool_call": {
            "id": f"call_{i}", "name": name, "args": "{}", "output": "", "type": "tool_call",
            "progress": 1}}, {"type": "text", "text": f"mail {emails[0]}"}])
        for i, name in enumerate(tools)]
    tags: list[Any] = [emails[0], ids[1], conv_ids[2], [emails[3]]]
    messages += [make_message(
        ids[2], conv_ids[2], at + timedelta(seconds=40 + i), by_user=False, model="gpt-4o",
        rng=800 + i, feedback={"rating": "thumbsDown", "tag": tag,
                               "text": f"ask {emails[2]}", "_id": object_id_at(at, 900 + i)})
        for i, tag in enumerate(tags)]
    transactions = [make_transaction(ids[0], at + timedelta(seconds=50 + i), "prompt", model,
                                     -100, context=context, rng=1000 + i)
                    for i, (model, context) in enumerate([(emails[0], ids[1]),
                                                          (ids[2], emails[3]),
                                                          ("gpt-4o", conv_ids[0])])]
    files = [make_file(ids[0], at + timedelta(seconds=60 + i), source=src, context=ctx,
                       filename=f"{emails[0]}.pdf", rng=1100 + i)
             for i, (src, ctx) in enumerate([(emails[1], "message_attachment"),
                                             ("local", ids[2]), (conv_ids[3], emails[0])])]
    docs = {"users": people, "conversations": convs, "agents": [agent], "messages": messages,
            "transactions": transactions, "files": files}
    return docs, [*emails, *(e.upper() for e in emails), *ids, *conv_ids, str(agent["_id"])]


def label_values(text: str) -> list[str]:
    samples, _ = parse(text)
    return [value for series in samples.values() for key in series for _, value in key]


def test_no_personal_data_in_labels(mongod: Any, mongo_client: pymongo.MongoClient[Any],
                                    tmp_path: Path, reliability: Recorder) -> None:
    name = f"pii_{uuid.uuid4().hex[:8]}"
    db = mongo_client[name]
    try:
        now = datetime.now(UTC)
        generate(db, GenOptions(seed=62, users=6, days=5, now=now))
        docs, sensitive = _personal_documents(now)
        for collection, batch in docs.items():
            db[collection].insert_many(batch)
        runs = [run_job(job_argv(mongod.uri, tmp_path, "--slow-interval", "1",
                                 database=name, timeout=20, connect_timeout=5))
                for _ in range(2)]
    finally:
        mongo_client.drop_database(name)
    assert [r.returncode for r in runs] == [lt.EXIT_OK, lt.EXIT_OK], runs[-1].stderr
    text = (tmp_path / "librechat.prom").read_text()
    state = (tmp_path / "state.json").read_text()
    leaked = sorted({s for s in sensitive if s in text})
    assert leaked == [], f"personal data in the .prom: {leaked}"
    values = label_values(text)
    assert "redacted" in values
    for value in values:
        assert not EMAIL.search(value), value
        assert not HEX24.search(value), value
        assert not UUID.search(value), value
    leaked_state = sorted({s for s in sensitive if s in state and "@" in s})
    reliability.record("e-mails, user ids, conversation ids in label-bearing fields",
                       "none in the .prom (label values 'redacted'); e-mails in the state "
                       f"file: {len(leaked_state)}", exit_code=[r.returncode for r in runs],
                       seconds=[r.seconds for r in runs], cases=len(sensitive))
    assert leaked_state == [], f"personal data kept in the state file: {leaked_state}"


def test_ids_inside_label_values_are_redacted(mongod: Any,
                                              mongo_client: pymongo.MongoClient[Any],
                                              tmp_path: Path) -> None:
    name = f"pii_{uuid.uuid4().hex[:8]}"
    db = mongo_client[name]
    now = datetime.now(UTC)
    user = make_user(1, now - timedelta(days=1))
    uid, cid = str(user["_id"]), str(uuid.UUID(int=7, version=4))
    at = now - timedelta(seconds=60)
    try:
        db.users.insert_one(user)
        db.messages.insert_many([
            make_message(uid, cid, at, by_user=False, model=f"ft:gpt-4o:acme:{uid}", rng=1),
            make_message(uid, cid, at, by_user=False, model="gpt-4o", endpoint=f"kb-{cid}",
                         rng=2, content=[{"type": "tool_call", "tool_call": {
                             "id": "c", "name": f"lookup_{uid}", "args": "{}"}}])])
        run = run_job(job_argv(mongod.uri, tmp_path, database=name, timeout=20,
                               connect_timeout=5))
    finally:
        mongo_client.drop_database(name)
    assert run.returncode == lt.EXIT_OK, run.stderr
    text = (tmp_path / "librechat.prom").read_text()
    assert uid not in text and cid not in text


# --------------------------------------------------------------------------------------------
# The systemd unit's sandbox


def test_systemd_unit_exposure(reliability: Recorder) -> None:
    analyze = shutil.which("systemd-analyze")
    unit = ROOT / "systemd" / "librechat-textfile.service"
    if analyze is None:
        skip_or_fail("systemd-analyze is not installed (Debian: apt-get install systemd)")
        return
    proc = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(unit)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0 and ("offline" in proc.stderr and "unrecognized" in proc.stderr):
        skip_or_fail(f"systemd-analyze does not support --offline: {proc.stderr.strip()}")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    score, verdict = float(match.group(1)), match.group(2)
    failing = [line.split()[1] for line in proc.stdout.splitlines()
               if line.startswith("✗") and len(line.split()) > 1]
    reliability.record("systemd unit sandbox (systemd-analyze security --offline=yes)",
                       f"exposure {score} {verdict}; not set: {', '.join(failing[:8])}",
                       exit_code=proc.returncode, cases=1)
    assert score <= 2.0, proc.stdout
