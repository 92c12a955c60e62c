"""Every field the job reads, in every collection, holding every BSON type: no section fails.

tests/test_hostile.py draws hostile documents at random; this sweep is exhaustive instead.
For each collection the job reads, a copy of one of its generated (LibreChat-exact) documents
is made per (field, value) pair, with that one field replaced by a value of each BSON type:
null, booleans, 32/64-bit integers, doubles (NaN, ±infinity, -0.0), Decimal128 (NaN, 1E+6144),
strings (empty, 100,000 characters, one that looks like an id), arrays (empty, of strings, of
documents, nested, holding a valid value), documents (empty, nested), ObjectId, dates, binary,
regex, timestamp, MinKey, MaxKey. They are inserted at once, and the job runs over them in the
three ways it reads: a steady run (the incremental `_id` ranges), a first count in one pass
(natural order over the whole collection), and a first count in `_id` chunks. Every run must
exit 0 with `librechat_exporter_errors` 0 for every section, and write a file whose labels hold
no id, address or control character (test_hostile.check_labels).

A field added to a query of the job belongs in FIELDS: test_every_field_the_job_names_is_swept
reads the package's source for `"$field"` references and fails on one that is not listed.
(Transactions' `conversationId` as an array made the tokens section fail on every run before
2.2.0: TypeError, unhashable type 'list'.)
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.regex import Regex
from bson.timestamp import Timestamp
from pymongo.database import Database
from pymongo.errors import WriteError

from tests.job_control import chunk_budget
from tests.librechat_data import GenOptions, generate, object_id_at
from tests.promparse import run_job
from tests.test_hostile import check_labels

ROOT = Path(__file__).resolve().parent.parent
DUPLICATE_KEY, PARALLEL_ARRAYS = 11000, 171
NOW = datetime(2026, 9, 14, 10, 0, 0, tzinfo=UTC)

VALUES: dict[str, Any] = {
    "null": None, "true": True, "false": False, "int32": -7, "int64": Int64(2**62),
    "double": 2.5, "nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"),
    "-0.0": -0.0, "decimal-nan": Decimal128("NaN"), "decimal-huge": Decimal128("1E+6144"),
    "decimal": Decimal128("12.5"), "string": "gpt-4o", "empty": "", "huge": "x" * 100_000,
    "id-like": "507f1f77bcf86cd799439011", "array-empty": [],
    "array-strings": ["a", "b"], "array-docs": [{"type": "error"}, {"name": "x"}],
    "array-nested": [["a"], [1, [2]]], "array-mixed": [1, "a", None, {"x": 1}],
    "doc-empty": {}, "doc": {"id": "agent_x", "rating": "thumbsUp", "amount": 3},
    "objectid": ObjectId("507f1f77bcf86cd799439011"), "date": datetime(2026, 9, 14, 9),
    "old-date": datetime(1970, 1, 1), "binary": Binary(b"\x00\xff", 0),
    "regex": Regex("^a", "i"), "timestamp": Timestamp(0, 1), "minkey": MinKey(),
    "maxkey": MaxKey(),
}

FIELDS: dict[str, tuple[str, ...]] = {
    # The fields the job reads, by collection (dotted: inside a sub-document or array).
    "messages": ("model", "endpoint", "isCreatedByUser", "error", "unfinished", "content",
                 "content.type", "content.tool_call", "finish_reason", "tokenCount", "user",
                 "createdAt", "conversationId", "feedback", "feedback.rating", "feedback.tag",
                 "tenantId", "expiredAt", "text", "messageId"),
    "transactions": ("model", "tokenType", "context", "rawAmount", "tokenValue", "inputTokens",
                     "readTokens", "writeTokens", "user", "conversationId", "tenantId",
                     "createdAt", "rate"),
    "conversations": ("endpoint", "isTemporary", "isArchived", "expiredAt", "agent_id",
                      "conversationId", "user", "tenantId", "createdAt", "model"),
    "files": ("bytes", "source", "context", "embedded", "user", "type", "expiresAt",
              "tenantId", "createdAt", "status", "updatedAt"),
    "users": ("provider", "role", "emailVerified", "expiresAt", "tenantId", "createdAt"),
    "agents": ("id", "name", "author", "provider", "model", "category", "mcpServerNames",
               "tools", "createdAt", "tenantId"),
    "balances": ("tokenCredits", "user", "reservations", "reservations.amount", "tenantId"),
    "sessions": ("expiration", "user"),
    "logs": ("key", "expiresAt"),
    # LibreChat 0.8's collections (issue 22).
    "memoryentries": ("userId", "tokenCount", "tenantId"),
    "mcpservers": ("serverName", "tenantId"),
    "agentcategories": ("isActive", "custom", "tenantId"),
    "aclentries": ("resourceType", "principalType", "expiredAt", "tenantId"),
    "schedules": ("enabled", "disabledReason", "deleting", "erased", "tenantId"),
    "scheduleruns": ("status", "durationMs", "settledAt", "tenantId"),
    "auditlogs": ("category", "outcome", "severity", "tenantId"),
}
COMPUTED = {"entries", "tokens"}  # the memory pass's second $group over its first
SWEPT = {field.split(".")[-1] for fields in FIELDS.values() for field in fields} | {
    field.split(".")[0] for fields in FIELDS.values() for field in fields}


def with_value(doc: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    """A copy of `doc` with `field` (dotted) set to `value`; into every element of an array
    on the way, as MongoDB's paths go through arrays."""
    out = copy.deepcopy(doc)

    def put(target: Any, parts: list[str]) -> None:
        if isinstance(target, list):
            for item in target:
                put(item, parts)
            return
        if not isinstance(target, dict):
            return
        if len(parts) == 1:
            target[parts[0]] = copy.deepcopy(value)
            return
        put(target.setdefault(parts[0], {}), parts[1:])

    put(out, field.split("."))
    return out


def unique_keys(db: Database[Any], collection: str) -> list[list[str]]:
    """The keys of each unique index LibreChat made on the collection."""
    return [[key for key, _ in info["key"] if key != "_id"]
            for info in db[collection].index_information().values() if info.get("unique")]


def insert_hostile_copies(db: Database[Any], collection: str, at: datetime) -> int:
    """One copy of a stored document per (field, value), each with a fresh `_id` at `at` and
    fresh values in LibreChat's unique indexes (but the swept field's own: a value equal to
    another copy's there, such as 1 and 1.0, is left out, as is an array that MongoDB cannot
    index beside another array of a compound index). Returns how many were stored."""
    template = db[collection].find_one(sort=[("_id", -1)])
    assert template is not None, f"the generator wrote no {collection}"
    stored = 0
    for n, (field, value) in enumerate((f, v) for f in FIELDS[collection]
                                       for v in VALUES.values()):
        doc = with_value(template, field, value)
        doc["_id"] = object_id_at(at, n)
        for keys in unique_keys(db, collection):
            free = [k for k in keys if k.split(".")[0] != field.split(".")[0]]
            if free:
                old = doc.get(free[0])
                doc[free[0]] = ObjectId() if isinstance(old, ObjectId) else f"unique-{n}"
        try:
            db[collection].insert_one(doc)
            stored += 1
        except WriteError as exc:  # MongoDB itself refuses it: no such document can exist
            assert exc.code in (DUPLICATE_KEY, PARALLEL_ARRAYS), exc
    return stored


def clean(run: Any, what: str) -> None:
    assert run.code == 0, f"{what}: exit {run.code}"
    errors = {dict(k)["section"] for k, v in run.samples["librechat_exporter_errors"].items()
              if v}
    assert not errors, f"{what}: sections failed: {sorted(errors)}"
    check_labels(run.text)


@pytest.mark.parametrize("collection", list(FIELDS))
def test_every_field_holding_every_bson_type(uri: str, db: Database[Any], tmp_path: Path,
                                             collection: str,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    generate(db, GenOptions(seed=91, now=NOW - timedelta(minutes=10), users=6))
    work = tmp_path / "steady"
    clean(run_job(uri, db.name, work, NOW), "first run on generated data")
    stored = insert_hostile_copies(db, collection, NOW + timedelta(seconds=20))
    assert stored >= 0.9 * len(FIELDS[collection]) * len(VALUES), stored
    steady = run_job(uri, db.name, work, NOW + timedelta(minutes=1))
    clean(steady, f"steady run over hostile {collection}")
    clean(run_job(uri, db.name, tmp_path / "one-pass", NOW + timedelta(minutes=2)),
          f"first count in one pass over hostile {collection}")
    with chunk_budget(monkeypatch, 1000):
        from tests.job_control import set_job_global

        set_job_global(monkeypatch, "BACKFILL_CHUNK", 7)
        set_job_global(monkeypatch, "PASS_CHUNKS", 0)
        clean(run_job(uri, db.name, tmp_path / "chunks", NOW + timedelta(minutes=2)),
              f"first count in chunks over hostile {collection}")
    assert "Traceback" not in capfd.readouterr().err


OPERATORS = """gte lt lte gt in nin eq ne sum max min cond type or and match abs ifNull subtract
add unwind project isArray regex regexMatch switch filter map group exists natural size
arrayElemAt toLower concat first last push addToSet literal not setUnion divide multiply
mergeObjects objectToArray let reduce"""


def test_every_field_the_job_names_is_swept() -> None:
    """The `"$field"` references in the job's pipelines are all in FIELDS."""
    operators = {f"${word}" for word in OPERATORS.split()}
    named = set()
    for path in (ROOT / "librechat_metrics").rglob("*.py"):
        for ref in re.findall(r'"\$([A-Za-z_][A-Za-z0-9_.]*)"', path.read_text()):
            if "$" + ref.split(".")[0] not in operators and len(ref) > 1:
                named.add(ref)
    missing = sorted(ref for ref in named if ref.split(".")[0] not in SWEPT
                     and ref.split(".")[-1] not in SWEPT and ref not in COMPUTED)
    assert missing == [], f"fields the job reads that the sweep does not try: {missing}"
