#!/usr/bin/env python3
"""What one run of librechat_textfile.py costs MongoDB, at several database sizes.

    python3 bench/bench.py --sizes 100000,1000000,5000000
    python3 bench/bench.py --quick                       # 20k and 100k messages, for trying

For each size (messages; users, conversations, transactions and files in LibreChat's
proportions, see bench/build_db.py) the script starts a real mongod (tests/mongod.py; or uses
``--mongodb-uri``), fills a fresh database whose history ends at T0 = 22:45 UTC yesterday,
switches MongoDB's profiler to level 2 and then simulates the job's life minute by minute: each
tick inserts one minute of traffic (about 100 messages with their transactions, a conversation
or two, a file; ``_id``s and ``createdAt``s inside that minute) and runs

    python librechat_textfile.py --now <tick> ...   (a subprocess: interpreter start included)

Per run it records the profiler's sum of ``docsExamined`` and ``keysExamined`` and the number
of operations of ``appName: librechat-textfile`` in the run's time range, the wall time of the
process and its peak RSS (GNU time's ``%M``: ``wait4`` would report this process's own memory,
which a forked child inherits as its high-water mark). The job file is copied at the start and
every run uses the copy. The ticks give, honestly as separate rows:

* cold: the first runs without state, until ``backfill_progress_ratio`` is 1 for every section,
  at ``--timeout`` (default 40 s: a large database needs several runs). Two failed runs in a
  row mean the first count cannot advance (a failed run keeps the old state): that is
  reported, and the rest runs at ``--cold-fallback-timeout`` as its own row;
* steady: every later run in which neither the stored-now gauges (``--slow-interval``, 900 s)
  fell due nor the local day changed; median wall time, median examined;
* slow refresh without, then with the job's optional indexes (``indexes --create`` is run in
  between): the runs where the stored-now gauges fell due;
* the first run after midnight (00:00 UTC, 75 ticks after T0): the daily statistics;
* failed runs after the cold count, if any (the ticks stop after two);
* full recompute: after the last tick, a run with a fresh state file at the same ``--now``
  (``--timeout 600`` so it completes in one run), whose counters must equal the incremental
  run's.

Results go to stdout and bench/results/<timestamp>.md.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
from bson import ObjectId

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from build_db import BuildOptions, BuildReport, build  # noqa: E402

from tests.librechat_data import (  # noqa: E402
    MODELS,
    make_conversation,
    make_file,
    make_message,
    make_transaction,
)
from tests.mongod import Mongod  # noqa: E402
from tests.promparse import parse_file  # noqa: E402

JOB = ROOT / "librechat_textfile.py"
PACKAGE = ROOT / "librechat_metrics"
# The job (entry module and package) as it was when the benchmark started (main() copies
# it): edits made to the working tree during a half-hour benchmark must not mix two
# versions into one table.
SNAPSHOT: list[Path] = [JOB]
APP_NAME = "librechat-textfile"
SLOW_SECTIONS = ("users", "sessions", "balances", "stored_conversations", "stored_files",
                 "feedback")
TICK = 60  # seconds between runs, as the systemd timer
TICKS_BEFORE_MIDNIGHT = 75
MB = 1024 * 1024

# Targets (bench/README.md): examined per steady run <= 3 x new documents + 10,000; steady
# median wall <= 1 s with interpreter start; peak RSS <= 100 MB; cold count of 5M <= 120 s.
STEADY_FACTOR, STEADY_SLACK = 3, 10_000
STEADY_WALL_S = 1.0
RSS_MB = 100.0
COLD_WALL_S = 120.0
COLD_TARGET_SIZE = 5_000_000
# Issue 12: the first count within 3x (stretch 2x) of reading each counted collection once,
# docs + keys examined <= 2 per stored document of those collections.
COUNTED = ("messages", "transactions", "conversations", "files", "users")
FLOOR_RATIO, FLOOR_STRETCH, EXAMINED_PER_DOC = 3.0, 2.0, 2.0
FLOOR_APP_NAME = "librechat-bench-floor"
TRAFFIC = ("conversations", "messages", "transactions", "files")  # what the ticks insert


# --------------------------------------------------------------------------------------------
# One minute of traffic


class Traffic:
    """About 100 messages a minute in a few open conversations, with their transactions,
    a new conversation or two and an uploaded file, written with the test builders."""

    def __init__(self, db: Any, seed: int) -> None:
        self.db = db
        # Not the generator's seed, whose stream would repeat the stored UUIDs.
        self.rng = random.Random(f"bench-traffic-{seed}")
        self.users = [u["_id"] for u in db.users.find(
            {"expiresAt": {"$exists": False}}, {"_id": 1}).limit(500)]
        self.open: list[dict[str, Any]] = []

    def minute(self, end: datetime, messages: int = 100) -> int:
        """Insert the documents of (end - 60 s, end); returns how many."""
        rng, start = self.rng, end - timedelta(seconds=TICK)
        docs: dict[str, list[dict[str, Any]]] = {"conversations": [], "messages": [],
                                                 "transactions": [], "files": []}
        for _ in range(1 + (rng.random() < 0.5)):
            choice = rng.choice(MODELS)
            conv = make_conversation(rng.choice(self.users), start + timedelta(seconds=1),
                                     endpoint=choice.endpoint, model=choice.model, rng=rng)
            docs["conversations"].append(conv)
            self.open = [*self.open[-9:], {"conv": conv, "choice": choice}]
        for i in range(messages // 2):
            chat = self.open[i % len(self.open)]
            conv, choice = chat["conv"], chat["choice"]
            asked = start + timedelta(seconds=rng.uniform(2, TICK - 12))
            answered = asked + timedelta(seconds=rng.uniform(1, 10))
            question = make_message(conv["user"], conv["conversationId"], asked, by_user=True,
                                    endpoint=choice.endpoint, rng=rng)
            reply = make_message(conv["user"], conv["conversationId"], answered, by_user=False,
                                 model=choice.model, endpoint=choice.endpoint, rng=rng,
                                 parentMessageId=question["messageId"],
                                 tokenCount=rng.randint(20, 800))
            docs["messages"] += [question, reply]
            for token_type, amount in (("prompt", -rng.randint(50, 3000)),
                                       ("completion", -reply["tokenCount"])):
                docs["transactions"].append(make_transaction(
                    ObjectId(conv["user"]), answered, token_type, choice.model, amount, rng=rng,
                    conversationId=conv["conversationId"], messageId=reply["messageId"]))
        docs["files"].append(make_file(ObjectId(self.open[-1]["conv"]["user"]),
                                       start + timedelta(seconds=rng.uniform(1, TICK - 2)),
                                       rng=rng,
                                       conversationId=self.open[-1]["conv"]["conversationId"]))
        for name, batch in docs.items():
            self.db[name].insert_many(batch, ordered=False)
        return sum(len(batch) for batch in docs.values())


# --------------------------------------------------------------------------------------------
# Profiler


def start_profiler(db: Any, size_mb: int = 1024) -> None:
    """Level 2 into a large capped system.profile (the default 1 MB would overflow)."""
    db.command("profile", 0)
    db.drop_collection("system.profile")
    db.create_collection("system.profile", capped=True, size=size_mb * MB)
    db.command("profile", 2)


def describe_op(entry: dict[str, Any]) -> str:
    """A short, stable description of a profiled operation (getMores: their query's)."""
    command = entry.get("originatingCommand") if entry.get("op") == "getmore" else None
    command = command or entry.get("command") or {}
    if "aggregate" in command:
        stages = command.get("pipeline") or []
        first = stages[0].get("$match", {}) if stages and isinstance(stages[0], dict) else {}
        names = [next(iter(s)) for s in stages if isinstance(s, dict) and s]
        return f"aggregate match {_shape(first)} | {' '.join(names[1:])}"
    if "find" in command:
        extra = " skip" if command.get("skip") else ""
        return f"find {_shape(command.get('filter', {}))}{extra}"
    keys = [k for k in command if not k.startswith("$") and k not in ("lsid",)]
    return " ".join(keys[:2]) or str(entry.get("op"))


def _shape(value: Any, depth: int = 0) -> str:
    """Field names and operators of a filter, values elided."""
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {_shape(v, depth + 1)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return f"[{_shape(value[0], depth + 1)}, ...x{len(value)}]" if value else "[]"
    return "·"


@dataclass
class OpStats:
    docs: int = 0
    keys: int = 0
    ops: int = 0
    millis: int = 0
    top: list[dict[str, Any]] = field(default_factory=list)

    def __iadd__(self, other: OpStats) -> OpStats:
        self.docs += other.docs
        self.keys += other.keys
        self.ops += other.ops
        self.millis += other.millis
        merged: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in [*self.top, *other.top]:
            key = (row["ns"], row["query"], row["plan"])
            slot = merged.setdefault(key, {**row, "docs": 0, "keys": 0, "ops": 0, "millis": 0})
            for k in ("docs", "keys", "ops", "millis"):
                slot[k] += row[k]
        self.top = sorted(merged.values(), key=lambda r: (-r["docs"], -r["keys"]))
        return self


def profile_stats(db: Any, since: datetime, until: datetime) -> OpStats:
    stats = OpStats()
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entry in db["system.profile"].find(
            {"appName": APP_NAME, "ts": {"$gte": since, "$lte": until}}):
        docs, keys = int(entry.get("docsExamined", 0)), int(entry.get("keysExamined", 0))
        stats.docs += docs
        stats.keys += keys
        stats.ops += 1
        stats.millis += int(entry.get("millis", 0))
        key = (entry.get("ns", ""), describe_op(entry), entry.get("planSummary", ""))
        row = groups.setdefault(key, {"ns": key[0], "query": key[1], "plan": key[2],
                                      "docs": 0, "keys": 0, "ops": 0, "millis": 0})
        row["docs"] += docs
        row["keys"] += keys
        row["ops"] += 1
        row["millis"] += int(entry.get("millis", 0))
    stats.top = sorted(groups.values(), key=lambda r: (-r["docs"], -r["keys"]))
    return stats


# --------------------------------------------------------------------------------------------
# The one-pass floor: what reading each counted collection once costs this server


@dataclass
class Floor:
    """A plain `$group` over each counted collection, timed from this process (best of
    `repeats`, after one warm-up pass so that the cache is in the state the job meets)."""

    seconds: float  # sum over the collections of the best pass
    per_collection: dict[str, float]
    count_only: float  # the same with `_id: null` (no field read), for reference
    examined: int  # docs + keys, from the profiler
    documents: int  # stored documents of the counted collections
    load: tuple[float, float, float]

    def describe(self) -> str:
        return (f"{self.seconds:.2f} s (" + ", ".join(
            f"{k} {v:.2f}" for k, v in self.per_collection.items())
            + f"; `_id: null` alone {self.count_only:.2f} s)")


FLOOR_FIELDS = {"messages": "model", "transactions": "model", "conversations": "endpoint",
                "files": "source", "users": "provider"}
# The floor groups each collection by one field its counters split on: the least any pass that
# labels its counts must read. A `$group` on `_id: null` alone is also timed, for reference:
# it reads no field at all (MongoDB counts the records without decoding them), so no counting
# pass can come near it.


def floor_pipeline(name: str) -> list[dict[str, Any]]:
    return [{"$group": {"_id": f"${FLOOR_FIELDS[name]}", "n": {"$sum": 1}}}]


COUNT_ONLY = [{"$group": {"_id": None, "n": {"$sum": 1}}}]


def measure_floor(uri: str, database: str, profiled: Any, repeats: int = 2) -> Floor:
    """The floor the first count is held against: `floor_pipeline` on every counted
    collection; the best of `repeats` passes after a warm-up pass."""
    best: dict[str, float] = {}
    count_only: dict[str, float] = {}
    load = os.getloadavg()
    with pymongo.MongoClient(uri, appname=FLOOR_APP_NAME) as client:
        db = client[database]
        for name in COUNTED:
            list(db[name].aggregate(floor_pipeline(name), allowDiskUse=True))  # warm-up
        since = datetime.now(UTC)
        for _ in range(repeats):
            for name in COUNTED:
                for pipeline, slot in ((floor_pipeline(name), best), (COUNT_ONLY, count_only)):
                    started = time.monotonic()
                    list(db[name].aggregate(pipeline, allowDiskUse=True))
                    took = time.monotonic() - started
                    slot[name] = min(slot.get(name, math.inf), took)
        documents = sum(db[name].estimated_document_count() for name in COUNTED)
    time.sleep(0.05)
    examined = 0
    for entry in profiled["system.profile"].find({"appName": FLOOR_APP_NAME,
                                                  "ts": {"$gte": since}}):
        examined += int(entry.get("docsExamined", 0)) + int(entry.get("keysExamined", 0))
    return Floor(sum(best.values()), best, sum(count_only.values()),
                 examined // max(2 * repeats, 1), documents, load)


def stored_counted(db: Any) -> int:
    return sum(db[name].estimated_document_count() for name in COUNTED)


def import_profile(job: Job, now: datetime) -> dict[str, float]:
    """A steady run under `python -X importtime` (a copy of the state, so nothing changes):
    cumulative import seconds of the top-level modules that cost the most, and in all."""
    state = job.workdir / "importtime.json"
    shutil.copy2(job.state, state)
    err = job.workdir / "importtime.log"
    with open(err, "wb") as handle:
        subprocess.run([sys.executable, "-X", "importtime", str(SNAPSHOT[0]), "--mongodb-uri",
                        job.uri, "--mongodb-database", job.database, "--output",
                        str(job.workdir / "importtime.prom"), "--state-file", str(state),
                        "--now", now.isoformat()], cwd=job.workdir, stdout=subprocess.DEVNULL,
                       stderr=handle, check=False)
    total, found = 0.0, {}
    for line in err.read_text(errors="replace").splitlines():
        # "import time: self [us] | cumulative | imported package", nesting by indentation;
        # a module's line follows those of the modules it imported.
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, name = line.split("|")
        if not cumulative.strip().isdigit():
            continue
        seconds = int(cumulative) / 1e6
        if not name.startswith("  "):
            total += seconds
        name = name.strip()
        if name in IMPORT_WATCH:
            found[name] = max(found.get(name, 0.0), seconds)
    return {"all imports": total, **{k: found[k] for k in IMPORT_WATCH if k in found}}


IMPORT_WATCH = ("librechat_metrics", "pymongo", "bson", "prometheus_client", "dotenv")


# --------------------------------------------------------------------------------------------
# Running the job


@dataclass
class Run:
    label: str
    now: datetime
    exit_code: int
    wall: float
    rss_mb: float
    stats: OpStats
    new_docs: int = 0
    timeout: float = 0.0
    progress: dict[str, float] = field(default_factory=dict)
    sections: dict[str, float] = field(default_factory=dict)
    job_seconds: float = float("nan")
    refreshed: list[str] = field(default_factory=list)
    load: float = 0.0  # the machine's 1-minute load average when the run started
    cpu: float = 0.0  # the job process's user + system seconds
    server_cpu: float = float("nan")  # the server's user + system seconds during the run


def server_cpu_seconds(client: Any) -> float:
    """The server process's user + system CPU seconds so far (serverStatus `extra_info`,
    reported on Linux), or NaN where the platform leaves them out."""
    info = client.admin.command("serverStatus").get("extra_info", {})
    if "user_time_us" not in info or "system_time_us" not in info:
        return float("nan")
    return (int(info["user_time_us"]) + int(info["system_time_us"])) / 1e6


TIME = shutil.which("time", path="/usr/bin:/bin")


def run_job(args: list[str], cwd: Path) -> tuple[int, float, float, float, str]:
    """Run the job as a child process: exit code, wall seconds, peak RSS (MB), CPU seconds
    (user + system, the job's and GNU time's together), stderr.

    Peak RSS comes from GNU time (``%M``): on Linux a child forked from this (large) process
    starts with this process's high-water mark, so ``wait4``'s ``ru_maxrss`` would report the
    benchmark's memory, not the job's. Without /usr/bin/time that inflated figure is all
    there is (and the report says so).
    """
    err_path, rss_path = cwd / "stderr.log", cwd / "rss.txt"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MONGODB_", "LIBRECHAT_TEXTFILE_", "LOGGING_"))}
    prefix = [TIME, "-f", "%M", "-o", str(rss_path)] if TIME else []
    with open(err_path, "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen([*prefix, sys.executable, str(SNAPSHOT[0]), *args], cwd=cwd,
                                env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_kb = float(usage.ru_maxrss)
    if TIME:
        rss_kb = float(rss_path.read_text().split()[-1])
    cpu = usage.ru_utime + usage.ru_stime  # wait4 counts the child's reaped children too
    return proc.returncode, wall, rss_kb / 1024, cpu, err_path.read_text(errors="replace")


class Job:
    """The job's files for one database, and one run at a time."""

    def __init__(self, uri: str, database: str, db: Any, workdir: Path, timeout: float) -> None:
        self.uri, self.database, self.db = uri, database, db
        self.workdir = workdir
        self.timeout = timeout
        self.state = workdir / "state.json"
        self.output = workdir / "librechat.prom"

    def run(self, label: str, now: datetime, *, state: Path | None = None,
            output: Path | None = None, timeout: float | None = None) -> Run:
        state, output = state or self.state, output or self.output
        before = _load_json(state)
        since = datetime.now(UTC)
        load = os.getloadavg()[0]
        server_before = server_cpu_seconds(self.db.client)
        code, wall, rss, cpu, stderr = run_job(
            ["--mongodb-uri", self.uri, "--mongodb-database", self.database,
             "--output", str(output), "--state-file", str(state), "--now", now.isoformat(),
             "--timeout", str(timeout or self.timeout)], self.workdir)
        time.sleep(0.05)
        stats = profile_stats(self.db, since - timedelta(milliseconds=5), datetime.now(UTC))
        if code not in (0, 3):
            print(f"  ! {label}: exit {code}\n{stderr[-2000:]}", file=sys.stderr)
        run = Run(label, now, code, wall, rss, stats, load=load, cpu=cpu,
                  server_cpu=server_cpu_seconds(self.db.client) - server_before)
        run.progress = read_progress(output)
        run.sections = read_family(output, "librechat_exporter_section_duration_seconds", "section")
        try:
            samples, _ = parse_file(str(output))
            run.job_seconds = samples["librechat_exporter_run_duration_seconds"][()]
        except (OSError, ValueError, KeyError):
            run.job_seconds = float("nan")
        after = _load_json(state)
        run.refreshed = refreshed_sections(before, after, now)
        return run

    def indexes_create(self) -> str:
        out = subprocess.run([sys.executable, str(SNAPSHOT[0]), "indexes", "--create",
                              "--mongodb-uri",
                              self.uri, "--mongodb-database", self.database], cwd=self.workdir,
                             capture_output=True, text=True, check=True)
        return out.stdout


def complete(run: Run) -> bool:
    """Every section's first count is done (and the run wrote its progress)."""
    return bool(run.progress) and all(v >= 1.0 for v in run.progress.values())


def _load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def read_progress(output: Path) -> dict[str, float]:
    return read_family(output, "librechat_exporter_backfill_progress_ratio", "section")


def read_family(output: Path, name: str, label: str) -> dict[str, float]:
    try:
        samples, _ = parse_file(str(output))
    except (OSError, ValueError):
        return {}
    return {dict(key)[label]: value for key, value in samples.get(name, {}).items()}


def refreshed_sections(before: dict[str, Any], after: dict[str, Any], now: datetime) -> list[str]:
    """Cached sections (slow, daily) that this run recomputed."""
    out = []
    old = before.get("sections", {})
    for name, section in after.get("sections", {}).items():
        if isinstance(section, dict) and section.get("refreshed_at") == now.timestamp() and (
                old.get(name, {}).get("refreshed_at") != now.timestamp()):
            out.append(name)
    return sorted(out)


def counters_of(output: Path) -> dict[str, dict[Any, float]]:
    samples, types = parse_file(str(output))
    return {name: rows for name, rows in samples.items()
            if types.get(name) == "counter" and not name.startswith("librechat_exporter_")}


# --------------------------------------------------------------------------------------------
# One size


@dataclass
class Row:
    name: str
    runs: int
    docs: float
    keys: float
    ops: float
    wall: float
    rss_mb: float
    new_docs: float = 0.0
    note: str = ""
    top: list[dict[str, Any]] = field(default_factory=list)
    slowest: list[dict[str, Any]] = field(default_factory=list)
    sections: dict[str, float] = field(default_factory=dict)
    load: float = 0.0  # the highest 1-minute load average at the start of its runs
    cpu: float = 0.0  # the job's CPU seconds, summed (or the median, as wall)
    server_cpu: float = float("nan")  # the server's CPU seconds during the runs, likewise


@dataclass
class SizeResult:
    size: int
    build: BuildReport
    rows: dict[str, Row] = field(default_factory=dict)
    counters_equal: bool | None = None
    counter_diffs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    server_version: str = ""
    floor: Floor | None = None  # measured just before the cold count
    floor_full: Floor | None = None  # measured just before the full recompute
    imports: dict[str, float] = field(default_factory=dict)
    loads: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    reused: bool = False


def aggregate_rows(name: str, runs: list[Run], note: str = "", median: bool = False) -> Row:
    def pick(values: list[float]) -> float:
        return statistics.median(values) if median else sum(values)

    stats = OpStats()
    sections: dict[str, float] = {}
    for run in runs:
        stats += run.stats
        for section, seconds in run.sections.items():
            sections[section] = sections.get(section, 0.0) + seconds / (
                len(runs) if median else 1)
    return Row(name, len(runs),
               pick([r.stats.docs for r in runs]), pick([r.stats.keys for r in runs]),
               pick([r.stats.ops for r in runs]), pick([r.wall for r in runs]),
               max(r.rss_mb for r in runs),
               statistics.median([r.new_docs for r in runs]) if median else
               sum(r.new_docs for r in runs), note, stats.top[:4],
               sorted(stats.top, key=lambda r: -r["millis"])[:3], sections,
               max(r.load for r in runs), pick([r.cpu for r in runs]),
               pick([r.server_cpu for r in runs]))


def measure_size(size: int, args: argparse.Namespace, log: Any) -> SizeResult:
    t0 = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                        microsecond=0)
    t0 += timedelta(days=1) - timedelta(seconds=TICKS_BEFORE_MIDNIGHT * TICK)
    database = f"librechat_bench_{size}"
    with server(args) as uri:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, tz_aware=True)
        db = client[database]
        kept = restore_kept(db, args, size, log)
        if kept is not None:
            t0, report = kept
        else:
            client.drop_database(database)
            log(f"## {size:,} messages: building (history ends {t0.isoformat()})")
            report = build(db, BuildOptions(size, t0, seed=args.seed), progress=log)
            log(f"built in {report.seconds:.0f} s ({report.seconds_generate:.0f} s insert, "
                f"{report.seconds_indexes:.0f} s indexes): {report.counts}")
            remember_kept(db, args, size, t0, report)
        result = SizeResult(size, report, server_version=client.server_info()["version"],
                            reused=kept is not None)
        traffic = Traffic(db, args.seed)
        workdir = Path(tempfile.mkdtemp(prefix="librechat-bench-"))
        try:
            start_profiler(db)
            result.floor = measure_floor(uri, database, db)
            log(f"  floor (plain $group over {', '.join(COUNTED)}): "
                f"{result.floor.describe()}, load {load_text(result.floor.load)}")
            job = Job(uri, database, db, workdir, args.timeout)
            _simulate(job, traffic, t0, result, log, args.cold_fallback_timeout,
                      lambda: measure_floor(uri, database, db))
        finally:
            db.command("profile", 0)
            client.close()
            shutil.rmtree(workdir, ignore_errors=True)
            if args.mongodb_uri and not args.keep and not args.data_dir:
                with pymongo.MongoClient(uri) as cleanup:
                    cleanup.drop_database(database)
    return result


def load_text(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


# Keeping a built database between benchmark runs (--data-dir): a 5M database takes minutes
# to build. What the build made is remembered beside it (counts and the largest _id of each
# collection the ticks write to); before reuse, everything a previous benchmark's ticks added
# is deleted and the job's own indexes are dropped, so every run starts from the same data.


def _kept_path(args: argparse.Namespace, size: int) -> Path:
    return Path(args.data_dir) / f"librechat_bench_{size}.json"


def remember_kept(db: Any, args: argparse.Namespace, size: int, t0: datetime,
                  report: BuildReport) -> None:
    if not args.data_dir:
        return
    last = {}
    for name in TRAFFIC:
        doc = db[name].find_one({}, {"_id": 1}, sort=[("_id", -1)])
        last[name] = str(doc["_id"]) if doc else None
    _kept_path(args, size).write_text(json.dumps({
        "size": size, "seed": args.seed, "t0": t0.isoformat(), "counts": report.counts,
        "seconds_generate": report.seconds_generate,
        "seconds_indexes": report.seconds_indexes, "last_ids": last}))


def restore_kept(db: Any, args: argparse.Namespace, size: int,
                 log: Any) -> tuple[datetime, BuildReport] | None:
    """(t0, build report) of a kept database brought back to its built state, or None."""
    if not args.data_dir:
        return None
    try:
        meta = json.loads(_kept_path(args, size).read_text())
    except (OSError, ValueError):
        return None
    if meta.get("seed") != args.seed or meta.get("size") != size:
        return None
    for name, last in meta["last_ids"].items():
        if last is not None:
            deleted = db[name].delete_many({"_id": {"$gt": ObjectId(last)}}).deleted_count
            if deleted:
                log(f"  kept database: removed {deleted:,} {name} added by earlier ticks")
    for name in TRAFFIC:
        for index in db[name].list_indexes():
            if str(index["name"]).startswith("librechat_textfile"):
                db[name].drop_index(index["name"])
    counts = {name: db[name].count_documents({}) for name in meta["counts"]}
    if counts != meta["counts"]:
        log(f"  kept database differs from its build ({counts} vs {meta['counts']}): "
            "rebuilding")
        return None
    report = BuildReport(counts, meta["seconds_generate"], meta["seconds_indexes"])
    log(f"## {size:,} messages: reusing the kept database (built in {report.seconds:.0f} s, "
        f"history ends {meta['t0']})")
    return datetime.fromisoformat(meta["t0"]), report


def _simulate(job: Job, traffic: Traffic, t0: datetime, result: SizeResult, log: Any,
              fallback_timeout: float, floor: Any) -> None:
    cold: list[Run] = []
    steady: list[Run] = []
    failed_later: list[Run] = []
    slow_plain: Run | None = None
    slow_indexed: Run | None = None
    daily: Run | None = None
    indexes_made = False
    cold_timeout = job.timeout
    tick = 0
    while tick < TICKS_BEFORE_MIDNIGHT + 20:
        tick += 1
        now = t0 + timedelta(seconds=tick * TICK)
        new_docs = traffic.minute(now)
        in_cold = not cold or not complete(cold[-1])
        timeout = cold_timeout if in_cold else job.timeout
        run = job.run(f"tick {tick}", now, timeout=timeout)
        run.new_docs, run.timeout = new_docs, timeout
        failed = run.exit_code not in (0, 3)
        if failed:
            phase = "cold count" if in_cold else "after the cold count"
            result.failures.append(f"tick {tick} ({phase}): exit {run.exit_code} at "
                                   f"--timeout {timeout:g}")
        if in_cold:
            cold.append(run)
            log(f"  cold run {len(cold)} (--timeout {timeout:g}): exit {run.exit_code}, "
                f"{run.wall:.2f} s, {run.stats.docs:,} docs, {run.stats.keys:,} keys, "
                f"{run.rss_mb:.0f} MB, progress {min(run.progress.values(), default=0):.2f}")
            stuck = len(cold) >= 2 and all(r.exit_code not in (0, 3) and r.timeout == timeout
                                           for r in cold[-2:])
            if stuck and timeout < fallback_timeout:
                # A failed run keeps the old state, so the first count never advances: say so,
                # then finish it with a longer timeout to measure everything else.
                log(f"  two cold runs in a row failed at --timeout {timeout:g}: the first "
                    f"count cannot advance; continuing at --timeout {fallback_timeout:g}")
                cold_timeout = fallback_timeout
            elif len(cold) > 40 or (stuck and timeout >= fallback_timeout):
                result.failures.append(f"cold count did not finish ({len(cold)} runs)")
                break
            continue
        kind = "FAILED" if failed else ",".join(run.refreshed) or (
            "first after midnight" if now.date() != (now - timedelta(seconds=TICK)).date()
            else "steady")
        log(f"  tick {tick} ({kind}): {run.wall:.2f} s, {run.stats.docs:,} docs, "
            f"{run.stats.keys:,} keys, {run.stats.ops} ops, {run.rss_mb:.0f} MB")
        if failed:
            failed_later.append(run)
            if len(failed_later) >= 2:
                log("  two failed runs after the cold count: stopping the ticks")
                break
            continue
        slow = [s for s in run.refreshed if s in SLOW_SECTIONS]
        # The daily statistics change with the local day: the first run after 00:00 UTC
        # (whether the job recomputes them then or summarises the day just ended).
        midnight = now.date() != (now - timedelta(seconds=TICK)).date()
        if (midnight or "daily" in run.refreshed) and daily is None and not slow:
            daily = run
        elif slow and "daily" not in run.refreshed:
            if not indexes_made:
                slow_plain = slow_plain or run
                log(job.indexes_create().rstrip())
                indexes_made = True
            elif slow_indexed is None:
                slow_indexed = run
        elif not run.refreshed:
            steady.append(run)
        if daily and slow_indexed and len(steady) >= 5:
            break
    rows = result.rows
    for key, runs, name in (
            ("cold", [r for r in cold if r.timeout == job.timeout],
             f"cold first count at --timeout {job.timeout:g}"),
            ("cold_fallback", [r for r in cold if r.timeout != job.timeout],
             f"cold first count continued at --timeout {fallback_timeout:g}")):
        if runs:
            bad = sum(r.exit_code not in (0, 3) for r in runs)
            rows[key] = aggregate_rows(
                name, runs, f"{len(runs)} run(s){f', {bad} FAILED (exit 1)' if bad else ''}; "
                "each " + "/".join(f"{r.wall:.1f}" for r in runs) + " s; "
                + ("progress 1" if complete(cold[-1]) and runs[-1] is cold[-1] else
                   "progress not 1"))
    if steady:
        inside = statistics.median(r.job_seconds for r in steady)
        rows["steady"] = aggregate_rows(
            "steady state (median)", steady, median=True,
            note=f"median of {len(steady)} runs; the job's own run_duration_seconds "
                 f"{inside:.2f} s, the rest is interpreter start, imports and exit")
    for key, run, name in (("slow", slow_plain, "slow sections refresh, no job indexes"),
                           ("slow_idx", slow_indexed, "slow sections refresh, job indexes"),
                           ("daily", daily, "first run after midnight (daily statistics)")):
        if run is not None:
            rows[key] = aggregate_rows(name, [run], note=",".join(run.refreshed)
                                       or "no cached section refreshed")
        else:
            result.failures.append(f"no successful {name} run observed")
    if failed_later:
        rows["failed"] = aggregate_rows(
            "FAILED runs after the cold count", failed_later,
            f"exit {'/'.join(str(r.exit_code) for r in failed_later)} at --timeout "
            f"{job.timeout:g}; ticks " + "/".join(r.label.split()[-1] for r in failed_later))
    last_now = t0 + timedelta(seconds=tick * TICK)
    if steady:
        result.imports = import_profile(job, last_now)
        log("  imports of a steady run (python -X importtime, cumulative s): " + ", ".join(
            f"{k} {v:.3f}" for k, v in result.imports.items()))
    result.floor_full = floor()
    log(f"  floor again, before the full recompute: {result.floor_full.describe()}, "
        f"load {load_text(result.floor_full.load)}")
    fresh_state, fresh_out = job.workdir / "fresh.json", job.workdir / "fresh.prom"
    full: list[Run] = []
    while len(full) < 5:
        run = job.run("full recompute", last_now, state=fresh_state, output=fresh_out,
                      timeout=600)
        full.append(run)
        if complete(run):
            break
    log(f"  full recompute: {len(full)} run(s), {sum(r.wall for r in full):.2f} s, "
        f"{sum(r.stats.docs for r in full):,} docs")
    rows["full"] = aggregate_rows("full recompute (fresh state, same --now)", full,
                                  f"{len(full)} run(s) at --timeout 600")
    incremental, fresh = counters_of(job.output), counters_of(fresh_out)
    result.counter_diffs = [
        f"{name}{dict(key)}: incremental {incremental.get(name, {}).get(key)} vs full "
        f"{fresh.get(name, {}).get(key)}"
        for name in sorted(set(incremental) | set(fresh))
        for key in sorted(set(incremental.get(name, {})) | set(fresh.get(name, {})))
        if not same(incremental.get(name, {}).get(key), fresh.get(name, {}).get(key))]
    result.counters_equal = not result.counter_diffs


def same(a: float | None, b: float | None) -> bool:
    """Equal, up to the rounding of float sums added in another order (cost in USD)."""
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


class KeptMongod(Mongod):
    """The test mongod on a dbpath that outlives the benchmark (--data-dir)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.kept = directory

    def start(self) -> Mongod:
        self.kept.mkdir(parents=True, exist_ok=True)
        self.tmpdir = self.kept
        self.dbpath.mkdir(exist_ok=True)
        atexit.register(self.stop)
        try:
            self._start_with_retries()
        except BaseException:
            self._terminate()
            raise
        return self

    def stop(self) -> None:
        self._terminate()  # the dbpath stays


@contextmanager
def server(args: argparse.Namespace) -> Iterator[str]:
    if args.mongodb_uri:
        yield args.mongodb_uri
        return
    mongod_ = KeptMongod(Path(args.data_dir)) if args.data_dir else Mongod()
    with mongod_ as mongod, pymongo.MongoClient(mongod.uri) as client:
        # tests/mongod.py starts with a 0.25 GB cache for the suite; a database host has more.
        cache = f"cache_size={int(args.cache_gb * 1024)}M"
        client.admin.command("setParameter", 1, wiredTigerEngineRuntimeConfig=cache)
        yield mongod.uri


# --------------------------------------------------------------------------------------------
# Report


def human(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e4:
        return f"{n / 1e3:.1f}k"
    return f"{n:,.0f}"


def size_table(res: SizeResult) -> list[str]:
    lines = [f"### {res.size:,} messages", "",
             "data: " + ", ".join(f"{k} {v:,}" for k, v in res.build.counts.items() if v),
             f"(built in {res.build.seconds:.0f} s: {res.build.seconds_generate:.0f} s insert, "
             f"{res.build.seconds_indexes:.0f} s indexes)", "",
             "| run | runs | new docs | docs examined | keys examined | ops | wall s | "
             "peak RSS MB | load | note |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    if res.reused:
        lines[3] += "; reused from --data-dir, restored to its built state"
    for row in res.rows.values():
        lines.append(f"| {row.name} | {row.runs} | {human(row.new_docs)} | {human(row.docs)} | "
                     f"{human(row.keys)} | {row.ops:,.0f} | {row.wall:.2f} | "
                     f"{row.rss_mb:.0f} | {row.load:.1f} | {row.note} |")
    steady, full = res.rows.get("steady"), res.rows.get("full")
    if steady and full:
        lines += ["", f"steady/full: docs {ratio(steady.docs, full.docs)}, keys "
                      f"{ratio(steady.keys, full.keys)}, wall {ratio(steady.wall, full.wall)}"]
    lines.append("")
    lines.append("incremental counters equal full recompute: "
                 + ("yes" if res.counters_equal else "NO: " + "; ".join(res.counter_diffs[:5])))
    for failure in res.failures:
        lines.append(f"\n**failure:** {failure}")
    lines += ["", "Operations that examined the most (ns, query shape, plan: docs / keys / ops "
                  "/ ms):", ""]
    for row in res.rows.values():
        lines.append(f"* {row.name}:")
        shown = [*row.top[:3], *[op for op in row.slowest if op not in row.top[:3]][:2]]
        for op in shown:
            lines.append(f"  * `{op['ns']}` `{op['query'][:150]}` {op['plan']}: "
                         f"{human(op['docs'])} / {human(op['keys'])} / {op['ops']} / "
                         f"{op['millis']}")
        if row.sections:
            top = sorted(row.sections.items(), key=lambda kv: -kv[1])[:4]
            lines.append("  * slowest sections (job's own timing): "
                         + ", ".join(f"{name} {secs:.2f} s" for name, secs in top))
    return lines


def floor_table(results: list[SizeResult]) -> list[str]:
    """Issue 12's table: the one-pass floor, the first count and the full recompute against
    it, docs + keys examined per stored document of the counted collections, the steady run,
    peak RSS, and the machine's load while each was measured."""
    lines = ["| messages | counted docs | floor s | first count s (runs) | first / floor | "
             "examined / doc | full recompute s | full / floor | examined / doc | "
             "steady s | steady / floor | peak RSS MB | load (floor / cold / full) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for res in results:
        floor, floor_full = res.floor, res.floor_full or res.floor
        cold = res.rows.get("cold")
        fallback = res.rows.get("cold_fallback")
        full, steady = res.rows.get("full"), res.rows.get("steady")
        if floor is None or cold is None or full is None:
            continue
        cold_wall = cold.wall + (fallback.wall if fallback else 0.0)
        cold_runs = cold.runs + (fallback.runs if fallback else 0)
        cold_examined = cold.docs + cold.keys + (
            fallback.docs + fallback.keys if fallback else 0.0)
        rss = max((r.rss_mb for r in res.rows.values()), default=0.0)
        lines.append(
            f"| {human(res.size)} | {human(floor.documents)} | {floor.seconds:.2f} | "
            f"{cold_wall:.2f} ({cold_runs}) | {cold_wall / floor.seconds:.2f}x | "
            f"{cold_examined / floor.documents:.2f} | {full.wall:.2f} | "
            f"{full.wall / floor_full.seconds:.2f}x | "
            f"{(full.docs + full.keys) / floor_full.documents:.2f} | "
            f"{steady.wall if steady else float('nan'):.2f} | "
            f"{(steady.wall if steady else float('nan')) / floor.seconds:.3f}x | {rss:.0f} | "
            f"{floor.load[0]:.1f} / {max(cold.load, fallback.load if fallback else 0):.1f}"
            f" / {full.load:.1f} |")
    lines += ["", "Floor: `[{\"$group\": {\"_id\": \"$<field>\", \"n\": {\"$sum\": 1}}}]`"
              " on each of " + ", ".join(f"{k} (by {v})" for k, v in FLOOR_FIELDS.items())
              + ", timed from the benchmark process, best of 2 after a "
              "warm-up pass, measured before the first count and again before the full "
              "recompute (the latter is the full recompute's reference). First count: every "
              "run without state until progress is 1, wall time of the whole process "
              "(interpreter start included). Examined: the profiler's docsExamined + "
              "keysExamined of those runs over the stored documents of the counted "
              "collections. Load: the machine's 1-minute load average (2 CPUs) at the "
              "start."]
    for res in results:
        if res.floor and res.floor_full:
            lines.append(f"\n{human(res.size)}: floor before the first count "
                         f"{res.floor.describe()}; before the full recompute "
                         f"{res.floor_full.describe()}")
        if res.imports:
            lines.append(f"{human(res.size)}: imports of a steady run (`python -X importtime`"
                         ", cumulative s): " + ", ".join(
                             f"{k} {v:.3f}" for k, v in res.imports.items()))
    return lines


def cpu_table(results: list[SizeResult]) -> list[str]:
    """Where the first count's time goes: CPU seconds of the job's process and of the server
    over its runs. On a machine with N CPUs no schedule of the same work finishes in less
    than their sum / N, whatever runs side by side: that bound against the floor says how
    far overlapping alone could bring the ratio."""
    cores = os.cpu_count() or 1
    lines = ["| messages | first count s | job CPU s | server CPU s | CPU / wall | "
             f"sum / {cores} CPUs s | that / floor | floor s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for res in results:
        cold, floor = res.rows.get("cold"), res.floor
        if cold is None or floor is None:
            continue
        total = cold.cpu + cold.server_cpu
        lines.append(f"| {human(res.size)} | {cold.wall:.2f} | {cold.cpu:.2f} | "
                     f"{cold.server_cpu:.2f} | {total / cold.wall:.2f} | "
                     f"{total / cores:.2f} | {total / cores / floor.seconds:.2f}x | "
                     f"{floor.seconds:.2f} |")
    return lines


def floor_targets(results: list[SizeResult]) -> list[str]:
    lines = []
    for res in results:
        cold, floor = res.rows.get("cold"), res.floor
        if cold is None or floor is None or "cold_fallback" in res.rows:
            if cold is not None:
                lines.append(f"| {res.size:,} | first count in one run at --timeout | "
                             "needed a longer --timeout | NO |")
            continue
        over = cold.wall / floor.seconds
        per_doc = (cold.docs + cold.keys) / floor.documents
        if res.size == 1_000_000:
            lines.append(f"| {res.size:,} | first count in one run at --timeout | "
                         f"{cold.runs} run(s) | {'yes' if cold.runs == 1 else 'NO'} |")
            lines.append(f"| {res.size:,} | first count ≤ {FLOOR_RATIO:g}x the floor "
                         f"(stretch {FLOOR_STRETCH:g}x) | {over:.2f}x | "
                         f"{'yes' if over <= FLOOR_RATIO else 'NO'}"
                         f"{' (stretch too)' if over <= FLOOR_STRETCH else ''} |")
        lines.append(f"| {res.size:,} | docs + keys examined ≤ {EXAMINED_PER_DOC:g} per stored "
                     f"document | {per_doc:.2f} | "
                     f"{'yes' if per_doc <= EXAMINED_PER_DOC else 'NO'} |")
        if res.size >= COLD_TARGET_SIZE:
            lines.append(f"| {res.size:,} | first count ≤ 60 s in all | {cold.wall:.1f} s | "
                         f"{'yes' if cold.wall <= 60 else 'NO'} |")
    return lines


def ratio(a: float, b: float) -> str:
    return f"{a / b:.4f}" if b else "n/a"


def targets(results: list[SizeResult]) -> list[str]:
    lines = ["| size | target | measured | met |", "|---:|---|---:|---|"]
    for res in results:
        steady = res.rows.get("steady")
        if steady:
            limit = STEADY_FACTOR * steady.new_docs + STEADY_SLACK
            lines.append(f"| {res.size:,} | steady examined ≤ 3 x {steady.new_docs:.0f} new "
                         f"+ 10,000 = {limit:,.0f} | {steady.docs:,.0f} | "
                         f"{'yes' if steady.docs <= limit else 'NO'} |")
            lines.append(f"| {res.size:,} | steady median wall ≤ {STEADY_WALL_S:g} s | "
                         f"{steady.wall:.2f} s | "
                         f"{'yes' if steady.wall <= STEADY_WALL_S else 'NO'} |")
        rss = max((r.rss_mb for r in res.rows.values()), default=0.0)
        lines.append(f"| {res.size:,} | peak RSS ≤ {RSS_MB:g} MB (any run) | {rss:.0f} MB | "
                     f"{'yes' if rss <= RSS_MB else 'NO'} |")
        cold, fallback = res.rows.get("cold"), res.rows.get("cold_fallback")
        if cold and res.size >= COLD_TARGET_SIZE:
            if fallback:
                measured = (f"never completes at the default --timeout ({cold.runs} failed "
                            f"runs, {cold.wall:.0f} s); {fallback.wall:.0f} s in "
                            f"{fallback.runs} runs at a longer one")
                met = False
            else:
                measured, met = f"{cold.wall:.1f} s in {cold.runs} runs", cold.wall <= COLD_WALL_S
            lines.append(f"| {res.size:,} | cold count ≤ {COLD_WALL_S:g} s | {measured} | "
                         f"{'yes' if met else 'NO'} |")
        if "failed" in res.rows:
            lines.append(f"| {res.size:,} | every run after the cold count succeeds | "
                         f"{res.rows['failed'].runs} failed | NO |")
    return lines + floor_targets(results)


def cross_size(results: list[SizeResult]) -> list[str]:
    if len(results) < 2:
        return []
    small, large = results[0], results[-1]
    lines = [f"Largest / smallest ({large.size:,} / {small.size:,} messages, "
             f"{large.size / small.size:g}x the data):", "",
             "| run | docs examined | keys examined | wall |", "|---|---:|---:|---:|"]
    for key in ("cold", "cold_fallback", "steady", "slow", "slow_idx", "daily", "failed",
                "full"):
        a, b = small.rows.get(key), large.rows.get(key)
        if a and b:
            lines.append(f"| {b.name} | {ratio(b.docs, a.docs)} | {ratio(b.keys, a.keys)} | "
                         f"{ratio(b.wall, a.wall)} |")
    return lines


def job_version() -> str:
    """The job's commit, and whether its files differ from it, plus their hash."""
    sources = [JOB, *sorted(PACKAGE.rglob("*.py"))]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--",
                                JOB.name, PACKAGE.name]).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return f"sha256 {digest}"
    return f"commit {head}{' + local changes' if dirty else ''}, sha256 {digest}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000",
                        help="messages per database, comma-separated")
    parser.add_argument("--quick", action="store_true", help="sizes 20000,100000")
    parser.add_argument("--mongodb-uri", default="",
                        help="use this server instead of starting a mongod (a database "
                             "librechat_bench_<size> is created and dropped)")
    parser.add_argument("--keep", action="store_true", help="keep the databases (--mongodb-uri)")
    parser.add_argument("--data-dir", default="",
                        help="run mongod on this dbpath and keep the built databases there "
                             "for the next benchmark (a 5M database takes minutes to build); "
                             "what earlier ticks added is removed before reuse")
    parser.add_argument("--timeout", type=float, default=40.0, help="the job's --timeout")
    parser.add_argument("--cold-fallback-timeout", type=float, default=150.0,
                        help="--timeout for the rest of a first count that cannot advance at "
                             "--timeout (two failed runs in a row)")
    parser.add_argument("--cache-gb", type=float, default=2.0,
                        help="WiredTiger cache of the started mongod")
    parser.add_argument("--job-rev", default="",
                        help="benchmark the job as committed at this git revision (default: "
                             "the work tree as it is at the start)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    sizes = [20_000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    started = datetime.now(UTC)
    version_at_start = job_version()
    snapshot_dir = Path(tempfile.mkdtemp(prefix="librechat-bench-job-"))
    SNAPSHOT[0] = snapshot_dir / JOB.name
    if args.job_rev:
        # A committed version of the job (say, a baseline), read with git archive: the work
        # tree and the index are not touched.
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.job_rev, JOB.name,
                                  PACKAGE.name], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(snapshot_dir)], input=archive, check=True)
        version_at_start = "commit " + subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", args.job_rev],
            capture_output=True, text=True, check=True).stdout.strip()
    else:
        shutil.copy2(JOB, SNAPSHOT[0])
        shutil.copytree(PACKAGE, snapshot_dir / PACKAGE.name,
                        ignore=shutil.ignore_patterns("__pycache__"))

    def log(message: str) -> None:
        print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)

    results = [measure_size(size, args, log) for size in sorted(sizes)]
    version = ", ".join(sorted({r.server_version for r in results}))
    shutil.rmtree(snapshot_dir, ignore_errors=True)
    job_line = (f"librechat_textfile.py and librechat_metrics/: {version_at_start} (copied at "
                "the start; every run used that copy)")
    lines = [f"# librechat-textfile benchmark, {started:%Y-%m-%d %H:%M} UTC", "",
             f"`python3 bench/bench.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
             .replace("  ", " "), "",
             f"MongoDB {version}, WiredTiger cache {args.cache_gb:g} GB, profiler level 2; "
             f"{os.cpu_count()} CPUs, Python {platform.python_version()}, pymongo "
             f"{pymongo.version}; job --timeout {args.timeout:g}, other settings default. "
             f"Wall time: the whole process, interpreter start included. Peak RSS: "
             + ("GNU time %M." if TIME else "wait4 (inflated: no /usr/bin/time)."), "",
             job_line, ""]
    lines += ["### The first count against the one-pass floor", "", *floor_table(results), ""]
    lines += ["### CPU of the first count (job and server)", "", *cpu_table(results), ""]
    for res in results:
        lines += [*size_table(res), ""]
    lines += ["### Targets", "", *targets(results), "", *cross_size(results), ""]
    text = "\n".join(lines)
    print(text)
    out_dir = Path(args.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{started:%Y%m%dT%H%M%SZ}.md"
    path.write_text(text)
    log(f"wrote {path}")
    return 0 if not any(r.failures for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
