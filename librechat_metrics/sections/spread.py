"""How usage spreads over users on the last complete local day, without personal data:
quantiles of messages sent and of USD spent per user, and the share of the day's spend by the
heaviest users. Only the results are kept (no user id leaves the job or enters the state)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from .. import catalogue as cat
from ..clock import Clock, oid_at
from ..dimensions import Dimensions
from ..families import Family
from ..labels import USD_PER_CREDIT, number
from ..queries import absolute, grouped
from ..settings import Settings
from .finished_days import touched_days

PERCENTILES = ("50", "90", "99", "100")
TOP_SHARES = (("1%", 0.01), ("10%", 0.10))


def nearest_rank(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank: the ceil(q·n)-th smallest value (q = 1: the maximum);
    0 when there are no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered) - 1e-9))
    return ordered[rank - 1]


def top_share(values: list[float], fraction: float) -> float:
    """The part of the sum held by the ceil(fraction·n) largest values; 0 for no spend."""
    spend = sum(values)
    if not values or spend <= 0:
        return 0.0
    k = max(1, math.ceil(fraction * len(values) - 1e-9))
    return sum(sorted(values, reverse=True)[:k]) / spend


def messages_sent_per_user(db: Any, clock: Clock, day: date) -> list[float]:
    window = {"createdAt": {"$gte": clock.day_start(day),
                            "$lt": clock.day_start(day + timedelta(days=1))},
              "isCreatedByUser": True}
    return [number(row["n"]) for row in grouped(db.messages, window, {"user": "$user"}, False)
            if row["_id"].get("user") is not None]


def usd_spent_per_user(db: Any, clock: Clock, day: date) -> list[float]:
    """Prompt and completion spend per user of the day (transactions by their `_id` time)."""
    start, end = clock.day_start(day), clock.day_start(day + timedelta(days=1))
    window = {"_id": {"$gte": oid_at(start.timestamp()), "$lt": oid_at(end.timestamp())},
              "tokenType": {"$in": ["prompt", "completion"]}}
    rows = grouped(db.transactions, window, {"user": "$user"}, False,
                   {"value": {"$sum": absolute("$tokenValue")}})
    return [number(row["value"]) * USD_PER_CREDIT for row in rows
            if row["_id"].get("user") is not None and number(row["value"]) > 0]


def day_spread(db: Any, clock: Clock, day: date) -> dict[str, Any]:
    sent, spent = messages_sent_per_user(db, clock, day), usd_spent_per_user(db, clock, day)
    return {"sent": {p: nearest_rank(sent, float(p) / 100) for p in PERCENTILES},
            "spent": {p: nearest_rank(spent, float(p) / 100) for p in PERCENTILES},
            "share": {top: top_share(spent, f) for top, f in TOP_SHARES},
            "spenders": float(len(spent))}


def spread_families(db: Any, clock: Clock, state: dict[str, Any], settings: Settings,
                    dims: Dimensions) -> list[Family]:
    """Yesterday's spread, computed once per local day and again when documents arrive for it
    later (a conversation import keeps its original dates)."""
    yesterday = clock.today() - timedelta(days=1)
    key = [yesterday.isoformat(), settings.timezone]
    touched = touched_days(db, clock, state.get("checked"), settings.lag, yesterday)
    if state.get("key") != key or yesterday in touched or "result" not in state:
        state.update(key=key, result=day_spread(db, clock, yesterday))
    state["checked"] = clock.epoch
    result = state["result"]
    families = {spec.name: Family.of(spec) for spec in (
        cat.MESSAGES_SENT_PER_USER_YESTERDAY, cat.COST_USD_PER_USER_YESTERDAY,
        cat.COST_SHARE_OF_TOP_USERS_YESTERDAY, cat.SPENDING_USERS_YESTERDAY)}
    for p in PERCENTILES:
        families[cat.MESSAGES_SENT_PER_USER_YESTERDAY.name].set(result["sent"][p], percentile=p)
        families[cat.COST_USD_PER_USER_YESTERDAY.name].set(result["spent"][p], percentile=p)
    for top, _ in TOP_SHARES:
        families[cat.COST_SHARE_OF_TOP_USERS_YESTERDAY.name].set(result["share"][top], top=top)
    families[cat.SPENDING_USERS_YESTERDAY.name].set(result["spenders"])
    return list(families.values())
