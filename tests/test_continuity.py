"""Counters no failure can bend (issue 20): each section owns its progress, and a history
replay proves it.

A real mongod (with test commands, for the failCommand fail point that makes one collection's
reads fail as a revoked permission would) and the real job, driven through histories of
inserts (now, late inside --lag, imports), deletions, runs, partial runs, runs with MongoDB
down, SIGKILL between the two renames, lost, corrupt and restored state files, lost .prom
files, clock steps back and forward, and label-slot churn. After every run the published file
is checked against tests/history_model.py, a plain model of the documented contract: every
counter equals what the model says has been counted, no counter series falls between two
files, `other` and the runs counter included, nothing is counted twice.

The seven cases of the issue are fixed histories (test_case_*); the hypothesis state machine
replays random ones: HISTORY_EXAMPLES (default 20) histories of up to HISTORY_STEPS (default
30) steps, from HISTORY_SEED (default the recorded one; "random" draws one and prints it).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import ObjectId
from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests import oracle
from tests.fault_report import TEST_COMMANDS, refusing_port
from tests.history_model import History
from tests.librechat_data import GenOptions, generate, make_transaction
from tests.mongod import Mongod, find_mongod_binary
from tests.promparse import ok, parse, run_job
from tests.seeds import chosen_seed

T0 = datetime(2026, 6, 1, 9, 0, 0, tzinfo=UTC)
MINUTE = 60.0
MODELS = ("gpt-4o", "claude-sonnet-4", "gemini-2.5-pro", "mistral-large", "llama-4")
EXAMPLES = int(os.environ.get("HISTORY_EXAMPLES", "20"))
STEPS = int(os.environ.get("HISTORY_STEPS", "30"))
RECORDED_SEED = 20261207


def history_seed() -> int:
    return chosen_seed("HISTORY_SEED", RECORDED_SEED, "history")


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[Mongod, pymongo.MongoClient[Any]]]:
    """A mongod of its own with test commands on, for the failCommand fail point."""
    server = Mongod(binary=find_mongod_binary(), extra_args=TEST_COMMANDS).start()
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(server.uri, tz_aware=True)
    try:
        yield server, client
    finally:
        client.close()
        server.stop()


@pytest.fixture
def history(faulty: tuple[Mongod, pymongo.MongoClient[Any]], tmp_path: Path) -> Iterator[
        History]:
    server, client = faulty
    made = History(client, server.uri, tmp_path / "job", start=T0)
    try:
        yield made
    finally:
        client.drop_database(made.name)


def minute(h: History, n: int = 1) -> None:
    h.step_clock(n * MINUTE)


# ---- the seven cases of the issue, as fixed histories -------------------------------------


def test_case_1_a_partial_run_then_a_lost_state_counts_nothing_twice(history: History) -> None:
    """`sessions`-like failure for 30 minutes (here: conversations' reads fail), then the
    state is lost: every section resumes from its own watermark, not from the last success."""
    h = history
    for i in range(7):
        h.insert_turn(MODELS[i % 2], h.now - timedelta(seconds=30))
    h.run()
    for _ in range(30):
        minute(h)
        h.insert_turn("gpt-4o", h.now - timedelta(seconds=20))
        h.run(failing="conversations")
    h.lose_state()
    minute(h)
    samples = h.run()
    assert samples["librechat_conversations_total"][()] == 37.0


def test_case_2_a_family_without_samples_does_not_recount_its_section(history: History) -> None:
    """No agents and no tool calls: their families have no samples, the section restores."""
    h = history
    for i in range(12):
        h.insert_turn(MODELS[i % 3], h.now - timedelta(seconds=40))
    h.run()
    h.delete(0.5, seed=2)
    h.lose_state()
    minute(h)
    h.run()  # the model's check: messages_total continues, nothing falls


def test_case_3_a_failed_run_right_after_a_restore_keeps_the_counters(
        history: History) -> None:
    h = history
    for i in range(10):
        h.insert_turn(MODELS[i % 2], h.now - timedelta(seconds=30))
    h.run()
    h.delete(0.4, seed=3)
    h.lose_state()  # a reboot lost the state directory, and mongod is not up yet
    minute(h)
    with refusing_port() as port:
        down = h.run_down(port)
    assert down["librechat_messages_total"][()] == 20.0  # carried with up 0
    minute(h)
    h.run()


def test_case_4_documents_inserted_late_after_a_restore_are_counted(history: History) -> None:
    h = history
    for i in range(20):
        h.insert_turn(MODELS[i % 2], h.now - timedelta(seconds=50), answers=50)
    before = h.run()["librechat_messages_total"][()]
    h.lose_state()
    minute(h)
    h.run()
    minute(h)
    h.insert_user_messages(30, h.now - timedelta(seconds=20))
    after = h.run()["librechat_messages_total"][()]
    assert after == before + 30


def test_case_5_a_stored_now_gauge_does_not_pin_label_slots(
        faulty: tuple[Mongod, pymongo.MongoClient[Any]], tmp_path: Path) -> None:
    """--label-limit 1: model A was rated (the feedback gauge holds it for good); after
    --label-ttl without counting meeting A, the slot goes to B, which is counted every run."""
    server, client = faulty
    h = History(client, server.uri, tmp_path / "job", start=T0, label_limit=1,
                label_ttl_days=600 / 86400)
    try:
        h.insert_turn("model-a", h.now - timedelta(seconds=30), answers=3, feedback=True)
        h.run()
        for _ in range(14):
            minute(h)
            h.insert_turn("model-b", h.now - timedelta(seconds=30))
            samples = h.run()
        per_model = {dict(k)["model"]: v for k, v in samples[
            "librechat_messages_per_model_total"].items()}
        assert "model-a" not in per_model and per_model.get("model-b", 0) > 0, per_model
    finally:
        client.drop_database(h.name)


HOSTILE_CONVERSATION_IDS = (["a", "b"], {"id": "x"}, ["agent-held"], 7, None, b"\x00")


def test_case_6_a_hostile_conversation_id_does_not_stop_cost_counting(
        history: History) -> None:
    h = history
    h.insert_turn("gpt-4o", h.now - timedelta(seconds=30))
    h.run()
    minute(h)
    for i, value in enumerate(HOSTILE_CONVERSATION_IDS):
        h.db.transactions.insert_one(make_transaction(
            ObjectId(), h.now - timedelta(seconds=30), "prompt", "gpt-4o", -5, rng=900 + i,
            conversationId=value))
    h.run()  # no section may fail (History.run asserts it)
    minute(h)
    h.insert_turn("gpt-4o", h.now - timedelta(seconds=30))
    samples = h.run()
    assert samples["librechat_input_tokens_total"][()] == 5.0 * len(HOSTILE_CONVERSATION_IDS)


# Case 7, restore trusts too little: see the test_restore_refuses_* tests below.


# ---- the random histories ------------------------------------------------------------------


class Histories(RuleBasedStateMachine):
    """Random histories; the model's checks run inside each step (History.run and kin)."""

    def __init__(self) -> None:
        super().__init__()
        self.h: History = CONTEXT["make"]()
        self.port_ctx = refusing_port()
        self.port = self.port_ctx.__enter__()
        self.backup: Any = None

    def teardown(self) -> None:
        self.port_ctx.__exit__(None, None, None)
        CONTEXT["client"].drop_database(self.h.name)
        CONTEXT["steps"].append(len(self.h.steps))
        CONTEXT["runs"].append(self.h.runs_seen)
        CONTEXT["kinds"].update(self.h.kinds)

    @initialize(n=st.integers(1, 6))
    def seed_data(self, n: int) -> None:
        for i in range(n):
            self.h.insert_turn(MODELS[i % len(MODELS)], self.h.now - timedelta(seconds=40))

    @rule(model=st.sampled_from(MODELS), answers=st.integers(1, 4), ago=st.integers(0, 50))
    def insert_now(self, model: str, answers: int, ago: int) -> None:
        self.h.insert_turn(model, self.h.now - timedelta(seconds=ago), answers=answers)

    @rule(model=st.sampled_from(MODELS), back=st.integers(1, 290))
    def insert_late(self, model: str, back: int) -> None:
        """A document whose `_id` is up to 290 s old when it is inserted (inside --lag)."""
        self.h.insert_turn(model, self.h.now - timedelta(seconds=back), transactions=False)

    @rule(n=st.integers(1, 20), ago=st.integers(0, 40))
    def import_messages(self, n: int, ago: int) -> None:
        """An import: new `_id`s, old createdAt (bulkSaveMessages keeps the originals)."""
        self.h.insert_user_messages(n, self.h.now - timedelta(seconds=ago))

    @rule(fraction=st.sampled_from([0.1, 0.5]), seed=st.integers(0, 99))
    def delete(self, fraction: float, seed: int) -> None:
        self.h.delete(fraction, seed)

    @rule(gap=st.sampled_from([60, 60, 65, 600]))
    def run(self, gap: int) -> None:
        self.h.step_clock(gap)
        self.h.run()

    # Runs are most of a job's life: two more rules of the same, so that a history is about
    # half runs.
    @rule(gap=st.sampled_from([60, 61, 120]))
    def run_again(self, gap: int) -> None:
        self.run(gap)

    @rule()
    def run_a_minute_later(self) -> None:
        self.run(60)

    @rule(fault=st.sampled_from(["conversations", "messages", "transactions", "down"]))
    def faulty_run(self, fault: str) -> None:
        """A run with one collection's reads failing (a partial run), or MongoDB down."""
        self.h.step_clock(MINUTE)
        if fault == "down":
            self.h.run_down(self.port)
        else:
            self.h.run(failing=fault)

    @rule(stop_at=st.sampled_from(["before-state-rename", "before-prom-rename"]))
    def run_killed(self, stop_at: str) -> None:
        self.h.step_clock(MINUTE)
        self.h.run_killed(stop_at, CONTEXT["tmp"])

    @rule(what=st.sampled_from(["state removed", "state corrupt", ".prom removed", "both"]))
    def lose(self, what: str) -> None:
        if what in ("state removed", "both"):
            self.h.lose_state("removed")
        if what == "state corrupt":
            self.h.lose_state("corrupt")
        if what in (".prom removed", "both"):
            self.h.lose_prom()

    @precondition(lambda self: self.h.state_file.exists() and self.h.state is not None)
    @rule()
    def back_up_state(self) -> None:
        self.backup = self.h.back_up_state()

    @precondition(lambda self: self.backup is not None)
    @rule()
    def put_back_state(self) -> None:
        self.h.put_back_state(self.backup)
        self.backup = None

    @rule(seconds=st.sampled_from([-7200, -600, -90, 3600, 2 * 86400]))
    def step_clock(self, seconds: int) -> None:
        self.h.step_clock(seconds)

    @invariant()
    def files_are_sealed_or_absent(self) -> None:
        if self.h.output.exists():
            assert self.h.output.read_text().splitlines()[-1].startswith(
                "# librechat-textfile sha256:")


CONTEXT: dict[str, Any] = {}


@pytest.mark.parametrize("churn", [False, True], ids=["roomy-slots", "slot-churn"])
def test_random_histories(faulty: tuple[Mongod, pymongo.MongoClient[Any]], tmp_path: Path,
                          churn: bool) -> None:
    server, client = faulty
    count = iter(range(10_000))
    CONTEXT.update(client=client, tmp=tmp_path, steps=[], runs=[], kinds=Counter(),
                   make=lambda: History(
        client, server.uri, tmp_path / f"h{next(count)}", start=T0,
        label_limit=2 if churn else 50, label_ttl_days=(240 if churn else 30 * 86400) / 86400))
    chosen = history_seed() + (1 if churn else 0)
    run_state_machine_as_test(
        hypothesis_seed(chosen)(Histories),
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                          database=None, phases=[Phase.explicit, Phase.generate],
                          suppress_health_check=list(HealthCheck)))
    print(f"histories[{'churn' if churn else 'roomy'}]: {len(CONTEXT['steps'])} histories, "
          f"{sum(CONTEXT['steps'])} steps, {sum(CONTEXT['runs'])} checked files, seed {chosen}; "
          + ", ".join(f"{kind} {n}" for kind, n in sorted(CONTEXT["kinds"].items())))


# ---- case 7: what a restore trusts -----------------------------------------------------------


def prom_and_lost_state(uri: str, db: Any, work: Path, now: datetime) -> Path:
    ok(run_job(uri, db.name, work, now))
    (work / "state.json").unlink()
    return work / "librechat.prom"


def warnings_of(capfd: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capfd.readouterr().err.splitlines() if " WARNING " in line]


def assert_refused_and_counted_afresh(uri: str, db: Any, work: Path,
                                      capfd: pytest.CaptureFixture[str], says: str) -> None:
    """The next run refuses the .prom with one WARNING saying `says`, and counts what is
    stored (the oracle's counters over this database)."""
    capfd.readouterr()
    later = T0 + timedelta(minutes=1)
    run = ok(run_job(uri, db.name, work, later))
    warnings = warnings_of(capfd)
    assert len(warnings) == 1 and says in warnings[0], warnings
    expected = oracle.compute(oracle.Snapshot.read(db), oracle.Config(
        now=later, timezone="UTC", label_limit=50, daily_days=30))
    assert oracle.compare(run.samples, expected, oracle.COUNTERS) == []


def test_restore_refuses_a_prom_of_another_deployment(uri: str, db: Any, tmp_path: Path,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    """Every install's database is called LibreChat: the same name on another server (here:
    the database dropped and made again, so its collections have new UUIDs) with other
    content must not continue this one's counters."""
    generate(db, GenOptions(seed=71, now=T0))
    work = tmp_path / "job"
    prom_and_lost_state(uri, db, work, T0)
    db.client.drop_database(db.name)
    generate(db, GenOptions(seed=72, now=T0, users=7))
    assert_refused_and_counted_afresh(uri, db, work, capfd, "another MongoDB deployment")


def test_restore_refuses_a_prom_of_another_database(uri: str, db: Any, mongo_client: Any,
                                                    tmp_path: Path,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    """A .prom written for database A, the job now pointed at database B with other content
    (and the same server): B is counted, not A's counters continued."""
    other = mongo_client[f"{db.name}_b"]
    try:
        generate(other, GenOptions(seed=73, now=T0))
        generate(db, GenOptions(seed=74, now=T0, users=9))
        work = tmp_path / "job"
        prom_and_lost_state(uri, other, work, T0)
        assert_refused_and_counted_afresh(uri, db, work, capfd,
                                          f"written for database '{other.name}'")
    finally:
        mongo_client.drop_database(other.name)


@pytest.mark.parametrize("edit", ["value", "extra-family", "cut-short", "older-layout"])
def test_restore_refuses_a_prom_edited_or_of_another_version(
        uri: str, db: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str], edit: str) -> None:
    generate(db, GenOptions(seed=75, now=T0))
    work = tmp_path / "job"
    prom = prom_and_lost_state(uri, db, work, T0)
    text = prom.read_text()
    body, _seal = text.rstrip("\n").rsplit("\n", 1)
    if edit == "value":
        line = next(x for x in body.splitlines() if x.startswith("librechat_messages_total "))
        text = text.replace(line, "librechat_messages_total 999999.0")
    elif edit == "extra-family":
        from librechat_metrics.textfile import sealed

        text = sealed((body + "\n# HELP librechat_future_total x\n# TYPE librechat_future_total "
                       "counter\nlibrechat_future_total 1.0\n").encode()).decode()
    elif edit == "cut-short":
        text = text[: len(text) // 2]
    else:
        from librechat_metrics.textfile import sealed

        text = sealed(body.replace('schema="3"', 'schema="2"').encode() + b"\n").decode()
    prom.write_text(text)
    assert_refused_and_counted_afresh(uri, db, work, capfd, "cannot stand in")


def test_a_restore_of_the_same_deployment_continues(uri: str, db: Any, tmp_path: Path,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    """The positive side of the identity checks: same database, deployment and layout."""
    generate(db, GenOptions(seed=76, now=T0))
    work = tmp_path / "job"
    before = prom_and_lost_state(uri, db, work, T0).read_text()
    db.messages.delete_many({"isCreatedByUser": True})
    capfd.readouterr()
    run = ok(run_job(uri, db.name, work, T0 + timedelta(minutes=1)))
    warnings = warnings_of(capfd)
    assert len(warnings) == 1 and "counters restored from" in warnings[0], warnings
    marks = run.samples["librechat_exporter_section_watermark_timestamp_seconds"]
    assert {dict(k)["section"] for k in marks} == {"messages", "tokens", "conversations",
                                                    "files", "registrations", "schedule_runs",
                                                    "audit"}
    old = parse(before)[0]
    for family in oracle.COUNTERS:
        for key, value in old.get(family, {}).items():
            assert run.samples[family].get(key, 0.0) >= value, (family, key)


# ---- the .prom and the state after a crash between their renames -----------------------------


def test_a_crash_between_the_renames_leaves_the_newer_state_which_wins(
        history: History, tmp_path: Path) -> None:
    h = history
    for i in range(5):
        h.insert_turn(MODELS[i], h.now - timedelta(seconds=30))
    h.run()
    minute(h)
    h.insert_turn("gpt-4o", h.now - timedelta(seconds=30), answers=4)
    h.run_killed("before-prom-rename", tmp_path)  # state renamed, .prom not
    minute(h)
    h.run()  # counts nothing twice: the state is the newer and wins
    minute(h)
    h.insert_turn("gpt-4o", h.now - timedelta(seconds=30))
    h.run_killed("before-state-rename", tmp_path)  # neither renamed
    minute(h)
    h.run()


def test_a_state_put_back_from_a_backup_does_not_count_twice(history: History) -> None:
    """The .prom has counted more runs than the state: sections further along in the file
    continue from it, the runs counter too."""
    h = history
    h.insert_turn("gpt-4o", h.now - timedelta(seconds=30))
    h.run()
    backup = h.back_up_state()
    for _ in range(3):
        minute(h)
        h.insert_turn("claude-sonnet-4", h.now - timedelta(seconds=30), answers=2)
        h.run()
    h.delete(0.5, seed=9)
    h.put_back_state(backup)
    minute(h)
    h.run()


def test_a_partial_run_keeps_the_last_success(history: History) -> None:
    """librechat_exporter_last_success_timestamp_seconds is the last run in which every
    section succeeded (the freshness alerts read it); a partial run leaves it."""
    h = history
    h.insert_turn("gpt-4o", h.now - timedelta(seconds=30))
    first = h.run()["librechat_exporter_last_success_timestamp_seconds"][()]
    assert first == h.now.timestamp()
    minute(h)
    partial = h.run(failing="conversations")
    assert partial["librechat_exporter_last_success_timestamp_seconds"][()] == first
    minute(h)
    assert h.run()["librechat_exporter_last_success_timestamp_seconds"][()] == \
        h.now.timestamp()

