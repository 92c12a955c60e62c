"""Messages: created counters (by model, endpoint, errors, unfinished, agents), tool calls, and
the unique-user windows kept from each user's last message time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..counters import Counters
from ..dimensions import Dimensions
from ..families import Family
from ..incremental import count_new
from ..labels import label_value, model_label, number
from ..queries import IS_ERROR, IS_USER, Match, WholeCollection, bounded, grouped
from ..settings import Settings
from .agents import AgentModels, is_agent_message
from .base import tenant_of
from .feedback import KEY as FEEDBACK_KEY
from .feedback import PASSED
from .recent import ACTIVITY_HORIZON, last_times, recent_last
from .tools import TOOL_PARTS, count_tool_calls


def message_rows(db: Any, match: Match, settings: Settings) -> list[dict[str, Any]]:
    """Messages grouped by what the counters split on, with their tokenCount summed."""
    return grouped(db.messages, match, {"model": "$model", "endpoint": "$endpoint",
                                        "user": IS_USER, "error": IS_ERROR,
                                        "unfinished": {"$eq": ["$unfinished", True]},
                                        "finish": "$finish_reason"},
                   settings.tenant_label, {"tokens": {"$sum": bounded("$tokenCount")}})


# One pass over the messages yields every message counter and the tool calls (issue 12): the
# group key holds the fields' own values and Python decides what they mean, since on the
# server each expression evaluated per document costs about as much as reading it. Only the
# tool-call parts need an expression; IS_USER, IS_ERROR and `unfinished: true` are decided in
# `split_rows` from the grouped values, exactly as they would be on the server.
# A family split by another message field adds the field to both PASS_KEY and `split_rows`.
PASS_KEY = {"model": "$model", "endpoint": "$endpoint", "user": "$isCreatedByUser",
            "unfinished": "$unfinished", "error": "$error", "types": "$content.type",
            "finish": "$finish_reason", "tools": TOOL_PARTS}
FIRST_PASS_KEY = {**PASS_KEY, **{name: FEEDBACK_KEY[name] for name in ("rating", "tag")}}
# A first count's pass also yields the feedback gauge's rows (feedback.PASSED).


def message_pass(db: Any, match: Match, settings: Settings,
                 clock: Clock) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The messages of `match`, read once: (message rows, tool-call rows). A first count's
    one pass leaves the rated messages' rows for the feedback gauge (feedback.PASSED)."""
    whole = isinstance(match, WholeCollection)
    rows = grouped(db.messages, match, FIRST_PASS_KEY if whole else PASS_KEY,
                   settings.tenant_label)
    if whole:
        clock.shared[PASSED] = (match["_id"]["$lt"], rated(rows, settings.tenant_label))
    return split_rows(rows, settings.tenant_label)


def rated(rows: list[dict[str, Any]], tenant: bool) -> list[dict[str, Any]]:
    """The pass's rows of rated messages, in the feedback gauge's shape (feedback.KEY)."""
    out = []
    for row in rows:
        gid = row["_id"]
        if gid.get("rating") is None:
            continue
        key = {name: gid.get(name) for name in FEEDBACK_KEY}
        if tenant:
            key["tenant"] = gid.get("tenant")
        out.append({"_id": key, "n": row["n"]})
    return out


def is_error(gid: Mapping[str, Any]) -> bool:
    """IS_ERROR, from the grouped `error` and `content.type` values."""
    types = gid.get("types")
    return gid.get("error") is True or (isinstance(types, list) and "error" in types)


def split_rows(rows: list[dict[str, Any]], tenant: bool) -> tuple[
        list[dict[str, Any]], list[dict[str, Any]]]:
    """The pass's rows as the two shapes the counters read: by model, endpoint, role, error,
    unfinished and finish reason (as `message_rows` groups them), and tool calls by name with
    their failures."""
    messages, tools = [], []
    for row in rows:
        gid, n = row["_id"], row["n"]
        key = {"model": gid.get("model"), "endpoint": gid.get("endpoint"),
               "user": gid.get("user") is True, "error": is_error(gid),
               "unfinished": gid.get("unfinished") is True, "finish": gid.get("finish")}
        if tenant:
            key["tenant"] = gid.get("tenant")
        messages.append({"_id": key, "n": n})
        for name, failed in gid.get("tools") or ():
            tool = {"name": name, "tenant": gid.get("tenant")} if tenant else {"name": name}
            tools.append({"_id": tool, "n": n, "errors": n if failed is True else 0})
    return messages, tools


def count_messages(db: Any, rows: list[dict[str, Any]], counters: Counters) -> None:
    """Message counters from rows grouped as `message_rows` groups them."""
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
        if role == "assistant":
            counters.add(cat.MESSAGES_PER_MODEL_TOTAL, n, model=model, tenant=tenant)
            if gid.get("error"):
                # Over the same messages as MESSAGES_PER_MODEL_TOTAL: their ratio is a rate.
                counters.add(cat.ERRORS_PER_MODEL_TOTAL, n, model=model, tenant=tenant)
            if gid.get("unfinished"):
                counters.add(cat.UNFINISHED_MESSAGES_TOTAL, n, model=model, tenant=tenant)
            counters.add(cat.RESPONSES_BY_FINISH_REASON_TOTAL, n, model=model,
                         finish_reason=label_value(gid.get("finish")), tenant=tenant)
            if is_agent_message(raw_model, endpoint):
                counters.add(cat.AGENT_MESSAGES_TOTAL, n, agent_id=raw_model, tenant=tenant)


def latest_activity(db: Any, match: Match, clock: Clock) -> dict[str, float]:
    """Per user, the newest message time among the documents of `match`."""
    # A createdAt ahead of the run (a skewed clock, a bad document) must not hide the user's
    # real activity; $max skips the nulls.
    created = {"$cond": [{"$and": [{"$eq": [{"$type": "$createdAt"}, "date"]},
                                   {"$lte": ["$createdAt", clock.now]}]}, "$createdAt", None]}
    return last_times(grouped(db.messages, match, {"user": "$user"}, False,
                              {"last": {"$max": created}}))


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
    return [*families, rolling, churned_family(last_active, clock)]


CHURN_ACTIVE, CHURN_IDLE = 30 * 86400, 7 * 86400
# Churned: a last message in the previous 30 days, none in the last 7. The activity map holds
# ACTIVITY_HORIZON (32 days) of last times, enough for the 30.


def churned_family(last_active: Mapping[str, float], clock: Clock) -> Family:
    since, idle = clock.epoch - CHURN_ACTIVE, clock.epoch - CHURN_IDLE
    churned = Family.of(cat.CHURNED_USERS)
    churned.set(float(sum(1 for t in last_active.values() if since <= t < idle)))
    return churned


MESSAGE_COUNTERS = (cat.MESSAGES_TOTAL, cat.ERROR_MESSAGES_TOTAL, cat.MESSAGES_PER_MODEL_TOTAL,
                    cat.ERRORS_PER_MODEL_TOTAL, cat.ENDPOINT_MESSAGES_TOTAL,
                    cat.UNFINISHED_MESSAGES_TOTAL, cat.AGENT_MESSAGES_TOTAL,
                    cat.RESPONSES_BY_FINISH_REASON_TOTAL,
                    cat.TOOL_CALLS_TOTAL, cat.TOOL_CALL_ERRORS_TOTAL)


def message_families(db: Any, clock: Clock, state: dict[str, Any],
                     settings: Settings, dims: Dimensions) -> list[Family]:
    """Messages, errors, tool calls and agents created, counted once each; unique users."""
    latest: dict[str, float] = {}
    stream = state.get("stream", {})
    first_count = stream.get("horizon") is None
    if "last_active" not in state and not first_count:
        # Counters restored from the last .prom: the activity map was lost with the state,
        # so it is read again from the last month of messages (sections/recent.py).
        latest = recent_last(db, clock)

    def count_chunk(match: Match, counters: Counters) -> None:
        messages, tools = message_pass(db, match, settings, clock)
        count_messages(db, messages, counters)
        count_tool_calls(tools, counters)
        if not first_count:  # a first count reads the activity once, when it is done
            for user, when in latest_activity(db, match, clock).items():
                latest[user] = max(latest.get(user, 0.0), when)

    counters = count_new(db.messages, state, clock, settings, dims, count_chunk)
    if first_count and counters is not None:
        # The first count is done: the activity of the last month, read once.
        # (a day at a time, the same reads as the daily statistics': read once in this run)
        for user, when in recent_last(db, clock).items():
            latest[user] = max(latest.get(user, 0.0), when)
    state["last_active"] = merged_activity(state.get("last_active", {}), latest, clock)
    if counters is None:
        return []
    return [*(counters.family(spec) for spec in MESSAGE_COUNTERS),
            *unique_user_families(state["last_active"], clock)]
