"""Build a large LibreChat database quickly, for the benchmark.

The test generator (``tests/librechat_data.py``) lays out a whole deployment in memory, which
is exact but far too slow and too big for millions of messages. This module uses it for what
it is good at and copies the rest:

1. ``_Generator`` builds a realistic deployment: users (hundreds to tens of thousands), their
   balances, sessions, agents, bans, standalone files, and a pool of *template*
   conversations, each with its messages, transactions and files, exactly as LibreChat writes
   them (the builders' field names, BSON types and defaults).
2. Template conversations are then cloned until the wanted number of messages is reached:
   each clone gets a start time spread over ``days`` before ``now``, another user, and fresh
   ids. Every date in the clone is shifted by the same amount; every ``_id`` is a new
   ObjectId whose timestamp is the document's ``createdAt`` second and whose other 8 bytes
   are a random base plus a counter (unique); ``conversationId``/``messageId``/``file_id`` are
   fresh UUID v4s and the links between documents (``parentMessageId``, the conversation's
   ``messages[]`` and ``files[]``, the transactions' and files' ``conversationId`` and
   ``messageId``, the messages' file snapshots, file paths) are remapped. Nested sub-documents
   that need no change (content parts, ``contextMeta``) are shared between clones, which is
   what keeps copying cheap.
3. Documents are inserted in batches of ``batch`` with unordered ``insert_many`` from a
   background thread while the next batch is built, and LibreChat's indexes
   (the spec ``ensure_indexes`` uses) are created once at the end: one bulk index build per
   collection, two collections at a time, is much faster than maintaining 15 message indexes
   per insert.

Clones are emitted in start-time order, so ``_id``s are (nearly) time-ordered as in
production. The result has LibreChat's proportions: about six messages per conversation, a
prompt and a completion transaction per assistant reply plus title transactions, files for a
few per cent of messages.
"""

from __future__ import annotations

import bisect
import random
import struct
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo.database import Database

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.librechat_data import (
    COLLECTIONS,
    GenOptions,
    _Generator,
    _index_model,
    load_index_spec,
)

Doc = dict[str, Any]


@dataclass(frozen=True)
class BuildOptions:
    messages: int
    now: datetime
    days: int = 60
    seed: int = 1
    batch: int = 10_000

    @property
    def users(self) -> int:
        """Registered users: one per ~250 messages, at least 200, at most 20,000."""
        return max(200, min(20_000, self.messages // 250))

    @property
    def template_messages(self) -> int:
        """Messages the exact generator writes itself; clones make up the rest."""
        return min(self.messages // 2, 50_000)


@dataclass
class Template:
    conv: Doc
    messages: list[Doc]
    transactions: list[Doc]
    files: list[Doc]
    start: datetime
    span: timedelta


@dataclass
class BuildReport:
    counts: dict[str, int] = field(default_factory=dict)
    seconds_generate: float = 0.0
    seconds_indexes: float = 0.0

    @property
    def seconds(self) -> float:
        return self.seconds_generate + self.seconds_indexes


class Ids:
    """Fresh ObjectIds at a given second (unique: random base + counter) and UUID v4s."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.base = rng.getrandbits(63)
        self.counter = 0

    def oid(self, when: datetime) -> ObjectId:
        self.counter += 1
        return ObjectId(struct.pack(">IQ", int(when.timestamp()), self.base + self.counter))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def templates_from(docs: dict[str, list[Doc]]) -> list[Template]:
    """Group the generator's conversations with their messages, transactions and files."""
    by_conv: dict[str, tuple[list[Doc], list[Doc], list[Doc]]] = {
        c["conversationId"]: ([], [], []) for c in docs["conversations"]}
    for slot, name in enumerate(("messages", "transactions", "files")):
        for doc in docs[name]:
            group = by_conv.get(doc.get("conversationId"))  # type: ignore[arg-type]
            if group is not None:
                group[slot].append(doc)
    templates = []
    for conv in docs["conversations"]:
        msgs, txns, files = by_conv[conv["conversationId"]]
        if not msgs:
            continue
        times = [d["createdAt"] for d in (*msgs, *txns, *files, conv)]
        start = min(times)
        templates.append(Template(conv, msgs, txns, files, start, max(times) - start))
    return templates


def _shift(value: Any, delta: timedelta) -> Any:
    return value + delta if isinstance(value, datetime) else value


def clone(tpl: Template, start: datetime, user: ObjectId, ids: Ids) -> dict[str, list[Doc]]:
    """One copy of a template conversation at `start`, owned by `user`, with fresh ids."""
    delta = start - tpl.start
    user_hex = str(user)
    old_user_hex = tpl.conv["user"]
    conv_id = ids.uuid()
    message_ids = {m["messageId"]: ids.uuid() for m in tpl.messages}
    file_ids = {f["file_id"]: ids.uuid() for f in tpl.files}
    oids: dict[ObjectId, ObjectId] = {}

    files = []
    for f in tpl.files:
        d = dict(f)
        created = f["createdAt"] + delta
        d["_id"] = ids.oid(created)
        d["user"] = user
        d["file_id"] = file_ids[f["file_id"]]
        d["conversationId"] = conv_id
        if "messageId" in f:
            d["messageId"] = message_ids.get(f["messageId"], f["messageId"])
        d["filepath"] = f["filepath"].replace(old_user_hex, user_hex).replace(
            f["file_id"], d["file_id"])
        d["createdAt"], d["updatedAt"] = created, f["updatedAt"] + delta
        if "expiresAt" in f:
            d["expiresAt"] = f["expiresAt"] + delta
        files.append(d)

    messages = []
    for m in tpl.messages:
        d = dict(m)
        created = m["createdAt"] + delta
        d["_id"] = oids[m["_id"]] = ids.oid(created)
        d["messageId"] = message_ids[m["messageId"]]
        d["parentMessageId"] = message_ids.get(m["parentMessageId"], m["parentMessageId"])
        d["conversationId"] = conv_id
        if "user" in m:
            d["user"] = user_hex
        d["createdAt"], d["updatedAt"] = created, m["updatedAt"] + delta
        if m.get("expiredAt") is not None:
            d["expiredAt"] = m["expiredAt"] + delta
        feedback = m.get("feedback")
        if isinstance(feedback, dict) and isinstance(feedback.get("_id"), ObjectId):
            rated = feedback["_id"].generation_time + delta
            d["feedback"] = {**feedback, "_id": ids.oid(rated)}
        if isinstance(m.get("files"), list):
            d["files"] = [{**s, "file_id": file_ids.get(s.get("file_id"), s.get("file_id")),
                           "filepath": str(s.get("filepath", "")).replace(
                               old_user_hex, user_hex).replace(
                               s.get("file_id", "\0"),
                               file_ids.get(s.get("file_id"), ""))}
                          for s in m["files"]]
        messages.append(d)

    txns = []
    for t in tpl.transactions:
        d = dict(t)
        created = t["createdAt"] + delta
        d["_id"] = ids.oid(created)
        d["user"] = user
        d["conversationId"] = conv_id
        if "messageId" in t:
            d["messageId"] = message_ids.get(t["messageId"], t["messageId"])
        d["createdAt"], d["updatedAt"] = created, t["updatedAt"] + delta
        txns.append(d)

    conv = dict(tpl.conv)
    created = tpl.conv["createdAt"] + delta
    conv["_id"] = ids.oid(created)
    conv["conversationId"] = conv_id
    conv["user"] = user_hex
    conv["messages"] = [oids.get(i, i) for i in tpl.conv.get("messages", [])]
    if isinstance(tpl.conv.get("files"), list):
        conv["files"] = [file_ids.get(i, i) for i in tpl.conv["files"]]
    conv["createdAt"], conv["updatedAt"] = created, tpl.conv["updatedAt"] + delta
    conv["expiredAt"] = _shift(tpl.conv.get("expiredAt"), delta)
    if "expiredAt" not in tpl.conv:
        del conv["expiredAt"]
    return {"conversations": [conv], "messages": messages, "transactions": txns,
            "files": files}


class BatchInserter:
    """Unordered insert_many of fixed-size batches, `workers` batches in flight in threads."""

    def __init__(self, db: Database[Any], batch: int, workers: int = 2) -> None:
        self.db = db
        self.batch = batch
        self.workers = workers
        self.buffers: dict[str, list[Doc]] = {name: [] for name in COLLECTIONS}
        self.counts: dict[str, int] = dict.fromkeys(COLLECTIONS, 0)
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.pending: list[Future[Any]] = []

    def add(self, name: str, docs: list[Doc]) -> None:
        buf = self.buffers[name]
        buf.extend(docs)
        if len(buf) >= self.batch:
            self._flush(name)

    def _flush(self, name: str) -> None:
        docs, self.buffers[name] = self.buffers[name], []
        if not docs:
            return
        self.counts[name] += len(docs)
        while len(self.pending) >= self.workers:
            self.pending.pop(0).result()
        self.pending.append(self.pool.submit(self.db[name].insert_many, docs, ordered=False))

    def close(self) -> None:
        for name in COLLECTIONS:
            self._flush(name)
        for future in self.pending:
            future.result()
        self.pool.shutdown()


def create_indexes(db: Database[Any], workers: int = 2) -> None:
    """LibreChat's indexes (as ``ensure_indexes``), one bulk build per collection, the
    collections in parallel."""
    spec = load_index_spec()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(db[name].create_indexes,
                               [_index_model(ix) for ix in indexes if ix["name"] != "_id_"])
                   for name, indexes in sorted(spec.items(), key=lambda kv: kv[0] != "messages")]
        for future in futures:
            future.result()


def _clone_plan(opts: BuildOptions, templates: list[Template], users: list[Doc],
                already: int, rng: random.Random) -> Iterator[tuple[Template, datetime, Doc]]:
    """(template, start, user) for clones in start-time order until `opts.messages`."""
    need = opts.messages - already
    if need <= 0 or not templates:
        return
    per_clone = sum(len(t.messages) for t in templates) / len(templates)
    n = max(1, round(need / per_clone))
    first = opts.now - timedelta(days=opts.days)
    starts = sorted(first + timedelta(seconds=rng.uniform(0, opts.days * 86400))
                    for _ in range(n))
    users = sorted(users, key=lambda u: u["createdAt"])
    created = [u["createdAt"] for u in users]
    made = 0
    for start in starts:
        tpl = rng.choice(templates)
        latest = opts.now - tpl.span - timedelta(seconds=600)
        begin = min(start, latest)
        eligible = bisect.bisect_left(created, begin)
        user = users[rng.randrange(eligible)] if eligible else users[0]
        yield tpl, begin, user
        made += len(tpl.messages)
        if made >= need:
            return


def build(db: Database[Any], opts: BuildOptions,
          progress: Callable[[str], None] = lambda _msg: None) -> BuildReport:
    """Fill the (empty) database `db`; returns what was inserted and how long it took."""
    report = BuildReport()
    started = time.monotonic()
    # Not the generator's own seed: the same stream would repeat its UUIDs.
    rng = random.Random(f"bench-clones-{opts.seed}")
    users = opts.users
    per_user = opts.template_messages / (users * 6.0)
    docs = _Generator(GenOptions(seed=opts.seed, now=opts.now, days=opts.days, users=users,
                                 conversations_per_user=max(per_user, 0.05))).run()
    progress(f"template deployment: {', '.join(f'{k} {len(v)}' for k, v in docs.items())}")
    inserter = BatchInserter(db, opts.batch)
    for name in COLLECTIONS:
        for i in range(0, len(docs[name]), opts.batch):
            inserter.add(name, docs[name][i:i + opts.batch])
    templates = templates_from(docs)
    active = [u for u in docs["users"] if "expiresAt" not in u]
    ids = Ids(rng)
    next_report = time.monotonic() + 15
    for tpl, start, user in _clone_plan(opts, templates, active, len(docs["messages"]), rng):
        for name, clone_docs in clone(tpl, start, user["_id"], ids).items():
            inserter.add(name, clone_docs)
        if time.monotonic() > next_report:
            next_report = time.monotonic() + 15
            progress(f"  {inserter.counts['messages']:,} messages inserted")
    inserter.close()
    report.seconds_generate = time.monotonic() - started
    progress(f"inserted in {report.seconds_generate:.0f} s; building LibreChat's indexes")
    started = time.monotonic()
    create_indexes(db)
    report.seconds_indexes = time.monotonic() - started
    report.counts = {name: db[name].estimated_document_count() for name in COLLECTIONS}
    return report


if __name__ == "__main__":
    import argparse
    from datetime import UTC

    import pymongo

    parser = argparse.ArgumentParser(description="fill a MongoDB database with LibreChat data")
    parser.add_argument("--mongodb-uri", required=True)
    parser.add_argument("--database", default="LibreChat")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--now", default=None, help="ISO time the history ends at")
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    with pymongo.MongoClient(args.mongodb_uri) as client:
        result = build(client[args.database], BuildOptions(args.messages, now),
                       progress=lambda msg: print(msg, flush=True))
    print(result)
