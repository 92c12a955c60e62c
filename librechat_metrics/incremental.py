"""Incremental reading: the documents created since the last run, each counted exactly once.

Each counted collection has a watermark in its section's state: a horizon on the `_id` time and
the ids seen in the overlap zone [horizon, now). A first run counts the stored documents below
a target time: in one pass in natural order when the collection is small enough for the run's
budget (up to millions of documents: each is read once, with no index walk), else in `_id`
chunks until the clock's deadline, resuming on the next run.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pymongo
from bson import ObjectId
from pymongo.errors import OperationFailure, PyMongoError

from .clock import Clock, oid_at
from .counters import Counters
from .dimensions import Dimensions
from .queries import Match, WholeCollection
from .settings import Settings

log = logging.getLogger("librechat_textfile")

BACKFILL_SHARE = 0.5  # of --timeout, for first counts; the rest is left for everything else

BACKFILL_CHUNK = 2_000_000
# Documents per aggregation (at most) while a first run counts a collection too large for one
# pass: a quarter of what a run's budget reads at PASS_RATE (2 million at the default --timeout,
# seconds each), so a run can stop between chunks before its deadline and resume next time.

PASS_CHUNKS = 5
# A collection of at most PASS_CHUNKS x BACKFILL_CHUNK documents (10 million) is counted in one
# pass in natural order, if the run's budget allows (PASS_RATE); larger ones in `_id` chunks.

PASS_RATE = 400_000
# Documents a second a one-pass count is planned with (LibreChat's collections read at 0.6-1
# million a second on a loaded 2-CPU machine, bench/README.md). A pass that would not end
# before the deadline waits for the next run, whose budget is whole; one that would not fit
# even a whole budget is counted in chunks instead.

PASS_GRACE = 0.35
# Of --timeout: how far one pass may run past the deadline before it is given up (counting
# nothing, and continuing in chunks from the next run on). With the deadline at half of
# --timeout, the rest of the run keeps 15% of it (6 s of the default 40), which the sections
# after a first count need: they wait for the next run themselves once the deadline is past.


def new_documents(coll: Any, stream: dict[str, Any], clock: Clock,
                  settings: Settings) -> Iterator[Match]:
    """Yield filters that together select every document not counted yet, each exactly once.

    The caller counts what each filter selects; `stream` (this collection's part of the state)
    advances only after the caller has finished with a filter. A first run counts the stored
    documents in one pass or in `_id` chunks until the backfill deadline (see the module's
    docstring), and resumes on the next run.
    """
    if stream.get("horizon") is None:
        stream.setdefault("backfill", {"cursor": None,
                                       "target": math.floor(clock.epoch - settings.lag)})
        yield from _backfill(coll, stream, clock, settings.timeout)
        if "backfill" in stream:
            return
    yield from _recent(coll, stream, clock, settings.lag)


def _backfill(coll: Any, stream: dict[str, Any], clock: Clock,
              timeout: float) -> Iterator[Match]:
    job = stream["backfill"]
    rate = share_of(clock.concurrency)
    if job["cursor"] is None and job.get("mode") != "chunks":
        docs = coll.estimated_document_count()
        if fits_one_pass(docs, rate, timeout):
            yield from _one_pass(coll, stream, clock, docs)
            return
        job["mode"] = "chunks"
    size = max(1, min(BACKFILL_CHUNK, int(rate * timeout * BACKFILL_SHARE / 4)))
    yield from _chunks(coll, stream, clock, size)


def fits_one_pass(docs: int, rate: float, timeout: float) -> bool:
    """A first count of `docs` documents is one pass (else `_id` chunks)."""
    return docs <= BACKFILL_CHUNK * PASS_CHUNKS and docs / rate <= timeout * BACKFILL_SHARE * 0.8


COUNTED = ("messages", "transactions", "conversations", "files", "users")
# The collections first counts read (sections messages, tokens, conversations, files and
# registrations).


def passes_fit_side_by_side(db: Any, timeout: float, workers: int) -> bool:
    """Every counted collection is one pass even at its share of the server with `workers`
    sections reading at once. Only then do a first count's sections run side by side: chunks
    are sized for a whole server, and a chunk that takes twice its time could overrun the run."""
    return all(fits_one_pass(stored(db[name]), share_of(workers), timeout) for name in COUNTED)


def stored(coll: Any) -> int:
    """The collection's document count from its metadata; 0 for one this user may not read
    (its section fails by itself, with the reason)."""
    try:
        return int(coll.estimated_document_count())
    except OperationFailure as exc:
        if getattr(exc, "timeout", False):
            raise
        return 0


def share_of(concurrency: int) -> float:
    """Documents a second one pass reads: PASS_RATE, shared by the sections reading at once
    (two passes side by side each take about twice as long)."""
    return PASS_RATE / max(concurrency, 1)


def _one_pass(coll: Any, stream: dict[str, Any], clock: Clock, docs: int) -> Iterator[Match]:
    """Every document below the target in one aggregation, read in natural order."""
    job = stream["backfill"]
    if not clock.has_time() or docs / share_of(clock.concurrency) > remaining(clock):
        log.info("%s: the first count of %d documents waits for the next run", coll.name, docs)
        return
    yield WholeCollection({"_id": {"$gte": oid_at(0), "$lt": oid_at(job["target"])}})
    _finish(stream)


def _chunks(coll: Any, stream: dict[str, Any], clock: Clock, size: int) -> Iterator[Match]:
    job = stream["backfill"]
    upper = oid_at(job["target"])
    while clock.has_time():
        lower = ObjectId(job["cursor"]) if job["cursor"] else oid_at(0)
        boundary = next(iter(coll.find({"_id": {"$gte": lower, "$lt": upper}}, {"_id": 1})
                             .sort("_id", 1).skip(size).limit(1)), None)
        end = boundary["_id"] if boundary else upper
        yield {"_id": {"$gte": lower, "$lt": end}}
        if boundary is None:
            _finish(stream)
            return
        job["cursor"] = str(end)
        job["progress"] = backfill_progress(coll, job)
        log.info("%s: first count %.0f%% done", coll.name, 100 * job["progress"])


def _finish(stream: dict[str, Any]) -> None:
    job = stream.pop("backfill")
    stream.update(horizon=job["target"], seen=[])


def remaining(clock: Clock) -> float:
    """Seconds left before the first count's deadline."""
    return clock.deadline - time.monotonic()


def backfill_progress(coll: Any, job: Mapping[str, Any]) -> float:
    first = coll.find_one({"_id": {"$type": "objectId"}}, {"_id": 1}, sort=[("_id", 1)])
    if not first or not job.get("cursor"):
        return 0.0
    start = first["_id"].generation_time.timestamp()
    done = ObjectId(job["cursor"]).generation_time.timestamp() - start
    return min(max(done / max(job["target"] - start, 1.0), 0.0), 1.0)


def _recent(coll: Any, stream: dict[str, Any], clock: Clock,
            lag: float) -> Iterator[dict[str, Any]]:
    """The range between the old and the new horizon, plus the listed overlap zone.

    Everything older than `horizon` was counted by earlier runs. Ids in the overlap zone
    [horizon, now) are listed by the `_id` index alone and remembered, so a document inserted
    late, or by a server whose clock runs behind, is still counted exactly once.
    """
    # Horizons are whole seconds, as ObjectId times are: a fractional horizon would leave the
    # documents of its own second both in the range below it and out of the seen list.
    old_horizon = math.floor(stream["horizon"])
    seen = set(stream.get("seen", []))
    horizon = max(math.floor(clock.epoch - lag), old_horizon)
    zone = [doc["_id"] for doc in coll.find(
        {"_id": {"$gte": oid_at(horizon), "$lt": oid_at(clock.epoch)}}, {"_id": 1})]
    parts: list[dict[str, Any]] = []
    if old_horizon < horizon:
        below = [ObjectId(i) for i in seen
                 if old_horizon <= ObjectId(i).generation_time.timestamp() < horizon]
        parts.append({"_id": {"$gte": oid_at(old_horizon), "$lt": oid_at(horizon),
                              "$nin": below}})
    fresh = [i for i in zone if str(i) not in seen]
    if fresh:
        parts.append({"_id": {"$in": fresh}})
    if parts:
        yield parts[0] if len(parts) == 1 else {"$or": parts}
    # Seen ids at or past the horizon stay listed even when this run's clock is behind them
    # (an NTP step, a resumed VM, a replayed --now): dropping them would count them again.
    kept = {i for i in seen if ObjectId(i).generation_time.timestamp() >= horizon}
    stream.update(horizon=horizon, seen=sorted(kept | {str(i) for i in zone}))


def count_new(coll: Any, state: dict[str, Any], clock: Clock, settings: Settings,
              dims: Dimensions,
              count_chunk: Callable[[Match, Counters], None]) -> Counters | None:
    """Feed every not-yet-counted document to `count_chunk`; None while a first count runs."""
    stream = state.setdefault("stream", {})
    counters = Counters(state, dims, settings.tenant_label)
    for match in new_documents(coll, stream, clock, settings):
        if isinstance(match, WholeCollection):
            if not _count_one_pass(coll, state, clock, settings, match, counters, count_chunk):
                return None
        else:
            count_chunk(match, counters)
    if "backfill" in stream:
        return None
    counters.settle()
    return counters



def _count_one_pass(coll: Any, state: dict[str, Any], clock: Clock, settings: Settings,
                    match: Match, counters: Counters,
                    count_chunk: Callable[[Match, Counters], None]) -> bool:
    """`count_chunk` over a whole collection, within the deadline plus PASS_GRACE of
    --timeout. A pass that does not finish in time counts nothing (the section's state is put
    back as it was) and the collection is counted in chunks from the next run on: False."""
    before = copy.deepcopy(state)
    try:
        with pymongo.timeout(max(remaining(clock), 0.0) + PASS_GRACE * settings.timeout):
            count_chunk(match, counters)
    except PyMongoError as exc:
        if not getattr(exc, "timeout", False):
            raise
        log.warning("%s: one pass did not finish in time; the first count goes on in chunks "
                    "from the next run", coll.name)
        state.clear()
        state.update(before)
        state["stream"]["backfill"]["mode"] = "chunks"
        return False
    return True
