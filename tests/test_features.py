"""What LibreChat 0.8 stores that no exporter measures (issue 22): memories, MCP servers, the
agent marketplace, what is shared with whom, scheduled runs, the admin audit log, the preview
status of files, the surcharge on cancelled answers and churned users.

Each family is compared with the oracle (tests/oracle.py) over generated deployments of every
version, hostile documents included; a few numbers are worked out by hand so that the oracle
and the job cannot agree on a wrong answer; the counters are followed across runs (settled
runs counted once when they settle, not when they are created); and a LibreChat older than a
collection gets nothing for it, said once at INFO, never a failure.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests import librechat_data as ld
from tests import oracle
from tests.promparse import JobRun, run_job
from tests.test_metrics import NOW, assert_healthy, assert_matches, cold_run, value

FEATURE_FAMILIES = tuple(name for name, *_ in oracle.FAMILIES[
    [f for f, *_ in oracle.FAMILIES].index("librechat_memory_users"):])
# Families that the generated 0.8.8 deployment must leave non-zero somewhere.
NONZERO = ("librechat_memory_users", "librechat_memory_entries", "librechat_memory_tokens",
           "librechat_mcp_servers", "librechat_agent_categories", "librechat_agents_promoted",
           "librechat_acl_entries", "librechat_schedules", "librechat_schedules_disabled",
           "librechat_schedule_runs_in_progress", "librechat_schedule_runs_total",
           "librechat_schedule_run_duration_seconds_total", "librechat_audit_events_total",
           "librechat_files_by_status", "librechat_files_pending_stuck",
           "librechat_incomplete_surcharge_usd_total")
# (Every generated user chats in the last days, so nobody has churned there: the churned
# users are worked out by hand below.)
ABSENT_MESSAGE = "collection {} not found"


def nonzero(samples: dict[str, dict[Any, float]], family: str) -> bool:
    return any(v != 0 for v in samples[family].values())


def absent_logs(capfd: pytest.CaptureFixture[str]) -> list[str]:
    """The job's INFO lines (on stderr) about absent collections since the last call."""
    return [line for line in capfd.readouterr().err.splitlines()
            if " - INFO - " in line and "not found (LibreChat before" in line]


# ---------------------------------------------------------------------------------------------
# Generated deployments against the oracle


@pytest.mark.parametrize("version", ["0.8.8", "0.8.7", "0.8.0", "0.7.9", "0.7.5"])
def test_generated_deployment_with_hostile_documents(uri: str, db: Database[Any], tmp_path: Path,
                                                     version: str) -> None:
    ld.generate(db, ld.GenOptions(seed=61, now=NOW, version=version, hostile=True))
    run, expected = cold_run(uri, db, tmp_path, NOW)
    present = set(db.list_collection_names())
    for family, collection in oracle.FAMILY_COLLECTION.items():
        assert (family in expected.absent) == (collection not in present), family
    if version == "0.8.8":
        assert expected.absent == frozenset()
        for family in NONZERO:
            assert nonzero(expected.samples, family), f"generated data leaves {family} at zero"
    assert_matches(run, expected)
    assert_healthy(run)


def test_hostile_values_land_where_the_definitions_say(uri: str, db: Database[Any],
                                                       tmp_path: Path) -> None:
    """Values outside LibreChat's enums count as other, non-numbers as 0, non-dates never
    match a time, arrays as MongoDB matches them; checked in the oracle's numbers (which the
    job matches) and by hand on the hostile documents alone."""
    ld.generate(db, ld.GenOptions(seed=62, now=NOW, users=6, hostile=True))
    run, expected = cold_run(uri, db, tmp_path, NOW)
    got = expected.samples
    assert value(got, "librechat_acl_entries", resource_type="agent",
                 principal_type="other") >= 2  # "robot" and a missing principalType
    assert (("principal_type", "public"), ("resource_type", "42")) in got["librechat_acl_entries"]
    assert value(got, "librechat_schedule_runs_total", status="other") == 1
    assert value(got, "librechat_schedule_runs_in_progress", status="other") == 1
    assert value(got, "librechat_schedules_disabled", reason="other") == 2
    assert value(got, "librechat_files_by_status", status="other") == 1
    assert (("category", "redacted"),) not in got["librechat_agents_promoted"]
    assert (("category", '["hr", "it"]'),) in got["librechat_agents_promoted"]
    assert (("category", '{"a": 1}'), ("outcome", "other"), ("severity", "info")) in \
        got["librechat_audit_events_total"]
    assert (("mcp_server", '{"name": "x"}'),) in got["librechat_mcp_servers"]
    assert_matches(run, expected)
    # By hand, on the hostile memories of one user: tokens "12", -5 and infinity count 0; the
    # users are the ObjectId, its hex string and the one-element array (the missing one is
    # no user).
    db.memoryentries.delete_many({"key": {"$nin": ["a", "b", "c", "d", "e", "f"]}})
    run = run_job(uri, db.name, tmp_path / "memories", NOW)
    assert value(run.samples, "librechat_memory_entries") == 6
    assert value(run.samples, "librechat_memory_tokens") == 21  # 7 + 7 + 7
    assert value(run.samples, "librechat_memory_users") == 3


def test_tenants_split_the_new_families(uri: str, db: Database[Any], tmp_path: Path) -> None:
    ld.generate(db, ld.GenOptions(seed=63, now=NOW, tenants=["acme", "globex"]))
    run = run_job(uri, db.name, tmp_path, NOW, extra=["--tenant-label", "true"])
    assert run.code == 0
    plain = run_job(uri, db.name, tmp_path / "plain", NOW)
    for family in ("librechat_memory_entries", "librechat_mcp_servers", "librechat_acl_entries",
                   "librechat_schedule_runs_total", "librechat_audit_events_total",
                   "librechat_files_by_status"):
        tenants = {dict(k).get("tenant") for k in run.samples[family]}
        assert {"acme", "globex"} <= tenants, (family, tenants)
        # Split by tenant, the same totals.
        assert math.isclose(sum(run.samples[family].values()),
                            sum(plain.samples[family].values())), family
    # Platform-wide categories and audit entries carry no tenant.
    assert "none" in {dict(k)["tenant"] for k in run.samples["librechat_agent_categories"]}
    assert "tenant" not in {n for k in run.samples["librechat_churned_users"] for n, _ in k}


# ---------------------------------------------------------------------------------------------
# Numbers worked out by hand


def test_cancelled_answers_surcharge_by_hand(uri: str, db: Database[Any], tmp_path: Path) -> None:
    """A cancelled gpt-4o answer of 1000 completion tokens: LibreChat's price is 10 USD per
    1M, so 0.01 USD; it bills ceil(-1000 x 10 x 1.15) = -11500 credits, 0.0115 USD. The
    surcharge is 0.0015 USD, 0.15/1.15 of what was billed (not 15% of it). The prompt of the
    same answer is billed at its rate, and a finished answer carries no surcharge."""
    ld.ensure_indexes(db)
    user = ObjectId()
    at = NOW - timedelta(hours=1)
    txns = [ld.make_transaction(user, at, "completion", "gpt-4o", -1000, context="incomplete",
                                rng=1),
            ld.make_transaction(user, at, "prompt", "gpt-4o", -4000, context="incomplete",
                                rng=2),
            ld.make_transaction(user, at, "completion", "gpt-4o", -1000, rng=3),
            ld.make_transaction(user, at, "completion", "gpt-4o-mini", -3, context="incomplete",
                                rng=4)]
    assert txns[0]["tokenValue"] == -11500 and txns[0]["rate"] == pytest.approx(11.5)
    db.transactions.insert_many(txns)
    run = run_job(uri, db.name, tmp_path, NOW)
    surcharge = run.samples["librechat_incomplete_surcharge_usd_total"]
    assert surcharge[(("model", "gpt-4o"),)] == pytest.approx(0.0015, abs=1e-12)
    # gpt-4o-mini: 3 tokens at 0.6 per 1M is 1.8 credits, billed ceil(-2.07) = -2: the
    # surcharge derived from the stored value is 2 x 0.15/1.15, within one credit of the 0.27
    # a price table would give.
    mini = surcharge[(("model", "gpt-4o-mini"),)] * 1e6
    assert mini == pytest.approx(2 * 0.15 / 1.15, rel=1e-9) and abs(mini - 0.27) < 1
    context = run.samples["librechat_context_cost_usd_total"]
    assert context[(("context", "incomplete"),)] == pytest.approx(0.0115 + 0.01 + 2e-6)


def test_churned_users_by_hand(uri: str, db: Database[Any], tmp_path: Path) -> None:
    """Users whose last message is 2 h, 6 days, 8 days, 29 days, 31 days and 40 days old: two
    churned (8 and 29 days); 30-day actives less 7-day actives."""
    ld.ensure_indexes(db)
    docs = []
    for i, age in enumerate((timedelta(hours=2), timedelta(days=6), timedelta(days=8),
                             timedelta(days=29), timedelta(days=31), timedelta(days=40))):
        user = str(ld.object_id_at(datetime(2025, 1, 1, tzinfo=UTC), 500 + i))
        # An older message too: only the last one decides.
        for when in (NOW - age, NOW - age - timedelta(days=3)):
            docs.append(ld.make_message(user, f"conv-{i}", when, by_user=True, rng=len(docs)))
    db.messages.insert_many(docs)
    run = run_job(uri, db.name, tmp_path, NOW)
    assert value(run.samples, "librechat_churned_users") == 2
    assert value(run.samples, "librechat_unique_users", window="30d") - value(
        run.samples, "librechat_unique_users", window="7d") == 2


def test_shared_and_scheduled_by_hand(uri: str, db: Database[Any], tmp_path: Path) -> None:
    """One agent shared with everyone and with a group, one expired grant; one schedule with a
    success of 12.345 s, an error of 0.5 s, a balance skip, and a run going on now."""
    ld.ensure_indexes(db)
    author = ld.make_user(1, NOW - timedelta(days=9))
    agent = ld.make_agent(author, NOW - timedelta(days=8), rng=2)
    at = NOW - timedelta(days=7)
    db.aclentries.insert_many([
        ld.make_acl_entry("user", author["_id"], "agent", agent["_id"], ld.OWNER, author["_id"],
                          at, role="agent_owner", rng=3),
        ld.make_acl_entry("public", None, "agent", agent["_id"], ld.VIEWER, author["_id"], at,
                          role="agent_viewer", rng=4),
        ld.make_acl_entry("group", ObjectId(), "agent", agent["_id"], ld.EDITOR, author["_id"],
                          at, role="agent_editor", rng=5),
        ld.make_acl_entry("group", ObjectId(), "agent", agent["_id"], ld.VIEWER, author["_id"],
                          at, rng=6, expiredAt=NOW - timedelta(seconds=1)),
    ])
    schedule = ld.make_schedule(author["_id"], at, agent["id"], name="x", hour=7, rng=7)
    db.schedules.insert_one(schedule)
    runs = [ld.make_schedule_run(schedule, NOW - timedelta(days=3), "success",
                                 duration_ms=12345, rng=8),
            ld.make_schedule_run(schedule, NOW - timedelta(days=2), "error", duration_ms=500,
                                 rng=9),
            ld.make_schedule_run(schedule, NOW - timedelta(days=1), "skipped_balance", rng=10),
            ld.make_schedule_run(schedule, NOW - timedelta(minutes=1), "started", rng=11)]
    db.scheduleruns.insert_many(runs)
    run = run_job(uri, db.name, tmp_path, NOW)
    acl = run.samples["librechat_acl_entries"]
    assert acl[(("principal_type", "public"), ("resource_type", "agent"))] == 1
    assert acl[(("principal_type", "group"), ("resource_type", "agent"))] == 1  # not expired
    assert acl[(("principal_type", "user"), ("resource_type", "agent"))] == 1
    assert acl[(("principal_type", "role"), ("resource_type", "agent"))] == 0
    assert value(run.samples, "librechat_schedule_runs_total", status="success") == 1
    assert value(run.samples, "librechat_schedule_runs_total", status="error") == 1
    assert value(run.samples, "librechat_schedule_runs_total", status="skipped_balance") == 1
    assert value(run.samples, "librechat_schedule_runs_total", status="interrupted") == 0
    assert value(run.samples, "librechat_schedule_run_duration_seconds_total",
                 status="success") == pytest.approx(12.345)
    assert value(run.samples, "librechat_schedule_runs_in_progress", status="started") == 1
    assert value(run.samples, "librechat_schedules", enabled="true") == 1


# ---------------------------------------------------------------------------------------------
# Counters across runs


def later(run_at: datetime, seconds: float) -> datetime:
    return run_at + timedelta(seconds=seconds)


def test_runs_count_when_they_settle_exactly_once(uri: str, db: Database[Any],
                                                  tmp_path: Path) -> None:
    """A run is created `started` and settled later on the same document: it is counted when
    it settles, once, whatever its creation time; a settlement written late (stamped within
    --lag before the run that finds it) is still counted once, and so is one remembered
    across a clock set back; deleting settled runs (a deleted schedule, the 90-day TTL) never
    makes the counter fall."""
    ld.ensure_indexes(db)
    owner = ObjectId()
    schedule = ld.make_schedule(owner, NOW - timedelta(days=2), "agent_x", name="x", hour=7,
                                rng=1)
    db.schedules.insert_one(schedule)
    started = ld.make_schedule_run(schedule, NOW - timedelta(minutes=30), "started", rng=2)
    done = ld.make_schedule_run(schedule, NOW - timedelta(hours=5), "success",
                                duration_ms=1000, rng=3)
    db.scheduleruns.insert_many([started, done])

    def runs(at: datetime) -> JobRun:
        result = run_job(uri, db.name, tmp_path, at)
        assert result.code == 0
        return result

    first = runs(NOW)
    assert value(first.samples, "librechat_schedule_runs_total", status="success") == 1
    assert value(first.samples, "librechat_schedule_runs_total", status="interrupted") == 0
    # The started run is interrupted 2 minutes later; a skip arrives too.
    t2 = later(NOW, 120)
    db.scheduleruns.update_one({"_id": started["_id"]}, {
        "$set": {"status": "interrupted", "settledAt": later(NOW, 100), "durationMs": 1730000,
                 "bookkept": True}, "$unset": {"capacitySlot": 1}})
    db.scheduleruns.insert_one(ld.make_schedule_run(schedule, later(NOW, 110),
                                                    "skipped_overlap", rng=4))
    second = runs(t2)
    assert value(second.samples, "librechat_schedule_runs_total", status="interrupted") == 1
    assert value(second.samples, "librechat_schedule_runs_total", status="skipped_overlap") == 1
    assert value(second.samples, "librechat_schedule_run_duration_seconds_total",
                 status="interrupted") == pytest.approx(1730)
    # Nothing new: the same numbers (the runs of the overlap zone are not counted twice).
    third = runs(later(NOW, 180))
    feature = ("librechat_schedule_runs_total", "librechat_schedule_run_duration_seconds_total")
    for family in feature:
        assert third.samples[family] == second.samples[family], family
    # A settlement written late: stamped 100 s before this run, after the last run's time.
    late = ld.make_schedule_run(schedule, later(NOW, 170), "error", duration_ms=10, rng=5)
    db.scheduleruns.insert_one(late)
    fourth = runs(later(NOW, 270))
    assert value(fourth.samples, "librechat_schedule_runs_total", status="error") == 1
    # A clock set back (an NTP step, a replayed --now): the runs settled after its time stay
    # remembered, so they are not counted again later.
    back = runs(later(NOW, 150))
    for family in feature:
        assert back.samples[family] == fourth.samples[family], family
    # Past the lag the remembered runs fall below the horizon: still counted once.
    fifth = runs(later(NOW, 600))
    for family in feature:
        assert fifth.samples[family] == fourth.samples[family], family
    # Runs deleted: the counters stay.
    db.scheduleruns.delete_many({})
    sixth = runs(later(NOW, 660))
    for family in feature:
        assert sixth.samples[family] == fourth.samples[family], family


def test_audit_events_count_once_and_survive_a_purge(uri: str, db: Database[Any],
                                                     tmp_path: Path) -> None:
    ld.ensure_indexes(db)
    chain: list[dict[str, Any]] = []
    actor = {"type": "user", "id": str(ObjectId()), "name": "Admin"}
    target = {"type": "role", "id": "USER", "name": "USER"}
    db.auditlogs.insert_many([
        ld.make_audit_entry(chain, NOW - timedelta(hours=2), "grant.assigned", actor, target,
                            rng=1),
        ld.make_audit_entry(chain, NOW - timedelta(hours=1), "grant.removed", actor, target,
                            outcome="denied", rng=2)])
    first = run_job(uri, db.name, tmp_path, NOW)
    events = first.samples["librechat_audit_events_total"]
    assert events[(("category", "grant"), ("outcome", "denied"), ("severity", "warning"))] == 1
    assert sum(events.values()) == 2
    db.auditlogs.insert_one(ld.make_audit_entry(chain, later(NOW, 30), "grant.assigned", actor,
                                                target, outcome="denied", rng=3))
    second = run_job(uri, db.name, tmp_path, later(NOW, 60))
    events = second.samples["librechat_audit_events_total"]
    assert events[(("category", "grant"), ("outcome", "denied"), ("severity", "warning"))] == 2
    assert sum(events.values()) == 3
    db.auditlogs.delete_many({"seq": {"$lt": 3}})  # the retention purge
    third = run_job(uri, db.name, tmp_path, later(NOW, 120))
    assert third.samples["librechat_audit_events_total"] == events


def test_counters_restore_from_the_last_prom(uri: str, db: Database[Any], tmp_path: Path) -> None:
    """A lost state file: the new counters continue from the last .prom, like the others."""
    ld.generate(db, ld.GenOptions(seed=64, now=NOW))
    first = run_job(uri, db.name, tmp_path, NOW)
    assert first.code == 0
    first.state_file.unlink()
    second = run_job(uri, db.name, tmp_path, later(NOW, 60))
    assert second.code == 0
    for family in ("librechat_schedule_runs_total", "librechat_audit_events_total",
                   "librechat_incomplete_surcharge_usd_total"):
        assert second.samples[family] == first.samples[family], family


# ---------------------------------------------------------------------------------------------
# An older LibreChat


def test_an_older_librechat_gets_nothing_for_its_missing_collections(
        uri: str, db: Database[Any], tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """LibreChat 0.7.5 has none of the new collections: their families are not written, each
    absence is said once at INFO (not on the next runs, nor once per section), the run is
    healthy; when LibreChat is upgraded and a collection appears, its families appear."""
    ld.generate(db, ld.GenOptions(seed=65, now=NOW, version="0.7.5"))
    first = run_job(uri, db.name, tmp_path, NOW, extra=["--slow-interval", "60"])
    assert_healthy(first)
    missing = sorted(oracle.FAMILY_COLLECTION.values())
    said = absent_logs(capfd)
    for collection in set(missing):
        assert sum(ABSENT_MESSAGE.format(collection) in m for m in said) == 1, (collection, said)
    for family in oracle.FAMILY_COLLECTION:
        assert family not in first.types, family
    capfd.readouterr()
    second = run_job(uri, db.name, tmp_path, later(NOW, 120), extra=["--slow-interval", "60"])
    assert_healthy(second)
    assert absent_logs(capfd) == []
    # The upgrade: LibreChat 0.8.8 creates its collections at start-up.
    ld.ensure_indexes(db, "0.8.8")
    chain: list[dict[str, Any]] = []
    db.auditlogs.insert_one(ld.make_audit_entry(
        chain, later(NOW, 130), "grant.assigned", {"type": "system", "name": "x"},
        {"type": "role", "id": "USER"}, rng=1))
    capfd.readouterr()
    third = run_job(uri, db.name, tmp_path, later(NOW, 240), extra=["--slow-interval", "60"])
    assert_healthy(third)
    assert absent_logs(capfd) == []
    for family in oracle.FAMILY_COLLECTION:
        assert family in third.types, family
    assert sum(third.samples["librechat_audit_events_total"].values()) == 1
    assert value(third.samples, "librechat_memory_entries") == 0


def test_a_collection_that_goes_away_is_said_again(uri: str, db: Database[Any], tmp_path: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    ld.generate(db, ld.GenOptions(seed=66, now=NOW, users=4))
    args = ["--slow-interval", "60"]
    assert run_job(uri, db.name, tmp_path, NOW, extra=args).code == 0
    assert absent_logs(capfd) == []
    db.drop_collection("memoryentries")
    capfd.readouterr()
    gone = run_job(uri, db.name, tmp_path, later(NOW, 120), extra=args)
    assert gone.code == 0 and "librechat_memory_entries" not in gone.types
    assert [m for m in absent_logs(capfd) if "memoryentries" in m]
    expected = oracle.compute(oracle.Snapshot.read(db), oracle.Config(now=later(NOW, 120)))
    assert "librechat_memory_entries" in expected.absent


def test_a_restore_does_not_count_the_last_overlap_zone_again(uri: str, db: Database[Any],
                                                              tmp_path: Path) -> None:
    """Runs settled within --lag before the last run were counted in its overlap zone; with the
    state lost, the .prom's counters resume at the horizon and those runs are listed as seen
    (by settledAt), so they are not counted twice; a run settled after the restore is."""
    ld.ensure_indexes(db)
    schedule = ld.make_schedule(ObjectId(), NOW - timedelta(days=1), "agent_x", name="x",
                                hour=7, rng=1)
    db.schedules.insert_one(schedule)
    # Created 20 minutes ago (before the horizon), settled a minute ago (inside the zone).
    long_run = ld.make_schedule_run(schedule, NOW - timedelta(minutes=20), "success",
                                    duration_ms=19 * 60 * 1000, rng=2)
    db.scheduleruns.insert_one(long_run)
    first = run_job(uri, db.name, tmp_path, NOW)
    assert value(first.samples, "librechat_schedule_runs_total", status="success") == 1
    first.state_file.unlink()
    db.scheduleruns.insert_one(ld.make_schedule_run(schedule, later(NOW, 10), "error",
                                                    duration_ms=5000, rng=3))
    second = run_job(uri, db.name, tmp_path, later(NOW, 60))
    assert second.code == 0
    assert value(second.samples, "librechat_schedule_runs_total", status="success") == 1
    assert value(second.samples, "librechat_schedule_runs_total", status="error") == 1
