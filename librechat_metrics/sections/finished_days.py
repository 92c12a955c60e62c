"""Finished local days that new documents changed after they were summarised.

LibreChat's conversation import keeps each message's original `createdAt`
(`bulkSaveMessages(..., overrideTimestamp)`) while giving it a new `_id`, and a message saved a
second after midnight may carry the previous day's `createdAt`. So the documents a run has not
seen yet (their `_id` is newer than the last check) are asked which finished days they belong
to: only those days are summarised again.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..clock import Clock, as_utc, oid_at


def touched_days(db: Any, clock: Clock, checked: float | None, lag: float,
                 first: date) -> set[date]:
    """The local days from `first` up to yesterday with messages inserted since `checked`
    (less the overlap `lag`, as the counters' watermark does); none before a first check."""
    if checked is None:
        return set()
    start, today = clock.day_start(first), clock.day_start(clock.today())
    new = db.messages.find({"_id": {"$gte": oid_at(checked - lag)},
                            "createdAt": {"$gte": start, "$lt": today}}, {"createdAt": 1})
    days = set()
    for doc in new:
        created = as_utc(doc.get("createdAt"))
        if created is not None:
            days.add(created.astimezone(clock.tz).date())
    return days
