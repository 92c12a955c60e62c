"""Every metric family the job writes, compared with an independent oracle (tests/oracle.py).

The job runs as a user runs it (``librechat_textfile.main([...])`` with ``--now``) against a
real mongod holding generated or hand-placed LibreChat documents; its output file is parsed
and every sample of every family is compared with what the oracle computes from the same
documents read back with ``find({})``. Label sets must be equal, values within 1e-9 relative.

The calendar tests also check a few numbers worked out by hand, so that the oracle and the
job cannot agree on a wrong answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bson import Decimal128, ObjectId
from pymongo.database import Database

from tests import oracle
from tests.librechat_data import (
    MISSING,
    GenOptions,
    ensure_indexes,
    generate,
    make_conversation,
    make_file,
    make_message,
    make_session,
    make_structured_prompt,
    make_transaction,
    make_user,
    object_id_at,
)
from tests.promparse import JobRun, run_job

# A Wednesday, mid-afternoon in UTC, Berlin and New York: the hostile documents (13 minutes
# old) and everything else generated "today" stay on the same local day everywhere.
NOW = datetime(2026, 3, 18, 14, 30, 7, tzinfo=UTC)

# Families whose oracle value must be non-zero somewhere on every generated deployment, so a
# job that writes zeros everywhere cannot pass.
MAIN_FAMILIES = (
    "librechat_messages_total", "librechat_error_messages_total",
    "librechat_messages_per_model_total", "librechat_errors_per_model_total",
    "librechat_endpoint_messages_total", "librechat_unfinished_messages_total",
    "librechat_agent_messages_total", "librechat_tool_calls_total",
    "librechat_input_tokens_total", "librechat_output_tokens_total",
    "librechat_input_tokens_per_model_total", "librechat_output_tokens_per_model_total",
    "librechat_conversations_total", "librechat_endpoint_conversations_total",
    "librechat_uploaded_files_total", "librechat_files_created_total",
    "librechat_files_created_bytes_total", "librechat_registered_users_total",
    "librechat_registrations_total", "librechat_active_users",
    "librechat_active_conversations", "librechat_messages_5m",
    "librechat_messages_per_model_5m", "librechat_daily_unique_users",
    "librechat_weekly_unique_users", "librechat_monthly_unique_users",
    "librechat_unique_users", "librechat_unique_users_yesterday",
    "librechat_unique_users_per_day_average", "librechat_unique_users_per_day_stddev",
    "librechat_messages_per_user_per_day_average",
    "librechat_messages_per_user_per_day_stddev",
    "librechat_messages_per_model_yesterday", "librechat_messages_per_model_per_day_average",
    "librechat_messages_per_model_per_day_stddev", "librechat_users",
    "librechat_sessions_active", "librechat_bans_active", "librechat_files",
    "librechat_files_bytes", "librechat_archived_conversations",
)
TRANSACTION_FAMILIES = (
    "librechat_tokens_total", "librechat_context_tokens_total", "librechat_llm_calls_total",
    "librechat_cost_usd_total", "librechat_credits_granted_total",
    "librechat_input_tokens_5m", "librechat_output_tokens_5m",
    "librechat_model_input_tokens_5m", "librechat_model_output_tokens_5m",
    "librechat_balances", "librechat_balance_credits",
)


# ---------------------------------------------------------------------------------------------
# Helpers


def cold_run(uri: str, db: Database[Any], workdir: Path, now: datetime, *, timezone: str = "UTC",
             label_limit: int = 50, daily_days: int = 30,
             extra: Iterable[str] = ()) -> tuple[JobRun, oracle.Expected]:
    """Run the job once with a fresh state file, and the oracle over the same documents."""
    args = ["--label-limit", str(label_limit), "--daily-days", str(daily_days), *extra]
    run = run_job(uri, db.name, workdir, now, timezone=timezone, extra=args)
    expected = oracle.compute(oracle.Snapshot.read(db), oracle.Config(
        now=now, timezone=timezone, label_limit=label_limit, daily_days=daily_days))
    return run, expected


def assert_matches(run: JobRun, expected: oracle.Expected, *,
                   codes: Iterable[int] = (0,)) -> None:
    """Every family: same label sets, same values, declared with its defined type."""
    assert run.code in tuple(codes), f"exit code {run.code}"
    problems = oracle.compare(run.samples, expected)
    problems += [f"{name}: family not in the definitions"
                 for name in oracle.unknown_families(run.samples)]
    for name, kind in oracle.FAMILY_TYPES.items():
        if name in expected.absent:
            if name in run.types:
                problems.append(f"{name}: written, but its collection is absent")
        elif run.types.get(name) != kind:
            problems.append(f"{name}: declared {run.types.get(name)!r}, defined {kind!r}")
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems)


def assert_healthy(run: JobRun) -> None:
    assert run.samples["librechat_exporter_up"] == {(): 1.0}
    errors = run.samples["librechat_exporter_errors"]
    assert errors and all(v == 0 for v in errors.values()), errors


def nonzero(expected: oracle.Expected, family: str) -> bool:
    return any(v != 0 for v in expected.samples[family].values())


def value(samples: dict[str, dict[Any, float]], family: str, **labels: str) -> float:
    return samples[family][tuple(sorted(labels.items()))]


def insert(db: Database[Any], collection: str, docs: list[dict[str, Any]]) -> None:
    if docs:
        db[collection].insert_many(docs)


# ---------------------------------------------------------------------------------------------
# Generated deployments


@pytest.mark.parametrize("version", ["0.7.5", "0.7.9", "0.8.7"])
@pytest.mark.parametrize(("seed", "timezone"), [(11, "UTC"), (12, "Europe/Berlin"),
                                                (13, "America/New_York")])
def test_generated_deployment_matches_oracle(uri: str, db: Database[Any], tmp_path: Path, seed: int,
                                             timezone: str, version: str) -> None:
    summary = generate(db, GenOptions(seed=seed, now=NOW, version=version))
    assert summary["messages"] > 100 and summary["transactions"] > 100
    run, expected = cold_run(uri, db, tmp_path, NOW, timezone=timezone)
    for family in (*MAIN_FAMILIES, *TRANSACTION_FAMILIES):
        assert nonzero(expected, family), f"generated data leaves {family} at zero"
    if version >= "0.7.9":
        assert nonzero(expected, "librechat_feedback")
        assert nonzero(expected, "librechat_feedback_tags")
    assert value(expected.samples, "librechat_token_source_info", source="transactions") == 1
    # Cache-aware prompts split into kinds that add up to all prompt tokens.
    kinds = expected.samples["librechat_tokens_total"]
    assert any(dict(k)["kind"] == "cache_read" and v > 0 for k, v in kinds.items())
    assert math.isclose(
        sum(v for k, v in kinds.items() if dict(k)["kind"] != "completion"),
        value(expected.samples, "librechat_input_tokens_total"), rel_tol=1e-12)
    assert_matches(run, expected)
    assert_healthy(run)


def test_empty_database(uri: str, db: Database[Any], tmp_path: Path) -> None:
    ensure_indexes(db)  # a LibreChat that has just started: its collections, no documents
    run, expected = cold_run(uri, db, tmp_path, NOW)
    assert value(expected.samples, "librechat_messages_total") == 0
    assert value(expected.samples, "librechat_token_source_info", source="messages") == 1
    assert expected.samples["librechat_bans_active"] == {(("kind", "ip"),): 0.0,
                                                         (("kind", "user"),): 0.0}
    assert_matches(run, expected)
    assert_healthy(run)


def test_without_transactions_tokens_come_from_messages(uri: str, db: Database[Any],
                                                        tmp_path: Path) -> None:
    generate(db, GenOptions(seed=21, now=NOW, version="0.8.7", transactions=False))
    assert db.transactions.count_documents({}) == 0
    run, expected = cold_run(uri, db, tmp_path, NOW, timezone="Europe/Berlin")
    assert value(expected.samples, "librechat_token_source_info", source="messages") == 1
    for family in ("librechat_input_tokens_total", "librechat_output_tokens_total",
                   "librechat_input_tokens_per_model_total",
                   "librechat_output_tokens_per_model_total"):
        assert nonzero(expected, family)
    for family in ("librechat_tokens_total", "librechat_context_tokens_total",
                   "librechat_llm_calls_total", "librechat_cost_usd_total",
                   "librechat_credits_granted_total"):
        # Written as zeros for every model and kind (explicit zeros), never a number.
        assert not nonzero(expected, family)
    assert_matches(run, expected)


def test_hostile_documents(uri: str, db: Database[Any], tmp_path: Path) -> None:
    generate(db, GenOptions(seed=31, now=NOW, version="0.8.7", hostile=True))
    run, expected = cold_run(uri, db, tmp_path, NOW)
    assert run.text, "no output written"
    # The hostile documents are in the oracle's numbers: numeric models, redacted e-mails,
    # the 100-character cap, and the tool name with an MCP server after control characters.
    per_model = expected.samples["librechat_messages_per_model_total"]
    for model in ("42", "redacted", '{"name": "gpt-4o"}', "x" * 100, "nulbyte", "newline"):
        assert (("model", model),) in per_model, model
    assert (("mcp_server", "sërvér 🤖"), ("tool", 'bad"namewith')) in \
        expected.samples["librechat_tool_calls_total"]
    assert (("rating", "thumbsUp"), ("tag", '{"key": "x"}')) in \
        expected.samples["librechat_feedback_tags"]
    assert_matches(run, expected)


def test_label_limit_routes_the_rest_to_other(uri: str, db: Database[Any], tmp_path: Path) -> None:
    generate(db, GenOptions(seed=41, now=NOW, version="0.8.7", users=40))
    run, expected = cold_run(uri, db, tmp_path, NOW, label_limit=3)
    uncapped = oracle.compute(oracle.Snapshot.read(db), oracle.Config(now=NOW))
    assert len(uncapped.samples["librechat_messages_per_model_total"]) > 3
    for family in ("librechat_messages_per_model_total", "librechat_output_tokens_per_model_total",
                   "librechat_messages_per_model_per_day_average", "librechat_files",
                   "librechat_tool_calls_total", "librechat_feedback_tags"):
        labels = {v for key in expected.samples[family] for _, v in key}
        assert "other" in labels, family
    # Nothing is lost to the cap: 'other' holds the sum of what it replaced.
    assert math.isclose(sum(expected.samples["librechat_messages_per_model_total"].values()),
                        value(expected.samples, "librechat_messages_total")
                        - sum(v for k, v in expected.samples[
                            "librechat_endpoint_messages_total"].items()
                            if dict(k)["role"] == "user"))
    assert_matches(run, expected)


# ---------------------------------------------------------------------------------------------
# Calendar windows and daily statistics with hand-placed messages


def user_id(n: int) -> str:
    return str(object_id_at(datetime(2025, 1, 1, tzinfo=UTC), n))


def place(db: Database[Any], rows: Iterable[tuple[int, datetime, bool, str | None]]) -> None:
    """Messages (user number, time, by the user?, model) in one conversation per user."""
    ensure_indexes(db)
    docs = []
    for i, (user, at, by_user, model) in enumerate(rows):
        docs.append(make_message(user_id(user), f"00000000-0000-4000-8000-{user:012d}",
                                 at.astimezone(UTC), by_user=by_user, model=model,
                                 rng=1000 + i))
    insert(db, "messages", docs)


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)  # type: ignore[misc]


def test_just_after_midnight_in_berlin(uri: str, db: Database[Any], tmp_path: Path) -> None:
    tz = "Europe/Berlin"
    now = local(tz, 2026, 3, 18, 0, 2)  # Wednesday 00:02 CET = 23:02 UTC the day before
    place(db, [(1, local(tz, 2026, 3, 17, 23, 58), True, None),
               (2, local(tz, 2026, 3, 18, 0, 1), True, None),
               (2, local(tz, 2026, 3, 18, 0, 1, 30), False, "gpt-4o")])
    run, expected = cold_run(uri, db, tmp_path / "berlin", now, timezone=tz)
    assert_matches(run, expected)
    hand = {"librechat_daily_unique_users": 1, "librechat_weekly_unique_users": 2,
            "librechat_monthly_unique_users": 2, "librechat_unique_users_yesterday": 1,
            "librechat_active_users": 2, "librechat_messages_5m": 3}
    for family, number in hand.items():
        assert value(run.samples, family) == number, family
    assert value(run.samples, "librechat_unique_users", window="1h") == 2
    # The same instant in UTC: both messages are on Tuesday the 17th, "today".
    run_utc, expected_utc = cold_run(uri, db, tmp_path / "utc", now, timezone="UTC")
    assert_matches(run_utc, expected_utc)
    assert value(run_utc.samples, "librechat_daily_unique_users") == 2
    assert value(run_utc.samples, "librechat_unique_users_yesterday") == 0


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
def test_monday_the_first(uri: str, db: Database[Any], tmp_path: Path, tz: str) -> None:
    now = local(tz, 2026, 6, 1, 9, 0)  # Monday 1 June 2026, 09:00 local
    place(db, [(1, local(tz, 2026, 5, 31, 23, 30), True, None),  # Sunday: last week/month
               (2, local(tz, 2026, 6, 1, 0, 30), True, None),  # Monday 00:30
               (2, local(tz, 2026, 6, 1, 0, 31), False, "gpt-4o"),
               (3, local(tz, 2026, 5, 25, 12, 0), True, None)])  # Monday a week before
    run, expected = cold_run(uri, db, tmp_path, now, timezone=tz)
    assert_matches(run, expected)
    for family in ("librechat_daily_unique_users", "librechat_weekly_unique_users",
                   "librechat_monthly_unique_users", "librechat_unique_users_yesterday"):
        assert value(run.samples, family) == 1, family
    assert value(run.samples, "librechat_unique_users", window="7d") == 3
    assert value(run.samples, "librechat_unique_users", window="24h") == 2


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
def test_wednesday_the_first(uri: str, db: Database[Any], tmp_path: Path, tz: str) -> None:
    now = local(tz, 2026, 7, 1, 12, 0)  # Wednesday 1 July 2026: week began on 29 June
    place(db, [(1, local(tz, 2026, 6, 28, 23, 30), True, None),  # Sunday: neither
               (2, local(tz, 2026, 6, 29, 10, 0), True, None),  # Monday: week only
               (3, local(tz, 2026, 6, 30, 23, 50), True, None),  # Tuesday: week only
               (4, local(tz, 2026, 7, 1, 0, 10), True, None)])  # today: all three
    run, expected = cold_run(uri, db, tmp_path, now, timezone=tz)
    assert_matches(run, expected)
    assert value(run.samples, "librechat_daily_unique_users") == 1
    assert value(run.samples, "librechat_weekly_unique_users") == 3
    assert value(run.samples, "librechat_monthly_unique_users") == 1
    assert value(run.samples, "librechat_unique_users_yesterday") == 1


DST_CASES = {
    # 29 March 2026 in Berlin has 23 hours: [28 Mar 23:00Z, 29 Mar 22:00Z).
    "berlin-23h": ("Europe/Berlin", datetime(2026, 3, 30, 8, 0, tzinfo=UTC), [
        (1, datetime(2026, 3, 28, 22, 30, tzinfo=UTC)),  # 28th 23:30 CET
        (2, datetime(2026, 3, 28, 23, 30, tzinfo=UTC)),  # 29th 00:30 CET
        (3, datetime(2026, 3, 29, 21, 30, tzinfo=UTC)),  # 29th 23:30 CEST
        (4, datetime(2026, 3, 29, 22, 30, tzinfo=UTC)),  # 30th 00:30 CEST: today
    ]),
    # 1 November 2026 in New York has 25 hours: [1 Nov 04:00Z, 2 Nov 05:00Z).
    "new-york-25h": ("America/New_York", datetime(2026, 11, 2, 17, 0, tzinfo=UTC), [
        (1, datetime(2026, 11, 1, 3, 30, tzinfo=UTC)),  # 31 Oct 23:30 EDT
        (2, datetime(2026, 11, 1, 4, 30, tzinfo=UTC)),  # 1 Nov 00:30 EDT
        (3, datetime(2026, 11, 2, 4, 30, tzinfo=UTC)),  # 1 Nov 23:30 EST
        (4, datetime(2026, 11, 2, 5, 30, tzinfo=UTC)),  # 2 Nov 00:30 EST: today
    ]),
}


@pytest.mark.parametrize("case", sorted(DST_CASES))
def test_daily_statistics_across_a_dst_change(uri: str, db: Database[Any], tmp_path: Path,
                                              case: str) -> None:
    tz, now, users = DST_CASES[case]
    rows: list[tuple[int, datetime, bool, str | None]] = []
    for user, at in users:
        rows.append((user, at, True, None))
        rows.append((user, at + timedelta(seconds=30), False,
                     "gpt-4o" if user != 3 else "claude-sonnet-4-20250514"))
    rows.append((3, users[2][1] + timedelta(minutes=5), True, None))  # user 3 sends twice
    place(db, rows)
    run, expected = cold_run(uri, db, tmp_path, now, timezone=tz, daily_days=3)
    assert_matches(run, expected)
    # Days (oldest first): 2 days before the change day, the day before, the change day.
    # Users per day 0, 1, 2; user-days (1 sent), (1), (2); gpt-4o replies 0, 1, 1.
    hand = {
        "librechat_unique_users_yesterday": 2,
        "librechat_unique_users_per_day_average": 1,
        "librechat_unique_users_per_day_stddev": math.sqrt(2 / 3),
        "librechat_messages_per_user_per_day_average": 4 / 3,
        "librechat_messages_per_user_per_day_stddev": math.sqrt(2 / 9),
        "librechat_daily_unique_users": 1,
    }
    for family, number in hand.items():
        assert math.isclose(value(run.samples, family), number, rel_tol=1e-9), family
    assert value(run.samples, "librechat_messages_per_model_yesterday", model="gpt-4o") == 1
    assert math.isclose(value(run.samples, "librechat_messages_per_model_per_day_average",
                              model="gpt-4o"), 2 / 3)
    assert value(run.samples, "librechat_messages_per_model_yesterday",
                 model="claude-sonnet-4-20250514") == 1


def test_window_edges_and_stored_now_gauges(uri: str, db: Database[Any],
                                            tmp_path: Path) -> None:
    """Window bounds are inclusive at both ends; stored-now gauges, checked by hand."""
    ensure_indexes(db)
    uid, user = ObjectId("5f00000000000000000000aa"), "5f00000000000000000000aa"
    convo = "00000000-0000-4000-8000-0000000000aa"
    hour_ago = NOW - timedelta(hours=1)

    def msg(seconds: float, rng: int, **over: Any) -> dict[str, Any]:
        by_user = over.pop("by_user", False)
        return make_message(user, convo, NOW + timedelta(seconds=seconds), by_user=by_user,
                            model=None if by_user else "gpt-4o", rng=rng, **over)

    insert(db, "messages", [
        msg(-300, 1), msg(0, 2, error=True), msg(-301, 3, error=True), msg(1, 4),
        msg(-20, 5, by_user=True, content=[{"type": "error", "error": "x"}],
            conversationId="00000000-0000-4000-8000-0000000000bb")])
    insert(db, "transactions", [
        make_transaction(uid, NOW - timedelta(seconds=300), "prompt", "gpt-4o", -10, rng=6),
        make_transaction(uid, NOW, "completion", "gpt-4o", -7, rng=7),
        make_transaction(uid, NOW - timedelta(seconds=301), "prompt", "gpt-4o", -1000, rng=8)])
    insert(db, "balances", [{"_id": ObjectId(), "user": ObjectId(), "tokenCredits": credits}
                            for credits in (0, -5, "12", 100.5)])
    insert(db, "sessions", [make_session(uid, hour_ago, rng=20 + s,
                                         expiration=NOW + timedelta(seconds=s))
                            for s in (1, 0, -1)])
    later = NOW + timedelta(minutes=1)
    insert(db, "logs", [{"_id": ObjectId(), "key": "BANS:" + user, "expiresAt": later},
                        {"_id": ObjectId(), "key": "BANS:198.51.100.7", "expiresAt": later},
                        {"_id": ObjectId(), "key": "BANS:198.51.100.8", "expiresAt": NOW}])
    insert(db, "conversations", [
        make_conversation(uid, hour_ago, rng=9, temporary=True),
        make_conversation(uid, hour_ago, rng=10, isTemporary=MISSING,
                          expiredAt=NOW + timedelta(days=3)),
        make_conversation(uid, hour_ago, rng=11, isTemporary=False,
                          expiredAt=NOW + timedelta(days=3)),
        make_conversation(uid, hour_ago, rng=12, isArchived=True)])
    insert(db, "users", [make_user(13, hour_ago, pending=True),
                         make_user(14, hour_ago, provider="google")])
    insert(db, "files", [make_file(uid, hour_ago, rng=15, embedded=True, bytes=10),
                         make_file(uid, hour_ago, rng=16, bytes=20)])
    run, expected = cold_run(uri, db, tmp_path, NOW)
    assert_matches(run, expected)
    hand = {"librechat_messages_5m": 3, "librechat_error_messages_5m": 2,
            "librechat_active_users": 1, "librechat_active_conversations": 2,
            "librechat_input_tokens_5m": 10, "librechat_output_tokens_5m": 7,
            "librechat_balances": 4, "librechat_balance_credits": 95.5,
            "librechat_balance_users_at_zero": 3, "librechat_sessions_active": 1,
            "librechat_temporary_conversations": 2, "librechat_archived_conversations": 1,
            "librechat_users_pending_verification": 1, "librechat_files_embedded": 1}
    for family, number in hand.items():
        assert value(run.samples, family) == number, family
    # Every model with a slot has a sample (0 where nothing failed); the question with an
    # error part counts in librechat_error_messages_5m only, not by model (answers only).
    assert {k: v for k, v in run.samples["librechat_errors_per_model_5m"].items() if v} == {
        (("model", "gpt-4o"),): 1.0}
    assert run.samples["librechat_bans_active"] == {(("kind", "ip"),): 1.0,
                                                    (("kind", "user"),): 1.0}
    assert value(run.samples, "librechat_users", provider="local", role="USER",
                 email_verified="false") == 1
    assert value(run.samples, "librechat_users", provider="google", role="USER",
                 email_verified="true") == 1
    assert value(run.samples, "librechat_files_bytes", source="local",
                 context="message_attachment") == 30


# ---------------------------------------------------------------------------------------------
# Smallest reproductions of single definitions


def test_zero_valued_label_sets_are_written(uri: str, db: Database[Any], tmp_path: Path) -> None:
    """A label set seen with a zero total (an OpenAI cache-aware prompt writes no cache:
    writeTokens -0) is a sample with value 0, not a missing series."""
    ensure_indexes(db)
    uid = ObjectId()
    at = NOW - timedelta(hours=1)
    insert(db, "transactions", [
        make_structured_prompt(uid, at, "gpt-4o", 100, 0, 900, rng=1),
        make_transaction(uid, at, "completion", "gpt-4o", -50, rng=2),
    ])
    run, expected = cold_run(uri, db, tmp_path, NOW)
    assert value(expected.samples, "librechat_tokens_total", model="gpt-4o",
                 kind="cache_write") == 0
    assert value(expected.samples, "librechat_tokens_total", model="gpt-4o",
                 kind="cache_read") == 900
    assert_matches(run, expected)


def test_errors_per_model_count_the_answers_messages_per_model_counts(
        uri: str, db: Database[Any], tmp_path: Path) -> None:
    """librechat_errors_per_model_total counts the assistant messages of
    librechat_messages_per_model_total that carry an error, so errors / messages is a rate
    (at most 1); an error on a user message counts in librechat_error_messages_total only."""
    ensure_indexes(db)
    uid = ObjectId()
    at = NOW - timedelta(minutes=2)
    convo = make_conversation(uid, at, endpoint="openAI", model="gpt-4o", rng=1)
    cid = convo["conversationId"]
    # Two questions saved with an error (as an import or a failed edit can leave them), one
    # answer with error: true, one with an error part, two good answers.
    docs = [make_message(uid, cid, at, by_user=True, rng=i, model="gpt-4o", error=True)
            for i in range(2)]
    docs += [make_message(uid, cid, at, by_user=False, rng=10, model="gpt-4o", error=True),
             make_message(uid, cid, at, by_user=False, rng=11, model="gpt-4o",
                          content=[{"type": "error", "error": "429 rate limit"}]),
             make_message(uid, cid, at, by_user=False, rng=12, model="gpt-4o"),
             make_message(uid, cid, at, by_user=False, rng=13, model="gpt-4o")]
    insert(db, "conversations", [convo])
    insert(db, "messages", docs)
    run, expected = cold_run(uri, db, tmp_path, NOW)
    for family in ("librechat_errors_per_model_total", "librechat_errors_per_model_5m"):
        assert value(run.samples, family, model="gpt-4o") == 2, family
    for family in ("librechat_messages_per_model_total", "librechat_messages_per_model_5m"):
        assert value(run.samples, family, model="gpt-4o") == 4, family
    assert value(run.samples, "librechat_error_messages_total") == 4
    assert value(run.samples, "librechat_error_messages_5m") == 4
    # LibreChat saves questions without a model: before 2.2.0 their errors went to "none",
    # a model with errors and no answers.
    for errors, answers in (("librechat_errors_per_model_total",
                             "librechat_messages_per_model_total"),
                            ("librechat_errors_per_model_5m", "librechat_messages_per_model_5m")):
        for key, count in run.samples[errors].items():
            assert count <= run.samples[answers].get(key, 0.0), (errors, key)
    assert_matches(run, expected)


def test_negative_file_bytes_count_as_zero_per_file(uri: str, db: Database[Any],
                                                    tmp_path: Path) -> None:
    ensure_indexes(db)
    uid = ObjectId()
    at = NOW - timedelta(hours=2)
    insert(db, "files", [make_file(uid, at, rng=1, bytes=1000),
                         make_file(uid, at, rng=2, bytes=-400)])
    run, expected = cold_run(uri, db, tmp_path, NOW)
    key = {"source": "local", "context": "message_attachment"}
    assert value(expected.samples, "librechat_files_created_bytes_total", **key) == 1000
    assert value(expected.samples, "librechat_files_bytes", **key) == 1000
    assert_matches(run, expected)


def test_every_open_ended_label_is_capped(uri: str, db: Database[Any], tmp_path: Path) -> None:
    """--label-limit bounds every label that holds data values, not only the first one:
    file contexts, MCP servers and agent names too."""
    ensure_indexes(db)
    uid = ObjectId()
    at = NOW - timedelta(hours=3)
    files = [make_file(uid, at, rng=i, context=f"context{i}") for i in range(4)]
    convo = make_conversation(uid, at, endpoint="agents", rng=9)
    messages = []
    for i in range(4):
        calls = [{"type": "tool_call", "tool_call": {"name": f"search_mcp_server{i}"}}] * (i + 1)
        messages.append(make_message(uid, convo["conversationId"], at, by_user=False,
                                     model=f"agent_{i:021d}", endpoint="agents", rng=20 + i,
                                     content=calls))
    agents = [{"_id": ObjectId(), "id": f"agent_{i:021d}", "name": f"Agent {i}"}
              for i in range(4)]
    insert(db, "files", files)
    insert(db, "conversations", [convo])
    insert(db, "messages", messages)
    insert(db, "agents", agents)
    run, expected = cold_run(uri, db, tmp_path, NOW, label_limit=3)
    for family, label in (("librechat_files_created_total", "context"),
                          ("librechat_tool_calls_total", "mcp_server"),
                          ("librechat_agent_messages_total", "agent_id")):
        values = {dict(k)[label] for k in expected.samples[family]}
        assert len(values - {"other"}) == 3 and "other" in values, (family, values)
    assert_matches(run, expected)


def test_cold_run_ranks_label_values_over_all_counted_documents(uri: str, db: Database[Any],
                                                                tmp_path: Path) -> None:
    """The first N values by volume on a cold run are ranked over every counted document,
    the last `--lag` seconds included (the job counts those in a second pass)."""
    ensure_indexes(db)
    uid = str(ObjectId())
    convo = "00000000-0000-4000-8000-000000000001"
    old, recent = NOW - timedelta(hours=1), NOW - timedelta(seconds=60)
    rows = [("model-a", old)] * 10 + [("model-b", old)] * 6 + [("model-b", recent)] * 6
    insert(db, "messages", [
        make_message(uid, convo, at + timedelta(milliseconds=i), by_user=False, model=model,
                     rng=300 + i) for i, (model, at) in enumerate(rows)])
    run, expected = cold_run(uri, db, tmp_path, NOW, label_limit=1)
    assert expected.samples["librechat_messages_per_model_total"] == {
        (("model", "model-b"),): 12.0, (("model", "other"),): 10.0}
    assert_matches(run, expected)


def test_one_malformed_feedback_does_not_lose_the_feedback_families(
        uri: str, db: Database[Any], tmp_path: Path) -> None:
    """`feedback` stored as an array (not LibreChat's shape) must not fail the whole section:
    the well-formed feedback is still reported."""
    ensure_indexes(db)
    uid = str(ObjectId())
    at = NOW - timedelta(hours=1)
    insert(db, "messages", [
        make_message(uid, "c", at, by_user=False, model="gpt-4o", rng=1,
                     feedback={"rating": "thumbsUp", "tag": "accurate_reliable"}),
        make_message(uid, "c", at, by_user=False, model="gpt-4o", rng=2,
                     feedback={"rating": "thumbsDown", "tag": " "}),
        make_message(uid, "c", at, by_user=False, model="gpt-4o", rng=3,
                     feedback=[{"rating": "thumbsUp"}]),
    ])
    run, expected = cold_run(uri, db, tmp_path, NOW)
    assert value(expected.samples, "librechat_feedback", rating="thumbsUp", model="gpt-4o") == 1
    assert value(expected.samples, "librechat_feedback_tags", rating="thumbsDown",
                 tag="none") == 1
    assert_matches(run, expected)


# Documents of shapes LibreChat does not write, one kind per case: (collection, documents).
# Cases marked xfail are places where the job deliberately or structurally differs from the
# written definitions; the lead decides whether the job or the definition changes.
def _exotic_cases() -> dict[str, tuple[str, list[dict[str, Any]]]]:
    uid = ObjectId("5f0000000000000000000001")
    user = str(uid)
    at = NOW - timedelta(hours=1)
    soon = NOW + timedelta(hours=1)

    def reply(rng: int, **over: Any) -> dict[str, Any]:
        over.setdefault("model", "gpt-4o")
        return make_message(user, "c", at, by_user=False, rng=rng, **over)

    def prompt(rng: int, raw: Any) -> dict[str, Any]:
        return make_transaction(uid, at, "prompt", "gpt-4o", -5, rng=rng, rawAmount=raw)

    return {
        "non-numeric-amounts": ("transactions", [
            prompt(1, True), prompt(2, float("nan")), prompt(3, float("-inf")),
            prompt(4, -1e16), prompt(5, "-100"), prompt(6, -1e15)]),
        "decimal128-amounts": ("transactions", [prompt(7, Decimal128("-100"))]),
        "decimal128-credits": ("balances", [{"_id": uid, "user": uid,
                                             "tokenCredits": Decimal128("5000")}]),
        "array-flags": ("conversations", [make_conversation(
            uid, at, rng=8, isTemporary=[True], isArchived=[True])]),
        "content-dict-tool-call": ("messages", [reply(
            9, content={"type": "tool_call", "tool_call": {"name": "x"}})]),
        "content-shapes": ("messages", [
            reply(10, content=[[{"type": "error"}]]),
            reply(11, content=[{"type": "tool_call", "tool_call": {
                "name": None, "function": {"name": "fn_mcp_srv"}}},
                {"type": "tool_call", "tool_call": "text"}, {"type": "tool_call"}, "x", 5])]),
        "object-id-user": ("messages", [make_message(uid, "c", at, by_user=True, rng=12,
                                                     user=uid)]),
        "bytes-model": ("messages", [reply(13, model=b"gpt-4o")]),
        "future-created-at": ("messages", [
            reply(14), reply(15, createdAt=NOW + timedelta(minutes=10))]),
        "int-flags": ("messages", [reply(19, unfinished=1, error=1, isCreatedByUser=1)]),
        "ban-keys": ("logs", [
            {"_id": ObjectId(), "key": "BANS:" + "a" * 24, "expiresAt": soon},
            {"_id": ObjectId(), "key": "BANS:" + "A" * 24 + "x", "expiresAt": soon},
            {"_id": ObjectId(), "key": "bans:198.51.100.1", "expiresAt": soon},
            {"_id": ObjectId(), "key": "BANS:198.51.100.2", "expiresAt": soon.isoformat()},
            {"_id": ObjectId(), "key": ["BANS:198.51.100.3"], "expiresAt": soon}]),
        "user-flags": ("users", [make_user(1, at, emailVerified=1),
                                 make_user(2, at, expiresAt="2026-04-01")]),
        "agent-suffix": ("messages", [reply(20, model="agent_abc____3", endpoint="agents")]),
    }


EXOTIC_DECISIONS: dict[str, str] = {}
# Every exotic shape is now defined (MongoDB's own semantics for arrays and lone values,
# Decimal128 as a number, bytes decoded); the two structural differences have tests of their
# own below: documents whose _id is not an ObjectId, and models 1 and 1.0.


@pytest.mark.parametrize("case", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=EXOTIC_DECISIONS[name]))
    if name in EXOTIC_DECISIONS else name for name in _exotic_cases()])
def test_exotic_field_shapes(uri: str, db: Database[Any], tmp_path: Path, case: str) -> None:
    ensure_indexes(db)
    collection, docs = _exotic_cases()[case]
    if case == "agent-suffix":
        insert(db, "agents", [{"_id": ObjectId(), "id": "agent_abc", "name": "Abc"}])
    insert(db, collection, docs)
    run, expected = cold_run(uri, db, tmp_path, NOW)
    assert run.code == 0
    assert_matches(run, expected)


def test_documents_without_an_object_id_are_not_counted(uri: str, db: Database[Any],
                                                        tmp_path: Path) -> None:
    # LibreChat's ids are always ObjectIds: counting rides `_id` ranges, so a document with
    # another `_id` type is not seen by counters nor by the unique-user windows (documented).
    ensure_indexes(db)
    uid = ObjectId("5f0000000000000000000001")
    insert(db, "messages", [make_message(str(uid), "c", NOW - timedelta(hours=1),
                                         by_user=True, rng=16, _id="not-an-object-id")])
    run, _ = cold_run(uri, db, tmp_path, NOW)
    assert run.code == 0
    assert value(run.samples, "librechat_messages_total") == 0
    assert value(run.samples, "librechat_daily_unique_users") == 0


def test_numerically_equal_models_share_one_label(uri: str, db: Database[Any],
                                                  tmp_path: Path) -> None:
    # MongoDB's $group sees 1 and 1.0 as one key; the label is whichever the server returns.
    ensure_indexes(db)
    uid = str(ObjectId("5f0000000000000000000001"))
    at = NOW - timedelta(hours=1)
    insert(db, "messages", [make_message(uid, "c", at, by_user=False, rng=17, model=1),
                            make_message(uid, "c", at, by_user=False, rng=18, model=1.0)])
    run, _ = cold_run(uri, db, tmp_path, NOW)
    per_model = run.samples["librechat_messages_per_model_total"]
    assert len(per_model) == 1 and next(iter(per_model.values())) == 2
    assert dict(next(iter(per_model)))["model"] in ("1", "1.0")
