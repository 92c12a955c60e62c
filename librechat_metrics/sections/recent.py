"""The messages of recent local days, by user: the daily statistics' summaries and each user's
newest message time, from one read per day.

A first count needs both: the daily statistics summarise the last N finished days, and the
unique-user gauges need every user's last message of the last month. Each local day is read
once (LibreChat's `createdAt` index) with its messages grouped by user, role, model and
endpoint and the newest `createdAt` of each group; a run that needs a day in two sections
reads it once, the other takes it from the run's clock (`Clock.shared`). One query per day
rather than one over all days: the local day of each message would be an expression on every
document, which measured slower (issue 12).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from bson import ObjectId

from ..clock import Clock, as_utc, oid_at
from ..labels import model_label, number
from ..queries import NOT_OBJECT_ID, grouped, grouped_rows
from .agents import AgentModels

ACTIVITY_HORIZON = 32 * 86400  # seconds: the longest unique-user window, 30 days or a month


@dataclasses.dataclass
class Day:
    """One local day: distinct users, users by messages sent, the assistant's messages by
    (model label, endpoint); an endpoint that is no string (never "agents") is kept as None."""

    users: int = 0
    sent: dict[str, int] = dataclasses.field(default_factory=dict)
    assistant: dict[tuple[str, str | None], float] = dataclasses.field(default_factory=dict)

    def add_assistant(self, model: str, endpoint: Any, n: float) -> None:
        key = (model, endpoint if isinstance(endpoint, str) else None)
        self.assistant[key] = self.assistant.get(key, 0.0) + n

    def summary(self, db: Any) -> dict[str, Any]:
        """The daily section's stored summary: counts only, no user ids."""
        llms = AgentModels(db, self.assistant)
        models: dict[str, float] = {}
        for (model, endpoint), n in self.assistant.items():
            label = llms.model(model, endpoint)
            models[label] = models.get(label, 0.0) + n
        return {"users": self.users, "sent": dict(self.sent), "models": models}


@dataclasses.dataclass
class DayRead:
    day: Day
    last: dict[str, float]  # user id: newest message time of the day (up to now)


def read_day(db: Any, clock: Clock, day: date) -> DayRead:
    """One local day's messages (today's up to now), grouped by user, role, model, endpoint."""
    start = clock.day_start(day)
    end = min(clock.day_start(day + timedelta(days=1)), clock.now + timedelta(milliseconds=1))
    # A stream, not a list: a day of a large database has tens of thousands of groups, and
    # two sections may be reading a day each.
    rows = grouped_rows(db.messages, {"createdAt": {"$gte": start, "$lt": end}},
                        {"user": "$user", "by_user": "$isCreatedByUser", "model": "$model",
                         "endpoint": "$endpoint"}, False, {"last": {"$max": "$createdAt"}})
    summary, newest = Day(), {}
    sent_by: dict[Any, float] = {}
    labels = ModelLabels()
    for row in rows:
        gid, n = row["_id"], number(row["n"])
        user, by_user = gid.get("user"), gid.get("by_user") is True  # IS_USER
        if isinstance(user, (str, ObjectId)):
            sent_by[user] = sent_by.get(user, 0.0) + (n if by_user else 0.0)
            when = row.get("last")
            if isinstance(when, datetime):  # the range holds dates only
                key = str(user)
                newest[key] = max(newest.get(key, when), when)
        if not by_user:
            summary.add_assistant(labels(gid.get("model")), gid.get("endpoint"), n)
    summary.users = len(sent_by)
    for count in sent_by.values():
        if count:
            summary.sent[str(int(count))] = summary.sent.get(str(int(count)), 0) + 1
    return DayRead(summary, {user: utc.timestamp() for user, when in newest.items()
                             if (utc := as_utc(when)) is not None})


class ModelLabels:
    """model_label, once per distinct model value of a day's rows."""

    def __init__(self) -> None:
        self.known: dict[Any, str] = {}

    def __call__(self, model: Any) -> str:
        if not isinstance(model, str | None):
            return model_label(model)  # a hostile document: no cache key
        if model not in self.known:
            self.known[model] = model_label(model)
        return self.known[model]


_guard = threading.Lock()  # the run's shared map of days and newest times


LAST = "newest message time per user of the days read"


def shared_day(db: Any, clock: Clock, day: date) -> Day:
    """`read_day` once per run: the daily statistics and a first count's unique users both
    ask for the days of the last month. The run keeps each day's counts and one map of the
    users' newest times over every day read (`Clock.shared[LAST]`): a map per day would hold
    a month of user ids. Each day has its own lock, so two sections read different days side
    by side (they go through the month from opposite ends) and never the same day twice."""
    with _guard:
        lock = clock.shared.setdefault(("reading", day), threading.Lock())
    with lock:
        if ("day", day) not in clock.shared:
            read = read_day(db, clock, day)
            with _guard:
                latest = clock.shared.setdefault(LAST, {})
                for user, when in read.last.items():
                    latest[user] = max(latest.get(user, 0.0), when)
                clock.shared["day", day] = read.day
        return clock.shared["day", day]  # type: ignore[no-any-return]


def was_read(clock: Clock, day: date) -> bool:
    return ("day", day) in clock.shared


def activity_days(clock: Clock) -> list[date]:
    """The local days from ACTIVITY_HORIZON ago up to today, oldest first: the daily
    statistics read theirs newest first, so in a first count that runs them side by side
    the two sections meet in the middle of the month."""
    day = (clock.now - timedelta(seconds=ACTIVITY_HORIZON)).astimezone(clock.tz).date()
    days = []
    while day <= clock.today():
        days.append(day)
        day += timedelta(days=1)
    return days


def last_times(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """{user id: newest time} from rows grouped by user with a `last` date."""
    latest: dict[str, float] = {}
    for row in rows:
        user, when = row["_id"].get("user"), as_utc(row["last"])
        if isinstance(user, ObjectId):
            user = str(user)
        if isinstance(user, str) and when is not None:
            latest[user] = max(latest.get(user, 0.0), when.timestamp())
    return latest


def recent_last(db: Any, clock: Clock) -> dict[str, float]:
    """Per user, the newest message time of the days of the last ACTIVITY_HORIZON (LibreChat's
    createdAt index): after a first count, which reads the messages in one pass without their
    users, and when the activity map was lost with the state.

    Like the counters, activity sees only messages with ObjectId ids up to now (counting.md); the
    days' reads see every message. Messages with other ids are rare (LibreChat never writes
    them), so they are looked for through the `_id` index, and only their users' last times
    are read again without them."""
    days = activity_days(clock)
    for day in days:
        shared_day(db, clock, day)
    with _guard:  # the daily statistics may be reading a day beside this section
        latest = dict(clock.shared.get(LAST, {}))
    span = {"createdAt": {"$gte": clock.day_start(days[0]), "$lte": clock.now}}
    counted = {"_id": {"$gte": oid_at(0), "$lt": oid_at(clock.epoch)}}
    others = db.messages.find(
        {**span, "$or": [{"_id": NOT_OBJECT_ID}, {"_id": {"$gte": oid_at(clock.epoch)}}]},
        {"user": 1}, hint=[("_id", 1)])
    odd = list({doc.get("user") for doc in others if isinstance(doc.get("user"), str | ObjectId)})
    if odd:
        for user in odd:
            latest.pop(str(user), None)
        rows = grouped(db.messages, {**span, **counted, "user": {"$in": odd}}, {"user": "$user"},
                       False, {"last": {"$max": "$createdAt"}})
        latest.update(last_times(rows))
    return latest
