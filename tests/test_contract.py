"""The contract with LibreChat itself: data written by LibreChat's own data layer.

``tests/contract/librechat_writer.mjs`` writes a small database through
``@librechat/data-schemas`` 0.0.71 (``createModels`` + ``createMethods``: saveMessage,
saveConvo, spendTokens, spendStructuredTokens, createTransaction, reserveBalance, createAgent,
updateAgent, createFile, updateFile, createSession, createUser, deleteConvos, bulkSaveConvos,
bulkSaveMessages, and for LibreChat 0.8's collections createMemory, createMCPServer,
createCategory, grantPermission, createScheduleWithSlot, reserveStartedRun, recordRunOutcome,
recordSkippedRun, recordAuditEntry, ...), in phases, and prints what each phase meant to
write. Between the
phases the real job runs on one state file:

    seed -> first count, steady -> run, steady -> run, delete -> run, import -> run

After each run every family the job wrote is compared with an oracle: the counters from the
phases' records (what LibreChat was asked to write, summed plainly here; a deletion takes
nothing away, an import counts when it arrives whatever its createdAt, a scheduled run counts
in the phase that settled it, not the one that fired it), every other family
from the documents stored now (tests/oracle.py). A last run with a fresh state is compared
with tests/oracle.py alone, on LibreChat's own documents.

The second half is the field-drift check: the fields the job reads, declared below
(JOB_FIELDS), must exist in LibreChat's schemas (tests/contract/schema_dump.mjs) with the
type the job expects, and every field path the job's code names must be declared.

Times: the documents get real ObjectIds (LibreChat's clock), so each run's --now is the wall
clock just after the phase, rounded up to the next second (a document counts once its `_id`
second is over); --timezone is a fixed-offset zone where it is about noon now, so no run of
the test meets a local midnight.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from tests import oracle
from tests.librechat_node import NodeTools
from tests.promparse import JobRun, ok, run_job

ROOT = Path(__file__).resolve().parent.parent
EXTRA = ("--slow-interval", "1")  # the stored-now gauges read on every run, as the oracle does
Record = dict[str, Any]


def zone_near_noon(now: datetime) -> str:
    """A fixed-offset IANA zone in which `now` is between 11:00 and 13:00."""
    offset = 12 - now.astimezone(UTC).hour  # -11 .. +12 hours
    if offset == 0:
        return "Etc/GMT"
    # POSIX signs: Etc/GMT-3 is three hours ahead of UTC.
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def run_now(previous: datetime | None) -> datetime:
    """The next run's --now: past every `_id` second written so far, a second after the last."""
    now = datetime.fromtimestamp(math.ceil(time.time()) + 0.25, UTC)
    if previous is not None and now < previous + timedelta(seconds=1):
        now = previous + timedelta(seconds=1)
    while time.time() < now.timestamp():  # the job's --now is never in the future
        time.sleep(0.05)
    return now


# --------------------------------------------------------------------------------------------
# The counters, from what the phases meant to write


def add_message(acc: oracle.Acc, msg: Record) -> None:
    model, role = msg["model"], msg["role"]
    acc.add("librechat_messages_total", (), 1)
    acc.add("librechat_endpoint_messages_total", (msg["endpoint"], role), 1)
    if msg["error"]:
        acc.add("librechat_error_messages_total", (), 1)
        acc.add("librechat_errors_per_model_total", (model,), 1)
    if role == "assistant":
        acc.add("librechat_messages_per_model_total", (model,), 1)
        acc.add("librechat_responses_by_finish_reason_total", (model, msg["finish_reason"]), 1)
        if msg["unfinished"]:
            acc.add("librechat_unfinished_messages_total", (model,), 1)
        if msg["agent_id"] is not None:
            acc.add("librechat_agent_messages_total", (msg["agent_id"],), 1)
    for tool, server, failed in msg["tools"]:
        acc.add("librechat_tool_calls_total", (tool, server), 1)
        if failed:
            acc.add("librechat_tool_call_errors_total", (tool, server), 1)


def add_spend(acc: oracle.Acc, spend: Record) -> None:
    model, context, kind = spend["model"], spend["context"], spend["token_type"]
    tokens, usd = float(spend["tokens"]), float(spend["usd"])
    acc.add("librechat_context_tokens_total", (context, kind), tokens)
    acc.add("librechat_cost_usd_total", (model,), usd)
    acc.add("librechat_context_cost_usd_total", (context,), usd)
    if spend["agent_id"] is not None:
        acc.add("librechat_agent_cost_usd_total", (spend["agent_id"],), usd)
        acc.add("librechat_agent_tokens_total", (spend["agent_id"], kind), tokens)
    for part, amount in spend["kinds"].items():
        acc.add("librechat_tokens_total", (model, part), float(amount))
    if kind == "prompt":
        acc.add("librechat_input_tokens_total", (), tokens)
        acc.add("librechat_input_tokens_per_model_total", (model,), tokens)
    else:
        acc.add("librechat_output_tokens_total", (), tokens)
        acc.add("librechat_output_tokens_per_model_total", (model,), tokens)
        acc.add("librechat_llm_calls_total", (model,), 1)
        if context == "incomplete":
            # A cancelled answer is billed at 1.15x its rate (the writer's CANCEL_RATE): the
            # part above the rate is 0.15/1.15 of what was billed.
            acc.add("librechat_incomplete_surcharge_usd_total", (model,), usd * 0.15 / 1.15)


def add_created(acc: oracle.Acc, record: Record) -> None:
    for credit in record["credits"]:
        acc.add("librechat_credits_granted_total", (credit["context"],), float(credit["amount"]))
    for convo in record["conversations"]:
        acc.add("librechat_conversations_total", (), 1)
        acc.add("librechat_endpoint_conversations_total", (convo["endpoint"],), 1)
    for doc in record["files"]:
        key = (doc["source"], doc["context"])
        acc.add("librechat_uploaded_files_total", (), 1)
        acc.add("librechat_files_created_total", key, 1)
        acc.add("librechat_files_created_bytes_total", key, float(doc["bytes"]))
    for user in record["users"]:
        acc.add("librechat_registered_users_total", (), 1)
        acc.add("librechat_registrations_total", (user["provider"],), 1)


def add_settled(acc: oracle.Acc, record: Record) -> None:
    """Scheduled runs count in the phase that settled them (a run fired in one phase and
    settled in the next is in the next one's record), with the seconds they took."""
    for run in record["schedule_runs"]:
        acc.add("librechat_schedule_runs_total", (run["status"],), 1)
        acc.add("librechat_schedule_run_duration_seconds_total", (run["status"],),
                run["duration_ms"] / 1000)
    for entry in record["audit"]:
        acc.add("librechat_audit_events_total",
                (entry["category"], entry["outcome"], entry["severity"]), 1)


def record_counters(records: Iterable[Record]) -> Callable[[oracle.Acc], None]:
    def fill(acc: oracle.Acc) -> None:
        for record in records:
            for msg in record["messages"]:
                add_message(acc, msg)
            for spend in record["spends"]:
                add_spend(acc, spend)
            add_created(acc, record)
            add_settled(acc, record)
    return fill


# --------------------------------------------------------------------------------------------
# The phases and the runs


class Contract:
    """One database written phase by phase, the job run on one state file after each."""

    def __init__(self, node: NodeTools, uri: str, db: Database[Any], tmp: Path) -> None:
        self.node, self.uri, self.db, self.tmp = node, uri, db, tmp
        self.tz = zone_near_noon(datetime.now(UTC))
        self.records: list[Record] = []
        self.now: datetime | None = None
        self.slots = oracle.Slots(oracle.Config(now=datetime.now(UTC)).label_limit)

    def write(self, phase: str) -> Record:
        record = self.node.write_phase(phase, self.uri, self.db.name, self.tmp / "context.json",
                                       self.tmp / "logs")
        self.records.append(record)
        return record

    def run(self, workdir: str = "job") -> JobRun:
        self.now = run_now(self.now)
        return ok(run_job(self.uri, self.db.name, self.tmp / workdir, self.now,
                          timezone=self.tz, extra=EXTRA))

    def expected(self) -> oracle.Expected:
        assert self.now is not None
        cfg = oracle.Config(now=self.now, timezone=self.tz)
        return oracle.compute(oracle.Snapshot.read(self.db), cfg,
                              counters=record_counters(self.records), slots=self.slots)

    def check(self, run: JobRun, what: str) -> oracle.Expected:
        expected = self.expected()
        problems = oracle.compare(run.samples, expected)
        problems += [f"{name}: a family the oracle does not know"
                     for name in oracle.unknown_families(run.samples)]
        assert not problems, f"{what}: {len(problems)} differences\n" + "\n".join(problems[:40])
        return expected


def total(samples: Any, name: str) -> float:
    return sum(samples.get(name, {}).values())


# The families the seed cannot reach, and why. Every other family is non-zero after the seed,
# so no counting rule and no stored-now gauge goes untested on LibreChat's own documents.
UNTIL_THE_IMPORT = {
    # The seed writes today; the previous days' families see messages only once the import
    # phase brings chats dated yesterday and weeks ago (bulkSaveMessages keeps createdAt).
    "librechat_unique_users_yesterday", "librechat_unique_users_per_day_average",
    "librechat_unique_users_per_day_stddev", "librechat_messages_per_user_per_day_average",
    "librechat_messages_per_user_per_day_stddev", "librechat_messages_per_model_yesterday",
    "librechat_messages_per_model_per_day_average", "librechat_messages_per_model_per_day_stddev",
    "librechat_messages_sent_per_user_yesterday", "librechat_churned_users",
}
NEVER = {
    # Bans live in LibreChat's Keyv store (the `logs` collection), no model of the package.
    "librechat_bans_active",
    # Spend is dated by the transaction's _id, made when LibreChat writes it; no method writes
    # a transaction in the past (bulkInsertTransactions too gives new ids), so a database
    # written today has no spend yesterday.
    "librechat_cost_usd_per_user_yesterday", "librechat_cost_share_of_top_users_yesterday",
    "librechat_spending_users_yesterday",
    # A file pending for 5 minutes: every file method stamps updatedAt now (Mongoose
    # timestamps), and the suite does not wait 5 minutes.
    "librechat_files_pending_stuck",
}


def idle_families(expected: oracle.Expected) -> set[str]:
    return {name for name, *_ in oracle.FAMILIES if total(expected.samples, name) == 0}


def test_the_job_counts_what_librechat_wrote(librechat_node: NodeTools, uri: str,
                                             db: Database[Any], tmp_path: Path) -> None:
    contract = Contract(librechat_node, uri, db, tmp_path)

    contract.write("seed")
    first = contract.check(contract.run(), "first count")
    idle = idle_families(first)
    assert sorted(idle - UNTIL_THE_IMPORT - NEVER) == [], "families the seed leaves at 0"
    assert sorted((UNTIL_THE_IMPORT | NEVER) - idle) == [], "reached: no longer an exception"

    for n in (1, 2):
        contract.write("steady")
        contract.check(contract.run(), f"steady run {n}")

    stored_before = db.messages.count_documents({})
    deletion = contract.write("delete")
    gone = stored_before + len(deletion["messages"]) - db.messages.count_documents({})
    assert gone >= 4, "the deletion removed no messages"
    after_delete = contract.check(contract.run(), "after the deletion")
    # Stored fewer messages than were ever written: the counters kept the deleted ones.
    written = sum(len(r["messages"]) for r in contract.records)
    assert total(after_delete.samples, "librechat_messages_total") == written
    assert db.messages.count_documents({}) == written - gone

    yesterday_before = after_delete.samples["librechat_unique_users_yesterday"][()]
    imported = contract.write("import")
    after_import = contract.check(contract.run(), "after the imports")
    assert total(after_import.samples, "librechat_messages_total") == written + len(
        imported["messages"])
    assert after_import.samples["librechat_unique_users_yesterday"][()] > yesterday_before
    assert sorted(idle_families(after_import) & UNTIL_THE_IMPORT) == [], "left at 0 by the import"

    # A fresh state over the same documents: tests/oracle.py on LibreChat's own documents.
    cold = contract.run("cold")
    snapshot = oracle.Snapshot.read(db)
    expected = oracle.compute(snapshot, oracle.Config(now=contract.now, timezone=contract.tz))
    problems = oracle.compare(cold.samples, expected)
    assert not problems, "cold run: " + "\n".join(problems[:40])


# --------------------------------------------------------------------------------------------
# Field drift: the fields the job reads, in LibreChat's own schemas

# Every field the job's queries read (grouped, matched, summed, projected), per collection, with
# the Mongoose type LibreChat declares for it. "Array<Embedded>" is an array of documents.
# `logs` (bans) is no model of the package: it is LibreChat's Keyv store, left out here.
JOB_FIELDS: dict[str, dict[str, str]] = {
    "messages": {
        "_id": "ObjectId", "user": "String", "conversationId": "String", "model": "String",
        "endpoint": "String", "isCreatedByUser": "Boolean", "unfinished": "Boolean",
        "error": "Boolean", "finish_reason": "String", "content": "Array<Mixed>",
        "tokenCount": "Number", "feedback": "Embedded", "feedback.rating": "String",
        "feedback.tag": "Mixed", "createdAt": "Date", "tenantId": "String",
    },
    "conversations": {
        "_id": "ObjectId", "conversationId": "String", "endpoint": "String",
        "agent_id": "String", "isTemporary": "Boolean", "expiredAt": "Date",
        "isArchived": "Boolean", "tenantId": "String",
    },
    "transactions": {
        "_id": "ObjectId", "user": "ObjectId", "conversationId": "String", "model": "String",
        "tokenType": "String", "context": "String", "rawAmount": "Number",
        "tokenValue": "Number", "inputTokens": "Number", "writeTokens": "Number",
        "readTokens": "Number", "tenantId": "String",
    },
    "files": {
        "_id": "ObjectId", "source": "String", "context": "String", "bytes": "Number",
        "embedded": "Boolean", "tenantId": "String", "status": "String", "updatedAt": "Date",
    },
    "users": {
        "_id": "ObjectId", "provider": "String", "role": "String", "emailVerified": "Boolean",
        "expiresAt": "Date", "tenantId": "String",
    },
    "sessions": {"expiration": "Date", "tenantId": "String"},
    "balances": {
        "tokenCredits": "Number", "reservations": "Array<Embedded>",
        "reservations.amount": "Number", "reservations.expiresAt": "Date", "tenantId": "String",
    },
    "agents": {
        "id": "String", "name": "String", "provider": "String", "model": "String",
        "category": "String", "mcpServerNames": "Array<String>", "tenantId": "String",
        "is_promoted": "Boolean",
    },
    # LibreChat 0.8's collections (issue 22, part 2).
    "memoryentries": {"userId": "ObjectId", "tokenCount": "Number", "tenantId": "String"},
    "mcpservers": {"serverName": "String", "tenantId": "String"},
    "agentcategories": {"isActive": "Boolean", "custom": "Boolean", "tenantId": "String"},
    "aclentries": {"resourceType": "String", "principalType": "String", "expiredAt": "Date",
                   "tenantId": "String"},
    "schedules": {"enabled": "Boolean", "disabledReason": "String", "deleting": "Boolean",
                  "erased": "Boolean", "tenantId": "String"},
    "scheduleruns": {"status": "String", "durationMs": "Number", "settledAt": "Date",
                     "tenantId": "String"},
    "auditlogs": {"category": "String", "outcome": "String", "severity": "String",
                  "tenantId": "String"},
}
# Paths inside a Mixed field (content parts, tool calls) have no schema to check; the job's
# code names them, and they are not declared here.
INSIDE_MIXED = {"content.type", "tool_call", "tool_call.name", "tool_call.function",
                "tool_call.function.name", "tool_call.output"}


def drift(dump: dict[str, Any], declared: dict[str, dict[str, str]]) -> list[str]:
    """Every declared collection or field that LibreChat's schemas lack, or type otherwise."""
    problems = []
    collections = dump["collections"]
    for name, fields in sorted(declared.items()):
        if name not in collections:
            problems.append(f"collection {name}: no model of @librechat/data-schemas "
                            f"{dump['version']} has it")
            continue
        schema = collections[name]["fields"]
        for field, wanted in sorted(fields.items()):
            if field not in schema:
                problems.append(f"{name}.{field}: missing from the {collections[name]['model']} "
                                f"schema")
            elif schema[field] != wanted:
                problems.append(f"{name}.{field}: {schema[field]}, the job expects {wanted}")
    return problems


@pytest.fixture(scope="module")
def schema_dump(librechat_node: NodeTools, tmp_path_factory: pytest.TempPathFactory
                ) -> dict[str, Any]:
    return librechat_node.schema_dump(tmp_path_factory.mktemp("schema-logs"))


def test_librechat_has_every_field_the_job_reads(schema_dump: dict[str, Any]) -> None:
    assert schema_dump["version"] == "0.0.71"
    problems = drift(schema_dump, JOB_FIELDS)
    assert not problems, "\n".join(problems)


def test_every_collection_the_job_counts_is_librechats(schema_dump: dict[str, Any]) -> None:
    from librechat_metrics.sections.conversations import LIBRECHAT_COLLECTIONS

    missing = sorted(set(LIBRECHAT_COLLECTIONS) - set(schema_dump["collections"]))
    assert missing == [], f"collections the job reports that LibreChat no longer has: {missing}"


def renamed(dump: dict[str, Any], collection: str, old: str, new: str) -> dict[str, Any]:
    changed = copy.deepcopy(dump)
    fields = changed["collections"][collection]["fields"]
    fields[new] = fields.pop(old)
    return changed


def test_the_drift_check_reports_a_renamed_or_retyped_field(schema_dump: dict[str, Any]
                                                            ) -> None:
    """A LibreChat upgrade that renames or retypes a field fails here instead of exporting 0."""
    assert drift(renamed(schema_dump, "messages", "feedback.rating", "feedback.score"),
                 JOB_FIELDS) == ["messages.feedback.rating: missing from the Message schema"]
    retyped = copy.deepcopy(schema_dump)
    retyped["collections"]["transactions"]["fields"]["tokenValue"] = "Decimal128"
    assert drift(retyped, JOB_FIELDS) == [
        "transactions.tokenValue: Decimal128, the job expects Number"]
    dropped = copy.deepcopy(schema_dump)
    del dropped["collections"]["agents"]
    assert drift(dropped, JOB_FIELDS) == [
        "collection agents: no model of @librechat/data-schemas 0.0.71 has it"]


# The job's code, read for the field paths it names: "$field" references in its pipelines and
# the keys of its find() filters and projections. Operators and the job's own names for
# computed values are not fields.
OPERATORS = {
    "abs", "add", "and", "cond", "eq", "exists", "filter", "group", "gt", "gte", "ifNull",
    "in", "isArray", "lt", "lte", "map", "match", "max", "min", "natural", "nin", "or",
    "project", "regex", "regexMatch", "subtract", "sum", "switch", "type", "unwind", "ne",
    "not",
}
COMPUTED = {"s", "case", "sparse", "_id.tenantId", "_id.user", "entries", "tokens"}
# agents.py's unwound mcpServerNames; $switch's branches; an index option (indexes.py); the
# memory pass's second $group over its first (sections/features.py)
# A filter's or projection's key: a field compared by a query operator, or projected (1, True).
FIND_KEY = re.compile(r'[{,]\s*"([A-Za-z_][\w.]*)"\s*:\s*'
                      r'(?:\{\s*"\$(?:gte?|lte?|in|nin|exists|type|regex)"|(?:1|True)\s*[,}])')


def fields_in_job_code() -> set[str]:
    """The field paths the package's modules name, without the operators."""
    found: set[str] = set()
    for path in sorted((ROOT / "librechat_metrics").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found.update(m for m in re.findall(r'"\$([A-Za-z_][\w.]*)"', text)
                     if m not in OPERATORS and m not in COMPUTED)
        found.update(m for m in FIND_KEY.findall(text) if m not in COMPUTED)
    return found


def test_every_field_the_job_names_is_declared() -> None:
    """JOB_FIELDS follows the job: a query that starts reading a field must declare it here
    (and so have it checked against LibreChat's schemas)."""
    declared = {field for fields in JOB_FIELDS.values() for field in fields}
    declared |= {"expiresAt", "key", "reservations.expiresAt"}  # logs (bans): not a model
    unknown = sorted(fields_in_job_code() - declared - INSIDE_MIXED)
    assert unknown == [], f"fields the job reads that JOB_FIELDS does not declare: {unknown}"
