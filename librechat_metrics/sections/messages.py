"""Messages: created counters (by model, endpoint, errors, unfinished, agents), tool calls, and
the unique-user windows kept from each user's last message time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from .. import catalogue as cat
from ..clock import Clock, as_utc
from ..counters import Counters
from ..dimensions import Dimensions
from ..families import Family
from ..incremental import count_new
from ..labels import label_value, model_label, number
from ..queries import IS_ERROR, IS_USER, Match, bounded, grouped
from ..settings import Settings
from .agents import AgentModels, is_agent_message
from .base import tenant_of
from .tools import count_tool_calls

ACTIVITY_HORIZON = 32 * 86400  # seconds: the longest unique-user window, 30 days or a month


def message_rows(db: Any, match: Match, settings: Settings) -> list[dict[str, Any]]:
    """Messages grouped by what the counters split on, with their tokenCount summed."""
    return grouped(db.messages, match, {"model": "$model", "endpoint": "$endpoint",
                                        "user": IS_USER, "error": IS_ERROR,
                                        "unfinished": {"$eq": ["$unfinished", True]},
                                        "finish": "$finish_reason"},
                   settings.tenant_label, {"tokens": {"$sum": bounded("$tokenCount")}})


def count_messages(db: Any, match: Match, counters: Counters, settings: Settings) -> None:
    rows = message_rows(db, match, settings)
    llms = AgentModels(db, ((model_label(r["_id"].get("model")), r["_id"].get("endpoint"))
                            for r in rows))
    for row in rows:
        gid, n = row["_id"], number(row["n"])
        tenant = tenant_of(gid)
        raw_model, endpoint = model_label(gid.get("model")), gid.get("endpoint")
        model = llms.model(raw_model, endpoint)
        role = "user" if gid.get("user") else "assistant"
        counters.add(cat.MESSAGES_TOTAL, n, tenant=tenant)
        counters.add(cat.ENDPOINT_MESSAGES_TOTAL, n, endpoint=label_value(endpoint), role=role,
                     tenant=tenant)
        if gid.get("error"):
            counters.add(cat.ERROR_MESSAGES_TOTAL, n, tenant=tenant)
            counters.add(cat.ERRORS_PER_MODEL_TOTAL, n, model=model, tenant=tenant)
        if role == "assistant":
            counters.add(cat.MESSAGES_PER_MODEL_TOTAL, n, model=model, tenant=tenant)
            if gid.get("unfinished"):
                counters.add(cat.UNFINISHED_MESSAGES_TOTAL, n, model=model, tenant=tenant)
            counters.add(cat.RESPONSES_BY_FINISH_REASON_TOTAL, n, model=model,
                         finish_reason=label_value(gid.get("finish")), tenant=tenant)
            if is_agent_message(raw_model, endpoint):
                counters.add(cat.AGENT_MESSAGES_TOTAL, n, agent_id=raw_model, tenant=tenant)


def ends_before(match: Match, seconds: float) -> bool:
    """True for a first-count chunk whose documents are all older than `seconds`."""
    upper = match.get("_id", {}).get("$lt") if isinstance(match.get("_id"), dict) else None
    return isinstance(upper, ObjectId) and upper.generation_time.timestamp() <= seconds


def latest_activity(db: Any, match: Match, clock: Clock) -> dict[str, float]:
    """Per user, the newest message time among the documents of `match`."""
    # A createdAt ahead of the run (a skewed clock, a bad document) must not hide the user's
    # real activity; $max skips the nulls.
    created = {"$cond": [{"$and": [{"$eq": [{"$type": "$createdAt"}, "date"]},
                                   {"$lte": ["$createdAt", clock.now]}]}, "$createdAt", None]}
    latest: dict[str, float] = {}
    for row in grouped(db.messages, match, {"user": "$user"}, False,
                       {"last": {"$max": created}}):
        user, when = row["_id"].get("user"), as_utc(row["last"])
        if isinstance(user, ObjectId):
            user = str(user)
        if isinstance(user, str) and when is not None:
            latest[user] = max(latest.get(user, 0.0), when.timestamp())
    return latest


def merged_activity(last: Mapping[str, float], latest: Mapping[str, float],
                    clock: Clock) -> dict[str, float]:
    """One map of per-user last message times serves every unique-user window; users idle for
    longer than the longest window are dropped, so it stays bounded."""
    merged = dict(last)
    for user, when in latest.items():
        merged[user] = max(merged.get(user, 0.0), when)
    oldest = clock.epoch - ACTIVITY_HORIZON
    return {user: when for user, when in merged.items() if when >= oldest}


def unique_user_families(last_active: Mapping[str, float], clock: Clock) -> list[Family]:
    times = last_active.values()

    def active_since(start: datetime) -> float:
        lo, hi = start.timestamp(), clock.epoch
        return float(sum(1 for t in times if lo <= t <= hi))

    windows = ((cat.DAILY_UNIQUE_USERS, clock.day_start(clock.today())),
               (cat.WEEKLY_UNIQUE_USERS, clock.week_start()),
               (cat.MONTHLY_UNIQUE_USERS, clock.month_start()))
    families = [Family.of(spec) for spec, _ in windows]
    for family, (_, start) in zip(families, windows, strict=True):
        family.set(active_since(start))
    rolling = Family.of(cat.UNIQUE_USERS)
    for window, seconds in (("1h", 3600), ("24h", 86400), ("7d", 7 * 86400),
                            ("30d", 30 * 86400)):
        rolling.set(active_since(clock.now - timedelta(seconds=seconds)), window=window)
    return [*families, rolling]


MESSAGE_COUNTERS = (cat.MESSAGES_TOTAL, cat.ERROR_MESSAGES_TOTAL, cat.MESSAGES_PER_MODEL_TOTAL,
                    cat.ERRORS_PER_MODEL_TOTAL, cat.ENDPOINT_MESSAGES_TOTAL,
                    cat.UNFINISHED_MESSAGES_TOTAL, cat.AGENT_MESSAGES_TOTAL,
                    cat.RESPONSES_BY_FINISH_REASON_TOTAL,
                    cat.TOOL_CALLS_TOTAL, cat.TOOL_CALL_ERRORS_TOTAL)


def message_families(db: Any, clock: Clock, state: dict[str, Any],
                     settings: Settings, dims: Dimensions) -> list[Family]:
    """Messages, errors, tool calls and agents created, counted once each; unique users."""
    latest: dict[str, float] = {}
    if "last_active" not in state and state.get("stream", {}).get("horizon") is not None:
        # Counters restored from the last .prom: the activity map was lost with the state,
        # so it is read again from the last month of messages (LibreChat's createdAt index).
        since = clock.now - timedelta(seconds=ACTIVITY_HORIZON)
        latest = latest_activity(db, {"createdAt": {"$gte": since, "$lte": clock.now}}, clock)

    def count_chunk(match: Match, counters: Counters) -> None:
        count_messages(db, match, counters, settings)
        count_tool_calls(db, match, counters, settings)
        if not ends_before(match, clock.epoch - ACTIVITY_HORIZON):
            for user, when in latest_activity(db, match, clock).items():
                latest[user] = max(latest.get(user, 0.0), when)

    counters = count_new(db.messages, state, clock, settings, dims, count_chunk)
    state["last_active"] = merged_activity(state.get("last_active", {}), latest, clock)
    if counters is None:
        return []
    return [*(counters.family(spec) for spec in MESSAGE_COUNTERS),
            *unique_user_families(state["last_active"], clock)]
