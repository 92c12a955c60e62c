"""Incremental reading: the documents created since the last run, each counted exactly once.

Each counted collection has a watermark in its section's state: a horizon on the `_id` time and
the ids seen in the overlap zone [horizon, now). A first run counts the stored documents in
`_id` chunks until the clock's deadline, and resumes on the next run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from bson import ObjectId

from .clock import Clock, oid_at
from .counters import Counters
from .dimensions import Dimensions
from .queries import Match
from .settings import Settings

log = logging.getLogger("librechat_textfile")

BACKFILL_SHARE = 0.5  # of --timeout, for first counts; the rest is left for everything else

BACKFILL_CHUNK = 200_000
# Documents per aggregation while a first run counts a large collection: each chunk takes well
# under a second, so a run can stop between chunks before its deadline and resume next time.


def new_documents(coll: Any, stream: dict[str, Any], clock: Clock,
                  lag: float) -> Iterator[dict[str, Any]]:
    """Yield filters that together select every document not counted yet, each exactly once.

    The caller counts what each filter selects; `stream` (this collection's part of the state)
    advances only after the caller has finished with a filter. A first run counts the stored
    documents in `_id` chunks until the backfill deadline, and resumes on the next run.
    """
    if stream.get("horizon") is None:
        stream.setdefault("backfill", {"cursor": None,
                                       "target": math.floor(clock.epoch - lag)})
        yield from _backfill(coll, stream, clock)
        if "backfill" in stream:
            return
    yield from _recent(coll, stream, clock, lag)


def _backfill(coll: Any, stream: dict[str, Any], clock: Clock) -> Iterator[dict[str, Any]]:
    job = stream["backfill"]
    upper = oid_at(job["target"])
    while clock.has_time():
        lower = ObjectId(job["cursor"]) if job["cursor"] else oid_at(0)
        boundary = next(iter(coll.find({"_id": {"$gte": lower, "$lt": upper}}, {"_id": 1})
                             .sort("_id", 1).skip(BACKFILL_CHUNK).limit(1)), None)
        end = boundary["_id"] if boundary else upper
        yield {"_id": {"$gte": lower, "$lt": end}}
        if boundary is None:
            del stream["backfill"]
            stream.update(horizon=job["target"], seen=[])
            return
        job["cursor"] = str(end)
        job["progress"] = backfill_progress(coll, job)
        log.info("%s: first count %.0f%% done", coll.name, 100 * job["progress"])


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
    for match in new_documents(coll, stream, clock, settings.lag):
        count_chunk(match, counters)
    if "backfill" in stream:
        return None
    counters.settle()
    return counters

