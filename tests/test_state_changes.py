"""What an existing state file does with later changes: to the data, the settings, the clock.

Each test runs the job (in-process, ``--now`` given) several times on one state file against a
real mongod, with hand-placed documents, and checks the values README.md promises:

* a message inserted late for a local day that is already summarised: the counters count it,
  the daily statistics keep the summary they made (README: each finished day is summarised
  once), so ``librechat_unique_users_yesterday`` stays 7 where a fresh count says 8;
* the stored-now gauges: replayed between refreshes, refreshed after ``--slow-interval``,
  after a change of settings and after the clock is set back, and held back while a first
  count runs (not replayed either);
* transactions appearing on, and disappearing from, a database that had none: the token source
  switches, each source's documents are counted once, counters never fall;
* ``--timezone``, ``--daily-days`` and ``--label-limit`` changed on an existing state.

Expected values are written by hand, or are those of a run with a fresh state file at the same
``--now`` and settings (itself compared with the oracle in tests/test_metrics.py). Comparisons
leave out samples at 0: which label values a run writes as explicit zeros depends on what its
state has seen, a rule of its own (tests/test_metrics.py).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests import oracle
from tests.job_control import chunk_budget
from tests.librechat_data import (
    GenOptions,
    ensure_indexes,
    generate,
    make_conversation,
    make_file,
    make_message,
    make_session,
    make_transaction,
    make_user,
    object_id_at,
)
from tests.promparse import JobRun, Samples, assert_same, ok, run_job

# Tuesday 12 May 2026, 11:00 UTC: no day change within a test unless it wants one.
T0 = datetime(2026, 5, 12, 11, 0, 3, tzinfo=UTC)
MINUTE = timedelta(seconds=60)
# Generated data ends a little before the first run, so that run counts all of it (a run leaves
# the documents of its own second to the next one).
GEN_NOW = T0 - timedelta(seconds=10)


def business(samples: Samples) -> Samples:
    """The non-zero samples of every family but the job's self-metrics."""
    return {n: nonzero(rows) for n, rows in samples.items()
            if not n.startswith("librechat_exporter_")}


def nonzero(rows: dict[Any, float]) -> dict[Any, float]:
    return {key: number for key, number in rows.items() if number}


def only(samples: Samples, names: set[str] | tuple[str, ...]) -> Samples:
    return {n: nonzero(rows) for n, rows in samples.items() if n in names}


def value(run: JobRun, family: str, **labels: str) -> float:
    return run.samples[family][tuple(sorted(labels.items()))]


def fresh(uri: str, db: Database[Any], workdir: Path, now: datetime, *extra: str,
          timezone: str = "UTC") -> JobRun:
    """A run with a state file of its own, used once: what a cold run writes at `now`."""
    assert not workdir.exists(), workdir
    return ok(run_job(uri, db.name, workdir, now, timezone=timezone, extra=extra))


# --------------------------------------------------------------------------------------------
# A late insert for a day already summarised


def test_a_late_insert_for_a_summarised_day(uri: str, db: Database[Any], tmp_path: Path) -> None:
    ensure_indexes(db)
    day = datetime(2026, 5, 11, tzinfo=UTC)  # Monday; the runs are on Tuesday just after 00:00
    users = [str(object_id_at(day - timedelta(days=90), 10 + i)) for i in range(8)]
    db.messages.insert_many([
        make_message(users[i], f"00000000-0000-4000-8000-{i:012d}",
                     day + timedelta(hours=12, minutes=i), by_user=True, rng=100 + i)
        for i in range(7)])
    work = tmp_path / "job"
    first = ok(run_job(uri, db.name, work, day + timedelta(days=1, minutes=1)))
    assert value(first, "librechat_unique_users_yesterday") == 7

    # An eighth user's message of 23:59:50, inserted after the 00:01 run (a slow app server):
    # within --lag of the next run, so it is counted.
    late = make_message(users[7], "00000000-0000-4000-8000-000000000007",
                        day + timedelta(hours=23, minutes=59, seconds=50), by_user=True, rng=107)
    db.messages.insert_one(late)
    now = day + timedelta(days=1, minutes=2)
    second = ok(run_job(uri, db.name, work, now))
    assert value(second, "librechat_messages_total") == 8
    assert value(second, "librechat_unique_users", window="24h") == 8
    assert value(second, "librechat_daily_unique_users") == 0
    # The day was summarised at 00:01; the new document belongs to it, so it is summarised
    # again (2.0.0: finished days touched by new documents, see README "Answers no exporter
    # gives").
    assert value(second, "librechat_unique_users_yesterday") == 8

    expected = oracle.compute(oracle.Snapshot.read(db), oracle.Config(now=now))
    assert oracle.compare(second.samples, expected, oracle.COUNTERS) == []
    assert expected.samples["librechat_unique_users_yesterday"][()] == 8
    assert value(fresh(uri, db, tmp_path / "cold", now), "librechat_unique_users_yesterday") == 8


# --------------------------------------------------------------------------------------------
# Stored-now gauges between refreshes


def stored_families(run: JobRun) -> set[str]:
    """The families the run keeps for replay: those of its stored-now (slow) sections."""
    state = json.loads(run.state_file.read_text())
    return {family["name"] for section in state["sections"].values()
            if isinstance(section, dict) for family in section.get("families", [])}


def change_stored_data(db: Database[Any], at: datetime, n: int) -> None:
    """A new account, a login session, an archived chat and a removed file: every stored-now
    gauge family sees a difference."""
    uid = ObjectId()
    db.users.insert_one(make_user(500 + n, at, provider="google"))
    db.sessions.insert_one(make_session(uid, at, rng=600 + n, expiration=at + timedelta(days=7)))
    db.conversations.update_one({"isArchived": False}, {"$set": {"isArchived": True}})
    db.files.delete_one({})


def test_stored_now_gauges_between_refreshes(uri: str, db: Database[Any], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    generate(db, GenOptions(seed=51, now=GEN_NOW, users=10, days=10))
    work = tmp_path / "job"
    first = ok(run_job(uri, db.name, work, T0))
    stored = stored_families(first)
    assert {"librechat_users", "librechat_sessions_active", "librechat_files",
            "librechat_archived_conversations"} <= stored, stored
    assert stored <= set(first.samples)

    # Within --slow-interval (900 s): the stored-now gauges are replayed as they were, while
    # the counters see the new account.
    change_stored_data(db, T0 + timedelta(seconds=10), 1)
    replayed = ok(run_job(uri, db.name, work, T0 + MINUTE))
    assert_same(only(replayed.samples, stored), only(first.samples, stored), "replayed")
    assert value(replayed, "librechat_registered_users_total") == \
        value(first, "librechat_registered_users_total") + 1

    # --slow-interval later: refreshed, as a fresh run sees the data.
    at = T0 + timedelta(seconds=905)
    refreshed = ok(run_job(uri, db.name, work, at))
    assert only(refreshed.samples, stored) != only(first.samples, stored), (
        "not refreshed --slow-interval after the first run: still its values")
    assert_same(only(refreshed.samples, stored),
                only(fresh(uri, db, tmp_path / "cold1", at).samples, stored),
                "refreshed after --slow-interval")

    # A change of settings (here --label-limit) refreshes at once.
    change_stored_data(db, at + timedelta(seconds=10), 2)
    at += MINUTE
    settings = ("--label-limit", "40")
    changed = ok(run_job(uri, db.name, work, at, extra=settings))
    assert_same(only(changed.samples, stored),
                only(fresh(uri, db, tmp_path / "cold2", at, *settings).samples, stored),
                "refreshed after a settings change")

    # The clock set back (before the last refresh): refreshed too, not replayed.
    change_stored_data(db, at + timedelta(seconds=10), 3)
    back = at - timedelta(seconds=120)
    set_back = ok(run_job(uri, db.name, work, back, extra=settings))
    assert_same(only(set_back.samples, stored),
                only(fresh(uri, db, tmp_path / "cold3", back, *settings).samples, stored),
                "refreshed after the clock was set back")

    # A first count under way: values refreshed within --slow-interval are still written as
    # they were; once due, they are held back (not written, and not replayed from the state
    # either) so the run's budget goes to the counting, and the sections report no error.
    state = json.loads(set_back.state_file.read_text())
    del state["sections"]["messages"]  # messages are counted afresh
    set_back.state_file.write_text(json.dumps(state))
    with chunk_budget(monkeypatch, 0):
        fresh_yet = ok(run_job(uri, db.name, work, at + MINUTE, extra=settings))
        due = back + timedelta(seconds=905)
        held = ok(run_job(uri, db.name, work, due, extra=settings))
    assert_same(only(fresh_yet.samples, stored), only(set_back.samples, stored),
                "replayed while a first count goes on")
    assert stored & set(held.samples) == set()
    for run in (fresh_yet, held):
        assert set(run.samples["librechat_exporter_errors"].values()) == {0.0}
        progress = {dict(k)["section"]: v for k, v in
                    run.samples["librechat_exporter_backfill_progress_ratio"].items()}
        assert progress["messages"] < 1.0
    resumed = ok(run_job(uri, db.name, work, due + MINUTE, extra=settings))
    assert stored <= set(resumed.samples)


def test_stored_now_gauges_wait_for_a_cold_first_count(uri: str, db: Database[Any],
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    generate(db, GenOptions(seed=52, now=GEN_NOW, users=6, days=10))
    work = tmp_path / "job"
    with chunk_budget(monkeypatch, 0):
        cold = ok(run_job(uri, db.name, work, T0))
    for name in ("librechat_users", "librechat_sessions_active", "librechat_files",
                 "librechat_feedback", "librechat_agents", "librechat_balances"):
        assert name not in cold.samples, name
    assert "librechat_messages_total" not in cold.samples
    assert "librechat_active_users" in cold.samples  # the windows need no first count
    done = ok(run_job(uri, db.name, work, T0 + MINUTE))
    assert "librechat_users" in done.samples and "librechat_messages_total" in done.samples


# --------------------------------------------------------------------------------------------
# The token source: transactions appear, then disappear


def tokens(run: JobRun) -> dict[str, Any]:
    per_model = {f: {dict(k)["model"]: v for k, v in run.samples[f].items() if v}
                 for f in ("librechat_input_tokens_per_model_total",
                           "librechat_output_tokens_per_model_total")}
    return {"input": value(run, "librechat_input_tokens_total"),
            "output": value(run, "librechat_output_tokens_total"),
            "source": {dict(k)["source"] for k in run.samples["librechat_token_source_info"]},
            **per_model}


def turn(uid: str, at: datetime, asked: int, answered: int, rng: int) -> list[dict[str, Any]]:
    convo = f"00000000-0000-4000-8000-{rng:012d}"
    return [make_message(uid, convo, at, by_user=True, rng=rng, tokenCount=asked),
            make_message(uid, convo, at + timedelta(seconds=1), by_user=False, model="gpt-4o",
                         rng=rng + 1, tokenCount=answered)]


def test_transactions_appear_then_disappear(uri: str, db: Database[Any], tmp_path: Path) -> None:
    ensure_indexes(db)
    uid = ObjectId()
    user = str(uid)
    work = tmp_path / "job"
    db.messages.insert_many(turn(user, T0 - timedelta(hours=1), 10, 20, 1))
    before = ok(run_job(uri, db.name, work, T0))
    assert tokens(before) == {"input": 10, "output": 20, "source": {"messages"},
                              "librechat_input_tokens_per_model_total": {"unknown": 10},
                              "librechat_output_tokens_per_model_total": {"gpt-4o": 20}}

    # Transactions switched on: every stored transaction is counted once (the older one too),
    # the messages' tokenCount no longer is; what was counted from messages stays.
    db.transactions.insert_many([
        make_transaction(uid, T0 - timedelta(hours=2), "prompt", "gpt-4o", -7, rng=3),
        make_transaction(uid, T0 + timedelta(seconds=10), "prompt", "gpt-4o", -100, rng=4),
        make_transaction(uid, T0 + timedelta(seconds=11), "completion", "gpt-4o", -50, rng=5)])
    db.messages.insert_many(turn(user, T0 + timedelta(seconds=10), 1000, 2000, 6))
    switched = ok(run_job(uri, db.name, work, T0 + MINUTE))
    assert tokens(switched) == {
        "input": 117, "output": 70, "source": {"transactions"},
        "librechat_input_tokens_per_model_total": {"unknown": 10, "gpt-4o": 107},
        "librechat_output_tokens_per_model_total": {"gpt-4o": 70}}
    assert value(switched, "librechat_tokens_total", model="gpt-4o", kind="uncached_prompt") == 107
    assert value(switched, "librechat_llm_calls_total", model="gpt-4o") == 1

    # Transactions gone (switched off, collection emptied): back to messages, which resume
    # from their own watermark, kept apart since the switch: each message is counted once
    # from messages, those of the transactions period included. Nothing falls.
    db.transactions.delete_many({})
    db.messages.insert_many(turn(user, T0 + timedelta(seconds=70), 3, 4, 8))
    back = ok(run_job(uri, db.name, work, T0 + 2 * MINUTE))
    assert tokens(back) == {
        "input": 117 + 1000 + 3, "output": 70 + 2000 + 4, "source": {"messages"},
        "librechat_input_tokens_per_model_total": {"unknown": 10 + 1000 + 3, "gpt-4o": 107},
        "librechat_output_tokens_per_model_total": {"gpt-4o": 70 + 2000 + 4}}
    assert value(back, "librechat_tokens_total", model="gpt-4o", kind="uncached_prompt") == 107
    for name in ("librechat_tokens_total", "librechat_llm_calls_total",
                 "librechat_cost_usd_total"):
        for key, number in switched.samples[name].items():
            assert back.samples[name][key] == number, (name, key)


# --------------------------------------------------------------------------------------------
# Settings changed on an existing state


def gauges(run: JobRun) -> Samples:
    return {n: r for n, r in business(run.samples).items() if run.types.get(n) == "gauge"}


def counters(run: JobRun) -> Samples:
    return {n: r for n, r in business(run.samples).items() if n in oracle.COUNTERS}


def test_timezone_and_daily_days_changed_on_an_existing_state(uri: str, db: Database[Any],
                                                              tmp_path: Path) -> None:
    generate(db, GenOptions(seed=53, now=GEN_NOW, users=12, days=40))
    work = tmp_path / "job"
    ok(run_job(uri, db.name, work, T0))
    now = T0 + MINUTE
    berlin = ok(run_job(uri, db.name, work, now, timezone="Europe/Berlin"))
    assert_same(business(berlin.samples),
                business(fresh(uri, db, tmp_path / "cold1", now, timezone="Europe/Berlin")
                         .samples), "--timezone changed")
    now += MINUTE
    week = ok(run_job(uri, db.name, work, now, timezone="Europe/Berlin",
                      extra=("--daily-days", "7")))
    assert_same(business(week.samples),
                business(fresh(uri, db, tmp_path / "cold2", now, "--daily-days", "7",
                               timezone="Europe/Berlin").samples), "--daily-days changed")
    (config, one), = week.samples["librechat_exporter_config_info"].items()
    assert one == 1.0
    assert {("daily_days", "7"), ("label_limit", "50"), ("timezone", "Europe/Berlin")} <= \
        set(config)


def models(run: JobRun, family: str = "librechat_messages_per_model_total") -> dict[str, float]:
    return {dict(k)["model"]: v for k, v in run.samples[family].items() if v}


def sums(samples: Samples) -> dict[str, float]:
    """Each family's total over all its label sets: what a cap can move but never lose (a
    standard deviation is no sum: left out)."""
    return {name: {(): math.fsum(rows.values())} for name, rows in samples.items()
            if not name.endswith("_stddev")}


def assert_never_fell(later: JobRun, earlier: JobRun) -> None:
    """Every counter sample of the earlier run is still there, and not lower."""
    fell = [f"{name}{dict(key)}: {number} -> {later.samples.get(name, {}).get(key)}"
            for name, rows in counters(earlier).items() for key, number in rows.items()
            if later.samples.get(name, {}).get(key, -1.0) < number]
    assert fell == [], "\n".join(fell)


def reply(db: Database[Any], model: str, at: datetime, rng: int) -> None:
    db.messages.insert_one(make_message(str(ObjectId()), "00000000-0000-4000-8000-0000000000aa",
                                        at, by_user=False, model=model, rng=rng))


def test_label_limit_lowered_on_an_existing_state(uri: str, db: Database[Any],
                                                  tmp_path: Path) -> None:
    """Counters keep the label values they have (so 'other' never falls), new values go to
    'other' while no slot is free; no family loses a number to the cap."""
    generate(db, GenOptions(seed=54, now=GEN_NOW, users=12, days=10))
    work = tmp_path / "job"
    wide = ok(run_job(uri, db.name, work, T0))
    assert len(models(wide)) > 3 and "other" not in models(wide)
    now = T0 + MINUTE
    narrow = ok(run_job(uri, db.name, work, now, extra=("--label-limit", "2")))
    assert models(narrow) == models(wide)
    assert_never_fell(narrow, wide)
    cold = fresh(uri, db, tmp_path / "cold", now, "--label-limit", "2")
    assert len(models(cold)) == 3 and "other" in models(cold)
    assert_same(sums(business(narrow.samples)), sums(business(cold.samples)),
                "family totals at the new limit")

    busiest = max(models(wide), key=lambda m: models(wide)[m])
    reply(db, "brand-new-model", now + timedelta(seconds=5), 1)
    reply(db, busiest, now + timedelta(seconds=6), 2)
    later = ok(run_job(uri, db.name, work, now + MINUTE, extra=("--label-limit", "2")))
    expected = dict(models(wide))
    expected[busiest] += 1
    expected["other"] = 1  # the new model: no free slot
    assert models(later) == expected
    assert_never_fell(later, narrow)


def test_label_limit_raised_on_an_existing_state(uri: str, db: Database[Any],
                                                 tmp_path: Path) -> None:
    """Values that went to 'other' stay there ('other' never falls); their new documents, and
    new values, get series of their own while slots are free."""
    generate(db, GenOptions(seed=55, now=GEN_NOW, users=12, days=10))
    work = tmp_path / "job"
    narrow = ok(run_job(uri, db.name, work, T0, extra=("--label-limit", "2")))
    assert len(models(narrow)) == 3 and "other" in models(narrow)
    wide_cold = fresh(uri, db, tmp_path / "cold0", T0)
    in_other = sorted(set(models(wide_cold)) - set(models(narrow)))[0]
    now = T0 + MINUTE
    reply(db, in_other, now - timedelta(seconds=30), 1)
    reply(db, "brand-new-model", now - timedelta(seconds=29), 2)
    wide = ok(run_job(uri, db.name, work, now))
    expected = {**models(narrow), in_other: 1.0, "brand-new-model": 1.0}
    assert models(wide) == expected
    assert_never_fell(wide, narrow)
    cold = fresh(uri, db, tmp_path / "cold1", now)
    assert_same(sums(business(wide.samples)), sums(business(cold.samples)),
                "family totals at the new limit")


def test_counters_equal_a_fresh_count_after_settings_that_do_not_shape_them(
        uri: str, db: Database[Any], tmp_path: Path) -> None:
    """--timezone and --daily-days change no counter: the totals go on from the state."""
    generate(db, GenOptions(seed=56, now=GEN_NOW, users=8, days=10))
    work = tmp_path / "job"
    first = ok(run_job(uri, db.name, work, T0))
    uid = db.users.find_one({})["_id"]
    db.messages.insert_many(turn(str(uid), T0 + timedelta(seconds=20), 5, 6, 40))
    db.conversations.insert_one(make_conversation(uid, T0 + timedelta(seconds=20), rng=42))
    db.files.insert_one(make_file(uid, T0 + timedelta(seconds=21), rng=43, bytes=99))
    now = T0 + MINUTE
    changed = ok(run_job(uri, db.name, work, now, timezone="America/New_York",
                         extra=("--daily-days", "3")))
    assert value(changed, "librechat_messages_total") == \
        value(first, "librechat_messages_total") + 2
    assert_same(counters(changed), counters(fresh(uri, db, tmp_path / "cold", now)),
                "counters after --timezone and --daily-days changed")
