"""The first count's shortcuts (issue 12), each held to what the plain way gives.

* Sections run two at a time while a first count is due (librechat_metrics/parallel.py): the
  file must be the one a run going one section after the other writes, label slots included
  (a small --label-limit, so that which value takes a slot matters).
* The messages pass of a first count also yields the feedback gauge's rows: the gauge must
  still cover every stored message (ids that are no ObjectId, messages newer than the pass's
  bound), as the oracle counts them, without a scan of the messages for it.
* The daily statistics and the unique users of a first count read each recent day once.

And `run_in_order` itself, with plain Python tasks: the order results come in, that a waiting
section frees its slot, that a failure stops what has not started.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from librechat_metrics import parallel
from tests import oracle
from tests.job_control import chunk_budget, set_job_global
from tests.librechat_data import GenOptions, ensure_indexes, generate, make_message
from tests.promparse import assert_same, run_job

NOW = datetime(2026, 3, 18, 14, 30, 7, tzinfo=UTC)
JOB_OPS = {"appName": "librechat-textfile"}


def without_timings(samples: dict[str, Any]) -> dict[str, Any]:
    # The file's size follows the digits of the timings.
    return {name: rows for name, rows in samples.items()
            if "duration" not in name and "timestamp" not in name
            and name != "librechat_exporter_output_bytes"}


def test_side_by_side_sections_write_what_one_after_another_writes(
        mongod: Any, db: Database[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate(db, GenOptions(seed=12, now=NOW, users=40))
    extra = ("--label-limit", "3")
    set_job_global(monkeypatch, "WORKERS", 1)
    alone = run_job(mongod.uri, db.name, tmp_path / "alone", NOW, extra=extra)
    set_job_global(monkeypatch, "WORKERS", 2)
    paired = run_job(mongod.uri, db.name, tmp_path / "paired", NOW, extra=extra)
    assert alone.code == paired.code == 0
    assert_same(without_timings(paired.samples), without_timings(alone.samples),
                "two sections at a time against one after the other")
    # And both are what the oracle works out with the same label limit.
    assert oracle.compare(paired.samples, oracle.compute(oracle.Snapshot.read(db), oracle.Config(
        now=NOW, label_limit=3))) == []
    # The slots were contested: some family folded values into 'other'.
    assert any("other" in dict(key).values() for rows in alone.samples.values()
               for key in rows)
    # A second run (no first count due) goes one section after the other, and agrees too.
    later = NOW + timedelta(minutes=1)
    assert_same(without_timings(run_job(mongod.uri, db.name, tmp_path / "paired", later,
                                         extra=extra).samples),
                without_timings(run_job(mongod.uri, db.name, tmp_path / "alone", later,
                                        extra=extra).samples), "the run after")


def rated(user: ObjectId, at: datetime, rating: str, seed: int, **fields: Any) -> dict[str, Any]:
    msg = make_message(user, f"convo-{seed}", at, by_user=False, model="gpt-4o", rng=seed)
    msg["feedback"] = {"rating": rating, "tag": "accurate_reliable" if rating == "thumbsUp"
                       else "not_helpful"}
    msg.update(fields)
    return msg


def test_feedback_from_the_first_pass_covers_every_stored_message(
        mongod: Any, db: Database[Any], tmp_path: Path) -> None:
    generate(db, GenOptions(seed=13, now=NOW, users=30))
    ensure_indexes(db)
    user = ObjectId()
    db.messages.insert_many([
        # Ids that are no ObjectId: the pass does not read them, the gauge counts them.
        rated(user, NOW - timedelta(days=2), "thumbsDown", 1, _id="a-string-id"),
        rated(user, NOW - timedelta(days=2), "thumbsUp", 2, _id=12345),
        rated(user, NOW - timedelta(days=2), "thumbsUp", 3, _id={"odd": True}),
        # Newer than the pass's bound (now less --lag): counted next run, stored now.
        rated(user, NOW - timedelta(seconds=20), "thumbsDown", 4,
              _id=ObjectId.from_datetime(NOW - timedelta(seconds=20))),
    ])
    assert db.messages.count_documents({"feedback.rating": {"$exists": True}}) > 4
    db.command("profile", 2)
    try:
        run = run_job(mongod.uri, db.name, tmp_path, NOW)
    finally:
        db.command("profile", 0)
    assert run.code == 0
    want = oracle.compute(oracle.Snapshot.read(db), oracle.Config(now=NOW))
    assert oracle.compare(run.samples, want, ("librechat_feedback",
                                              "librechat_feedback_tags")) == []
    scans = [op for op in db.system.profile.find({**JOB_OPS, "ns": f"{db.name}.messages"})
             if "feedback.rating" in str(op["command"].get("pipeline", [{}])[0].get("$match"))]
    assert scans, "the feedback gauge's own query"
    for op in scans:
        # Only the messages the pass did not read, through the _id index.
        assert op.get("planSummary", "").startswith("IXSCAN { _id: 1 }"), op.get("planSummary")
        newer = db.messages.count_documents(
            {"_id": {"$gte": ObjectId.from_datetime(NOW - timedelta(seconds=300))}})
        # The plan fetches each match twice (a FETCH for the $or, one for the rating), and
        # the profiler counts both.
        assert op["keysExamined"] <= newer + 3 + 2, (op["keysExamined"], newer)
        assert op["docsExamined"] <= 2 * (newer + 3), (op["docsExamined"], newer)
        assert op["docsExamined"] < db.messages.estimated_document_count() / 5


def test_feedback_refreshes_after_the_pass_while_another_first_count_waits(
        mongod: Any, db: Database[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose messages pass is done but whose transactions pass waits for the next run
    (a large database one section after the other): the feedback gauge costs little now, so
    it is written from this run's pass; the other stored-now gauges wait."""
    generate(db, GenOptions(seed=15, now=NOW, users=30))
    ensure_indexes(db)
    set_job_global(monkeypatch, "WORKERS", 1)
    with chunk_budget(monkeypatch, 1):  # the messages pass starts; nothing after it does
        run = run_job(mongod.uri, db.name, tmp_path, NOW)
    assert run.code == 0
    progress = {dict(k)["section"]: v for k, v in
                run.samples["librechat_exporter_backfill_progress_ratio"].items()}
    assert progress["messages"] == 1.0 and progress["tokens"] < 1.0, progress
    want = oracle.compute(oracle.Snapshot.read(db), oracle.Config(now=NOW))
    assert oracle.compare(run.samples, want, ("librechat_feedback",
                                              "librechat_feedback_tags")) == []
    assert "librechat_users" not in run.samples and "librechat_files" not in run.samples
    # The next run finishes the first count; the feedback gauge, refreshed a minute ago, is
    # written as it was.
    later = run_job(mongod.uri, db.name, tmp_path, NOW + timedelta(minutes=1))
    assert later.code == 0 and "librechat_users" in later.samples
    assert later.samples["librechat_feedback"] == run.samples["librechat_feedback"]


def test_a_first_run_reads_each_recent_day_once(mongod: Any, db: Database[Any],
                                                tmp_path: Path) -> None:
    generate(db, GenOptions(seed=14, now=NOW, users=30))
    ensure_indexes(db)
    db.command("profile", 2)
    try:
        run = run_job(mongod.uri, db.name, tmp_path, NOW, timezone="Europe/Berlin")
    finally:
        db.command("profile", 0)
    assert run.code == 0
    day_reads = [op["command"]["pipeline"][0]["$match"]["createdAt"]["$gte"]
                 for op in db.system.profile.find({**JOB_OPS, "ns": f"{db.name}.messages",
                                                   "command.aggregate": "messages"})
                 if "createdAt" in op["command"]["pipeline"][0].get("$match", {})
                 and "$gte" in op["command"]["pipeline"][0]["$match"]["createdAt"]
                 and "last" in op["command"]["pipeline"][-1].get("$group", {})]
    assert len(day_reads) == len(set(day_reads)) >= 30  # the window and the month, once each
    want = oracle.compute(oracle.Snapshot.read(db), oracle.Config(
        now=NOW, timezone="Europe/Berlin"))
    assert oracle.compare(run.samples, want, (
        "librechat_unique_users_per_day_average", "librechat_messages_per_user_per_day_average",
        "librechat_monthly_unique_users", "librechat_unique_users")) == []


# --------------------------------------------------------------------------------------------
# run_in_order with plain tasks


def test_results_come_in_list_order_and_slots_are_taken_in_turn() -> None:
    taken: list[int] = []
    lock = threading.Lock()

    def task(turns: parallel.Turns, index: int) -> int:
        time.sleep(0.05 * (5 - index))  # later tasks finish their own work first
        turns.wait_for_earlier(index)
        with lock:
            taken.append(index)
        return index * 10

    results = parallel.run_in_order([task] * 5, workers=2)
    assert results == [0, 10, 20, 30, 40]
    assert taken == [0, 1, 2, 3, 4]


def test_a_waiting_task_frees_its_slot() -> None:
    started: list[int] = []
    first_may_end = threading.Event()

    def task(turns: parallel.Turns, index: int) -> int:
        started.append(index)
        if index == 0:
            assert first_may_end.wait(5)
        else:
            if index == 3:
                first_may_end.set()  # 1 and 2 wait for 0 without holding a slot
            turns.wait_for_earlier(index)
        return index

    assert parallel.run_in_order([task] * 4, workers=2) == [0, 1, 2, 3]
    assert sorted(started) == [0, 1, 2, 3]


def test_a_failure_stops_the_tasks_not_started() -> None:
    ran: list[int] = []

    def task(turns: parallel.Turns, index: int) -> int:
        ran.append(index)
        if index == 1:
            raise RuntimeError("database gone")
        turns.wait_for_earlier(index)
        return index

    for workers in (1, 2):
        ran.clear()
        results = parallel.run_in_order([task] * 6, workers=workers)
        assert results[0] == 0
        assert isinstance(results[1], parallel.Failed)
        assert str(results[1].error) == "database gone"
        # At most one task beside the failing one had started (and may have finished); the
        # rest never ran and hold the failure.
        assert len(ran) <= 3
        assert all(isinstance(results[i], parallel.Failed) for i in range(6) if i not in ran)


def test_sections_go_side_by_side_only_when_every_first_count_is_one_pass(
        mongod: Any, db: Database[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # A chunked first count keeps one section after the other: its chunks are sized for the
    # whole server, and one taking twice its time could overrun the run.
    from librechat_metrics import incremental

    generate(db, GenOptions(seed=15, now=NOW, users=10))
    assert incremental.passes_fit_side_by_side(db, 40.0, 2)
    messages = db.messages.estimated_document_count()
    monkeypatch.setattr(incremental, "BACKFILL_CHUNK", messages // incremental.PASS_CHUNKS - 1)
    assert not incremental.passes_fit_side_by_side(db, 40.0, 2)
    assert incremental.fits_one_pass(messages, incremental.PASS_RATE, 40.0) is False
    monkeypatch.undo()
    # The budget: 16 s of a 40 s --timeout at 200,000 documents a second side by side.
    assert incremental.fits_one_pass(3_200_000, incremental.PASS_RATE / 2, 40.0)
    assert not incremental.fits_one_pass(3_300_000, incremental.PASS_RATE / 2, 40.0)
