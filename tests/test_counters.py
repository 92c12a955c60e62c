"""Counters across runs: never down, every document counted exactly once, clean restarts.

A ledger remembers which documents (by ``_id``) the counters have already included; after
each run the job's counter deltas must equal the oracle's counts over exactly the documents
that became countable since the previous run (new ones, late inserts inside the lag), and
deletions (a user deleting chats, the TTL removing a temporary chat, a user's transactions
removed) must change nothing. A lost state file must give a cold count of what is stored.
"""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from tests import oracle
from tests.librechat_data import (
    GenOptions,
    generate,
    make_conversation,
    make_file,
    make_message,
    make_structured_prompt,
    make_transaction,
    make_user,
    object_id_at,
)
from tests.promparse import JobRun, Samples, parse, run_job

ROOT = Path(__file__).resolve().parent.parent
NOW0 = datetime(2026, 3, 18, 14, 30, 7, tzinfo=UTC)
COUNTED = ("messages", "conversations", "transactions", "files", "users", "auditlogs")
SETTLED = "scheduleruns"  # counted when a run settles (settledAt), not when it is created
# Self-metrics that change from one run to the next whatever the data.
VOLATILE = ("librechat_exporter_run_timestamp_seconds", "librechat_exporter_run_duration_seconds",
            "librechat_exporter_section_duration_seconds",
            "librechat_exporter_last_success_timestamp_seconds",
            "librechat_exporter_output_bytes")  # the numbers above change its length


class Ledger:
    """The documents the job's counters must have included so far, per collection."""

    def __init__(self) -> None:
        self.counted: dict[str, set[Any]] = {name: set() for name in (*COUNTED, SETTLED)}

    def advance(self, db: Database[Any], now: datetime) -> oracle.Expected:
        """The oracle's counters over the documents that became countable by `now`."""
        snap = oracle.Snapshot.read(db)
        cutoff = math.floor(now.timestamp())
        fresh: dict[str, set[Any]] = {}
        for name in COUNTED:
            ids = {d["_id"] for d in snap[name] if (oracle.oid_seconds(d) or cutoff) < cutoff}
            fresh[name] = ids - self.counted[name]
            self.counted[name] |= fresh[name]
        settled = {d["_id"] for d in snap[SETTLED]
                   if (oracle.utc(d.get("settledAt")) or now) < now}
        fresh[SETTLED] = settled - self.counted[SETTLED]
        self.counted[SETTLED] |= fresh[SETTLED]
        source = "transactions" if snap["transactions"] else "messages"
        return oracle.compute(snap.only(fresh), oracle.Config(now=now),
                              counted=lambda _doc: True, token_source=source)


def counters(run: JobRun) -> Samples:
    return {name: run.samples.get(name, {}) for name in oracle.COUNTERS}


def assert_step(before: JobRun, after: JobRun, delta: oracle.Expected) -> None:
    """No counter sample decreases or vanishes; each delta equals the oracle's new counts."""
    assert after.code == 0, f"exit code {after.code}"
    problems: list[str] = []
    for name in oracle.COUNTERS:
        old, new = before.samples.get(name, {}), after.samples.get(name, {})
        for key, value in old.items():
            if key not in new:
                problems.append(f"{name}{dict(key)} vanished (was {value})")
            elif new[key] < value:
                problems.append(f"{name}{dict(key)} decreased {value} -> {new[key]}")
        want = delta.samples[name]
        for key in set(old) | set(new) | set(want):
            got = new.get(key, 0.0) - old.get(key, 0.0)
            if not math.isclose(got, want.get(key, 0.0), rel_tol=1e-9, abs_tol=1e-9):
                problems.append(f"{name}{dict(key)}: job delta {got!r}, oracle "
                                f"{want.get(key, 0.0)!r}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def total(samples: Samples, name: str) -> float:
    return sum(samples.get(name, {}).values())


def add_activity(db: Database[Any], user: ObjectId, start: datetime, tag: int) -> dict[str, int]:
    """A new chat (3 turns, a tool call, an error), its transactions, a file, a credit grant;
    all created in [start, start + 50 s). Returns the documents inserted per collection."""
    convo = make_conversation(user, start, endpoint="anthropic",
                              model="claude-sonnet-4-20250514", rng=tag)
    messages, txns = [], []
    for turn in range(3):
        at = start + timedelta(seconds=10 * turn + 1)
        messages.append(make_message(user, convo["conversationId"], at, by_user=True,
                                     endpoint="anthropic", rng=tag * 100 + turn))
        content: list[dict[str, Any]] = [{"type": "text", "text": "ok"}]
        if turn == 1:
            content.insert(0, {"type": "tool_call",
                               "tool_call": {"name": f"lookup_mcp_srv{tag}", "args": "{}"}})
        if turn == 2:
            content.append({"type": "error", "error": "529 Overloaded"})
        messages.append(make_message(user, convo["conversationId"], at + timedelta(seconds=2),
                                     by_user=False, model="claude-sonnet-4-20250514",
                                     endpoint="anthropic", rng=tag * 100 + 50 + turn,
                                     content=content, tokenCount=40 + turn,
                                     unfinished=turn == 0))
        txns.append(make_structured_prompt(user, at, "claude-sonnet-4-20250514", 300, 50, 700,
                                           rng=tag * 100 + 60 + turn))
        txns.append(make_transaction(user, at, "completion", "claude-sonnet-4-20250514",
                                     -(40 + turn), rng=tag * 100 + 70 + turn))
    txns.append(make_transaction(user, start + timedelta(seconds=40), "credits", None,
                                 1_000_000, context="autoRefill", rng=tag * 100 + 80))
    files = [make_file(user, start + timedelta(seconds=45), rng=tag * 100 + 90, bytes=1234)]
    db.conversations.insert_one(convo)
    db.messages.insert_many(messages)
    db.transactions.insert_many(txns)
    db.files.insert_many(files)
    return {"conversations": 1, "messages": len(messages), "transactions": len(txns),
            "files": 1}


def late_message(db: Database[Any], user: ObjectId, at: datetime, tag: int) -> ObjectId:
    """A reply whose `_id` (and createdAt) is `at`, inserted now: a late or clock-skewed write."""
    doc = make_message(user, f"00000000-0000-4000-8000-{tag:012d}", at, by_user=False,
                       model="gpt-4o", rng=tag)
    db.messages.insert_one(doc)
    return doc["_id"]


def test_counters_across_runs_inserts_late_writes_and_deletions(
        uri: str, db: Database[Any], tmp_path: Path) -> None:
    generate(db, GenOptions(seed=51, now=NOW0, version="0.8.8"))
    ledger = Ledger()
    workdir = tmp_path / "job"

    def run(now: datetime) -> JobRun:
        return run_job(uri, db.name, workdir, now)

    # 1. Cold run: everything stored is counted.
    run1 = run(NOW0)
    cold = ledger.advance(db, NOW0)
    assert run1.code == 0
    problems = oracle.compare(run1.samples, cold, oracle.COUNTERS)
    assert not problems, "\n".join(problems)
    assert total(run1.samples, "librechat_messages_total") > 100

    # 2. New activity after NOW0, and a late insert whose _id is 2 minutes before NOW0.
    newcomer = make_user(7, NOW0 + timedelta(seconds=5), provider="github")
    db.users.insert_one(newcomer)
    inserted = add_activity(db, newcomer["_id"], NOW0 + timedelta(seconds=6), tag=1)
    late1 = late_message(db, newcomer["_id"], NOW0 - timedelta(seconds=120), tag=2)
    now1 = NOW0 + timedelta(seconds=60)
    run2 = run(now1)
    delta2 = ledger.advance(db, now1)
    assert late1 in ledger.counted["messages"]
    assert total(delta2.samples, "librechat_messages_total") == inserted["messages"] + 1
    assert total(delta2.samples, "librechat_tool_calls_total") == 1
    assert total(delta2.samples, "librechat_credits_granted_total") == 1_000_000
    assert total(delta2.samples, "librechat_registered_users_total") == 1
    assert_step(run1, run2, delta2)

    # 3. Deletions as LibreChat makes them, more activity, another late insert.
    kept = db.conversations.find_one({"isTemporary": {"$ne": True},
                                      "_id": {"$lt": object_id_at(NOW0 - timedelta(days=1))}})
    temporary = db.conversations.find_one({"isTemporary": True})
    assert kept is not None and temporary is not None
    for convo in (kept, temporary):  # a user deletes a chat; the TTL removes a temporary one
        gone = db.messages.delete_many({"conversationId": convo["conversationId"]})
        assert gone.deleted_count > 0
        db.conversations.delete_one({"_id": convo["_id"]})
    spender = db.transactions.find_one({"tokenType": "prompt"})
    assert spender is not None
    assert db.transactions.delete_many({"user": spender["user"]}).deleted_count > 0
    db.files.delete_many({"context": "avatar"})
    add_activity(db, newcomer["_id"], now1 + timedelta(seconds=3), tag=3)
    late2 = late_message(db, newcomer["_id"], now1 - timedelta(seconds=120), tag=4)
    now2 = now1 + timedelta(seconds=60)
    run3 = run(now2)
    delta3 = ledger.advance(db, now2)
    assert late2 in ledger.counted["messages"]
    assert_step(run2, run3, delta3)

    # 4. Nothing new: every document, the late ones included, was counted exactly once.
    now3 = now2 + timedelta(seconds=60)
    run4 = run(now3)
    delta4 = ledger.advance(db, now3)
    assert total(delta4.samples, "librechat_messages_total") == 0
    assert_step(run3, run4, delta4)

    # 5. A lost state file with the last .prom beside it: the counters continue from the
    # .prom (2.0.0), nothing new happened, so every counter is exactly where it was.
    run4.state_file.unlink()
    now4 = now3 + timedelta(seconds=60)
    run5 = run(now4)
    assert run5.code == 0
    for family in oracle.COUNTERS:
        assert run5.samples.get(family) == run4.samples.get(family), family

    # 6. State and .prom both lost: a clean restart, a cold count of what is stored now.
    run5.state_file.unlink()
    run5.output.unlink()
    now5 = now4 + timedelta(seconds=60)
    run6 = run(now5)
    fresh = oracle.compute(oracle.Snapshot.read(db), oracle.Config(now=now5))
    assert run6.code == 0
    problems = oracle.compare(run6.samples, fresh)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems)
    assert total(run6.samples, "librechat_messages_total") < total(run4.samples,
                                                                   "librechat_messages_total")


def test_stdout_prints_the_file_and_leaves_the_state_alone(uri: str, db: Database[Any],
                                                           tmp_path: Path) -> None:
    generate(db, GenOptions(seed=52, now=NOW0, version="0.8.7", users=12))
    workdir = tmp_path / "job"
    first = run_job(uri, db.name, workdir, NOW0)
    assert first.code == 0
    late_message(db, ObjectId(), NOW0 + timedelta(seconds=20), tag=5)
    state_before = first.state_file.read_bytes()
    output_before = first.output.read_bytes()
    now = NOW0 + timedelta(seconds=60)
    printed = subprocess.run(
        [sys.executable, str(ROOT / "librechat_textfile.py"), "--stdout",
         "--mongodb-uri", uri, "--mongodb-database", db.name, "--output", str(first.output),
         "--state-file", str(first.state_file), "--now", now.isoformat(),
         "--env-file", str(tmp_path / "none.env")],
        capture_output=True, text=True, timeout=60, check=False)
    assert printed.returncode == 0, printed.stderr
    assert first.state_file.read_bytes() == state_before
    assert first.output.read_bytes() == output_before
    written = run_job(uri, db.name, workdir, now)
    assert written.code == 0
    shown, shown_types = parse(printed.stdout)
    for name in VOLATILE:
        shown.pop(name, None)
        written.samples.pop(name, None)
    assert shown_types == written.types
    assert shown == written.samples
    # The printed run saw the new message, as the written one did.
    assert total(shown, "librechat_messages_total") == total(first.samples,
                                                             "librechat_messages_total") + 1


def test_label_slots_stay_fixed_after_the_cold_run(uri: str, db: Database[Any],
                                                  tmp_path: Path) -> None:
    """A model first seen after the cold run goes to 'other' even with the most messages:
    a series moving in or out of 'other' would make 'other' fall."""
    generate(db, GenOptions(seed=53, now=NOW0, version="0.8.7", users=12))
    workdir = tmp_path / "job"
    extra = ["--label-limit", "2"]
    first = run_job(uri, db.name, workdir, NOW0, extra=extra)
    before = first.samples["librechat_messages_per_model_total"]
    assert len(before) == 3 and (("model", "other"),) in before
    convo = "00000000-0000-4000-8000-000000000099"
    db.messages.insert_many([
        make_message(ObjectId(), convo, NOW0 + timedelta(seconds=1 + i % 50), by_user=False,
                     model="brand-new-model", rng=600 + i) for i in range(200)])
    second = run_job(uri, db.name, workdir, NOW0 + timedelta(seconds=60), extra=extra)
    after = second.samples["librechat_messages_per_model_total"]
    assert set(after) == set(before)
    assert after[(("model", "other"),)] == before[(("model", "other"),)] + 200


WINDOW_GAUGES = ("librechat_active_users", "librechat_active_conversations",
                 "librechat_messages_5m", "librechat_messages_per_model_5m",
                 "librechat_error_messages_5m", "librechat_errors_per_model_5m",
                 "librechat_input_tokens_5m", "librechat_output_tokens_5m",
                 "librechat_model_input_tokens_5m", "librechat_model_output_tokens_5m")
UNIQUE_USER_GAUGES = ("librechat_daily_unique_users", "librechat_weekly_unique_users",
                      "librechat_monthly_unique_users", "librechat_unique_users")


def _run_after_deleting_a_recent_user(uri: str, db: Database[Any],
                                      tmp_path: Path) -> tuple[JobRun, oracle.Expected]:
    """Cold run, then one user who wrote in the last 5 minutes deletes every chat; next run."""
    generate(db, GenOptions(seed=54, now=NOW0, version="0.8.7", users=12))
    workdir = tmp_path / "job"
    first = run_job(uri, db.name, workdir, NOW0)
    assert first.code == 0
    recent = db.messages.find_one({"createdAt": {"$gte": NOW0 - timedelta(seconds=200)}})
    assert recent is not None
    convos = db.messages.distinct("conversationId", {"user": recent["user"]})
    assert db.messages.delete_many({"user": recent["user"]}).deleted_count > 0
    db.conversations.delete_many({"conversationId": {"$in": convos}})
    db.transactions.delete_many({"user": ObjectId(recent["user"])})
    now = NOW0 + timedelta(seconds=60)
    second = run_job(uri, db.name, workdir, now)
    assert second.code == 0
    expected = oracle.compute(oracle.Snapshot.read(db), oracle.Config(now=now))
    assert value_of(second, "librechat_daily_unique_users") > 0
    return second, expected


def value_of(run: JobRun, family: str) -> float:
    return sum(run.samples.get(family, {}).values())


def test_window_gauges_follow_deletions(uri: str, db: Database[Any], tmp_path: Path) -> None:
    second, expected = _run_after_deleting_a_recent_user(uri, db, tmp_path)
    problems = oracle.compare(second.samples, expected, WINDOW_GAUGES)
    assert not problems, "\n".join(problems)


def test_unique_user_gauges_remember_activity_after_deletions(uri: str, db: Database[Any],
                                                              tmp_path: Path) -> None:
    # By design (README, "How counting works"): a user who wrote today and then deleted the
    # chat was active today, so the calendar and rolling windows keep counting them, while the
    # stored-message oracle no longer sees them: the job's figure is the oracle's plus one.
    second, expected = _run_after_deleting_a_recent_user(uri, db, tmp_path)
    for family in UNIQUE_USER_GAUGES:
        for key, want in expected.samples[family].items():
            assert second.samples[family][key] == want + 1, (family, key)
