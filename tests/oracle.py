"""An independent oracle for the metrics librechat_textfile.py writes.

Written from the metric definitions alone: every document is read back with
``find({})`` and every number is computed in plain Python (loops, dicts, zoneinfo). Nothing
here calls, imports or mirrors the job's functions or aggregation pipelines.

    snap = Snapshot.read(db)
    expected = compute(snap, Config(now=NOW, timezone="Europe/Berlin"))
    expected.samples["librechat_messages_total"][()]  -> float

Samples are keyed like ``promparse.parse``: sample name -> sorted (label, value) pairs -> value.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from bson.decimal128 import Decimal128

from tests.promparse import LabelKey, Samples

Doc = dict[str, Any]

COLLECTIONS = ("messages", "conversations", "transactions", "files", "users", "sessions",
               "logs", "balances", "agents")

# Every collection the job reports a document count for (LibreChat's names).
LIBRECHAT_COLLECTIONS = (
    "actions", "agentapikeys", "agents", "assistants", "balances", "banners", "chatprojects",
    "conversations", "conversationtags", "files", "groups", "keys", "mcpservers",
    "memoryentries", "messages", "pluginauths", "presets", "promptgroups", "prompts", "roles",
    "sessions", "sharedlinks", "skills", "toolcalls", "transactions", "users",
)

ID_IN_TEXT_RE = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{24}(?![0-9a-fA-F])")
UUID_IN_TEXT_RE = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                             r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9a-fA-F])")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
HEX24_RE = re.compile(r"[0-9a-fA-F]{24}")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12}")
AGENT_SUFFIX_RE = re.compile(r"____[0-9]+$")
BAN_USER_RE = re.compile(r"BANS:[0-9a-fA-F]{24}")

# (family, type, labels, labels capped by --label-limit)
FAMILIES: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    # counters
    ("librechat_messages_total", "counter", (), ()),
    ("librechat_error_messages_total", "counter", (), ()),
    ("librechat_messages_per_model_total", "counter", ("model",), ("model",)),
    ("librechat_errors_per_model_total", "counter", ("model",), ("model",)),
    ("librechat_endpoint_messages_total", "counter", ("endpoint", "role"), ("endpoint",)),
    ("librechat_unfinished_messages_total", "counter", ("model",), ("model",)),
    ("librechat_agent_messages_total", "counter", ("agent_id", "agent_name"), ("agent_id",)),
    ("librechat_tool_calls_total", "counter", ("tool", "mcp_server"), ("tool", "mcp_server")),
    ("librechat_tool_call_errors_total", "counter", ("tool", "mcp_server"),
     ("tool", "mcp_server")),
    ("librechat_input_tokens_total", "counter", (), ()),
    ("librechat_output_tokens_total", "counter", (), ()),
    ("librechat_input_tokens_per_model_total", "counter", ("model",), ("model",)),
    ("librechat_output_tokens_per_model_total", "counter", ("model",), ("model",)),
    ("librechat_tokens_total", "counter", ("model", "kind"), ("model",)),
    ("librechat_context_tokens_total", "counter", ("context", "token_type"), ("context",)),
    ("librechat_llm_calls_total", "counter", ("model",), ("model",)),
    ("librechat_cost_usd_total", "counter", ("model",), ("model",)),
    ("librechat_credits_granted_total", "counter", ("context",), ("context",)),
    ("librechat_conversations_total", "counter", (), ()),
    ("librechat_endpoint_conversations_total", "counter", ("endpoint",), ("endpoint",)),
    ("librechat_uploaded_files_total", "counter", (), ()),
    ("librechat_files_created_total", "counter", ("source", "context"), ("source", "context")),
    ("librechat_file_bytes_created_total", "counter", ("source", "context"),
     ("source", "context")),
    ("librechat_registered_users_total", "counter", (), ()),
    ("librechat_registrations_total", "counter", ("provider",), ("provider",)),
    # gauges
    ("librechat_token_source_info", "gauge", ("source",), ()),
    ("librechat_active_users", "gauge", (), ()),
    ("librechat_active_conversations", "gauge", (), ()),
    ("librechat_messages_5m", "gauge", (), ()),
    ("librechat_messages_per_model_5m", "gauge", ("model",), ("model",)),
    ("librechat_error_messages_5m", "gauge", (), ()),
    ("librechat_errors_per_model_5m", "gauge", ("model",), ("model",)),
    ("librechat_input_tokens_5m", "gauge", (), ()),
    ("librechat_output_tokens_5m", "gauge", (), ()),
    ("librechat_model_input_tokens_5m", "gauge", ("model",), ("model",)),
    ("librechat_model_output_tokens_5m", "gauge", ("model",), ("model",)),
    ("librechat_daily_unique_users", "gauge", (), ()),
    ("librechat_weekly_unique_users", "gauge", (), ()),
    ("librechat_monthly_unique_users", "gauge", (), ()),
    ("librechat_unique_users", "gauge", ("window",), ()),
    ("librechat_unique_users_yesterday", "gauge", (), ()),
    ("librechat_unique_users_per_day_average", "gauge", (), ()),
    ("librechat_unique_users_per_day_stddev", "gauge", (), ()),
    ("librechat_messages_per_user_per_day_average", "gauge", (), ()),
    ("librechat_messages_per_user_per_day_stddev", "gauge", (), ()),
    ("librechat_messages_per_model_yesterday", "gauge", ("model",), ("model",)),
    ("librechat_messages_per_model_per_day_average", "gauge", ("model",), ("model",)),
    ("librechat_messages_per_model_per_day_stddev", "gauge", ("model",), ("model",)),
    ("librechat_users", "gauge", ("provider", "role", "email_verified"), ("provider", "role")),
    ("librechat_users_pending_verification", "gauge", (), ()),
    ("librechat_sessions_active", "gauge", (), ()),
    ("librechat_bans_active", "gauge", ("kind",), ()),
    ("librechat_balances", "gauge", (), ()),
    ("librechat_balance_credits", "gauge", (), ()),
    ("librechat_balance_users_at_zero", "gauge", (), ()),
    ("librechat_temporary_conversations", "gauge", (), ()),
    ("librechat_archived_conversations", "gauge", (), ()),
    ("librechat_files", "gauge", ("source", "context"), ("source", "context")),
    ("librechat_file_bytes", "gauge", ("source", "context"), ("source", "context")),
    ("librechat_files_embedded", "gauge", (), ()),
    ("librechat_feedback", "gauge", ("rating", "model"), ("model",)),
    ("librechat_feedback_tags", "gauge", ("rating", "tag"), ("tag",)),
    ("librechat_agents", "gauge", ("provider", "category"), ("provider", "category")),
    ("librechat_agents_with_mcp_server", "gauge", ("mcp_server",), ("mcp_server",)),
    ("librechat_collection_documents", "gauge", ("collection",), ()),
)
FAMILY_LABELS = {name: labels for name, _, labels, _ in FAMILIES}
FAMILY_TYPES = {name: kind for name, kind, _, _ in FAMILIES}
CAPPED = {name: capped for name, _, _, capped in FAMILIES}
COUNTERS = tuple(name for name, kind, _, _ in FAMILIES if kind == "counter")
# The daily-statistics families share one ranking of models over the whole window.
DAILY_MODEL_FAMILIES = ("librechat_messages_per_model_yesterday",
                        "librechat_messages_per_model_per_day_average",
                        "librechat_messages_per_model_per_day_stddev")


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Config:
    now: datetime
    timezone: str = "UTC"
    label_limit: int = 50
    daily_days: int = 30

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass
class Snapshot:
    """Every document of the collections the metrics read, as ``find({})`` returns them."""

    docs: dict[str, list[Doc]]
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, db: Any) -> Snapshot:
        counts = {name: db[name].count_documents({}) for name in LIBRECHAT_COLLECTIONS}
        return cls({name: list(db[name].find({})) for name in COLLECTIONS}, counts)

    def __getitem__(self, name: str) -> list[Doc]:
        return self.docs.get(name, [])

    def only(self, ids: Mapping[str, Iterable[Any]]) -> Snapshot:
        """The documents whose ``_id`` is listed per collection; other collections kept whole
        when absent from ``ids`` (agents, for names)."""
        out: dict[str, list[Doc]] = {}
        for name, docs in self.docs.items():
            if name in ids:
                wanted = set(ids[name])
                out[name] = [d for d in docs if d.get("_id") in wanted]
            else:
                out[name] = list(docs)
        return Snapshot(out, self.counts)


# ---------------------------------------------------------------------------------------------
# Value rules


def label(value: Any) -> str:
    """A label value as the definitions say."""
    if value is None:
        return "unknown"
    if isinstance(value, ObjectId):
        return "redacted"
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif isinstance(value, str):
        text = value
    elif isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, default=str)
    else:
        text = str(value)
    kept = []
    for ch in text[:400]:  # only the first 400 characters are looked at
        if not unicodedata.category(ch).startswith("C"):
            kept.append(ch)
    text = "".join(kept).strip()
    if text == "":
        return "unknown"
    # E-mail addresses, 24-hex ids and UUIDs anywhere in the value become 'redacted'; a value
    # made of nothing else is 'redacted' as a whole.
    personal = [EMAIL_RE, ID_IN_TEXT_RE, UUID_IN_TEXT_RE]
    rest = text
    for pattern in personal:
        rest = pattern.sub("", rest)
    if rest == "":
        return "redacted"
    for pattern in personal:
        text = pattern.sub("redacted", text)
    return text[:100]


def model_of(value: Any) -> str:
    text = label(value)
    if text.startswith("agent_"):
        text = AGENT_SUFFIX_RE.sub("", text)
    return text


def num(value: Any) -> float:
    """int/float/Decimal128 (not bool), finite, |x| <= 1e15; anything else 0."""
    if isinstance(value, Decimal128):
        value = float(value.to_decimal())
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    x = float(value)
    if not math.isfinite(x) or abs(x) > 1e15:
        return 0.0
    return x


def utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def oid_seconds(doc: Doc) -> int | None:
    oid = doc.get("_id")
    if not isinstance(oid, ObjectId):
        return None
    return int.from_bytes(oid.binary[:4], "big")


def is_true(value: Any) -> bool:
    """MongoDB's {field: true}: the value true, or an array holding it."""
    return value is True or (isinstance(value, list) and any(v is True for v in value))


def is_user_msg(doc: Doc) -> bool:
    return doc.get("isCreatedByUser") is True


def is_error_msg(doc: Doc) -> bool:
    if doc.get("error") is True:
        return True
    content = doc.get("content")
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "error":
                return True
    return False


def mean_pstdev(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    mean = math.fsum(values) / len(values)
    var = math.fsum((v - mean) ** 2 for v in values) / len(values)
    return mean, math.sqrt(var)


# ---------------------------------------------------------------------------------------------
# Accumulation and label caps


class Acc:
    """family -> label-value tuple (in FAMILIES order) -> value."""

    def __init__(self) -> None:
        self.data: dict[str, dict[tuple[str, ...], float]] = {name: {} for name, *_ in FAMILIES}

    def add(self, family: str, labels: tuple[str, ...], value: float) -> None:
        assert len(labels) == len(FAMILY_LABELS[family]), (family, labels)
        bucket = self.data[family]
        bucket[labels] = bucket.get(labels, 0.0) + value

    def set(self, family: str, labels: tuple[str, ...], value: float) -> None:
        self.data[family][labels] = value


def keep_set(volumes: Mapping[str, float], limit: int) -> set[str]:
    ranked = sorted(volumes.items(), key=lambda item: (-item[1], item[0]))
    return {value for value, _ in ranked[:limit]}


def cap_family(rows: dict[tuple[str, ...], float], positions: Iterable[int],
               limit: int) -> dict[tuple[str, ...], float]:
    """Route every value of each capped label outside its top `limit` (by summed value, ties
    by value) to 'other', summing what lands on the same label set."""
    out = dict(rows)
    for pos in positions:
        volumes: dict[str, float] = {}
        for key, value in out.items():
            volumes[key[pos]] = volumes.get(key[pos], 0.0) + value
        keep = keep_set(volumes, limit)
        merged: dict[tuple[str, ...], float] = {}
        for key, value in out.items():
            new = key if key[pos] in keep else (*key[:pos], "other", *key[pos + 1:])
            merged[new] = merged.get(new, 0.0) + value
        out = merged
    return out


@dataclass
class Expected:
    samples: Samples


def to_samples(acc: Acc, limit: int) -> Expected:
    samples: Samples = {}
    for name, _kind, labels, capped in FAMILIES:
        rows = acc.data[name]
        if name not in DAILY_MODEL_FAMILIES:
            rows = cap_family(rows, [labels.index(c) for c in capped], limit)
        if name == "librechat_agent_messages_total":
            # An agent's name goes to 'other' together with its id (ids are ranked).
            rows = {(i, "other" if i == "other" else n): v for (i, n), v in rows.items()}
        bucket: dict[LabelKey, float] = {}
        for key, value in rows.items():
            bucket[tuple(sorted(zip(labels, key, strict=True)))] = value
        samples[name] = bucket
    return Expected(samples)


# ---------------------------------------------------------------------------------------------
# The metrics


def compute(snap: Snapshot, cfg: Config, *, counted: Callable[[Doc], bool] | None = None,
            token_source: str | None = None) -> Expected:
    """Every family as a cold run at cfg.now would write it.

    `counted` decides which documents the counters include; by default those whose `_id`
    second is before floor(now). `token_source` ("transactions" or "messages") overrides the
    choice made from the snapshot, for counting a subset of the documents.
    """
    now = cfg.now.astimezone(UTC)
    cutoff = math.floor(now.timestamp())

    def default_counted(doc: Doc) -> bool:
        seconds = oid_seconds(doc)
        return seconds is not None and seconds < cutoff

    is_counted = counted or default_counted
    acc = Acc()
    for name in ("librechat_messages_total", "librechat_error_messages_total",
                 "librechat_input_tokens_total", "librechat_output_tokens_total",
                 "librechat_conversations_total", "librechat_uploaded_files_total",
                 "librechat_registered_users_total"):
        acc.add(name, (), 0.0)

    message_counters(acc, snap, is_counted)
    if token_source is None:
        token_source = "transactions" if snap["transactions"] else "messages"
    token_counters(acc, snap, is_counted, token_source)
    created_counters(acc, snap, is_counted)
    five_minute_gauges(acc, snap, now)
    calendar_gauges(acc, snap, now, cfg.tz)
    daily_statistics(acc, snap, now, cfg)
    stored_gauges(acc, snap, now)
    agent_gauges(acc, snap)
    for name in LIBRECHAT_COLLECTIONS:
        acc.set("librechat_collection_documents", (name,), float(snap.counts.get(name, 0)))
    return to_samples(acc, cfg.label_limit)


def message_counters(acc: Acc, snap: Snapshot, counted: Callable[[Doc], bool]) -> None:
    names: dict[str, str] = {}
    for agent in snap["agents"]:
        if isinstance(agent.get("id"), str):
            names[agent["id"]] = label(agent.get("name"))
    for msg in snap["messages"]:
        if not counted(msg):
            continue
        model = model_of(msg.get("model"))
        user = is_user_msg(msg)
        error = is_error_msg(msg)
        acc.add("librechat_messages_total", (), 1)
        acc.add("librechat_endpoint_messages_total",
                (label(msg.get("endpoint")), "user" if user else "assistant"), 1)
        if error:
            acc.add("librechat_error_messages_total", (), 1)
            acc.add("librechat_errors_per_model_total", (model,), 1)
        if not user:
            acc.add("librechat_messages_per_model_total", (model,), 1)
            if msg.get("unfinished") is True:
                acc.add("librechat_unfinished_messages_total", (model,), 1)
            if msg.get("endpoint") == "agents" and model.startswith("agent_"):
                acc.add("librechat_agent_messages_total",
                        (model, names.get(model, "unknown")), 1)
        content = msg.get("content")
        if isinstance(content, dict):
            content = [content]  # MongoDB's $unwind takes a lone value as a one-element array
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "tool_call":
                    continue
                call = part.get("tool_call")
                name = None
                if isinstance(call, dict):
                    name = call.get("name")
                    if name is None and isinstance(call.get("function"), dict):
                        name = call["function"].get("name")
                text = label(name)
                if "_mcp_" in text:
                    cut = text.rindex("_mcp_")
                    key = (label(text[:cut]), label(text[cut + len("_mcp_"):]))
                else:
                    key = (text, "")
                acc.add("librechat_tool_calls_total", key, 1)
                output = call.get("output") if isinstance(call, dict) else None
                if isinstance(output, bool):
                    output = "true" if output else "false"
                if isinstance(output, str | int | float) and \
                        "error processing tool" in str(output).lower():
                    acc.add("librechat_tool_call_errors_total", key, 1)


def token_counters(acc: Acc, snap: Snapshot, counted: Callable[[Doc], bool],
                   source: str) -> None:
    if source == "transactions":
        acc.set("librechat_token_source_info", ("transactions",), 1.0)
        prompt_groups: dict[tuple[str, str], list[Doc]] = {}
        for tx in snap["transactions"]:
            if not counted(tx):
                continue
            kind = tx.get("tokenType")
            model = model_of(tx.get("model"))
            context = label(tx.get("context"))
            raw = abs(num(tx.get("rawAmount")))
            if kind == "credits":
                acc.add("librechat_credits_granted_total", (context,), raw)
                continue
            if kind not in ("prompt", "completion"):
                continue
            acc.add("librechat_context_tokens_total", (context, kind), raw)
            acc.add("librechat_cost_usd_total", (model,),
                    abs(num(tx.get("tokenValue"))) / 1e6)
            if kind == "prompt":
                acc.add("librechat_input_tokens_total", (), raw)
                acc.add("librechat_input_tokens_per_model_total", (model,), raw)
                prompt_groups.setdefault((model, context), []).append(tx)
            else:
                acc.add("librechat_output_tokens_total", (), raw)
                acc.add("librechat_output_tokens_per_model_total", (model,), raw)
                acc.add("librechat_tokens_total", (model, "completion"), raw)
                acc.add("librechat_llm_calls_total", (model,), 1)
        for (model, _context), txs in prompt_groups.items():
            plain = [t for t in txs if num_or_none(t.get("inputTokens")) is None]
            split = [t for t in txs if num_or_none(t.get("inputTokens")) is not None]
            if plain:
                acc.add("librechat_tokens_total", (model, "prompt"),
                        math.fsum(abs(num(t.get("rawAmount"))) for t in plain))
            if split:
                read = math.fsum(abs(num(t.get("readTokens"))) for t in split)
                write = math.fsum(abs(num(t.get("writeTokens"))) for t in split)
                raw = math.fsum(abs(num(t.get("rawAmount"))) for t in split)
                acc.add("librechat_tokens_total", (model, "cache_read"), read)
                acc.add("librechat_tokens_total", (model, "cache_write"), write)
                acc.add("librechat_tokens_total", (model, "prompt"), max(raw - read - write, 0))
    else:
        acc.set("librechat_token_source_info", ("messages",), 1.0)
        for msg in snap["messages"]:
            if not counted(msg):
                continue
            tokens = num(msg.get("tokenCount"))
            if is_user_msg(msg):
                acc.add("librechat_input_tokens_total", (), tokens)
                acc.add("librechat_input_tokens_per_model_total", ("unknown",), tokens)
            else:
                acc.add("librechat_output_tokens_total", (), tokens)
                acc.add("librechat_output_tokens_per_model_total",
                        (model_of(msg.get("model")),), tokens)


def num_or_none(value: Any) -> float | None:
    """A 'numeric' value (int/float, not bool) or None; used for inputTokens' presence."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def created_counters(acc: Acc, snap: Snapshot, counted: Callable[[Doc], bool]) -> None:
    for convo in snap["conversations"]:
        if counted(convo):
            acc.add("librechat_conversations_total", (), 1)
            acc.add("librechat_endpoint_conversations_total", (label(convo.get("endpoint")),), 1)
    for doc in snap["files"]:
        if counted(doc):
            key = (label(doc.get("source")), label(doc.get("context")))
            acc.add("librechat_uploaded_files_total", (), 1)
            acc.add("librechat_files_created_total", key, 1)
            acc.add("librechat_file_bytes_created_total", key, max(num(doc.get("bytes")), 0.0))
    for user in snap["users"]:
        if counted(user):
            acc.add("librechat_registered_users_total", (), 1)
            acc.add("librechat_registrations_total", (label(user.get("provider")),), 1)


def five_minute_gauges(acc: Acc, snap: Snapshot, now: datetime) -> None:
    start = now - timedelta(seconds=300)
    users: set[Any] = set()
    convos: set[Any] = set()
    for name in ("librechat_active_users", "librechat_active_conversations",
                 "librechat_messages_5m", "librechat_error_messages_5m",
                 "librechat_input_tokens_5m", "librechat_output_tokens_5m"):
        acc.add(name, (), 0.0)
    for msg in snap["messages"]:
        created = utc(msg.get("createdAt"))
        if created is None or not start <= created <= now:
            continue
        users.add(hashable(msg.get("user")))
        convos.add(hashable(msg.get("conversationId")))
        model = model_of(msg.get("model"))
        acc.add("librechat_messages_5m", (), 1)
        if not is_user_msg(msg):
            acc.add("librechat_messages_per_model_5m", (model,), 1)
        if is_error_msg(msg):
            acc.add("librechat_error_messages_5m", (), 1)
            acc.add("librechat_errors_per_model_5m", (model,), 1)
    acc.set("librechat_active_users", (), float(len(users)))
    acc.set("librechat_active_conversations", (), float(len(convos)))
    lo, hi = math.floor(now.timestamp()) - 300, math.floor(now.timestamp())
    for tx in snap["transactions"]:
        seconds = oid_seconds(tx)
        if seconds is None or not lo <= seconds <= hi:
            continue
        raw = abs(num(tx.get("rawAmount")))
        model = model_of(tx.get("model"))
        if tx.get("tokenType") == "prompt":
            acc.add("librechat_input_tokens_5m", (), raw)
            acc.add("librechat_model_input_tokens_5m", (model,), raw)
        elif tx.get("tokenType") == "completion":
            acc.add("librechat_output_tokens_5m", (), raw)
            acc.add("librechat_model_output_tokens_5m", (model,), raw)


def hashable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant of 00:00 local on `day`."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def calendar_gauges(acc: Acc, snap: Snapshot, now: datetime, tz: ZoneInfo) -> None:
    today = now.astimezone(tz).date()
    starts = {
        "librechat_daily_unique_users": local_midnight(today, tz),
        "librechat_weekly_unique_users": local_midnight(today - timedelta(days=today.weekday()),
                                                        tz),
        "librechat_monthly_unique_users": local_midnight(today.replace(day=1), tz),
    }
    rolling = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
               "30d": timedelta(days=30)}
    seen: dict[str, set[str]] = {name: set() for name in starts}
    seen_rolling: dict[str, set[str]] = {w: set() for w in rolling}
    for msg in snap["messages"]:
        created = utc(msg.get("createdAt"))
        user = msg.get("user")
        if isinstance(user, ObjectId):
            user = str(user)
        if created is None or created > now or not isinstance(user, str):
            continue
        for name, start in starts.items():
            if created >= start:
                seen[name].add(user)
        for window, length in rolling.items():
            if created >= now - length:
                seen_rolling[window].add(user)
    for name, users in seen.items():
        acc.set(name, (), float(len(users)))
    for window, users in seen_rolling.items():
        acc.set("librechat_unique_users", (window,), float(len(users)))


def daily_statistics(acc: Acc, snap: Snapshot, now: datetime, cfg: Config) -> None:
    n = cfg.daily_days
    tz = cfg.tz
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=n - i) for i in range(n)]
    bounds = [local_midnight(d, tz) for d in days] + [local_midnight(today, tz)]

    def day_index(when: datetime) -> int | None:
        for i in range(n):
            if bounds[i] <= when < bounds[i + 1]:
                return i
        return None

    users_per_day: list[set[Any]] = [set() for _ in range(n)]
    sent: dict[tuple[Any, int], int] = {}
    per_model: dict[str, list[float]] = {}
    for msg in snap["messages"]:
        created = utc(msg.get("createdAt"))
        if created is None:
            continue
        i = day_index(created)
        if i is None:
            continue
        user = hashable(msg.get("user"))
        users_per_day[i].add(user)
        if is_user_msg(msg):
            sent[(user, i)] = sent.get((user, i), 0) + 1
        else:
            series = per_model.setdefault(model_of(msg.get("model")), [0.0] * n)
            series[i] += 1
    counts = [float(len(u)) for u in users_per_day]
    avg, sd = mean_pstdev(counts)
    acc.set("librechat_unique_users_yesterday", (), counts[-1])
    acc.set("librechat_unique_users_per_day_average", (), avg)
    acc.set("librechat_unique_users_per_day_stddev", (), sd)
    avg, sd = mean_pstdev([float(v) for v in sent.values()])
    acc.set("librechat_messages_per_user_per_day_average", (), avg)
    acc.set("librechat_messages_per_user_per_day_stddev", (), sd)
    # The top models by volume over the window keep their own series; the rest are summed
    # day by day into 'other'.
    keep = keep_set({m: math.fsum(s) for m, s in per_model.items()}, cfg.label_limit)
    merged: dict[str, list[float]] = {}
    for model, series in per_model.items():
        target = model if model in keep else "other"
        base = merged.setdefault(target, [0.0] * n)
        merged[target] = [a + b for a, b in zip(base, series, strict=True)]
    for model, series in merged.items():
        avg, sd = mean_pstdev(series)
        acc.set("librechat_messages_per_model_yesterday", (model,), series[-1])
        acc.set("librechat_messages_per_model_per_day_average", (model,), avg)
        acc.set("librechat_messages_per_model_per_day_stddev", (model,), sd)


def agent_gauges(acc: Acc, snap: Snapshot) -> None:
    for agent in snap["agents"]:
        acc.add("librechat_agents", (label(agent.get("provider")), label(agent.get("category"))),
                1)
        servers = agent.get("mcpServerNames")
        for server in servers if isinstance(servers, list) else (
                [] if servers is None else [servers]):
            acc.add("librechat_agents_with_mcp_server", (label(server),), 1)


def stored_gauges(acc: Acc, snap: Snapshot, now: datetime) -> None:
    for name in ("librechat_users_pending_verification", "librechat_sessions_active",
                 "librechat_balances", "librechat_balance_credits",
                 "librechat_balance_users_at_zero", "librechat_temporary_conversations",
                 "librechat_archived_conversations", "librechat_files_embedded"):
        acc.add(name, (), 0.0)
    acc.add("librechat_bans_active", ("user",), 0.0)
    acc.add("librechat_bans_active", ("ip",), 0.0)
    for user in snap["users"]:
        verified = "true" if user.get("emailVerified") is True else "false"
        acc.add("librechat_users",
                (label(user.get("provider")), label(user.get("role")), verified), 1)
        if isinstance(user.get("expiresAt"), datetime):
            acc.add("librechat_users_pending_verification", (), 1)
    for session in snap["sessions"]:
        expiration = utc(session.get("expiration"))
        if expiration is not None and expiration > now:
            acc.add("librechat_sessions_active", (), 1)
    for entry in snap["logs"]:
        key = entry.get("key")
        expires = utc(entry.get("expiresAt"))
        if not isinstance(key, str) or not key.startswith("BANS:"):
            continue
        if expires is None or expires <= now:
            continue
        kind = "user" if BAN_USER_RE.fullmatch(key) else "ip"
        acc.add("librechat_bans_active", (kind,), 1)
    for balance in snap["balances"]:
        credits = num(balance.get("tokenCredits"))
        acc.add("librechat_balances", (), 1)
        acc.add("librechat_balance_credits", (), credits)
        if credits <= 0:
            acc.add("librechat_balance_users_at_zero", (), 1)
    for convo in snap["conversations"]:
        temporary = isinstance(convo.get("expiredAt"), datetime) and (
            is_true(convo.get("isTemporary")) or "isTemporary" not in convo)
        if temporary:
            acc.add("librechat_temporary_conversations", (), 1)
        if is_true(convo.get("isArchived")):
            acc.add("librechat_archived_conversations", (), 1)
    for doc in snap["files"]:
        key = (label(doc.get("source")), label(doc.get("context")))
        acc.add("librechat_files", key, 1)
        acc.add("librechat_file_bytes", key, max(num(doc.get("bytes")), 0.0))
        if doc.get("embedded") is True:
            acc.add("librechat_files_embedded", (), 1)
    for msg in snap["messages"]:
        feedback = msg.get("feedback")
        if not isinstance(feedback, dict):
            continue
        rating = feedback.get("rating")
        if rating not in ("thumbsUp", "thumbsDown"):
            continue
        acc.add("librechat_feedback", (rating, model_of(msg.get("model"))), 1)
        tag = feedback.get("tag")
        acc.add("librechat_feedback_tags", (rating, "none" if tag in (None, "") else label(tag)), 1)


# ---------------------------------------------------------------------------------------------
# Comparing the job's parsed output with the oracle


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def compare(actual: Samples, expected: Expected | Samples,
            families: Iterable[str] | None = None) -> list[str]:
    """Every difference between the job's samples and the oracle's, one line each: label sets
    only one side has, and values that differ by more than 1e-9 relative."""
    wanted = expected.samples if isinstance(expected, Expected) else expected
    problems: list[str] = []
    for name in families if families is not None else [f for f, *_ in FAMILIES]:
        want = wanted.get(name, {})
        got = actual.get(name, {})
        for key in sorted(set(want) - set(got)):
            problems.append(f"{name}{dict(key)}: missing in the job's output "
                            f"(oracle {want[key]!r})")
        for key in sorted(set(got) - set(want)):
            problems.append(f"{name}{dict(key)}: not expected by the oracle "
                            f"(job {got[key]!r})")
        for key in sorted(set(got) & set(want)):
            if not close(got[key], want[key]):
                problems.append(f"{name}{dict(key)}: job {got[key]!r} != oracle {want[key]!r}")
    return problems


def unknown_families(actual: Samples) -> list[str]:
    """Sample names the job wrote that the definitions do not know (self-metrics aside)."""
    known = {f for f, *_ in FAMILIES}
    return sorted(n for n in actual if n not in known and not n.startswith("librechat_exporter_"))
