"""Scheduled agent runs (LibreChat 0.8.8+): schedules defined now, runs going on now, and the
runs settled, counted once each with the time they took.

A run is inserted `started` and settled later on the same document (status, durationMs and
settledAt set together), so it is counted when it settles, not when it is created: against a
watermark on `settledAt` (LibreChat's TTL index on it serves the range), kept in the same shape
as the `_id` watermarks of incremental.py, a horizon and the ids seen in the overlap zone
[horizon, now). A state restored from the last .prom resumes from its last success like them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from .. import catalogue as cat
from ..clock import Clock
from ..counters import Counters
from ..dimensions import Dimensions
from ..families import Family
from ..labels import closed_label, number
from ..progress import RESTORE_ZONE
from ..queries import Match, bounded, grouped
from ..settings import Settings
from .base import tenant_of
from .optional import collection_present

SINCE = "0.8.8"
OUTCOMES = cat.SCHEDULE_RUN_OUTCOMES
REASONS = cat.SCHEDULE_DISABLED_REASONS
SCHEDULE_RUN_COUNTERS = (cat.SCHEDULE_RUNS_TOTAL, cat.SCHEDULE_RUN_DURATION_TOTAL)
LIVE = {"deleting": {"$ne": True}, "erased": {"$ne": True}}
# A schedule being deleted is hidden from its owner and never runs again; an erased one is a
# tombstone LibreChat keeps a day for retried creates.


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def settled_runs(coll: Any, stream: dict[str, Any], clock: Clock,
                 lag: float) -> Iterator[Match]:
    """Yield the filter of the runs settled since the last run and not counted yet, then
    advance `stream` (after the caller has counted them).

    Runs settled before the horizon were counted by earlier runs (a first run counts all it
    finds there); the ids settled in [horizon, now) are listed and remembered, so a settlement
    written late, or stamped by a server whose clock runs behind, is still counted once."""
    old = stream.get("horizon")
    horizon = math.floor(clock.epoch - lag)
    if old is not None:
        horizon = max(horizon, math.floor(old))
    seen = [ObjectId(i) for i in stream.get("seen", [])]
    counted_ids: dict[str, Any] = {"$type": "objectId"}
    # Only ObjectId ids (LibreChat's) can be remembered in the seen list.
    zone = [doc["_id"] for doc in coll.find(
        {"settledAt": {"$gte": at(horizon), "$lt": clock.now}, "_id": counted_ids}, {"_id": 1})]
    parts: list[dict[str, Any]] = []
    if old is None:
        parts.append({"settledAt": {"$lt": at(horizon)}, "_id": counted_ids})
    elif math.floor(old) < horizon:
        parts.append({"settledAt": {"$gte": at(math.floor(old)), "$lt": at(horizon)},
                      "_id": {**counted_ids, "$nin": seen}})
    known = set(seen)
    fresh = [i for i in zone if i not in known]
    if fresh:
        parts.append({"_id": {"$in": fresh}})
    if parts:
        yield parts[0] if len(parts) == 1 else {"$or": parts}
    # Seen ids still at or past the horizon stay listed when this run's clock is behind them
    # (an NTP step, a replayed --now): dropping them would count them again.
    kept = [doc["_id"] for doc in coll.find(
        {"_id": {"$in": seen}, "settledAt": {"$gte": at(horizon)}}, {"_id": 1})] if seen else []
    stream.update(horizon=horizon, seen=sorted({str(i) for i in (*kept, *zone)}))


def list_restored_zone(coll: Any, state: dict[str, Any], lag: float) -> None:
    """Counters restored from the last .prom resume at the horizon (continuity.py); the runs
    the last run had counted in its overlap zone, settled in [horizon, horizon + --lag) or up
    to the published watermark, become the seen list, so they are not counted again. The
    zone is listed here, by settledAt: the `_id` listing of the other sections does not fit
    a watermark on settlement."""
    zone = state.pop(RESTORE_ZONE, None)
    if zone is None:
        return
    low, high = zone
    ids = coll.find({"settledAt": {"$gte": at(low), "$lt": at(max(high, low + lag))},
                     "_id": {"$type": "objectId"}}, {"_id": 1})
    state.setdefault("stream", {"horizon": low})["seen"] = sorted(str(d["_id"]) for d in ids)


def count_settled(coll: Any, match: Match, counters: Counters, settings: Settings) -> None:
    durations = {"ms": {"$sum": {"$max": [bounded("$durationMs"), 0]}}}
    for row in grouped(coll, match, {"status": "$status"}, settings.tenant_label, durations):
        gid = row["_id"]
        status, tenant = closed_label(gid.get("status"), OUTCOMES), tenant_of(gid)
        counters.add(cat.SCHEDULE_RUNS_TOTAL, number(row["n"]), status=status, tenant=tenant)
        counters.add(cat.SCHEDULE_RUN_DURATION_TOTAL, number(row["ms"]) / 1000, status=status,
                     tenant=tenant)


def schedule_run_families(db: Any, clock: Clock, state: dict[str, Any],
                          settings: Settings, dims: Dimensions) -> list[Family]:
    """Scheduled runs settled, by outcome, and their seconds, counted once each. Where the
    collection is absent the watermark still advances (nothing is found), so a LibreChat
    upgraded later is counted from then on."""
    present = collection_present(db, clock, state, "scheduleruns", SINCE)
    list_restored_zone(db.scheduleruns, state, settings.lag)
    counters = Counters(state, dims, settings.tenant_label)
    for match in settled_runs(db.scheduleruns, state.setdefault("stream", {}), clock,
                              settings.lag):
        count_settled(db.scheduleruns, match, counters, settings)
    counters.settle()
    if not present:
        return []
    return [counters.family(spec) for spec in SCHEDULE_RUN_COUNTERS]


def disabled_reason(value: Any) -> str:
    """disabledReason as a label: none where the owner disabled it (no reason stored)."""
    return "none" if value is None else closed_label(value, REASONS)


def schedule_families(db: Any, clock: Clock, state: dict[str, Any],
                      settings: Settings, dims: Dimensions) -> list[Family]:
    """Schedules defined now (a scan of schedules, a few per user: LibreChat caps them) and
    the runs going on now (LibreChat's {status, firedAt} index)."""
    tenant_on = settings.tenant_label
    families: list[Family] = []
    if collection_present(db, clock, state, "schedules", SINCE):
        enabled = Family.of(cat.SCHEDULES, tenant_on)
        disabled = Family.of(cat.SCHEDULES_DISABLED, tenant_on)
        for row in grouped(db.schedules, LIVE, {"enabled": "$enabled",
                                                "reason": "$disabledReason"}, tenant_on):
            gid, n = row["_id"], number(row["n"])
            on = gid.get("enabled") is True
            enabled.inc(n, enabled=str(on).lower(), tenant=tenant_of(gid))
            if not on:
                disabled.inc(n, reason=disabled_reason(gid.get("reason")),
                             tenant=tenant_of(gid))
        families += [enabled, disabled]
    if collection_present(db, clock, state, "scheduleruns", SINCE):
        running = Family.of(cat.SCHEDULE_RUNS_IN_PROGRESS, tenant_on)
        for row in grouped(db.scheduleruns, {"status": {"$in": list(cat.SCHEDULE_RUNS_ACTIVE)}},
                           {"status": "$status"}, tenant_on):
            running.inc(number(row["n"]), status=closed_label(row["_id"].get("status"),
                                                              cat.SCHEDULE_RUNS_ACTIVE),
                        tenant=tenant_of(row["_id"]))
        families.append(running)
    return families
