"""The value rules of README.md ("Metrics"), checked against values worked out by hand.

The oracle (tests/oracle.py) implements each rule from the README's words; the job has its own
implementation. Both are held to the same hand-written examples here, so that a mistake made
in both places the same way still fails a test:

* label values: coercion of every BSON type to text (JSON for documents and arrays), the
  400-character look, control and format characters, whitespace, ``unknown``, e-mail
  addresses, ids and UUIDs made ``redacted``, the 100-character cap;
* numeric fields: numbers from -10^15 to 10^15 count, anything else counts 0;
* prompt kinds: a structured prompt transaction splits into cached and uncached tokens, each
  transaction on its own.

The label examples call the job's ``label_value`` directly; the numeric and prompt examples go
through a real run against mongod, since the job applies those rules inside its aggregations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from pymongo.database import Database

import librechat_textfile as lt
from tests import oracle
from tests.librechat_data import (
    ensure_indexes,
    make_agent,
    make_conversation,
    make_structured_prompt,
    make_transaction,
    make_user,
    object_id_at,
)
from tests.promparse import run_job

NOW = datetime(2026, 3, 18, 14, 30, 7, tzinfo=UTC)
ID = "507f1f77bcf86cd799439011"
UUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
WHEN = datetime(2026, 3, 18, 14, 30, 7, tzinfo=UTC)

# (what the document holds, the label value README.md's rules give), worked out by hand.
LABEL_EXAMPLES: list[tuple[str, Any, str]] = [
    # missing, empty, plain text
    ("null", None, "none"),
    ("empty", "", "none"),
    ("blank", "  \t ", "none"),
    ("only-controls", "\x00\x01\x7f", "none"),
    ("plain", "gpt-4o", "gpt-4o"),
    ("trimmed", "  gpt-4o \n", "gpt-4o"),
    ("inner-space-kept", "gpt 4o  mini", "gpt 4o  mini"),
    # control and format characters (category C) dropped wherever they are
    ("newline", "new\nline", "newline"),
    ("nul", "nul\x00byte", "nulbyte"),
    ("del", "\x7fdel", "del"),
    ("nel", "\x85nel", "nel"),
    ("zero-width", "\u200bzero\u200dwidth\ufeff", "zerowidth"),
    ("rtl-override", "\u202eRTL override\u202c", "RTL override"),
    ("private-use", "\ue000private", "private"),
    ("tag-character", "\U000e0041tag", "tag"),
    ("noncharacter", "\ufffe", "none"),
    ("line-separator-inside", "a\u2028b", "a\u2028b"),  # Zl is not category C
    ("line-separator-trimmed", "\u2028line-sep\u2029", "line-sep"),
    ("emoji", "emoji 🤖🔥", "emoji 🤖🔥"),
    ("combining", "a\u0301", "a\u0301"),
    ("quotes-backslash", 'quote"model\\', 'quote"model\\'),
    # other BSON types: their text form
    ("int", 42, "42"),
    ("int64", Int64(7), "7"),
    ("negative-zero", -0.0, "-0.0"),
    ("float", 1.5, "1.5"),
    ("big-float", 1e16, "1e+16"),
    ("nan", float("nan"), "nan"),
    ("bool", True, "True"),
    ("decimal128", Decimal128("1.50"), "1.50"),
    ("decimal128-nan", Decimal128("NaN"), "NaN"),
    ("date", WHEN, "2026-03-18 14:30:07+00:00"),
    ("bytes", b"gpt-4o", "gpt-4o"),
    ("bytes-undecodable", b"\xffx", "\ufffdx"),
    ("binary", Binary(b"gpt", 5), "gpt"),
    ("object-id", ObjectId(ID), "redacted"),
    # documents and arrays: JSON, keys sorted, ", " and ": ", non-ASCII escaped
    ("document", {"name": "gpt-4o"}, '{"name": "gpt-4o"}'),
    ("document-sorted", {"b": 1, "a": [True, None]}, '{"a": [true, null], "b": 1}'),
    ("empty-document", {}, "{}"),
    ("empty-array", [], "[]"),
    ("array-non-ascii", ["é"], '["\\u00e9"]'),
    ("array-astral", ["🤖"], '["\\ud83e\\udd16"]'),
    ("array-controls", ["a\nb\x00"], '["a\\nb\\u0000"]'),
    ("array-quote", ['x"y\\'], '["x\\"y\\\\"]'),
    ("document-nan", {"x": float("nan"), "y": float("-inf")}, '{"x": NaN, "y": -Infinity}'),
    ("document-float", {"x": 1e16, "y": 0.1}, '{"x": 1e+16, "y": 0.1}'),
    ("document-date", {"when": WHEN}, '{"when": "2026-03-18 14:30:07+00:00"}'),
    ("array-decimal", [Decimal128("2.5")], '["2.5"]'),
    ("array-object-id", [ObjectId(ID)], '["redacted"]'),
    ("nested", {"k": {"z": [1, {"a": "b"}]}}, '{"k": {"z": [1, {"a": "b"}]}}'),
    # the cap, and only the first 400 characters looked at
    ("capped", "x" * 150, "x" * 100),
    ("400-controls-then-text", "\x00" * 400 + "abc", "none"),
    ("399-controls-then-text", "\x00" * 399 + "abc", "a"),
    ("id-cut-at-400", "\x00" * 390 + ID, ID[:10]),
    ("id-inside-400", "\x00" * 376 + ID, "redacted"),
    ("cap-after-redaction", "x" * 95 + " jane@example.com", "x" * 95 + " reda"),
    # e-mail addresses
    ("email", "jane.doe@example.com", "redacted"),
    ("email-upper", "JANE@EXAMPLE.ORG", "redacted"),
    ("email-in-text", "Jane Doe <jane.doe@example.com>", "Jane Doe redacted"),
    ("email-takes-its-run", "mail me: a@b.co, thanks", "mail me: redacted thanks"),
    ("no-dot", "a@b", "a@b"),
    ("dot-first", "a@.b", "a@.b"),
    ("dot-last", "a@b.", "a@b."),
    ("shortest", "a@b.c", "redacted"),
    ("no-local-part", "@home.org", "@home.org"),
    ("two-ats", "x@y@b.co", "x@redacted"),
    ("two-emails", "a@b.co c@d.org", "redacted redacted"),
    ("email-then-at", "a@b.c@d.e", "redacted@d.e"),
    ("email-mcp-server", "lookup_mcp_jane@example.com", "redacted"),
    # 24-hex ids
    ("id", ID, "redacted"),
    ("id-upper-trimmed", " 507F1F77BCF86CD799439011\n", "redacted"),
    ("id-after-zero-width", "\u200b" + ID, "redacted"),
    ("id-in-model", f"ft:gpt-4o:acme:{ID}", "ft:gpt-4o:acme:redacted"),
    ("id-after-letter", f"g{ID}", "gredacted"),
    ("id-after-hex-letter", f"a{ID}", f"a{ID}"),
    ("25-hex", ID + "1", ID + "1"),
    ("48-hex", ID + ID, ID + ID),
    ("ids-dashed", f"{ID}-{ID}", "redacted-redacted"),
    ("ids-spaced", f"{ID} {ID}", "redacted redacted"),
    ("23-hex", ID[:23], ID[:23]),
    # UUIDs
    ("uuid", UUID, "redacted"),
    ("uuid-upper", UUID.upper(), "redacted"),
    ("uuid-in-endpoint", f"kb-{UUID}", "kb-redacted"),
    ("uuid-after-hex", f"ab{UUID}", f"ab{UUID}"),
    ("uuid-before-hex", f"{UUID}a", f"{UUID}a"),
    ("uuid-then-letter", f"{UUID}x", "redactedx"),
    ("uuid-short-group", UUID[:-1], UUID[:-1]),
    # a value made of nothing but personal items is 'redacted' once
    ("email-then-id", f"jane@example.com{ID}", "redacted"),
    ("id-then-email", f"{ID}a@b.co", "redacted"),
    ("uuid-then-id", f"{UUID}x{ID}", "redactedxredacted"),
    ("word-agent-suffix", "agent_hostile2____7", "agent_hostile2____7"),
]


@pytest.mark.parametrize(("value", "expected"), [pytest.param(v, e, id=i)
                                                 for i, v, e in LABEL_EXAMPLES])
def test_label_value_examples(value: Any, expected: str) -> None:
    assert oracle.label(value) == expected, "oracle"
    assert lt.label_value(value) == expected, "job"


def test_label_examples_cover_every_rule() -> None:
    # A guard for the table itself: each rule has at least one example that changes a value.
    produced = {expected for _, _, expected in LABEL_EXAMPLES}
    assert {"none", "redacted"} <= produced
    assert any(len(e) == 100 for e in produced)
    assert any(e.startswith("{") for e in produced)


# --------------------------------------------------------------------------------------------
# Numeric fields: rawAmount of prompt transactions, one model per value


NUMBER_EXAMPLES: list[tuple[str, Any, float]] = [
    ("int", -5, 5.0),
    ("float", -2.5, 2.5),
    ("positive", 7, 7.0),
    ("limit", -(10**15), 1e15),
    ("limit-plus-one", -(10**15) - 1, 0.0),
    ("int64-max", Int64(2**63 - 1), 0.0),
    ("float-over", -1e16, 0.0),
    ("huge-float", 1e308, 0.0),
    ("tiny-float", 5e-324, 5e-324),
    ("nan", float("nan"), 0.0),
    ("infinity", float("-inf"), 0.0),
    ("decimal", Decimal128("-100"), 100.0),
    ("decimal-limit", Decimal128("1E+15"), 1e15),
    ("decimal-over", Decimal128("1.000000000000001E+15"), 0.0),
    ("decimal-nan", Decimal128("NaN"), 0.0),
    ("decimal-snan", Decimal128("sNaN"), 0.0),  # float() raises on it: a past crash
    ("decimal-infinity", Decimal128("-Infinity"), 0.0),
    ("decimal-huge", Decimal128("1E+6144"), 0.0),
    ("bool", True, 0.0),
    ("string", "-100", 0.0),
    ("null", None, 0.0),
    ("document", {"n": 5}, 0.0),
]


@pytest.mark.parametrize(("value", "expected"), [pytest.param(v, e, id=i)
                                                 for i, v, e in NUMBER_EXAMPLES])
def test_number_examples_in_the_oracle(value: Any, expected: float) -> None:
    assert abs(oracle.num(value)) == expected


def test_number_examples_in_the_job(mongod: Any, db: Database[Any], tmp_path: Path) -> None:
    ensure_indexes(db)
    uid = ObjectId()
    at = NOW - timedelta(hours=1)
    db.transactions.insert_many([
        make_transaction(uid, at + timedelta(seconds=i), "prompt", f"m-{name}", -1, rng=i,
                         rawAmount=value)
        for i, (name, value, _) in enumerate(NUMBER_EXAMPLES)])
    run = run_job(mongod.uri, db.name, tmp_path, NOW)
    assert run.code == lt.EXIT_OK
    got = {dict(k)["model"]: v for k, v in
           run.samples["librechat_input_tokens_per_model_total"].items()}
    assert got == {f"m-{name}": expected for name, _, expected in NUMBER_EXAMPLES}


def agent_spending(db: Database[Any], at: datetime, rng: int,
                   examples: list[tuple[str, Any, float]]) -> dict[str, float]:
    """One agent per number example, holding one conversation with one prompt transaction
    whose rawAmount and tokenValue are the example: {agent id: expected |value|}."""
    author = make_user(rng, at - timedelta(days=2))
    db.users.insert_one(author)
    expected = {}
    for i, (name, value, want) in enumerate(examples):
        agent = make_agent(author, at - timedelta(days=1), rng=rng + i, name=name)
        convo = make_conversation(author["_id"], at, endpoint="agents", model=None,
                                  agent_id=agent["id"], rng=rng + i)
        db.agents.insert_one(agent)
        db.conversations.insert_one(convo)
        db.transactions.insert_one(make_transaction(
            author["_id"], at + timedelta(seconds=i), "prompt", "gpt-4o", -1, rng=rng + i,
            conversationId=convo["conversationId"], rawAmount=value, tokenValue=value))
        expected[agent["id"]] = want
    return expected


# `$abs` fails the aggregation on these; on the others a bad value shows in the sum.
NOT_NUMBERS = [e for e in NUMBER_EXAMPLES if isinstance(e[1], bool | str | dict)]
NUMBERS = [e for e in NUMBER_EXAMPLES if e not in NOT_NUMBERS]


def test_number_examples_in_agent_costs(mongod: Any, db: Database[Any],
                                        tmp_path: Path) -> None:
    """The agents' sums are read fast with `$abs` and read again with the guard when a sum
    is out of bounds or the aggregation fails: the guard's numbers either way, in a first
    count (the held conversations' pass) and in steady runs."""
    ensure_indexes(db)
    extra = ["--label-limit", "100"]
    want = agent_spending(db, NOW - timedelta(hours=1), 1_000, NUMBERS)
    runs = [run_job(mongod.uri, db.name, tmp_path, NOW, extra=extra)]
    for minute, examples in ((1, NUMBERS), (2, NOT_NUMBERS)):
        at = NOW + timedelta(minutes=minute)
        want.update(agent_spending(db, at - timedelta(seconds=50), 1_000 * (minute + 1),
                                   examples))
        runs.append(run_job(mongod.uri, db.name, tmp_path, at, extra=extra))
    run = runs[-1]
    assert [r.code for r in runs] == [lt.EXIT_OK] * 3
    tokens = {dict(k)["agent_id"]: v for k, v in
              run.samples["librechat_agent_tokens_total"].items()
              if dict(k)["token_type"] == "prompt"}
    cost = {dict(k)["agent_id"]: v for k, v in
            run.samples["librechat_agent_cost_usd_total"].items()}
    assert tokens == want
    assert cost == {agent: pytest.approx(v * 1e-6) for agent, v in want.items()}


# --------------------------------------------------------------------------------------------
# Prompt kinds of structured (cache-aware) prompt transactions


def structured(uid: ObjectId, at: datetime, model: str, raw: Any, read: Any, write: Any,
               rng: int, **over: Any) -> dict[str, Any]:
    doc = make_structured_prompt(uid, at, model, 1, 0, 0, rng=rng)
    doc.update(rawAmount=raw, readTokens=read, writeTokens=write, **over)
    return doc


# (model, transactions as (rawAmount, readTokens, writeTokens, inputTokens) or a plain rawAmount,
#  tokens by kind), worked out by hand.
PROMPT_EXAMPLES: list[tuple[str, list[Any], dict[str, float]]] = [
    ("split", [(-100, -30, -10, -60)],
     {"uncached_prompt": 60.0, "cache_read": 30.0, "cache_write": 10.0}),
    ("no-cache", [(-50, 0, 0, -50)],
     {"uncached_prompt": 50.0, "cache_read": 0.0, "cache_write": 0.0}),
    ("reads-exceed-raw", [(-10, -100, 0, -1)],
     {"uncached_prompt": 0.0, "cache_read": 100.0, "cache_write": 0.0}),
    ("plain", [-70], {"uncached_prompt": 70.0}),
    ("plain-and-split", [-70, (-100, -30, -10, -60)],
     {"uncached_prompt": 130.0, "cache_read": 30.0, "cache_write": 10.0}),
    ("decimal-input-tokens", [(-40, -15, -5, Decimal128("-20"))],
     {"uncached_prompt": 20.0, "cache_read": 15.0, "cache_write": 5.0}),
    ("nan-input-tokens", [(-40, -15, -5, float("nan"))],
     {"uncached_prompt": 20.0, "cache_read": 15.0, "cache_write": 5.0}),
    ("string-input-tokens", [(-40, -15, -5, "-20")], {"uncached_prompt": 40.0}),
    ("bad-read", [(-40, "-15", float("inf"), -40)],
     {"uncached_prompt": 40.0, "cache_read": 0.0, "cache_write": 0.0}),
]
# Each transaction on its own: a clamped one does not eat into its neighbour's uncached tokens,
# whether the two are counted in one run or in two.
CLAMP_NEIGHBOURS = ("clamped-neighbours", [(-10, -100, 0, -1), (-1000, 0, 0, -1000)],
                    {"uncached_prompt": 1000.0, "cache_read": 100.0, "cache_write": 0.0})


def prompt_docs(uid: ObjectId, model: str, rows: list[Any], rng: int) -> list[dict[str, Any]]:
    at = NOW - timedelta(hours=2)
    docs = []
    for i, row in enumerate(rows):
        when = at + timedelta(seconds=rng + i)
        if isinstance(row, tuple):
            raw, read, write, inputs = row
            docs.append(structured(uid, when, model, raw, read, write, rng + i,
                                   inputTokens=inputs))
        else:
            docs.append(make_transaction(uid, when, "prompt", model, row, rng=rng + i))
    return docs


def kinds_of(samples: dict[str, dict[Any, float]], model: str) -> dict[str, float]:
    """The model's non-zero tokens by kind (kinds at 0 are left out on both sides: whether a
    kind with nothing is written as 0 is another rule's business)."""
    return {dict(k)["kind"]: v for k, v in samples["librechat_tokens_total"].items()
            if dict(k)["model"] == model and v}


def nonzero(kinds: dict[str, float]) -> dict[str, float]:
    return {kind: tokens for kind, tokens in kinds.items() if tokens}


@pytest.mark.parametrize(("model", "rows", "expected"),
                         [pytest.param(*case, id=case[0])
                          for case in [*PROMPT_EXAMPLES, CLAMP_NEIGHBOURS]])
def test_prompt_kind_examples_in_the_oracle(model: str, rows: list[Any],
                                            expected: dict[str, float]) -> None:
    docs = prompt_docs(ObjectId(), model, rows, 0)
    snap = oracle.Snapshot({"transactions": docs})
    got = kinds_of(oracle.compute(snap, oracle.Config(now=NOW)).samples, model)
    assert got == nonzero(expected)


def test_prompt_kind_examples_in_the_job(mongod: Any, db: Database[Any],
                                         tmp_path: Path) -> None:
    ensure_indexes(db)
    uid = ObjectId()
    for n, (model, rows, _) in enumerate(PROMPT_EXAMPLES):
        db.transactions.insert_many(prompt_docs(uid, model, rows, 10 * n))
    run = run_job(mongod.uri, db.name, tmp_path, NOW)
    assert run.code == lt.EXIT_OK
    for model, _, expected in PROMPT_EXAMPLES:
        assert kinds_of(run.samples, model) == nonzero(expected), model


def test_clamping_is_per_transaction_in_the_job(mongod: Any, db: Database[Any],
                                                tmp_path: Path) -> None:
    ensure_indexes(db)
    model, rows, expected = CLAMP_NEIGHBOURS
    clamped, plain = prompt_docs(ObjectId(), model, rows, 0)
    later = NOW - timedelta(minutes=30)
    plain["_id"] = object_id_at(later, 99)  # after the first of the two runs below
    plain["createdAt"] = later
    db.transactions.insert_one(clamped)
    assert run_job(mongod.uri, db.name, tmp_path / "two", NOW - timedelta(hours=1)).code == 0
    db.transactions.insert_one(plain)
    two_runs = run_job(mongod.uri, db.name, tmp_path / "two", NOW)
    one_run = run_job(mongod.uri, db.name, tmp_path / "one", NOW)
    assert (two_runs.code, one_run.code) == (lt.EXIT_OK, lt.EXIT_OK)
    assert kinds_of(two_runs.samples, model) == nonzero(expected), "in two runs"
    assert kinds_of(one_run.samples, model) == nonzero(expected), "in one run"
