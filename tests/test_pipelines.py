"""The aggregation stages and operators the job sends, as MongoDB sees them: the stages each
collection is read with, and nothing outside what Amazon DocumentDB supports (no `$facet`).

Every command of a cold run (a first count in one pass), a run after it, a first count split
into chunks and a run over hostile documents (the guarded fallback) is captured with pymongo's
command monitoring and taken apart: the stage names of each pipeline, per collection, and
every `$` operator inside them (expression and query operators alike).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import monitoring
from pymongo.database import Database

from tests.job_control import set_job_global
from tests.librechat_data import GenOptions, generate
from tests.promparse import run_job

NOW = datetime(2026, 5, 12, 11, 0, 3, tzinfo=UTC)

# Amazon DocumentDB's aggregation stages and operators (developer guide, "Supported MongoDB
# APIs, operations, and data types": aggregation pipeline operators), and the query operators
# a $match or find may use. $isNumber is not among them: the job tests numbers by comparison.
DOCUMENTDB_STAGES = {
    "$addFields", "$bucket", "$collStats", "$count", "$geoNear", "$group", "$indexStats",
    "$limit", "$lookup", "$match", "$merge", "$out", "$project", "$redact", "$replaceRoot",
    "$replaceWith", "$sample", "$set", "$skip", "$sort", "$unset", "$unwind",
}
DOCUMENTDB_EXPRESSIONS = {
    "$abs", "$add", "$addToSet", "$allElementsTrue", "$and", "$anyElementTrue", "$arrayElemAt",
    "$arrayToObject", "$avg", "$ceil", "$cmp", "$concat", "$concatArrays", "$cond", "$convert",
    "$dateAdd", "$dateDiff", "$dateFromString", "$dateSubtract", "$dateToString", "$dateTrunc",
    "$dayOfMonth", "$dayOfWeek", "$dayOfYear", "$divide", "$eq", "$exp", "$filter", "$first",
    "$floor", "$gt", "$gte", "$hour", "$ifNull", "$in", "$indexOfArray", "$indexOfBytes",
    "$indexOfCP", "$isArray", "$isoDayOfWeek", "$isoWeek", "$isoWeekYear", "$last", "$let",
    "$literal", "$ln", "$log", "$log10", "$lt", "$lte", "$ltrim", "$map", "$max", "$mergeObjects",
    "$millisecond", "$min", "$minute", "$mod", "$month", "$multiply", "$ne", "$not",
    "$objectToArray", "$or", "$pow", "$push", "$range", "$reduce", "$regexFind",
    "$regexFindAll", "$regexMatch", "$replaceAll", "$replaceOne", "$reverseArray", "$rtrim",
    "$second", "$setDifference", "$setEquals", "$setIntersection", "$setIsSubset", "$setUnion",
    "$size", "$slice", "$split", "$sqrt", "$strLenBytes", "$strLenCP", "$strcasecmp", "$substr",
    "$substrBytes", "$substrCP", "$subtract", "$sum", "$switch", "$toBool", "$toDate",
    "$toDecimal", "$toDouble", "$toInt", "$toLong", "$toLower", "$toObjectId", "$toString",
    "$toUpper", "$trim", "$type", "$week", "$year", "$zip",
}
DOCUMENTDB_QUERY = {
    "$all", "$and", "$elemMatch", "$eq", "$exists", "$gt", "$gte", "$in", "$lt", "$lte", "$ne",
    "$nin", "$nor", "$not", "$or", "$regex", "$options", "$size", "$type", "$natural",
}

# The stages each collection is read with (any run, any mode). One pass per collection and
# chunk: a single $group after the $match; `$unwind` only over small collections (the agents'
# MCP server names, the balances' reservations), never over messages.
EXPECTED_STAGES = {
    "agents": {("$match", "$group"), ("$match", "$project", "$unwind", "$group")},
    "balances": {("$match", "$group"), ("$match", "$unwind", "$match", "$group")},
    "conversations": {("$match", "$group")},
    "files": {("$match", "$group")},
    "messages": {("$match", "$group"), ("$match", "$project")},  # the 5-minute windows
    "sessions": {("$match", "$group")},
    "transactions": {("$match", "$group")},
    "users": {("$match", "$group")},
    # What LibreChat 0.8 stores (issue 22): memories folded per user, then in total.
    "memoryentries": {("$match", "$group", "$project", "$group")},
    "mcpservers": {("$match", "$group")},
    "agentcategories": {("$match", "$group")},
    "aclentries": {("$match", "$group")},
    "schedules": {("$match", "$group")},
    "scheduleruns": {("$match", "$group")},
    "auditlogs": {("$match", "$group")},
}


class Recorder(monitoring.CommandListener):
    def __init__(self, database: str) -> None:
        self.database = database
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name == self.database:
            self.commands.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def recorder(db: Database[Any]) -> Iterator[Recorder]:
    rec = Recorder(db.name)
    # Clients created from now on report to it (the job creates its own per run); pymongo has
    # no way to unregister, so it stops recording by its database name going away.
    monitoring.register(rec)
    yield rec
    rec.database = ""


def operators(value: Any, found: set[str]) -> set[str]:
    """Every `$`-prefixed key inside a pipeline or filter (field paths are values, not keys)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.startswith("$"):
                found.add(key)
            operators(inner, found)
    elif isinstance(value, list):
        for inner in value:
            operators(inner, found)
    return found


def pipelines(commands: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    for command in commands:
        if "aggregate" in command:
            yield command["aggregate"], list(command.get("pipeline", []))


def test_stages_and_operators_are_documentdb_compatible(
        mongod: Any, db: Database[Any], tmp_path: Path, recorder: Recorder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    generate(db, GenOptions(seed=3, now=NOW, users=20, days=40))
    # A guarded fallback: a transaction whose amount is a string and one that is NaN.
    db.transactions.insert_many([
        {"_id": ObjectId.from_datetime(NOW - timedelta(days=1)), "tokenType": "prompt",
         "model": "gpt-4o", "rawAmount": "12", "tokenValue": float("nan")},
    ])
    uri = str(mongod.uri)
    assert run_job(uri, db.name, tmp_path / "one-pass", NOW).code == 0
    assert run_job(uri, db.name, tmp_path / "one-pass", NOW + timedelta(minutes=1)).code == 0
    set_job_global(monkeypatch, "BACKFILL_CHUNK", 50)
    assert run_job(uri, db.name, tmp_path / "chunked", NOW).code == 0

    seen: dict[str, set[tuple[str, ...]]] = {}
    used: set[str] = set()
    for collection, pipeline in pipelines(recorder.commands):
        stages = tuple(next(iter(stage)) for stage in pipeline)
        seen.setdefault(collection, set()).add(stages)
        for stage in pipeline:
            used |= operators(next(iter(stage.values())), set())
    assert seen, "no aggregation recorded"
    unexpected = {c: shapes - EXPECTED_STAGES.get(c, set()) for c, shapes in seen.items()}
    assert not any(unexpected.values()), unexpected
    for shapes in seen.values():
        for shape in shapes:
            assert set(shape) <= DOCUMENTDB_STAGES, shape
            assert "$facet" not in shape
    allowed = DOCUMENTDB_EXPRESSIONS | DOCUMENTDB_QUERY
    assert used <= allowed, sorted(used - allowed)
    filters: set[str] = set()
    for command in recorder.commands:
        for key in ("filter", "query"):
            if isinstance(command.get(key), dict):
                operators(command[key], filters)
    assert filters <= DOCUMENTDB_QUERY, sorted(filters - DOCUMENTDB_QUERY)
