"""Hostile documents: wrong BSON types, missing fields, huge and nasty strings in every field the
job reads. Generated with hypothesis, inserted into a real mongod, then a cold run of the job
(in-process ``main``, fresh state) must exit 0 (README: hostile documents never fail a
section) and write a file that prometheus_client parses, ``promtool check metrics`` passes
without a finding, and whose label values hold no e-mail address, ObjectId or UUID, no control
character and at most 100 characters. A real node_exporter reads a file made from as many
hostile documents again, drawn by that test itself.

HOSTILE_EXAMPLES (default 100) sets the examples per property test; each example inserts about
ten documents. The examples are derandomised: HOSTILE_SEED (default the recorded seed below)
fixes them, so every run tries the same documents; HOSTILE_SEED=random draws a fresh seed and
prints it (a nightly-style run; hypothesis prints the failing example and the seed repeats it).
"""

from __future__ import annotations

import collections
import copy
import os
import random
import re
import shutil
import struct
import subprocess
import tempfile
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import ObjectId
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.regex import Regex
from bson.timestamp import Timestamp
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

import librechat_textfile as lt
from tests.fault_report import (
    SLACK_S,
    Recorder,
    job_argv,
    kill,
    recorder,
    run_in_process,
    start_job,
)
from tests.librechat_data import GenOptions, generate, make_message
from tests.promparse import parse
from tests.seeds import chosen_seed
from tests.services import NodeExporter, require_binary

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "100"))
RECORDED_SEED = 20261201
"""The seed of the suite's hostile examples; HOSTILE_SEED overrides it, "random" draws one."""
HUGE_LABEL_CHARS = int(os.environ.get("HOSTILE_HUGE_LABEL_CHARS", "100000"))
BATCH = 10

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
HEX24 = re.compile(r"[0-9a-fA-F]{24}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

HOSTILE_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example, HealthCheck.filter_too_much])


def hostile_seed() -> int:
    return chosen_seed("HOSTILE_SEED", RECORDED_SEED, "hostile")


SEED = hostile_seed()


def new_stats() -> dict[str, Any]:
    return {"examples": 0, "documents": 0, "in_5m_window": 0,
            "exit_codes": collections.Counter(), "failed_sections": collections.Counter(),
            "errors": {}}


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Recorder:
    return recorder(request.config)


# --------------------------------------------------------------------------------------------
# Strategies: values of every BSON type, and label-bearing strings at their nastiest

NASTY_STRINGS = [
    'quote"model', "back\\slash", "trailing\\", "new\nline", "cr\rlf\r\n", "nul\x00byte",
    "tab\tsep", "\x7fdel", "\x85nel", "\u2028line-sep\u2029", "\u200bzero\u200dwidth\ufeff",
    "\u202eRTL override\u202c", "\u200fRLM", "بالعربية", "עברית", "emoji 🤖🔥👩‍👩‍👧",
    "\U0010fffd", "\ue000private", "\U000e0041tag", "\ufffe", "a\u0301combining",
    "jane.doe@example.com", "Jane Doe <jane.doe@example.com>", "JANE@EXAMPLE.ORG",
    "507f1f77bcf86cd799439011", " 507F1F77BCF86CD799439011\n", "\u200b507f1f77bcf86cd799439011",
    "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "agent_hostile1", "agent_hostile2____7",
    "agent_", "x_mcp_y", "_mcp_", "a_mcp_b_mcp_c", "other", "unknown", "redacted", "", " ",
    "\n", "{}", "[]", "null", "NaN", "+Inf", "-0", "# HELP x y", '} 1\nfoo{bar="', '\\"',
    "le", "__name__", "model", "BANS:", "BANS:203.0.113.9", "BANS:507f1f77bcf86cd799439011",
]
KEYS = st.one_of(
    st.sampled_from(["type", "name", "text", "tool_call", "function", "rating", "tag", "error",
                     "id", "_id", "value", "model"]),
    st.text(alphabet="abcXYZ_- é🤖0123", min_size=1, max_size=6))
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
HUGE_CHARS = st.sampled_from(["x", "é", "🤖", '"', "\\", "\n", "\x00", "a@b.co ", "\u200b"])
HUGE = st.builds(lambda ch, n: ch * n, HUGE_CHARS, st.sampled_from([101, 1_000, 100_000]))
LABEL_HUGE = st.builds(lambda ch, n: ch * n, HUGE_CHARS,
                       st.sampled_from([101, 1_000, HUGE_LABEL_CHARS]))
"""Label-bearing fields get up to HUGE_LABEL_CHARS (default 100,000) characters: label_value()
once was quadratic in its input's length (test_a_huge_label_value_does_not_stall_the_run)."""
DECIMALS = st.sampled_from([
    "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "-0", "1E+6144", "123.456", "-1000",
    "1E+15", "9.999999999999999999999999999999999E+6144"]).map(Decimal128)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(Int64),
    st.sampled_from([-(2**63), 2**63 - 1, 0, -1, 10**15, -(10**15), 10**15 + 1]).map(Int64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 1e308, -1e308, 5e-324]),
    DECIMALS,
    st.sampled_from(["123", "-100", "1e3", "NaN", "Infinity", "0x10", "12kB", ""]),
)
RECENT = st.integers(min_value=0, max_value=40 * 86400).map(
    lambda s: (datetime.now(UTC) - timedelta(seconds=s)).replace(microsecond=0))
DATES = st.one_of(RECENT, st.datetimes(min_value=datetime(1970, 1, 1),
                                       max_value=datetime(9999, 12, 31),
                                       timezones=st.just(UTC)))
SCALARS = st.one_of(
    st.none(), st.booleans(), NUMBERS, TEXT, st.sampled_from(NASTY_STRINGS), DATES,
    st.builds(lambda ch, n: ch * n, HUGE_CHARS, st.sampled_from([101, 1_000])),
    st.binary(max_size=12).map(lambda b: Binary(b, 0)), st.binary(max_size=8),
    st.builds(lambda b: ObjectId(b), st.binary(min_size=12, max_size=12)),
    st.sampled_from([MinKey(), MaxKey(), Regex("^a.*", "i"), Timestamp(0, 1),
                     uuid.UUID(int=5)]).map(lambda v: Binary.from_uuid(v)
                                            if isinstance(v, uuid.UUID) else v))
VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=8)
LABELISH = st.one_of(st.sampled_from(NASTY_STRINGS), TEXT, LABEL_HUGE, VALUES,
                     st.sampled_from(["gpt-4o", "claude-sonnet-4", "openAI", "agents",
                                      "web_search", "search_mcp_brave"]))
FLAGS = st.one_of(st.booleans(), VALUES)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Each field present with a hostile value, or missing."""
    return st.fixed_dictionaries({}, optional=fields)


def object_id(seconds_ago: int, tail: bytes) -> ObjectId:
    stamp = int((datetime.now(UTC) - timedelta(seconds=seconds_ago)).timestamp())
    return ObjectId(struct.pack(">I", stamp) + tail)


AGES = st.one_of(st.integers(min_value=0, max_value=290),
                 st.integers(min_value=300, max_value=40 * 86400))
IDS = st.builds(object_id, AGES, st.binary(min_size=8, max_size=8))


def with_id(fields: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A document with a recent ObjectId `_id` and, mostly, a createdAt that matches it."""
    def build(doc: dict[str, Any], oid: ObjectId, created: Any) -> dict[str, Any]:
        out = {"_id": oid, **doc}
        if created == "match":
            out.setdefault("createdAt", oid.generation_time)
        elif created != "missing":
            out.setdefault("createdAt", created)
        return out

    return st.builds(build, fields, IDS, st.one_of(
        st.just("match"), st.just("match"), st.just("missing"), VALUES,
        RECENT.map(lambda d: d.isoformat())))


TOOL_CALL = optional(name=LABELISH, function=optional(name=LABELISH), id=VALUES, args=VALUES,
                     type=VALUES)
PART = st.one_of(
    VALUES,
    st.builds(lambda t, rest: {"type": t, **rest},
              st.one_of(st.sampled_from(["text", "tool_call", "error", "think", "image_url"]),
                        VALUES),
              optional(tool_call=st.one_of(TOOL_CALL, VALUES), text=VALUES, error=VALUES)))
FEEDBACK_ONE = optional(
    rating=st.one_of(st.sampled_from(["thumbsUp", "thumbsDown"]), VALUES,
                     st.lists(st.sampled_from(["thumbsUp", "thumbsDown", 1]), max_size=3)),
    tag=st.one_of(LABELISH, VALUES), text=VALUES)
MESSAGES = with_id(optional(
    model=st.one_of(LABELISH, st.sampled_from(["agent_hostile1", "agent_hostile2____3"])),
    endpoint=st.one_of(LABELISH, st.just("agents")), user=st.one_of(LABELISH, HUGE),
    conversationId=st.one_of(LABELISH, HUGE),
    isCreatedByUser=FLAGS, error=FLAGS, unfinished=FLAGS,
    content=st.one_of(VALUES, st.lists(PART, max_size=5)), text=st.one_of(VALUES, HUGE),
    feedback=st.one_of(FEEDBACK_ONE, VALUES, st.lists(FEEDBACK_ONE, max_size=2)),
    tokenCount=NUMBERS, tenantId=LABELISH, isTemporary=FLAGS, expiredAt=VALUES))
TRANSACTIONS = with_id(optional(
    model=LABELISH, tokenType=st.one_of(st.sampled_from(["prompt", "completion", "credits"]),
                                        VALUES),
    context=LABELISH, rawAmount=NUMBERS, tokenValue=NUMBERS, inputTokens=NUMBERS,
    readTokens=NUMBERS, writeTokens=NUMBERS, user=VALUES, rate=NUMBERS))
FILES = with_id(optional(bytes=NUMBERS, source=LABELISH, context=LABELISH, embedded=FLAGS,
                         user=VALUES, filename=st.one_of(LABELISH, HUGE), type=LABELISH,
                         expiresAt=VALUES))
USERS = with_id(optional(provider=LABELISH, role=LABELISH, emailVerified=FLAGS,
                         expiresAt=st.one_of(DATES, VALUES), email=LABELISH, name=LABELISH,
                         username=LABELISH))
CONVERSATIONS = with_id(optional(endpoint=LABELISH, isTemporary=FLAGS, isArchived=FLAGS,
                                 expiredAt=st.one_of(DATES, VALUES),
                                 title=st.one_of(LABELISH, HUGE),
                                 user=VALUES, tenantId=LABELISH))
LOGS = st.builds(lambda oid, doc: {"_id": oid, **doc}, IDS, optional(
    key=st.one_of(st.sampled_from(NASTY_STRINGS).map(lambda s: f"BANS:{s}"), VALUES,
                  st.lists(st.just("BANS:203.0.113.9"), max_size=2)),
    expiresAt=st.one_of(RECENT.map(lambda d: d + timedelta(days=60)), VALUES), value=VALUES))
SESSIONS = st.builds(lambda oid, doc: {"_id": oid, **doc}, IDS, optional(
    expiration=st.one_of(RECENT.map(lambda d: d + timedelta(days=60)), VALUES), user=VALUES))
BALANCES = st.builds(lambda oid, doc: {"_id": oid, **doc}, IDS,
                     optional(tokenCredits=NUMBERS, user=VALUES))
AGENTS = st.builds(lambda oid, doc: {"_id": oid, **doc}, IDS, optional(
    id=st.one_of(st.sampled_from(["agent_hostile1", "agent_hostile2"]), VALUES),
    name=LABELISH, author=VALUES))

BATCHES = {
    "messages": st.fixed_dictionaries({"messages": st.lists(MESSAGES, min_size=BATCH - 2,
                                                            max_size=BATCH),
                                       "agents": st.lists(AGENTS, max_size=2)}),
    "transactions": st.fixed_dictionaries({"transactions": st.lists(
        TRANSACTIONS, min_size=BATCH, max_size=BATCH)}),
    "catalogue": st.fixed_dictionaries({
        "users": st.lists(USERS, min_size=2, max_size=3),
        "files": st.lists(FILES, min_size=2, max_size=3),
        "conversations": st.lists(CONVERSATIONS, min_size=1, max_size=2),
        "logs": st.lists(LOGS, min_size=1, max_size=2),
        "sessions": st.lists(SESSIONS, max_size=1), "balances": st.lists(BALANCES, max_size=1)}),
    "mixed": st.fixed_dictionaries({
        "messages": st.lists(MESSAGES, min_size=3, max_size=4),
        "transactions": st.lists(TRANSACTIONS, min_size=2, max_size=3),
        "files": st.lists(FILES, max_size=1), "users": st.lists(USERS, max_size=1),
        "conversations": st.lists(CONVERSATIONS, max_size=1),
        "agents": st.lists(AGENTS, max_size=1), "logs": st.lists(LOGS, max_size=1)}),
}


# --------------------------------------------------------------------------------------------
# Checks


def insert(db: Any, docs: dict[str, list[dict[str, Any]]]) -> int:
    count = 0
    for collection, batch in docs.items():
        unique = list({doc["_id"]: doc for doc in batch}.values())  # hypothesis repeats ids
        if unique:
            db[collection].insert_many(unique, ordered=False)
            count += len(unique)
    return count


def check_labels(text: str) -> None:
    samples, _ = parse(text)
    for name, series in samples.items():
        for key in series:
            for label, value in key:
                where = f"{name}{{{label}={value!r}}}"
                assert len(value) <= lt.LABEL_MAX_CHARS, where
                assert not EMAIL.search(value), where
                assert not HEX24.fullmatch(value.strip()), where
                assert not UUID.fullmatch(value.strip()), where
                bad = [c for c in value if unicodedata.category(c)[0] == "C"]
                assert not bad, f"control/format characters {bad!r} in {where}"


def promtool(path: Path) -> subprocess.CompletedProcess[str]:
    with open(path, "rb") as handle:
        return subprocess.run([require_binary("promtool"), "check", "metrics"], stdin=handle,
                              capture_output=True, text=True, check=False)


def cold_run(uri: str, database: str, directory: Path) -> tuple[int, str, str]:
    run = run_in_process(["--mongodb-uri", uri, "--mongodb-database", database,
                          "--output", str(directory / "librechat.prom"),
                          "--state-file", str(directory / "state.json"),
                          "--timeout", "30", "--connect-timeout", "5",
                          "--env-file", "/nonexistent"])
    text = (directory / "librechat.prom").read_text() if run.returncode in (0, 1, 3) else ""
    return run.returncode, text, run.stderr


def check_example(client: pymongo.MongoClient[Any], uri: str,
                  docs: dict[str, list[dict[str, Any]]], stats: dict[str, Any]) -> None:
    name = f"hostile_{uuid.uuid4().hex[:12]}"
    directory = Path(tempfile.mkdtemp(prefix="librechat-hostile-"))
    try:
        stats["documents"] += insert(client[name], docs)
        code, text, stderr = cold_run(uri, name, directory)
        stats["examples"] += 1
        stats["exit_codes"][code] += 1
        samples, _ = parse(text)
        for key, value in samples.get("librechat_exporter_errors", {}).items():
            if value:
                section = dict(key)["section"]
                stats["failed_sections"][section] += 1
                line = next((ln for ln in stderr.splitlines() if f"section {section}" in ln), "")
                stats["errors"].setdefault(section, line[line.find("section"):][:300])
        assert code == lt.EXIT_OK, stderr
        assert samples["librechat_exporter_up"][()] == 1.0
        if samples.get("librechat_messages_5m", {}).get((), 0.0) > 0:
            stats["in_5m_window"] += 1  # the windows, not only the counters, saw documents
        assert all("Traceback" not in line for line in stderr.splitlines()), stderr
        check_labels(text)
        lint = promtool(directory / "librechat.prom")
        assert lint.returncode == 0, lint.stderr
    finally:
        client.drop_database(name)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def promtool_path() -> str:
    return require_binary("promtool")


@pytest.mark.parametrize("kind", list(BATCHES))
def test_hostile_documents(kind: str, mongod: Any, mongo_client: pymongo.MongoClient[Any],
                           promtool_path: str, reliability: Recorder) -> None:
    stats = new_stats()

    @seed(SEED)
    @HOSTILE_SETTINGS
    @given(docs=BATCHES[kind])
    def check(docs: dict[str, list[dict[str, Any]]]) -> None:
        check_example(mongo_client, mongod.uri, docs, stats)

    check()
    if kind in ("messages", "mixed") and stats["examples"] >= 20:
        assert stats["in_5m_window"] > 0, "no example put a message into the 5-minute window"
    reliability.record(
        f"hostile documents: {kind} batches (hypothesis, seed {SEED})",
        f"{stats['examples']} cold runs ({stats['in_5m_window']} with messages in the "
        f"5-minute window): exit codes {dict(stats['exit_codes'])}; every file parsed, "
        "promtool clean, no personal data or control characters in labels",
        exit_code=list(stats["exit_codes"].elements()),
        cases=f"{stats['examples']} examples, {stats['documents']} documents")


def test_generator_hostile_documents(mongod: Any, mongo_client: pymongo.MongoClient[Any],
                                     promtool_path: str) -> None:
    """The shared generator's own hostile set (tests/librechat_data.py), in a whole
    deployment."""
    name = f"hostile_gen_{uuid.uuid4().hex[:8]}"
    directory = Path(tempfile.mkdtemp(prefix="librechat-hostile-"))
    try:
        generate(mongo_client[name], GenOptions(seed=71, users=8, days=10, hostile=True))
        code, text, stderr = cold_run(mongod.uri, name, directory)
        assert code == lt.EXIT_OK, stderr
        check_labels(text)
        assert promtool(directory / "librechat.prom").returncode == 0
    finally:
        mongo_client.drop_database(name)
        shutil.rmtree(directory, ignore_errors=True)


def draw_documents(examples: int) -> dict[str, list[dict[str, Any]]]:
    """As many batches of each kind as a property test tries, drawn with the same seed."""
    docs: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for strategy in BATCHES.values():
        @seed(SEED)
        @settings(HOSTILE_SETTINGS, phases=[Phase.generate])
        @given(batch=strategy)
        def collect(batch: dict[str, list[dict[str, Any]]]) -> None:
            for collection, part in batch.items():
                docs[collection].extend(copy.deepcopy(part))

        collect()
    return docs


def test_node_exporter_reads_the_file_from_all_hostile_documents(
        mongod: Any, mongo_client: pymongo.MongoClient[Any], promtool_path: str,
        reliability: Recorder) -> None:
    require_binary("prometheus-node-exporter")
    docs = draw_documents(EXAMPLES)
    tails = random.Random(SEED)
    for batch in docs.values():  # ids repeat across examples: give each document its own
        for doc in batch:
            doc["_id"] = ObjectId(struct.pack(">I", int(doc["_id"].generation_time.timestamp()))
                                  + tails.randbytes(8))
    name = f"hostile_all_{uuid.uuid4().hex[:8]}"
    directory = Path(tempfile.mkdtemp(prefix="librechat-hostile-"))
    directory.chmod(0o755)
    try:
        total = insert(mongo_client[name], docs)
        code, text, stderr = cold_run(mongod.uri, name, directory)
        assert code == lt.EXIT_OK, stderr
        check_labels(text)
        (directory / "state.json").unlink()
        with NodeExporter(directory) as exporter:
            served = exporter.scrape()
    finally:
        mongo_client.drop_database(name)
        shutil.rmtree(directory, ignore_errors=True)
    assert "node_textfile_scrape_error 0" in served
    assert "librechat_exporter_up 1" in served
    assert parse(text)[0]["librechat_messages_5m"][()] > 0, "no message in the 5-minute window"
    reliability.record(
        "hostile documents all in one database (hypothesis: every BSON type in every field "
        f"read, missing fields, strings of 100,000 chars ({HUGE_LABEL_CHARS:,} in label "
        "fields), NUL, RTL, zero-width, e-mails and ids in labels)",
        f"one cold run over {total} documents: exit {code}, file parsed, no personal data or "
        "control characters in labels; node_exporter read it with scrape_error 0",
        exit_code=code, file_state="scrape_error 0", cases=f"{total} documents")


def test_a_huge_label_value_does_not_stall_the_run(mongod: Any,
                                                   mongo_client: pymongo.MongoClient[Any],
                                                   tmp_path: Path,
                                                   reliability: Recorder) -> None:
    name = f"hostile_huge_{uuid.uuid4().hex[:8]}"
    timeout, connect = 5.0, 1.0
    mongo_client[name].messages.insert_one(make_message(
        "507f1f77bcf86cd799439011", "c0ffee00-0000-4000-8000-000000000000",
        datetime.now(UTC) - timedelta(seconds=60), by_user=False, model="x" * 100_000, rng=1))
    proc = start_job(job_argv(mongod.uri, tmp_path, database=name, timeout=timeout,
                              connect_timeout=connect))
    try:
        proc.wait(timeout=timeout + connect + SLACK_S)
        finished = True
    except subprocess.TimeoutExpired:
        finished = False
        kill(proc.pid)
        proc.wait()
    finally:
        mongo_client.drop_database(name)
    reliability.record(
        "one message whose model is 100,000 characters",
        f"exit {proc.returncode}" if finished else
        f"still running after {timeout + connect + SLACK_S:g} s (--timeout {timeout:g}): "
        "label_value() is quadratic (job bug)", exit_code=proc.returncode if finished else
        "killed", cases=1)
    assert finished and proc.returncode == lt.EXIT_OK
