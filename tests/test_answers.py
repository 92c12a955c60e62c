"""Answers no exporter gives: cost and tokens per agent, usage spread over users, finish
reasons, balance runway, cost by context, imports into finished days, slow-gauge freshness.

Each case places LibreChat documents by hand (the generator's builders, so fields and types
are LibreChat's), runs the real job, and checks hand-worked values and the oracle's.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests import oracle
from tests.librechat_data import (
    GenOptions,
    ensure_indexes,
    generate,
    make_agent,
    make_balance,
    make_conversation,
    make_message,
    make_transaction,
    make_user,
)
from tests.promparse import JobRun, ok, run_job

NOW = datetime(2026, 3, 18, 14, 30, 7, tzinfo=UTC)
SEEDS = itertools.count(50_000)


def value(run: JobRun, family: str, **labels: str) -> float:
    return run.samples[family][tuple(sorted(labels.items()))]


def expected(db: Database[Any], now: datetime, **cfg: Any) -> oracle.Expected:
    return oracle.compute(oracle.Snapshot.read(db), oracle.Config(now=now, **cfg))


def assert_oracle(run: JobRun, db: Database[Any], now: datetime, families: tuple[str, ...]) -> None:
    assert oracle.compare(run.samples, expected(db, now), families) == []


def spend(db: Database[Any], user: ObjectId, at: datetime, convo: str | None, prompt: int,
          completion: int, context: str = "message", model: str = "gpt-4o") -> None:
    extra = {"conversationId": convo} if convo else {}
    db.transactions.insert_many([
        make_transaction(user, at, "prompt", model, -prompt, context=context, rng=next(SEEDS),
                         **extra),
        make_transaction(user, at, "completion", model, -completion, context=context,
                         rng=next(SEEDS), **extra)])


def test_cost_and_tokens_per_agent(uri: str, db: Database[Any], tmp_path: Path) -> None:
    ensure_indexes(db)
    author = make_user(next(SEEDS), NOW - timedelta(days=9))
    db.users.insert_one(author)
    helper = make_agent(author, NOW - timedelta(days=8), rng=next(SEEDS), name="Helper")
    gone = make_agent(author, NOW - timedelta(days=8), rng=next(SEEDS), name="Gone")
    db.agents.insert_one(helper)  # `gone` is never stored: a deleted agent
    at = NOW - timedelta(hours=1)
    convos = {
        "agent": make_conversation(author["_id"], at, endpoint="agents", model=None,
                                   agent_id=helper["id"], rng=next(SEEDS)),
        "plain": make_conversation(author["_id"], at, rng=next(SEEDS)),
        "ephemeral": make_conversation(author["_id"], at, endpoint="openAI",
                                       agent_id="openAI__gpt-4o___GPT-4o", rng=next(SEEDS)),
        "deleted": make_conversation(author["_id"], at, endpoint="agents", model=None,
                                     agent_id=gone["id"], rng=next(SEEDS)),
    }
    db.conversations.insert_many(list(convos.values()))
    spend(db, author["_id"], at, convos["agent"]["conversationId"], 1000, 200)
    spend(db, author["_id"], at, convos["agent"]["conversationId"], 50, 10, context="title")
    spend(db, author["_id"], at, convos["plain"]["conversationId"], 700, 70)
    spend(db, author["_id"], at, convos["ephemeral"]["conversationId"], 300, 30)
    spend(db, author["_id"], at, convos["deleted"]["conversationId"], 400, 40)
    spend(db, author["_id"], at, None, 5, 5)  # no conversation at all
    run = ok(run_job(uri, db.name, tmp_path / "job", NOW))
    # By hand: only the agent's conversation counts, title included.
    assert value(run, "librechat_agent_tokens_total", agent_id=helper["id"],
                 token_type="prompt") == 1050
    assert value(run, "librechat_agent_tokens_total", agent_id=helper["id"],
                 token_type="completion") == 210
    assert set(run.samples["librechat_agent_cost_usd_total"]) == {
        (("agent_id", helper["id"]),)}
    assert_oracle(run, db, NOW, ("librechat_agent_cost_usd_total",
                                 "librechat_agent_tokens_total",
                                 "librechat_context_cost_usd_total"))
    # Incremental: a new turn of the agent's conversation is looked up and added.
    later = NOW + timedelta(minutes=1)
    spend(db, author["_id"], later - timedelta(seconds=20),
          convos["agent"]["conversationId"], 100, 20, context="summarization")
    again = ok(run_job(uri, db.name, tmp_path / "job", later))
    assert value(again, "librechat_agent_tokens_total", agent_id=helper["id"],
                 token_type="prompt") == 1150
    assert value(again, "librechat_context_cost_usd_total", context="summarization") > 0


def day_of_users(db: Database[Any], day_start: datetime, sent: list[int],
                 spent: list[int]) -> None:
    """Users with `sent[i]` messages and `spent[i]` prompt tokens of gpt-4o on that day."""
    for i, (n, tokens) in enumerate(zip(sent, spent, strict=True)):
        user = ObjectId()
        convo = make_conversation(user, day_start + timedelta(hours=1), rng=next(SEEDS))
        db.conversations.insert_one(convo)
        when = day_start + timedelta(hours=2, minutes=i)
        if n:
            db.messages.insert_many([make_message(user, convo["conversationId"],
                                                  when + timedelta(seconds=k), by_user=True,
                                                  rng=next(SEEDS)) for k in range(n)])
        if tokens:
            db.transactions.insert_one(make_transaction(user, when, "prompt", "gpt-4o",
                                                        -tokens, rng=next(SEEDS)))


@pytest.mark.parametrize(("sent", "spent", "percentiles", "top10"), [
    ([], [], {"50": 0, "90": 0, "99": 0, "100": 0}, 0.0),
    ([3], [1000], {"50": 3, "90": 3, "99": 3, "100": 3}, 1.0),
    ([1, 5], [1000, 3000], {"50": 1, "90": 5, "99": 5, "100": 5}, 0.75),
    (list(range(1, 21)), [100] * 19 + [8100],
     {"50": 10, "90": 18, "99": 20, "100": 20}, (8100 + 100) / (19 * 100 + 8100)),
])
def test_yesterdays_spread_over_users(uri: str, db: Database[Any], tmp_path: Path,
                                      sent: list[int], spent: list[int],
                                      percentiles: dict[str, int], top10: float) -> None:
    ensure_indexes(db)
    yesterday = datetime(2026, 3, 17, tzinfo=UTC)
    day_of_users(db, yesterday, sent, spent)
    run = ok(run_job(uri, db.name, tmp_path / "job", NOW))
    for p, n in percentiles.items():
        assert value(run, "librechat_messages_sent_per_user_yesterday", percentile=p) == n, p
    assert value(run, "librechat_cost_share_of_top_users_yesterday", top="10%") == \
        pytest.approx(top10)
    assert value(run, "librechat_spending_users_yesterday") == len([s for s in spent if s])
    assert_oracle(run, db, NOW, ("librechat_messages_sent_per_user_yesterday",
                                 "librechat_cost_usd_per_user_yesterday",
                                 "librechat_cost_share_of_top_users_yesterday",
                                 "librechat_spending_users_yesterday"))


@pytest.mark.parametrize(("reason", "label"), [
    ("stop", "stop"), ("length", "length"), ("content_filter", "content_filter"),
    (None, "none"), ({"$gt": 1}, '{"$gt": 1}'), ("x" * 5000, "x" * 100),
])
def test_responses_by_finish_reason(uri: str, db: Database[Any], tmp_path: Path,
                                    reason: Any, label: str) -> None:
    ensure_indexes(db)
    user = ObjectId()
    convo = make_conversation(user, NOW - timedelta(hours=1), rng=next(SEEDS))
    db.conversations.insert_one(convo)
    over = {} if reason is None else {"finish_reason": reason}
    db.messages.insert_many([
        make_message(user, convo["conversationId"], NOW - timedelta(minutes=30), by_user=False,
                     model="gpt-4o", rng=next(SEEDS), **over),
        make_message(user, convo["conversationId"], NOW - timedelta(minutes=29), by_user=False,
                     model="gpt-4o", rng=next(SEEDS), finish_reason="stop")])
    run = ok(run_job(uri, db.name, tmp_path / "job", NOW))
    counts = run.samples["librechat_responses_by_finish_reason_total"]
    want = {(("finish_reason", label), ("model", "gpt-4o")): 1.0}
    want[(("finish_reason", "stop"), ("model", "gpt-4o"))] = 1.0 + (label == "stop")
    assert counts == want
    assert_oracle(run, db, NOW, ("librechat_responses_by_finish_reason_total",))


def test_balances_by_range_at_the_edges(uri: str, db: Database[Any], tmp_path: Path) -> None:
    ensure_indexes(db)
    credits = [-5, 0, 1, 99_999, 100_000, 999_999, 1_000_000, 9_999_999, 10_000_000, 5e8]
    db.balances.insert_many([make_balance(ObjectId(), c, last_refill=NOW) for c in credits])
    run = ok(run_job(uri, db.name, tmp_path / "job", NOW))
    by_range = {dict(k)["balance_usd"]: v
                for k, v in run.samples["librechat_balance_users_by_range"].items()}
    assert by_range == {"0": 2, "0-0.1": 2, "0.1-1": 2, "1-10": 2, "10+": 2}
    assert_oracle(run, db, NOW, ("librechat_balance_users_by_range",))


@pytest.mark.parametrize("days_back", [1, 5])
def test_an_import_into_a_finished_day_is_summarised_again(uri: str, db: Database[Any],
                                                           tmp_path: Path,
                                                           days_back: int) -> None:
    generate(db, GenOptions(seed=31, now=NOW, users=10))
    work = tmp_path / "job"
    first = ok(run_job(uri, db.name, work, NOW, extra=("--daily-days", "7")))
    before = value(first, "librechat_unique_users_per_day_average")
    # A conversation import: new _ids now, the original createdAt of a finished day.
    day = datetime.combine(NOW.date() - timedelta(days=days_back), datetime.min.time(), UTC)
    importer = ObjectId()
    convo = make_conversation(importer, day + timedelta(hours=20), rng=next(SEEDS))
    later = NOW + timedelta(minutes=1)
    imported = [make_message(importer, convo["conversationId"],
                             day + timedelta(hours=20, seconds=k), by_user=k % 2 == 0,
                             model="gpt-4o", rng=next(SEEDS))
                for k in range(4)]
    for msg in imported:  # the import's own time, as bulkSaveMessages gives new documents
        msg["_id"] = ObjectId.from_datetime(later - timedelta(seconds=30))
        msg["_id"] = ObjectId(msg["_id"].binary[:4] + ObjectId().binary[4:])
    db.conversations.insert_one(convo)
    db.messages.insert_many(imported)
    after = ok(run_job(uri, db.name, work, later, extra=("--daily-days", "7")))
    fresh = expected(db, later, daily_days=7)
    daily = ("librechat_unique_users_yesterday", "librechat_unique_users_per_day_average",
             "librechat_messages_per_user_per_day_average",
             "librechat_messages_sent_per_user_yesterday")
    assert oracle.compare(after.samples, fresh, daily) == []
    assert value(after, "librechat_unique_users_per_day_average") > before
    if days_back == 1:
        assert value(after, "librechat_unique_users_yesterday") == \
            value(first, "librechat_unique_users_yesterday") + 1


def test_slow_sections_say_when_they_last_read(uri: str, db: Database[Any],
                                               tmp_path: Path) -> None:
    generate(db, GenOptions(seed=32, now=NOW, users=6))
    work = tmp_path / "job"
    ok(run_job(uri, db.name, work, NOW))  # the first count ends in this run, then they read
    replay = ok(run_job(uri, db.name, work, NOW + timedelta(minutes=5)))
    stamps = {dict(k)["section"]: v for k, v in
              replay.samples["librechat_exporter_section_refresh_timestamp_seconds"].items()}
    slow = {"users", "sessions", "balances", "stored_conversations", "stored_files",
            "feedback", "agents", "agent_marketplace", "mcp_servers", "memory", "sharing",
            "schedules", "file_status"}
    assert set(stamps) == slow
    assert set(stamps.values()) == {NOW.timestamp()}  # replayed: still the first read
    refreshed = ok(run_job(uri, db.name, work, NOW + timedelta(minutes=16)))
    stamps = {dict(k)["section"]: v for k, v in
              refreshed.samples["librechat_exporter_section_refresh_timestamp_seconds"].items()}
    assert set(stamps.values()) == {(NOW + timedelta(minutes=16)).timestamp()}


def test_credits_held_by_running_requests(uri: str, db: Database[Any], tmp_path: Path) -> None:
    # @librechat/data-schemas 0.0.71 keeps in-flight holds in balances.reservations (fields
    # with select: false): {id, amount, expiresAt}; expired ones are pruned on the next write.
    ensure_indexes(db)
    soon, gone = NOW + timedelta(minutes=5), NOW - timedelta(minutes=1)
    db.balances.insert_many([
        make_balance(ObjectId(), 5_000_000, last_refill=NOW, reservedCredits=3000,
                     reservations=[{"id": "req-1", "amount": 1000, "expiresAt": soon},
                                   {"id": "req-2", "amount": 2000, "expiresAt": soon}]),
        make_balance(ObjectId(), 100, last_refill=NOW, reservedCredits=700,
                     reservations=[{"id": "req-3", "amount": 700, "expiresAt": gone}]),
        make_balance(ObjectId(), 100, last_refill=NOW)])  # before 0.0.71: no field at all
    run = ok(run_job(uri, db.name, tmp_path / "job", NOW))
    assert value(run, "librechat_balance_reservations") == 2
    assert value(run, "librechat_balance_credits_reserved") == 3000
    assert_oracle(run, db, NOW, ("librechat_balance_reservations",
                                 "librechat_balance_credits_reserved"))
