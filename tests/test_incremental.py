"""Incremental counting against a full recompute, resumable first counts, crashes, bad state.

* Run the job every simulated minute while documents arrive (some dated a little in the past,
  some near the edge of ``--lag``): the final file must equal that of a run with a fresh state
  file at the same ``--now``. With deletions between runs, the incremental counters must
  equal the full recompute plus what the deleted documents had contributed (computed by the
  oracle from the deleted documents alone).
* A first count split over several runs (``BACKFILL_CHUNK`` set small, and a budget of a few
  chunks per run instead of the time budget, so the split is the same on any machine) gives
  the same file as one cold run, and shows no counter of a section before its progress is 1.
* A run killed inside its first count (the signal sent once the job has logged a chunk) leaves
  the previous state file byte-identical and a complete ``.prom``; a run stopped at each point
  of its write phase (tests/launch_job.py) leaves the old or the new files, each whole; the
  next run leaves no temp file and counts exactly.
* A corrupt or older state file is set aside and the run counts afresh; a newer one fails the
  run without touching it.

Comparisons leave out the ``librechat_exporter_*`` self-metrics (timings, progress).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

import librechat_textfile
from tests import oracle
from tests.job_control import (
    LogReader,
    chunk_budget,
    set_job_global,
    start_launched,
    wait_for_marker,
)
from tests.librechat_data import (
    GenOptions,
    generate,
    make_conversation,
    make_file,
    make_message,
    make_transaction,
    make_user,
)
from tests.promparse import JobRun, Samples, assert_same, parse, run_job

# A Tuesday, mid-day (no day change during a test), and not on a whole second: horizons
# (--now minus --lag) then fall inside a second, as they do in production.
NOW0 = datetime(2026, 5, 12, 11, 0, 3, 437_000, tzinfo=UTC)
LAG = 300.0
MINUTE = timedelta(seconds=60)
# Stored-now gauges refresh on every run one minute apart, so both sides see the same data.
EVERY_RUN = ("--slow-interval", "60")
SECTION_COUNTERS = {
    "messages": ("librechat_messages_total", "librechat_error_messages_total",
                 "librechat_messages_per_model_total", "librechat_errors_per_model_total",
                 "librechat_endpoint_messages_total", "librechat_unfinished_messages_total",
                 "librechat_agent_messages_total", "librechat_tool_calls_total"),
    "tokens": ("librechat_input_tokens_total", "librechat_output_tokens_total",
               "librechat_input_tokens_per_model_total",
               "librechat_output_tokens_per_model_total", "librechat_tokens_total",
               "librechat_context_tokens_total", "librechat_llm_calls_total",
               "librechat_cost_usd_total", "librechat_credits_granted_total"),
    "conversations": ("librechat_conversations_total", "librechat_endpoint_conversations_total"),
    "files": ("librechat_uploaded_files_total", "librechat_files_created_total",
              "librechat_files_created_bytes_total"),
    "registrations": ("librechat_registered_users_total", "librechat_registrations_total"),
}
# Families that a section writes only once its first count (progress) is complete.
SECTION_FAMILIES = {
    **SECTION_COUNTERS,
    "daily": ("librechat_unique_users_yesterday", "librechat_unique_users_per_day_average",
              "librechat_unique_users_per_day_stddev",
              "librechat_messages_per_user_per_day_average",
              "librechat_messages_per_user_per_day_stddev"),
}
COUNTED = ("messages", "transactions", "conversations", "files", "users")


# --------------------------------------------------------------------------------------------
# Helpers


def business(samples: Samples) -> Samples:
    """Every family but the job's self-metrics."""
    return {name: rows for name, rows in samples.items()
            if not name.startswith("librechat_exporter_")}


def progress(run: JobRun) -> dict[str, float]:
    rows = run.samples.get("librechat_exporter_backfill_progress_ratio", {})
    return {dict(key)["section"]: value for key, value in rows.items()}


def other_rng(seed: int) -> random.Random:
    """Not the generator's own stream: the same seed would repeat its UUIDs and ObjectIds."""
    return random.Random(f"test-incremental-{seed}")


def active_users(db: Database[Any]) -> list[ObjectId]:
    return [u["_id"] for u in db.users.find({"expiresAt": {"$exists": False}}, {"_id": 1})]


def activity(rng: random.Random, users: list[ObjectId], at: datetime,
             registrations: bool = True) -> dict[str, list[dict[str, Any]]]:
    """A new chat created at `at` (a question, a reply with a tool call or an error, the
    turn's transactions), sometimes a file and a new account; all within 20 s of `at`."""
    user = rng.choice(users)
    endpoint, model = rng.choice([("openAI", "gpt-4o"), ("anthropic", "claude-sonnet-4-20250514"),
                                  ("google", "gemini-2.5-pro")])
    conv = make_conversation(user, at, endpoint=endpoint, model=model, rng=rng)
    cid = conv["conversationId"]
    question = make_message(user, cid, at + timedelta(seconds=1), by_user=True,
                            endpoint=endpoint, rng=rng)
    content: list[dict[str, Any]] = [{"type": "text", "text": "ok"}]
    if rng.random() < 0.5:
        content.insert(0, {"type": "tool_call", "tool_call": {
            "id": "call_1", "name": rng.choice(["web_search", "search_mcp_brave"]),
            "args": "{}", "output": "", "type": "tool_call", "progress": 1}})
    if rng.random() < 0.3:
        content.append({"type": "error", "error": "529 Overloaded"})
    tokens = rng.randint(5, 500)
    reply = make_message(user, cid, at + timedelta(seconds=3), by_user=False, model=model,
                         endpoint=endpoint, rng=rng, content=content, tokenCount=tokens,
                         parentMessageId=question["messageId"],
                         unfinished=rng.random() < 0.2)
    txns = [make_transaction(user, at + timedelta(seconds=3), "prompt", model,
                             -rng.randint(20, 2000), rng=rng, conversationId=cid,
                             messageId=reply["messageId"]),
            make_transaction(user, at + timedelta(seconds=3), "completion", model, -tokens,
                             rng=rng, conversationId=cid, messageId=reply["messageId"])]
    docs: dict[str, list[dict[str, Any]]] = {
        "conversations": [conv], "messages": [question, reply], "transactions": txns,
        "files": [], "users": []}
    if rng.random() < 0.5:
        docs["files"].append(make_file(user, at + timedelta(seconds=2), rng=rng,
                                       conversationId=cid, bytes=rng.randint(1, 10**6)))
    if registrations and rng.random() < 0.4:
        docs["users"].append(make_user(rng, at + timedelta(seconds=4),
                                       provider=rng.choice(["google", "openid", "local"])))
    return docs


def insert(db: Database[Any], docs: dict[str, list[dict[str, Any]]]) -> None:
    for name, batch in docs.items():
        if batch:
            db[name].insert_many(batch)


def merge(*parts: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in COUNTED}
    for part in parts:
        for name, docs in part.items():
            out[name].extend(docs)
    return out


def between_runs(rng: random.Random, users: list[ObjectId], prev: datetime,
                 registrations: bool = True) -> dict[str, list[dict[str, Any]]]:
    """What arrives between the run at `prev` and the next one, a minute later: chats from
    this minute, one dated up to a minute before `prev` (a slow insert), and one dated just
    inside the lag (a server whose clock runs almost --lag behind)."""
    times = [prev + timedelta(seconds=rng.uniform(1, 35)) for _ in range(3)]
    times.append(prev - timedelta(seconds=rng.uniform(25, 60)))
    times.append(prev - timedelta(seconds=LAG - rng.uniform(1, 8)))
    return merge(*(activity(rng, users, t, registrations) for t in times))


def job(uri: str, db: Database[Any], workdir: Path, now: datetime,
        *extra: str) -> JobRun:
    run = run_job(uri, db.name, workdir, now, extra=("--lag", f"{LAG:g}", *EVERY_RUN, *extra))
    assert run.code == 0, f"exit {run.code} at {now.isoformat()}"
    return run


# --------------------------------------------------------------------------------------------
# Incremental equals full recompute


@pytest.mark.parametrize("seed", [7, 21, 42])
def test_incremental_equals_full_recompute(uri: str, db: Database[Any], tmp_path: Path,
                                           seed: int) -> None:
    generate(db, GenOptions(seed=seed, now=NOW0, users=12, days=40))
    users = active_users(db)
    rng = other_rng(seed)
    now = NOW0
    job(uri, db, tmp_path / "incremental", now)
    for _ in range(6):
        insert(db, between_runs(rng, users, now))
        now += MINUTE
        incremental = job(uri, db, tmp_path / "incremental", now)
    full = job(uri, db, tmp_path / "full", now)
    assert sum(full.samples["librechat_messages_total"].values()) > 100
    assert_same(business(incremental.samples), business(full.samples),
                "incremental vs full recompute")


def test_incremental_with_deletions_equals_full_plus_deleted(uri: str, db: Database[Any],
                                                             tmp_path: Path) -> None:
    generate(db, GenOptions(seed=5, now=NOW0, users=12, days=40))
    users = active_users(db)
    rng = other_rng(5)
    snapshot_agents = list(db.agents.find({}))
    counted_then_deleted: dict[str, list[dict[str, Any]]] = {name: [] for name in COUNTED}

    def delete(docs: dict[str, list[dict[str, Any]]], counted: bool) -> None:
        for name, batch in docs.items():
            if batch:
                gone = db[name].delete_many({"_id": {"$in": [d["_id"] for d in batch]}})
                assert gone.deleted_count == len(batch)
                if counted:
                    counted_then_deleted[name].extend(batch)

    work = tmp_path / "incremental"
    now = NOW0
    job(uri, db, work, now)  # the cold run counts everything stored before NOW0

    # 1. A user deletes an old chat (outside every window, not their latest activity).
    old = old_conversation(db, NOW0 - timedelta(days=32))
    cid = old["conversationId"]
    delete({"conversations": [old],
            "messages": list(db.messages.find({"conversationId": cid})),
            "transactions": list(db.transactions.find({"conversationId": cid})),
            "files": list(db.files.find({"conversationId": cid}))}, counted=True)
    insert(db, between_runs(rng, users, now))
    now += MINUTE
    job(uri, db, work, now)

    # 2. Documents a run has counted are deleted: a question (its later reply stays, so the
    #    user's last activity is unchanged), one turn's transactions, a file, a new account.
    counted_batch = between_runs(rng, users, now)
    insert(db, counted_batch)
    now += MINUTE
    job(uri, db, work, now)
    delete({"messages": [m for m in counted_batch["messages"] if m["isCreatedByUser"]][:1],
            "transactions": counted_batch["transactions"][:2],
            "files": counted_batch["files"][:1],
            "users": counted_batch["users"][:1]}, counted=True)
    assert counted_then_deleted["messages"] and counted_then_deleted["transactions"]

    # 3. Documents deleted before any run saw them: never counted, nothing to add back.
    insert(db, between_runs(rng, users, now))
    unseen = merge(activity(rng, users, now + timedelta(seconds=30)),
                   activity(rng, users, now - timedelta(seconds=LAG - 20)))
    insert(db, unseen)
    delete(unseen, counted=False)
    now += MINUTE
    job(uri, db, work, now)
    for _ in range(2):
        insert(db, between_runs(rng, users, now))
        now += MINUTE
        incremental = job(uri, db, work, now)

    full = job(uri, db, tmp_path / "full", now)
    deleted = oracle.compute(
        oracle.Snapshot({**counted_then_deleted, "agents": snapshot_agents}),
        oracle.Config(now=now), counted=lambda _doc: True, token_source="transactions")
    expected = business(full.samples)
    for name in oracle.COUNTERS:
        rows = dict(expected.get(name, {}))
        for key, value in deleted.samples[name].items():
            rows[key] = rows.get(key, 0.0) + value
        expected[name] = rows
    assert sum(deleted.samples["librechat_messages_total"].values()) > 2
    # The incremental job still holds the slots of values met before their documents were
    # deleted (they age out after --label-ttl), so it may write zeros the fresh job cannot
    # know of; only those are set aside, every number must match.
    mine = business(incremental.samples)
    remembered = {name: {k for k, v in rows.items() if v == 0 and k not in expected.get(name, {})}
                  for name, rows in mine.items()}
    mine = {name: {k: v for k, v in rows.items() if k not in remembered[name]}
            for name, rows in mine.items()}
    assert_same(mine, expected, "incremental vs full recompute + deleted documents")


def old_conversation(db: Database[Any], before: datetime) -> dict[str, Any]:
    """A conversation last updated before `before` whose user has written since."""
    for conv in db.conversations.find({"updatedAt": {"$lt": before}}).sort("_id", 1):
        if db.messages.find_one({"user": conv["user"], "createdAt": {"$gt": before}}):
            return conv
    raise AssertionError("the generated data has no old conversation of an active user")


# --------------------------------------------------------------------------------------------
# A first count over several runs


def test_first_count_resumes_over_several_runs(uri: str, db: Database[Any], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    generate(db, GenOptions(seed=9, now=NOW0, users=30, days=40))
    users = active_users(db)
    rng = other_rng(9)
    single = job(uri, db, tmp_path / "reference", NOW0)  # default chunks: one run is enough
    assert all(v == 1.0 for v in progress(single).values())

    # Chunks of 100 documents, and each run may start 6 chunks (or daily summaries): the
    # budget is a count, not the machine's speed, so the number of runs is the same anywhere.
    # This is the job's own configuration, set on the real modules; the rest is unchanged.
    set_job_global(monkeypatch, "BACKFILL_CHUNK", 100)
    now = NOW0
    last: dict[str, float] = {}
    runs = 0
    with chunk_budget(monkeypatch, 6):
        while True:
            runs += 1
            run = job(uri, db, tmp_path / "chunked", now)
            ratios = progress(run)
            assert set(SECTION_COUNTERS) <= set(ratios), ratios
            for section, ratio in ratios.items():
                assert ratio >= last.get(section, 0.0), f"{section} progress fell: {last} {ratios}"
                families = SECTION_FAMILIES.get(section, ())
                present = [f for f in families if f in run.samples]
                if ratio < 1.0:
                    assert not present, f"{section} at {ratio:.2f} already shows {present}"
                else:
                    assert present == list(families), f"{section} done but lacks some of {families}"
            assert ratios != last, f"run {runs} made no progress: {ratios}"
            last = ratios
            if all(v == 1.0 for v in ratios.values()):
                break
            assert runs < 60, f"first count not done after {runs} runs: {ratios}"
            # Traffic goes on while the first count runs.
            insert(db, activity(rng, users, now + timedelta(seconds=10)))
            now += MINUTE
    assert runs >= 3, f"the first count took only {runs} run(s): chunks too large to test"

    set_job_global(monkeypatch, "BACKFILL_CHUNK", 200_000)
    reference = job(uri, db, tmp_path / "reference-at-end", now)
    assert_same(business(run.samples), business(reference.samples),
                f"first count over {runs} runs vs one cold run")


# --------------------------------------------------------------------------------------------
# A run killed mid-way


def start_job(uri: str, db: Database[Any], workdir: Path, now: datetime, chunk: int,
              timeout: float, *, budget: int | None = None,
              stop_at: str | None = None) -> subprocess.Popen[str]:
    """The job as its own process (tests/launch_job.py; cwd the work directory, so no stray
    .env is read), with its chunk size set and optionally a first-count budget or a stop."""
    args = ["--mongodb-uri", uri, "--mongodb-database", db.name,
            "--output", str(workdir / "librechat.prom"), "--state-file",
            str(workdir / "state.json"), "--now", now.isoformat(), "--timeout", str(timeout)]
    return start_launched(args, globals_={"BACKFILL_CHUNK": chunk}, budget=budget,
                          stop_at=stop_at, marker=workdir.parent / "stopped" if stop_at else None,
                          cwd=workdir)


def complete_prom(data: bytes) -> Samples:
    """The file parses and ends like a whole exposition (a partial write would not)."""
    samples, _ = parse(data.decode("utf-8"))
    assert data.endswith(b"\n")
    assert "librechat_exporter_up" in samples
    return samples


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def partial_first_count(uri: str, db: Database[Any], workdir: Path) -> tuple[bytes, bytes]:
    """A state file in the middle of a first count (three chunks of one document counted):
    the next run has seconds of work left."""
    workdir.mkdir()
    proc = start_job(uri, db, workdir, NOW0, chunk=1, timeout=60, budget=3)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    state, prom = (workdir / "state.json").read_bytes(), (workdir / "librechat.prom").read_bytes()
    ratios = {dict(k)["section"]: v for k, v in complete_prom(prom).get(
        "librechat_exporter_backfill_progress_ratio", {}).items()}
    assert min(ratios.values()) < 0.5, ratios
    return state, prom


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_run_keeps_the_old_state(uri: str, db: Database[Any], tmp_path: Path,
                                        sig: signal.Signals) -> None:
    generate(db, GenOptions(seed=13, now=NOW0, users=30, days=40))
    workdir = tmp_path / "job"
    old_state, old_prom = partial_first_count(uri, db, workdir)

    proc = start_job(uri, db, workdir, NOW0 + MINUTE, chunk=1, timeout=60)
    log = LogReader(proc)
    # The job logs each chunk of its first count: once one is logged, the run is inside it,
    # with thousands of one-document chunks to go.
    log.wait_for("first count")
    proc.send_signal(sig)
    err = log.rest(timeout=30)
    # SIGTERM is handled: the run stops, writes up 0, exits 1; SIGKILL cannot be.
    assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 1), err

    # The state's counts as they were; SIGTERM's failed run is counted in it (runs only).
    loaded = librechat_textfile.load_state(str(workdir / "state.json"))
    assert counts_of(json.dumps(loaded).encode()) == counts_of(old_state)
    assert (workdir / "state.json").read_bytes() == old_state or sig == signal.SIGTERM
    prom = (workdir / "librechat.prom").read_bytes()
    samples = complete_prom(prom)
    if sig == signal.SIGKILL:
        assert prom == old_prom
        assert temp_files(workdir) == []  # killed before its write phase
    else:
        assert samples["librechat_exporter_up"][()] == 0.0
        assert "stopped by SIGTERM" in err
        assert temp_files(workdir) == []

    # What a kill between writing and renaming leaves behind; the next run clears it.
    for name in (".state.json.k1ll3d.tmp", ".librechat.prom.k1ll3d.tmp"):
        (workdir / name).write_bytes(b"partial")
    proc = start_job(uri, db, workdir, NOW0 + 2 * MINUTE, chunk=200_000, timeout=60)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert temp_files(workdir) == []
    samples = complete_prom((workdir / "librechat.prom").read_bytes())
    assert samples["librechat_exporter_up"][()] == 1.0
    assert all(v == 1.0 for v in samples["librechat_exporter_backfill_progress_ratio"].values())


def counts_of(state: bytes) -> dict[str, Any]:
    """A state file's counts: all of it but the runs counter, which a failed run advances."""
    loaded = json.loads(state)
    loaded.pop("runs", None)
    return loaded


# What a run stopped at each point of its write phase leaves: (state's counts changed, what
# the .prom holds, temp files left). SIGKILL leaves the temp files for the next run; SIGTERM
# removes them itself, and writes up 0 while the state's counts are still the old ones (the
# failed run counted in it).
WRITE_PHASE = {
    (signal.SIGKILL, "staging"): (False, "old", [".librechat.prom."]),
    (signal.SIGKILL, "before-state-rename"): (False, "old", [".librechat.prom.", ".state.json."]),
    (signal.SIGKILL, "before-prom-rename"): (True, "old", [".librechat.prom."]),
    (signal.SIGKILL, "after-prom-rename"): (True, "new", []),
    (signal.SIGTERM, "staging"): (False, "up 0", []),
    (signal.SIGTERM, "before-state-rename"): (False, "up 0", []),
    (signal.SIGTERM, "before-prom-rename"): (True, "old", []),
    (signal.SIGTERM, "after-prom-rename"): (True, "new", []),
}


def test_a_run_stopped_in_its_write_phase_leaves_old_or_new_files_whole(
        uri: str, db: Database[Any], tmp_path: Path) -> None:
    """The job paused at each point of its write phase (tests/launch_job.py: right at the
    fsync of the .prom's temp file, before the state's rename, before and after the .prom's
    rename), then SIGKILLed or SIGTERMed there; at the end, a full recompute."""
    generate(db, GenOptions(seed=17, now=NOW0, users=12, days=40))
    workdir = tmp_path / "job"
    workdir.mkdir()
    now = NOW0
    rng = other_rng(17)
    users = active_users(db)
    first = start_job(uri, db, workdir, now, chunk=200_000, timeout=30)
    assert first.wait(timeout=60) == 0
    for (sig, point), (state_changes, prom_holds, temps) in WRITE_PHASE.items():
        case = f"{sig.name} at {point}"
        old_state = (workdir / "state.json").read_bytes()
        old_prom = (workdir / "librechat.prom").read_bytes()
        insert(db, activity(rng, users, now + timedelta(seconds=5)))
        now += MINUTE
        marker = tmp_path / "stopped"
        marker.unlink(missing_ok=True)
        proc = start_job(uri, db, workdir, now, chunk=200_000, timeout=30, stop_at=point)
        assert wait_for_marker(marker, proc) == point
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 1), (case, err)
        state = (workdir / "state.json").read_bytes()
        assert (counts_of(state) != counts_of(old_state)) == state_changes, case
        if state_changes:  # the new state is whole: read back as it is, not set aside
            assert librechat_textfile.load_state(str(workdir / "state.json")) == json.loads(state)
        assert list(workdir.glob("state.json.*.bad")) == [], case
        prom = (workdir / "librechat.prom").read_bytes()
        samples = complete_prom(prom)
        if prom_holds == "old":
            assert prom == old_prom, case
        elif prom_holds == "new":
            assert prom != old_prom and samples["librechat_exporter_up"][()] == 1.0, case
        else:
            assert samples["librechat_exporter_up"][()] == 0.0, case
        left = temp_files(workdir)
        assert [next(p for p in temps if name.startswith(p)) for name in left] == temps, (
            case, left)
        if sig == signal.SIGTERM:
            assert len([ln for ln in err.splitlines() if " - ERROR - " in ln]) == 1, (case, err)
    now += MINUTE
    proc = start_job(uri, db, workdir, now, chunk=200_000, timeout=30)
    assert proc.wait(timeout=60) == 0
    assert temp_files(workdir) == []
    full = job(uri, db, tmp_path / "full", now)
    after = parse((workdir / "librechat.prom").read_text())[0]
    counters = {n: r for n, r in business(after).items() if n in oracle.COUNTERS}
    assert_same(counters, {n: r for n, r in business(full.samples).items()
                           if n in oracle.COUNTERS},
                "counters after eight stopped runs vs a full recompute")


# --------------------------------------------------------------------------------------------
# Bad state files


def corrupt_variants(valid: bytes) -> dict[str, bytes]:
    good = json.loads(valid)
    messages = good["sections"]["messages"]
    return {
        "garbage": b"\x00\xff\xfe not json at all",
        "empty": b"",
        "truncated": valid[: len(valid) // 2],
        "a list": b"[1, 2, 3]",
        "no sections": json.dumps({"version": librechat_textfile.STATE_VERSION}).encode(),
        "version a string": json.dumps({**good, "version": "1"}).encode(),
        "section not an object": json.dumps(
            {**good, "sections": {**good["sections"], "messages": "oops"}}).encode(),
        "horizon a string": json.dumps(
            {**good, "sections": {**good["sections"], "messages": {
                **messages, "stream": {**messages["stream"], "horizon": "yesterday"}}}}).encode(),
        "older version": json.dumps({"version": 0, "sections": {}}).encode(),
    }


VARIANTS = ("garbage", "empty", "truncated", "a list", "no sections", "version a string",
            "section not an object", "horizon a string", "older version")


@pytest.mark.parametrize("variant", VARIANTS)
def test_bad_state_is_set_aside_and_counted_afresh(uri: str, db: Database[Any], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   variant: str) -> None:
    generate(db, GenOptions(seed=23, now=NOW0, users=8, days=40))
    first = job(uri, db, tmp_path / "first", NOW0)
    bad = corrupt_variants(first.state_file.read_bytes())[variant]
    now = NOW0 + MINUTE
    cold = job(uri, db, tmp_path / "cold", now)

    workdir = tmp_path / "job"
    workdir.mkdir()
    (workdir / "state.json").write_bytes(bad)
    capsys.readouterr()
    run = job(uri, db, workdir, now)
    log = capsys.readouterr().err
    path = str(workdir / "state.json")
    assert any(" - WARNING - " in line and path in line for line in log.splitlines()), log
    kept = list(workdir.glob("state.json.*.bad"))
    assert len(kept) == 1 and kept[0].read_bytes() == bad
    assert json.loads((workdir / "state.json").read_bytes())["version"] == (
        librechat_textfile.STATE_VERSION)
    assert_same(business(run.samples), business(cold.samples), f"{variant} state vs cold run")


@pytest.mark.parametrize("shape", ["this version's", "a newer"])
def test_newer_state_fails_the_run_and_is_left_alone(uri: str, db: Database[Any],
                                                     tmp_path: Path, shape: str) -> None:
    generate(db, GenOptions(seed=29, now=NOW0, users=8, days=40))
    first = job(uri, db, tmp_path / "first", NOW0)
    state = json.loads(first.state_file.read_bytes())
    if shape == "a newer":  # what a newer version would add, which is why it has a new number
        state["sections"]["messages"]["future_field"] = {"kept": True}
    newer = json.dumps({**state, "version": 99}).encode()
    workdir = tmp_path / "job"
    workdir.mkdir()
    (workdir / "state.json").write_bytes(newer)
    run = run_job(uri, db.name, workdir, NOW0 + MINUTE)
    assert run.code == 1
    assert (workdir / "state.json").read_bytes() == newer
    assert list(workdir.glob("state.json.*.bad")) == []
    assert run.samples["librechat_exporter_up"][()] == 0.0
    assert not [n for n in run.samples if not n.startswith("librechat_exporter_")]
