"""The run's clock: now, calendar windows in the configured timezone, ObjectId bounds, the
deadline a first count works against, and what the sections of one run read for each other."""

from __future__ import annotations

import dataclasses
import math
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId


@dataclasses.dataclass(frozen=True)
class Clock:
    now: datetime  # aware, UTC
    tz: ZoneInfo
    deadline: float = math.inf  # time.monotonic() after which a first count pauses
    # Sections reading at once (run.collect): a first count plans its passes for its share.
    concurrency: int = 1
    # Reads two sections of the run need, done once (sections/recent.py); not part of the
    # clock's value.
    shared: dict[Any, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def epoch(self) -> float:
        return self.now.timestamp()

    def has_time(self) -> bool:
        """True while a first count may start another chunk (or day) in this run."""
        return time.monotonic() < self.deadline

    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    def day_start(self, day: date) -> datetime:
        """The first instant of a local day, in UTC; DST gaps at midnight resolve forward."""
        return datetime.combine(day, dtime(0), tzinfo=self.tz).astimezone(UTC)

    def week_start(self) -> datetime:
        today = self.today()
        return self.day_start(today - timedelta(days=today.weekday()))

    def month_start(self) -> datetime:
        return self.day_start(self.today().replace(day=1))


def oid_at(seconds: float) -> ObjectId:
    """The smallest ObjectId of a second: `_id` range bounds, as LibreChat's ids carry time."""
    seconds = min(max(int(seconds), 0), 2**32 - 1)
    return ObjectId(seconds.to_bytes(4, "big") + b"\x00" * 8)


def as_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
