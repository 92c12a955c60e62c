"""The ``indexes`` command against a real mongod: what it reports, and what ``--create`` makes.

README.md ("Indexes"): the windows use LibreChat's own ``messages.createdAt`` and the TTL
indexes on ``sessions.expiration`` and ``conversations.expiredAt``; two indexes are the job's
own and optional, a sparse ``messages.feedback.rating`` and a partial ``conversations.isArchived``;
``--create`` creates only those two, never LibreChat's (TTL) indexes. The expectations below are
that list, written from the README. A read-only user is refused cleanly
(tests/test_security.py, against ``mongod --auth``).
"""

from __future__ import annotations

import json
from typing import Any

import pymongo
from pymongo.database import Database

import librechat_textfile as lt
from tests.fault_report import JobRun, assert_clean_log, run_job
from tests.librechat_data import GenOptions, generate

# (collection, keys, owner) as README.md lists them.
LIBRECHAT_OWN = [("messages", {"createdAt": 1}, "LibreChat"),
                 ("sessions", {"expiration": 1}, "LibreChat"),
                 ("conversations", {"expiredAt": 1}, "LibreChat")]
JOB_OWN = [("messages", {"feedback.rating": 1}, "job"),
           ("conversations", {"isArchived": 1}, "job")]


def indexes(uri: str, database: str, *extra: str) -> JobRun:
    return run_job(["indexes", "--mongodb-uri", uri, "--mongodb-database", database,
                    "--env-file", "/nonexistent", *extra])


def report(run: JobRun) -> dict[tuple[str, str], tuple[str, str]]:
    """(collection, keys as JSON) -> (status, owner), from the command's lines."""
    rows = {}
    for line in run.stdout.splitlines():
        status, collection, rest = line.split(None, 2)
        keys, end = json.JSONDecoder().raw_decode(rest)
        owner = rest[end:].split()[0]
        rows[(collection, json.dumps(keys))] = (status, owner)
    return rows


def expected(librechat: str, job: str) -> dict[tuple[str, str], tuple[str, str]]:
    return {**{(c, json.dumps(k)): (librechat, o) for c, k, o in LIBRECHAT_OWN},
            **{(c, json.dumps(k)): (job, o) for c, k, o in JOB_OWN}}


def index_keys(db: Database[Any]) -> dict[str, list[dict[str, Any]]]:
    """Every index of every collection, as listIndexes returns it (name and version aside)."""
    return {name: sorted(({k: v for k, v in ix.items() if k not in ("v", "ns")}
                          for ix in db[name].list_indexes()), key=lambda ix: ix["name"])
            for name in sorted(db.list_collection_names())}


def test_a_librechat_database_without_the_optional_indexes(mongod: Any,
                                                           db: Database[Any]) -> None:
    generate(db, GenOptions(seed=91, users=4, days=3))  # LibreChat's own indexes included
    listed = indexes(mongod.uri, db.name)
    assert listed.returncode == lt.EXIT_OK, listed.stderr
    assert_clean_log(listed, error_lines=0)
    assert report(listed) == expected("present", "missing")

    before = index_keys(db)
    created = indexes(mongod.uri, db.name, "--create")
    assert created.returncode == lt.EXIT_OK, created.stderr
    assert report(created) == expected("present", "created")
    after = index_keys(db)
    new = {name: [ix for ix in after[name] if ix not in before.get(name, [])] for name in after}
    assert {name: [ix["key"] for ix in found] for name, found in new.items() if found} == {
        "messages": [{"feedback.rating": 1}], "conversations": [{"isArchived": 1}]}
    (feedback,), (archived,) = new["messages"], new["conversations"]
    assert feedback.get("sparse") is True and "expireAfterSeconds" not in feedback
    assert archived.get("partialFilterExpression") == {"isArchived": True}
    assert "expireAfterSeconds" not in archived

    again = indexes(mongod.uri, db.name, "--create")
    assert report(again) == expected("present", "present")
    assert index_keys(db) == after


def test_create_never_makes_librechats_own_indexes(mongod: Any, db: Database[Any]) -> None:
    # LibreChat's collections with documents but without its indexes (say, restored from a
    # dump without them): the command reports them missing and --create leaves them missing.
    db.messages.insert_one({"text": "hi"})
    db.sessions.insert_one({"user": "x"})
    db.conversations.insert_one({"title": "x"})
    listed = indexes(mongod.uri, db.name)
    assert listed.returncode == lt.EXIT_OK, listed.stderr
    assert report(listed) == expected("missing", "missing")
    created = indexes(mongod.uri, db.name, "--create")
    assert created.returncode == lt.EXIT_OK, created.stderr
    assert report(created) == expected("missing", "created")
    keys = {name: [ix["key"] for ix in found] for name, found in index_keys(db).items()}
    assert keys == {"conversations": [{"_id": 1}, {"isArchived": 1}],
                    "messages": [{"_id": 1}, {"feedback.rating": 1}],
                    "sessions": [{"_id": 1}]}
    assert not any("expireAfterSeconds" in ix for found in index_keys(db).values()
                   for ix in found)


def test_an_empty_database(mongod: Any, mongo_client: pymongo.MongoClient[Any],
                           db: Database[Any]) -> None:
    listed = indexes(mongod.uri, db.name)
    assert listed.returncode == lt.EXIT_OK, listed.stderr
    assert report(listed) == expected("missing", "missing")
    assert db.name not in mongo_client.list_database_names()  # listing created nothing
