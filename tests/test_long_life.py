"""Numbers that stay right over a long life: shared label dimensions that age, explicit zeros,
counters that survive a lost state file, a clock that steps back, a state from version 1.

Every run is the real job against a real mongod (``run_job``); expected values come from the
oracle (tests/oracle.py) or are counted by hand from the documents the test inserts.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from librechat_metrics.state import STATE_VERSION
from tests import oracle
from tests.librechat_data import (
    GenOptions,
    ensure_indexes,
    generate,
    make_conversation,
    make_message,
    make_transaction,
)
from tests.promparse import Samples, ok, parse_file, run_job

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 18, 14, 30, 7, tzinfo=UTC)
SEEDS = itertools.count(10_000)  # every generated document its own random stream
MODEL_FAMILIES = ("librechat_messages_per_model_total", "librechat_errors_per_model_total",
                  "librechat_unfinished_messages_total", "librechat_llm_calls_total",
                  "librechat_cost_usd_total", "librechat_input_tokens_per_model_total",
                  "librechat_output_tokens_per_model_total")


def total(samples: Samples, family: str) -> float:
    return sum(samples.get(family, {}).values())


def label_values(samples: Samples, family: str, label: str) -> set[str]:
    return {dict(key)[label] for key in samples.get(family, {})}


def counters(samples: Samples) -> dict[str, dict[Any, float]]:
    return {name: rows for name, rows in samples.items()
            if name in oracle.COUNTERS}


def traffic(db: Database[Any], at: datetime, models: list[str], *, errors: tuple[str, ...] = (),
            unfinished: tuple[str, ...] = (), per_model: int = 1) -> int:
    """Per model: a user message, `per_model` assistant answers and their transactions."""
    user = ObjectId()
    convo = make_conversation(user, at, rng=next(SEEDS))
    docs, txs = [], []
    n = 0
    for i, model in enumerate(models):
        when = at + timedelta(milliseconds=10 * i)
        docs.append(make_message(user, convo["conversationId"], when, by_user=True,
                                 rng=next(SEEDS)))
        for _ in range(per_model):
            docs.append(make_message(user, convo["conversationId"], when, by_user=False,
                                     model=model, rng=next(SEEDS),
                                     error=model in errors, unfinished=model in unfinished))
            txs.append(make_transaction(user, when, "prompt", model, -100, rng=next(SEEDS)))
            txs.append(make_transaction(user, when, "completion", model, -10, rng=next(SEEDS)))
        n += 1 + per_model
    db.conversations.insert_one(convo)
    db.messages.insert_many(docs)
    db.transactions.insert_many(txs)
    return n


def test_a_clock_stepping_back_counts_nothing_twice(uri: str, db: Database[Any],
                                                    tmp_path: Path) -> None:
    ensure_indexes(db)
    traffic(db, NOW - timedelta(seconds=30), ["gpt-4o"] * 5)  # 10 messages inside the lag
    work = tmp_path / "job"
    first = ok(run_job(uri, db.name, work, NOW))
    back = ok(run_job(uri, db.name, work, NOW - timedelta(seconds=100)))
    ahead = ok(run_job(uri, db.name, work, NOW + timedelta(seconds=60)))
    counts = [total(r.samples, "librechat_messages_total") for r in (first, back, ahead)]
    assert counts == [10, 10, 10]
    # A replay of --now far behind, then the real time again: still each document once.
    replay = ok(run_job(uri, db.name, work, NOW - timedelta(hours=1)))
    again = ok(run_job(uri, db.name, work, NOW + timedelta(seconds=400)))
    assert total(replay.samples, "librechat_messages_total") == 10
    assert total(again.samples, "librechat_messages_total") == 10


def test_label_caps_give_every_model_family_the_same_values(uri: str, db: Database[Any],
                                                            tmp_path: Path) -> None:
    ensure_indexes(db)
    models = [f"model-{i:02d}" for i in range(12)]
    for i, model in enumerate(models):
        traffic(db, NOW - timedelta(hours=2, minutes=i), [model], per_model=12 - i,
                errors=("model-03", "model-09", "model-11"),
                unfinished=("model-05", "model-10"))
    run = ok(run_job(uri, db.name, tmp_path / "job", NOW, extra=("--label-limit", "3")))
    values = {family: label_values(run.samples, family, "model") for family in MODEL_FAMILIES}
    first = values[MODEL_FAMILIES[0]]
    assert len(first - {"other"}) == 3 and "other" in first, first
    assert all(v == first for v in values.values()), values
    # Every family writes each value, 0 where nothing happened (errors of the top models).
    for family in MODEL_FAMILIES:
        assert len(run.samples[family]) == len(first), family
    # Nothing is lost to the cap: the sums equal the oracle's uncapped totals.
    expected = oracle.compute(oracle.Snapshot.read(db), oracle.Config(
        now=NOW, timezone="UTC", label_limit=1000, daily_days=30))
    for family in MODEL_FAMILIES:
        assert total(run.samples, family) == pytest.approx(
            sum(expected.samples[family].values())), family
    assert oracle.compare(run.samples, oracle.compute(oracle.Snapshot.read(db), oracle.Config(
        now=NOW, timezone="UTC", label_limit=3, daily_days=30))) == []


def test_slots_age_out_after_the_ttl_and_other_never_falls(uri: str, db: Database[Any],
                                                           tmp_path: Path) -> None:
    ensure_indexes(db)
    work = tmp_path / "job"
    # The daily statistics meet every model of their window too: a short window, so that the
    # last meeting of old-b is day 7 and its slot is free 30 days later.
    limit = ("--label-limit", "2", "--label-ttl", "30", "--daily-days", "7")
    traffic(db, NOW - timedelta(minutes=10), ["old-a", "old-b", "old-c"], per_model=2)
    day0 = ok(run_job(uri, db.name, work, NOW, extra=limit))
    assert label_values(day0.samples, "librechat_messages_per_model_total", "model") == {
        "old-a", "old-b", "other"}
    others = [day0.samples["librechat_messages_per_model_total"][(("model", "other"),)]]
    states = [len((work / "state.json").read_bytes())]
    for day in range(1, 70, 4):
        now = NOW + timedelta(days=day)
        models = ["old-a"] if day <= 20 else []  # old-a goes quiet after day 20
        models += ["new-x", "new-y"]
        traffic(db, now - timedelta(minutes=1), models, per_model=1)
        run = ok(run_job(uri, db.name, work, now, extra=limit))
        got = label_values(run.samples, "librechat_messages_per_model_total", "model")
        other = run.samples["librechat_messages_per_model_total"].get((("model", "other"),))
        assert other is not None and other >= others[-1], (day, other, others)
        others.append(other)
        state = json.loads((work / "state.json").read_text())
        slots = state["dimensions"]["model"]
        assert len(slots) <= 2, slots
        counted = json.dumps([s.get("counters", {}) for s in state["sections"].values()])
        # old-b is last met on day 7 (the 7-day daily window), old-a on day 27.
        if day > 7 + 30:
            assert "old-b" not in got and "old-b" not in slots and "old-b" not in counted
            assert "new-x" in got, got  # the freed slot went to a new model
        if day > 27 + 30:
            assert "old-a" not in got and "old-a" not in slots and "old-a" not in counted
            assert {"new-x", "new-y"} <= got, got
        states.append(len((work / "state.json").read_bytes()))
    assert got == {"new-x", "new-y", "other"}, got
    assert max(states) < 2 * states[0] + 20_000, states  # bounded: retired values leave
    print(f"aging: {len(others)} runs, other {others}, state bytes {states}")


def test_every_labelled_family_has_a_sample_on_a_generated_database(
        uri: str, db: Database[Any], tmp_path: Path) -> None:
    generate(db, GenOptions(seed=21, now=NOW))
    run = ok(run_job(uri, db.name, tmp_path / "job", NOW))
    reference = (ROOT / "docs" / "metrics.md").read_text()
    names = set(re.findall(r"`(librechat_[a-z0-9_]+)`", reference))
    empty = sorted(n for n in names if n in oracle.FAMILY_LABELS and not run.samples.get(n))
    assert empty == []
    # The two families the dashboard showed as "No data" before 2.0.0:
    assert run.samples["librechat_errors_per_model_5m"]
    assert run.samples["librechat_tool_call_errors_total"]
    tools = label_values(run.samples, "librechat_tool_calls_total", "tool")
    assert tools == label_values(run.samples, "librechat_tool_call_errors_total", "tool")


# ---- counters that survive a lost state ------------------------------------------------------


def lose_state(work: Path, how: str) -> None:
    state = work / "state.json"
    if how == "removed":
        state.unlink()
    else:
        state.write_bytes(state.read_bytes()[:40])  # torn: not JSON


@pytest.mark.parametrize("how", ["removed", "corrupt"])
def test_counters_continue_from_the_last_prom_when_the_state_is_lost(
        uri: str, db: Database[Any], tmp_path: Path, how: str,
        capfd: pytest.CaptureFixture[str]) -> None:
    generate(db, GenOptions(seed=22, now=NOW))
    work = tmp_path / "job"
    before = ok(run_job(uri, db.name, work, NOW))
    # Users delete chats: a recount would now start lower than the counters are.
    deleted = db.messages.delete_many({"isCreatedByUser": True, "createdAt": {
        "$lt": NOW - timedelta(days=3)}}).deleted_count
    assert deleted > 10
    lose_state(work, how)
    added = traffic(db, NOW + timedelta(seconds=20), ["gpt-4o", "claude-3-5-sonnet"])
    capfd.readouterr()
    after = ok(run_job(uri, db.name, work, NOW + timedelta(minutes=1)))
    warnings = [line for line in capfd.readouterr().err.splitlines() if " WARNING " in line]
    assert len(warnings) == 1 and "counters restored from" in warnings[0], warnings
    b, a = counters(before.samples), counters(after.samples)
    for family, rows in b.items():
        for key, value in rows.items():
            assert a[family].get(key, 0.0) >= value, (family, key, value, a[family].get(key))
    assert total(after.samples, "librechat_messages_total") == \
        total(before.samples, "librechat_messages_total") + added


def test_without_a_usable_prom_a_lost_state_is_counted_afresh(uri: str, db: Database[Any],
                                                              tmp_path: Path) -> None:
    generate(db, GenOptions(seed=23, now=NOW))
    work = tmp_path / "job"
    ok(run_job(uri, db.name, work, NOW))
    (work / "state.json").unlink()
    (work / "librechat.prom").unlink()
    cold = ok(run_job(uri, db.name, work, NOW + timedelta(minutes=1)))
    expected = oracle.compute(oracle.Snapshot.read(db), oracle.Config(
        now=NOW + timedelta(minutes=1), timezone="UTC", label_limit=50, daily_days=30))
    assert oracle.compare(cold.samples, expected, oracle.COUNTERS) == []
    # A .prom of another database, deployment, version or hand is refused: with other
    # content than this database's, tests/test_continuity.py (test_restore_refuses_*).


def test_a_version_1_state_is_migrated_not_recounted(uri: str, db: Database[Any],
                                                     tmp_path: Path) -> None:
    generate(db, GenOptions(seed=24, now=NOW))
    old_job = tmp_path / "v1" / "librechat_textfile.py"
    old_job.parent.mkdir()
    old_job.write_bytes(subprocess.run(["git", "-C", str(ROOT), "show",
                                        "3c985ff:librechat_textfile.py"], check=True,
                                       capture_output=True).stdout)
    work = tmp_path / "job"
    work.mkdir()
    args = ["--mongodb-uri", uri, "--mongodb-database", db.name, "--output",
            str(work / "librechat.prom"), "--state-file", str(work / "state.json"),
            "--env-file", str(work / "no.env")]
    subprocess.run([sys.executable, str(old_job), *args, "--now", NOW.isoformat()],
                   check=True, cwd=work, capture_output=True)
    assert json.loads((work / "state.json").read_text())["version"] == 1
    v1_total = total(run_job(uri, db.name, tmp_path / "peek", NOW).samples,
                     "librechat_messages_total")
    db.messages.delete_many({"isCreatedByUser": True})  # a recount would fall
    added = traffic(db, NOW + timedelta(seconds=20), ["gpt-4o"])
    run = ok(run_job(uri, db.name, work, NOW + timedelta(minutes=1)))
    assert json.loads((work / "state.json").read_text())["version"] == STATE_VERSION
    assert total(run.samples, "librechat_messages_total") == v1_total + added
    assert "librechat_files_created_bytes_total" in run.samples


# ---- continuity as Prometheus sees it ---------------------------------------------------------


def instant(prom: Any, expr: str) -> dict[str, float]:
    answer = prom.query(expr)
    assert answer.get("status") == "success", answer
    return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1])
            for r in answer["data"]["result"]}


def wait_value(prom: Any, expr: str, value: float, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list(instant(prom, expr).values()) == [value]:
            return
        time.sleep(0.25)
    raise AssertionError(f"{expr} never read {value}: {instant(prom, expr)}")


def served(textfile: Path) -> Samples:
    return parse_file(str(textfile / "librechat.prom"))[0]


@pytest.mark.parametrize("how", ["removed", "corrupt", "no .prom either"])
def test_prometheus_sees_no_reset_when_the_state_is_lost(uri: str, db: Database[Any],
                                                         tmp_path: Path, how: str) -> None:
    from tests.services import NodeExporter, Prometheus

    generate(db, GenOptions(seed=26, now=NOW))
    textfile, work = tmp_path / "textfile", tmp_path / "work"
    textfile.mkdir()
    args = ("--output", str(textfile / "librechat.prom"), "--state-file",
            str(work / "state.json"))
    with NodeExporter(textfile) as node, Prometheus([node.address]) as prom:
        started = time.time()
        ok(run_job(uri, db.name, work, NOW, extra=args))
        before = total(served(textfile), "librechat_messages_total")
        wait_value(prom, "librechat_messages_total", before)
        time.sleep(2)  # a few scrapes of the first value
        db.messages.delete_many({"isCreatedByUser": True})  # a recount would start lower
        if how == "corrupt":
            (work / "state.json").write_text('{"version": 2, "sect')
        else:
            (work / "state.json").unlink()
        if how == "no .prom either":
            # The fallback a first install also takes: node_exporter briefly has no file.
            (textfile / "librechat.prom").unlink()
        ok(run_job(uri, db.name, work, NOW + timedelta(minutes=1), extra=args))
        added = traffic(db, NOW + timedelta(minutes=1, seconds=20), ["gpt-4o", "gemini-2.5"])
        ok(run_job(uri, db.name, work, NOW + timedelta(minutes=2), extra=args))
        after = total(served(textfile), "librechat_messages_total")
        wait_value(prom, "librechat_messages_total", after)
        time.sleep(1.5)
        window = f"{math.ceil(time.time() - started) + 5}s"
        # Per family: resets() drops the name, so one query over all would clash.
        resets = {name: sum(instant(prom, f"resets({name}[{window}])").values())
                  for name in oracle.COUNTERS}
        growth = instant(prom, f"max_over_time(librechat_messages_total[{window}]) - "
                               f"min_over_time(librechat_messages_total[{window}])")
        increase = instant(prom, f"increase(librechat_messages_total[{window}])")
    print(f"continuity [{how}]: messages_total {before:g} -> {after:g}, inserted {added}, "
          f"resets {sum(resets.values()):g}, max-min {list(growth.values())}, "
          f"increase() {list(increase.values())} over {window}")
    if how == "no .prom either":
        # Without the .prom the stored documents are counted afresh: Prometheus sees the reset
        # that 2.0.0 avoids whenever the file is there.
        assert resets["librechat_messages_total"] > 0
        assert after < before + added
        return
    assert set(resets.values()) == {0.0}, {k: v for k, v in resets.items() if v}
    assert after == before + added
    assert list(growth.values()) == [float(added)]
    # increase() extrapolates to the window's edges, but stays near what was inserted (a
    # reset would have read as the whole history again, ~before).
    assert added <= next(iter(increase.values())) < added * 2
