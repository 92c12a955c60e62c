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

import itertools
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
               "logs", "balances", "agents", "memoryentries", "mcpservers", "agentcategories",
               "aclentries", "schedules", "scheduleruns", "auditlogs")

# Every collection the job reports a document count for (LibreChat's names).
LIBRECHAT_COLLECTIONS = (
    "actions", "agentapikeys", "agents", "assistants", "balances", "banners", "chatprojects",
    "conversations", "conversationtags", "files", "groups", "keys", "mcpservers",
    "memoryentries", "messages", "pluginauths", "presets", "promptgroups", "prompts", "roles",
    "sessions", "sharedlinks", "skills", "toolcalls", "transactions", "users",
)

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
    ("librechat_agent_messages_total", "counter", ("agent_id",), ("agent_id",)),
    ("librechat_responses_by_finish_reason_total", "counter", ("model", "finish_reason"),
     ("model", "finish_reason")),
    ("librechat_context_cost_usd_total", "counter", ("context",), ("context",)),
    ("librechat_agent_cost_usd_total", "counter", ("agent_id",), ("agent_id",)),
    ("librechat_agent_tokens_total", "counter", ("agent_id", "token_type"), ("agent_id",)),
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
    ("librechat_files_created_bytes_total", "counter", ("source", "context"),
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
    ("librechat_files_bytes", "gauge", ("source", "context"), ("source", "context")),
    ("librechat_files_embedded", "gauge", (), ()),
    ("librechat_feedback", "gauge", ("rating", "model"), ("model",)),
    ("librechat_feedback_tags", "gauge", ("rating", "tag"), ("tag",)),
    ("librechat_agents", "gauge", ("provider", "category"), ("provider", "category")),
    ("librechat_agents_with_mcp_server", "gauge", ("mcp_server",), ("mcp_server",)),
    ("librechat_agent_info", "gauge", ("agent_id", "agent_name", "provider", "model"), ()),
    ("librechat_balance_users_by_range", "gauge", ("balance_usd",), ()),
    ("librechat_balance_reservations", "gauge", (), ()),
    ("librechat_balance_credits_reserved", "gauge", (), ()),
    ("librechat_messages_sent_per_user_yesterday", "gauge", ("percentile",), ()),
    ("librechat_cost_usd_per_user_yesterday", "gauge", ("percentile",), ()),
    ("librechat_cost_share_of_top_users_yesterday", "gauge", ("top",), ()),
    ("librechat_spending_users_yesterday", "gauge", (), ()),
    ("librechat_collection_documents", "gauge", ("collection",), ()),
    # what LibreChat 0.8 stores (features_gauges, schedule_run_counters, audit_counters)
    ("librechat_memory_users", "gauge", (), ()),
    ("librechat_memory_entries", "gauge", (), ()),
    ("librechat_memory_tokens", "gauge", (), ()),
    ("librechat_mcp_servers", "gauge", ("mcp_server",), ("mcp_server",)),
    ("librechat_agent_categories", "gauge", ("active", "custom"), ()),
    ("librechat_agents_promoted", "gauge", ("category",), ("category",)),
    ("librechat_acl_entries", "gauge", ("resource_type", "principal_type"), ("resource_type",)),
    ("librechat_schedules", "gauge", ("enabled",), ()),
    ("librechat_schedules_disabled", "gauge", ("reason",), ()),
    ("librechat_schedule_runs_in_progress", "gauge", ("status",), ()),
    ("librechat_schedule_runs_total", "counter", ("status",), ()),
    ("librechat_schedule_run_duration_seconds_total", "counter", ("status",), ()),
    ("librechat_audit_events_total", "counter", ("category", "outcome", "severity"),
     ("category",)),
    ("librechat_files_by_status", "gauge", ("status",), ()),
    ("librechat_files_pending_stuck", "gauge", (), ()),
    ("librechat_incomplete_surcharge_usd_total", "counter", ("model",), ("model",)),
    ("librechat_churned_users", "gauge", (), ()),
)
# The families of a collection older LibreChat versions lack: written only where it exists.
FAMILY_COLLECTION = {
    "librechat_memory_users": "memoryentries", "librechat_memory_entries": "memoryentries",
    "librechat_memory_tokens": "memoryentries", "librechat_mcp_servers": "mcpservers",
    "librechat_agent_categories": "agentcategories", "librechat_acl_entries": "aclentries",
    "librechat_schedules": "schedules", "librechat_schedules_disabled": "schedules",
    "librechat_schedule_runs_in_progress": "scheduleruns",
    "librechat_schedule_runs_total": "scheduleruns",
    "librechat_schedule_run_duration_seconds_total": "scheduleruns",
    "librechat_audit_events_total": "auditlogs",
}
# LibreChat's enums (@librechat/data-schemas 0.0.71, librechat-data-provider), as the
# definitions list them; a stored value outside one counts as "other".
SCHEDULE_OUTCOMES = ("success", "error", "interrupted", "skipped_overlap", "skipped_balance")
SCHEDULE_ACTIVE = ("started", "requires_action")
SCHEDULE_REASONS = ("mcp_reauth_required", "mcp_configuration_missing",
                    "mcp_permission_denied", "too_many_failures", "agent_deleted",
                    "invalid_schedule", "permission_revoked", "insufficient_balance",
                    "project_deleted", "project_required", "none")
AUDIT_OUTCOMES = ("success", "failure", "denied", "pending")
AUDIT_SEVERITIES = ("info", "warning", "critical")
PRINCIPAL_TYPES = ("user", "group", "role", "public")
FILE_STATUSES = ("pending", "ready", "failed")
CANCEL_RATE = 1.15  # LibreChat bills a completion of context "incomplete" at 1.15x
# Which dimension each capped label belongs to (README, "Label dimensions"): a dimension's slots
# are shared by every family that carries it. tool and mcp_server of the tool families are one
# dimension, the pair.
DIMENSION_OF = {
    "model": "model", "endpoint": "endpoint", "agent_id": "agent", "tag": "feedback_tag",
    "finish_reason": "finish_reason",
    ("librechat_context_cost_usd_total", "context"): "token_context",
    ("librechat_context_tokens_total", "context"): "token_context",
    ("librechat_credits_granted_total", "context"): "token_context",
    ("librechat_registrations_total", "provider"): "auth_provider",
    ("librechat_users", "provider"): "auth_provider", ("librechat_users", "role"): "user_role",
    ("librechat_agents", "provider"): "agent_provider",
    ("librechat_agents", "category"): "agent_category",
    ("librechat_agents_with_mcp_server", "mcp_server"): "mcp_server",
    "source": "file_source", ("librechat_files_created_total", "context"): "file_context",
    ("librechat_files_created_bytes_total", "context"): "file_context",
    ("librechat_files", "context"): "file_context",
    ("librechat_files_bytes", "context"): "file_context",
    ("librechat_mcp_servers", "mcp_server"): "mcp_server",
    ("librechat_agents_promoted", "category"): "agent_category",
    ("librechat_acl_entries", "resource_type"): "acl_resource_type",
    ("librechat_audit_events_total", "category"): "audit_category",
}
TOOL_FAMILIES = ("librechat_tool_calls_total", "librechat_tool_call_errors_total")
# Labels whose values are a fixed list: every value is written, 0 where nothing happened.
CLOSED = {"role": ("user", "assistant"), "rating": ("thumbsUp", "thumbsDown"),
          "token_type": ("prompt", "completion"), "email_verified": ("true", "false"),
          "window": ("1h", "24h", "7d", "30d"), "percentile": ("50", "90", "99", "100"),
          "top": ("1%", "10%"), "balance_usd": ("0", "0-0.1", "0.1-1", "1-10", "10+"),
          ("librechat_tokens_total", "kind"): ("uncached_prompt", "cache_read", "cache_write",
                                               "completion"),
          ("librechat_bans_active", "kind"): ("user", "ip"),
          ("librechat_agent_categories", "active"): ("true", "false"),
          ("librechat_agent_categories", "custom"): ("true", "false"),
          ("librechat_acl_entries", "principal_type"): PRINCIPAL_TYPES,
          ("librechat_schedules", "enabled"): ("true", "false"),
          ("librechat_schedules_disabled", "reason"): SCHEDULE_REASONS,
          ("librechat_schedule_runs_in_progress", "status"): SCHEDULE_ACTIVE,
          ("librechat_schedule_runs_total", "status"): SCHEDULE_OUTCOMES,
          ("librechat_schedule_run_duration_seconds_total", "status"): SCHEDULE_OUTCOMES,
          ("librechat_audit_events_total", "outcome"): AUDIT_OUTCOMES,
          ("librechat_audit_events_total", "severity"): AUDIT_SEVERITIES,
          ("librechat_files_by_status", "status"): FILE_STATUSES}
# The order in which a run meets families (README, "Label dimensions"): free slots go to the
# values of the first family that meets them, the biggest first.
RUN_ORDER = (
    "librechat_messages_per_model_total", "librechat_errors_per_model_total",
    "librechat_endpoint_messages_total", "librechat_unfinished_messages_total",
    "librechat_agent_messages_total", "librechat_responses_by_finish_reason_total",
    "librechat_tool_calls_total",
    "librechat_tool_call_errors_total",
    "librechat_messages_per_model_5m", "librechat_errors_per_model_5m",
    "librechat_input_tokens_per_model_total", "librechat_output_tokens_per_model_total",
    "librechat_tokens_total", "librechat_context_tokens_total", "librechat_llm_calls_total",
    "librechat_cost_usd_total", "librechat_credits_granted_total",
    "librechat_context_cost_usd_total", "librechat_agent_cost_usd_total",
    "librechat_agent_tokens_total", "librechat_incomplete_surcharge_usd_total",
    "librechat_model_input_tokens_5m", "librechat_model_output_tokens_5m",
    "librechat_endpoint_conversations_total", "librechat_files_created_total",
    "librechat_files_created_bytes_total", "librechat_registrations_total",
    "librechat_audit_events_total",
    "librechat_messages_per_model_yesterday", "librechat_users", "librechat_files",
    "librechat_files_bytes", "librechat_feedback", "librechat_feedback_tags",
    "librechat_agents", "librechat_agents_with_mcp_server", "librechat_agents_promoted",
    "librechat_mcp_servers", "librechat_acl_entries",
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
    # The collections the database holds (None: all of them).
    present: frozenset[str] | None = None

    @classmethod
    def read(cls, db: Any) -> Snapshot:
        counts = {name: db[name].count_documents({}) for name in LIBRECHAT_COLLECTIONS}
        return cls({name: list(db[name].find({})) for name in COLLECTIONS}, counts,
                   frozenset(db.list_collection_names()))

    def has(self, collection: str) -> bool:
        return self.present is None or collection in self.present

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
        return Snapshot(out, self.counts, self.present)


# ---------------------------------------------------------------------------------------------
# Value rules


# How a stored value becomes a label value, step by step as README.md ("Metrics") defines it.
# Written from that text, not from the job: no regular expressions, a hand-written JSON writer
# and an explicit scan for e-mail addresses, ids and UUIDs. tests/test_value_rules.py checks
# these functions and the job against values worked out by hand.

LABEL_EXAMINED_CHARS = 400  # only this much of a value's text form is looked at
LABEL_MAX_CHARS = 100
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                "\r": "\\r", "\t": "\\t"}


def label(value: Any) -> str:
    """A label value as the definitions say."""
    if value is None:
        return "none"
    if isinstance(value, ObjectId):
        return "redacted"
    text = text_form(value)[:LABEL_EXAMINED_CHARS]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()
    if text == "":
        return "none"
    if only_personal(text):
        return "redacted"
    return replace_personal(text)[:LABEL_MAX_CHARS]


def text_form(value: Any) -> str:
    """Text as it is, binary data as UTF-8, documents and arrays as JSON, anything else as
    Python writes it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):  # bson.Binary is a bytes subclass
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return json_text(value)
    return str(value)


def json_text(value: Any) -> str:
    """JSON with keys sorted, ", " and ": " between items, non-ASCII as \\uXXXX, NaN and
    infinities as NaN/Infinity, and values JSON has no type for as strings of their text."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ", ".join(f"{json_string(k)}: {json_text(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    return json_string(str(value))


def json_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in JSON_ESCAPES:
            out.append(JSON_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        elif ord(ch) > 0xFFFF:  # outside the BMP: a UTF-16 surrogate pair
            code = ord(ch) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    out.append('"')
    return "".join(out)


def _word_char(ch: str) -> bool:
    """A character an e-mail address part may hold: anything but whitespace and '@'."""
    return ch != "@" and not ch.isspace()


def _run_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and _word_char(text[end]):
        end += 1
    return end


def email_ends(text: str, start: int) -> list[int]:
    """Every end of an e-mail address starting at `start`, shortest first: characters other
    than whitespace and '@' up to an '@', then such characters holding a dot with at least
    one of them on either side."""
    at = _run_end(text, start)
    if at == start or at >= len(text) or text[at] != "@":
        return []
    domain = text[at + 1:_run_end(text, at + 1)]
    dot = domain.find(".", 1)
    if dot == -1 or dot == len(domain) - 1:
        return []
    return [at + 1 + length for length in range(dot + 2, len(domain) + 1)]


def _hex_at(text: str, index: int) -> bool:
    return 0 <= index < len(text) and text[index] in HEX_DIGITS


def hex_groups_end(text: str, start: int, groups: tuple[int, ...]) -> int | None:
    """The end of hex digit groups of these lengths joined by '-', starting at `start`, with
    no further hex digit right before or after them."""
    if _hex_at(text, start - 1):
        return None
    at = start
    for n, length in enumerate(groups):
        if n and (at >= len(text) or text[at] != "-"):
            return None
        at += 1 if n else 0
        if not all(_hex_at(text, i) for i in range(at, at + length)):
            return None
        at += length
    return None if _hex_at(text, at) else at


def personal_ends(text: str, start: int) -> list[int]:
    """Every end of an e-mail address, id (24 hex digits) or UUID (8-4-4-4-12) at `start`."""
    ends = email_ends(text, start)
    for groups in ((24,), (8, 4, 4, 4, 12)):
        end = hex_groups_end(text, start, groups)
        if end is not None:
            ends.append(end)
    return sorted(set(ends))


def only_personal(text: str) -> bool:
    """True when the text can be split into e-mail addresses, ids and UUIDs and nothing else."""
    reachable = [False] * (len(text) + 1)
    reachable[0] = True
    for start in range(len(text)):
        if reachable[start]:
            for end in personal_ends(text, start):
                reachable[end] = True
    return reachable[len(text)]


def replace_personal(text: str) -> str:
    """Each e-mail address, id and UUID, found from the left and taken as long as it goes,
    replaced by 'redacted'."""
    out: list[str] = []
    at = 0
    while at < len(text):
        ends = personal_ends(text, at)
        if ends:
            out.append("redacted")
            at = ends[-1]
        else:
            out.append(text[at])
            at += 1
    return "".join(out)


def model_of(value: Any) -> str:
    text = label(value)
    if text.startswith("agent_"):
        text = AGENT_SUFFIX_RE.sub("", text)
    return text


def agent_message(msg: Doc) -> str | None:
    """The agent id of a message LibreChat's agents endpoint saved, else None."""
    model = model_of(msg.get("model"))
    return model if msg.get("endpoint") == "agents" and model.startswith("agent_") else None


def message_model(msg: Doc, snap: Snapshot) -> str:
    """A message's model: for an agent's message the agent's configured LLM (`unknown` when
    the agent no longer exists), for any other its own `model`."""
    agent_id = agent_message(msg)
    if agent_id is None:
        return model_of(msg.get("model"))
    for agent in snap["agents"]:
        if agent.get("id") == agent_id:
            return label(agent.get("model"))
    return "unknown"


NUMBER_LIMIT = 10**15


def num(value: Any) -> float:
    """A numeric field's value (README, "Metrics"): an integer, double or Decimal128, not a
    boolean, from -10^15 to 10^15 inclusive; anything else, NaN and infinities too, is 0."""
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, Decimal128):
        exact = value.to_decimal()
        return float(exact) if exact.is_finite() and abs(exact) <= NUMBER_LIMIT else 0.0
    if isinstance(value, int):
        return float(value) if abs(value) <= NUMBER_LIMIT else 0.0
    if isinstance(value, float):
        return value if math.isfinite(value) and abs(value) <= NUMBER_LIMIT else 0.0
    return 0.0


def is_number(value: Any) -> bool:
    """MongoDB's $isNumber: an integer, double (NaN too) or Decimal128, not a boolean."""
    return isinstance(value, int | float | Decimal128) and not isinstance(value, bool)


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
        self.daily_series: dict[str, list[float]] = {}
        self.agents: dict[str, tuple[str, str, str]] = {}  # id -> (name, provider, model)
        self.absent: set[str] = set()  # families of collections the database lacks

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
    # Families the job must not write at all: their collection is absent (an older LibreChat).
    absent: frozenset[str] = frozenset()


def dimensions_of(name: str) -> list[tuple[tuple[int, ...], str]]:
    """(label positions, dimension) of a family's capped labels."""
    labels = FAMILY_LABELS[name]
    if name in TOOL_FAMILIES:
        return [((0, 1), "tool")]
    return [((labels.index(label),), DIMENSION_OF.get((name, label), DIMENSION_OF.get(label)))
            for label in CAPPED[name]]


def joint(key: tuple[str, ...], positions: tuple[int, ...]) -> str:
    return key[positions[0]] if len(positions) == 1 else json.dumps([key[i] for i in positions])


class Slots:
    """Each dimension's values in the order they took a slot, at most `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken: dict[str, list[str]] = {}

    def route(self, dim: str, volumes: Mapping[str, float]) -> dict[str, str]:
        taken = self.taken.setdefault(dim, [])
        for value, _ in sorted(volumes.items(), key=lambda item: (-item[1], item[0])):
            if value != "other" and value not in taken and len(taken) < self.limit:
                taken.append(value)
        return {value: value if value in taken else "other" for value in volumes}


def route_rows(rows: dict[tuple[str, ...], float], name: str,
               slots: Slots) -> dict[tuple[str, ...], float]:
    for positions, dim in dimensions_of(name):
        volumes: dict[str, float] = {}
        for key, value in rows.items():
            volumes[joint(key, positions)] = volumes.get(joint(key, positions), 0.0) + value
        where = slots.route(dim, volumes)
        merged: dict[tuple[str, ...], float] = {}
        for key, value in rows.items():
            new = list(key)
            if where[joint(key, positions)] == "other":
                for i in positions:
                    new[i] = "other"
            merged[tuple(new)] = merged.get(tuple(new), 0.0) + value
        rows = merged
    return rows


def daily_model_rows(acc: Acc, slots: Slots) -> None:
    """The daily per-model families, from each model's series over the window; models without
    a slot are summed day by day into 'other' before the statistics."""
    series_of = acc.daily_series
    where = slots.route("model", {m: math.fsum(v) for m, v in series_of.items()})
    merged: dict[str, list[float]] = {}
    for model, series in series_of.items():
        base = merged.setdefault(where[model], [0.0] * len(series))
        merged[where[model]] = [a + b for a, b in zip(base, series, strict=True)]
    for model, series in merged.items():
        avg, sd = mean_pstdev(series)
        acc.set("librechat_messages_per_model_yesterday", (model,), series[-1])
        acc.set("librechat_messages_per_model_per_day_average", (model,), avg)
        acc.set("librechat_messages_per_model_per_day_stddev", (model,), sd)


def closed_values(name: str, label: str) -> tuple[str, ...] | None:
    return CLOSED.get((name, label), CLOSED.get(label))


def zero_rows(name: str, rows: dict[tuple[str, ...], float], slots: Slots) -> None:
    """Every value of a one-dimension family's dimension, crossed with its closed labels, and
    the cross product of an all-closed family, at 0 where nothing happened."""
    labels = FAMILY_LABELS[name]
    dims = dimensions_of(name)
    if len(dims) > 1:
        return
    choices: list[tuple[tuple[int, ...], list[tuple[str, ...]]]] = []
    for positions, dim in dims:
        values = [tuple(json.loads(v)) if len(positions) > 1 else (v,)
                  for v in slots.taken.get(dim, [])]
        if any(joint(key, positions) == "other" for key in rows):
            values.append(("other",) * len(positions))
        choices.append((positions, values))
    covered = {i for positions, _ in choices for i in positions}
    for i, label in enumerate(labels):
        if i in covered:
            continue
        closed = closed_values(name, label)
        if closed is None:
            return
        choices.append(((i,), [(v,) for v in closed]))
    for combo in itertools.product(*(values for _, values in choices)):
        key = [""] * len(labels)
        for (positions, _), values in zip(choices, combo, strict=True):
            for i, v in zip(positions, values, strict=True):
                key[i] = v
        rows.setdefault(tuple(key), 0.0)


def to_samples(acc: Acc, limit: int, slots: Slots | None = None) -> Expected:
    slots = slots if slots is not None else Slots(limit)
    for name in RUN_ORDER:
        if name == "librechat_messages_per_model_yesterday":
            daily_model_rows(acc, slots)
        else:
            acc.data[name] = route_rows(acc.data[name], name, slots)
    for agent_id in slots.taken.get("agent", []):
        name, provider, model = acc.agents.get(agent_id, ("unknown",) * 3)
        acc.set("librechat_agent_info", (agent_id, name, provider, model), 1.0)
    samples: Samples = {}
    for name, _kind, labels, _capped in FAMILIES:
        if name in acc.absent:
            samples[name] = {}
            continue
        rows = acc.data[name]
        if name != "librechat_agent_info":
            zero_rows(name, rows, slots)
        bucket: dict[LabelKey, float] = {}
        for key, value in rows.items():
            bucket[tuple(sorted(zip(labels, key, strict=True)))] = value
        samples[name] = bucket
    return Expected(samples, frozenset(acc.absent))


# ---------------------------------------------------------------------------------------------
# The metrics


def compute(snap: Snapshot, cfg: Config, *, counted: Callable[[Doc], bool] | None = None,
            token_source: str | None = None,
            counters: Callable[[Acc], None] | None = None,
            slots: Slots | None = None) -> Expected:
    """Every family as a cold run at cfg.now would write it.

    `counted` decides which documents the counters include; by default those whose `_id`
    second is before floor(now). `token_source` ("transactions" or "messages") overrides the
    choice made from the snapshot, for counting a subset of the documents. `counters`, when
    given, fills every counter instead of the stored documents (tests/test_contract.py: from
    what LibreChat was asked to write, deleted documents too).
    `slots`, when given, are the label slots of earlier runs, kept and added to as a job
    keeps its own (values whose documents are gone keep their slot and their zeros).
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

    if token_source is None:
        token_source = "transactions" if snap["transactions"] else "messages"
    if counters is None:
        message_counters(acc, snap, is_counted)
        token_counters(acc, snap, is_counted, token_source)
        created_counters(acc, snap, is_counted)
        schedule_run_counters(acc, snap, now, counted)
        audit_counters(acc, snap, is_counted)
    else:
        acc.set("librechat_token_source_info", (token_source,), 1.0)
        counters(acc)
    five_minute_gauges(acc, snap, now)
    calendar_gauges(acc, snap, now, cfg.tz)
    daily_statistics(acc, snap, now, cfg)
    usage_spread(acc, snap, now, cfg)
    stored_gauges(acc, snap, now)
    agent_gauges(acc, snap)
    feature_gauges(acc, snap, now)
    acc.absent = {family for family, collection in FAMILY_COLLECTION.items()
                  if not snap.has(collection)}
    for name in LIBRECHAT_COLLECTIONS:
        acc.set("librechat_collection_documents", (name,), float(snap.counts.get(name, 0)))
    return to_samples(acc, cfg.label_limit, slots)


def message_counters(acc: Acc, snap: Snapshot, counted: Callable[[Doc], bool]) -> None:
    for msg in snap["messages"]:
        if not counted(msg):
            continue
        model = message_model(msg, snap)
        user = is_user_msg(msg)
        error = is_error_msg(msg)
        acc.add("librechat_messages_total", (), 1)
        acc.add("librechat_endpoint_messages_total",
                (label(msg.get("endpoint")), "user" if user else "assistant"), 1)
        if error:
            acc.add("librechat_error_messages_total", (), 1)
        if not user:
            acc.add("librechat_messages_per_model_total", (model,), 1)
            if error:
                acc.add("librechat_errors_per_model_total", (model,), 1)
            if msg.get("unfinished") is True:
                acc.add("librechat_unfinished_messages_total", (model,), 1)
            acc.add("librechat_responses_by_finish_reason_total",
                    (model, label(msg.get("finish_reason"))), 1)
            if agent_message(msg) is not None:
                acc.add("librechat_agent_messages_total", (agent_message(msg),), 1)
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
                    key = (text, "none")
                acc.add("librechat_tool_calls_total", key, 1)
                output = call.get("output") if isinstance(call, dict) else None
                if isinstance(output, bool):
                    output = "true" if output else "false"
                if isinstance(output, str | int | float) and \
                        "error processing tool" in str(output).lower():
                    acc.add("librechat_tool_call_errors_total", key, 1)


def agent_of_conversation(snap: Snapshot, conversation_id: Any) -> str | None:
    """The agent that holds a conversation: its agent_id, when that names an agent in agents
    (ephemeral ids such as openAI__gpt-4o___GPT-4o are not agents)."""
    if not isinstance(conversation_id, str):
        return None
    for convo in snap["conversations"]:
        if convo.get("conversationId") == conversation_id:
            agent_id = convo.get("agent_id")
            if any(a.get("id") == agent_id for a in snap["agents"]) and \
                    isinstance(agent_id, str) and agent_id.startswith("agent_"):
                return agent_id
            return None
    return None


def token_counters(acc: Acc, snap: Snapshot, counted: Callable[[Doc], bool],
                   source: str) -> None:
    if source == "transactions":
        acc.set("librechat_token_source_info", ("transactions",), 1.0)
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
            usd = abs(num(tx.get("tokenValue"))) / 1e6
            acc.add("librechat_cost_usd_total", (model,), usd)
            acc.add("librechat_context_cost_usd_total", (context,), usd)
            agent = agent_of_conversation(snap, tx.get("conversationId"))
            if agent is not None:
                acc.add("librechat_agent_cost_usd_total", (agent,), usd)
                acc.add("librechat_agent_tokens_total", (agent, kind), raw)
            if kind == "prompt":
                acc.add("librechat_input_tokens_total", (), raw)
                acc.add("librechat_input_tokens_per_model_total", (model,), raw)
                for part, tokens in prompt_kinds(tx).items():
                    acc.add("librechat_tokens_total", (model, part), tokens)
            else:
                acc.add("librechat_output_tokens_total", (), raw)
                acc.add("librechat_output_tokens_per_model_total", (model,), raw)
                acc.add("librechat_tokens_total", (model, "completion"), raw)
                acc.add("librechat_llm_calls_total", (model,), 1)
                if tx.get("context") == "incomplete":
                    # Billed at rate x 1.15: the share above the rate is 0.15 of 1.15.
                    acc.add("librechat_incomplete_surcharge_usd_total", (model,),
                            usd * (CANCEL_RATE - 1) / CANCEL_RATE)
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
                        (message_model(msg, snap),), tokens)


def prompt_kinds(tx: Doc) -> dict[str, float]:
    """One prompt transaction's tokens by kind (README, "Metrics"), each transaction on its
    own: a number in inputTokens makes it structured, split into cache_read |readTokens|,
    cache_write |writeTokens| and the uncached rest of |rawAmount| (at least 0); any other
    prompt transaction is uncached as a whole."""
    raw = abs(num(tx.get("rawAmount")))
    if not is_number(tx.get("inputTokens")):
        return {"uncached_prompt": raw}
    read, write = abs(num(tx.get("readTokens"))), abs(num(tx.get("writeTokens")))
    return {"uncached_prompt": max(raw - read - write, 0.0), "cache_read": read,
            "cache_write": write}


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
            acc.add("librechat_files_created_bytes_total", key, max(num(doc.get("bytes")), 0.0))
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
        model = message_model(msg, snap)
        acc.add("librechat_messages_5m", (), 1)
        if not is_user_msg(msg):
            acc.add("librechat_messages_per_model_5m", (model,), 1)
        if is_error_msg(msg):
            acc.add("librechat_error_messages_5m", (), 1)
            if not is_user_msg(msg):
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
    last: dict[str, datetime] = {}
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
        if user not in last or created > last[user]:
            last[user] = created
    # Churned: the last message at most 30 days old and more than 7.
    acc.set("librechat_churned_users", (), float(sum(
        1 for when in last.values() if now - timedelta(days=30) <= when < now - timedelta(days=7))))
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
            series = per_model.setdefault(message_model(msg, snap), [0.0] * n)
            series[i] += 1
    counts = [float(len(u)) for u in users_per_day]
    avg, sd = mean_pstdev(counts)
    acc.set("librechat_unique_users_yesterday", (), counts[-1])
    acc.set("librechat_unique_users_per_day_average", (), avg)
    acc.set("librechat_unique_users_per_day_stddev", (), sd)
    avg, sd = mean_pstdev([float(v) for v in sent.values()])
    acc.set("librechat_messages_per_user_per_day_average", (), avg)
    acc.set("librechat_messages_per_user_per_day_stddev", (), sd)
    acc.daily_series = per_model  # routed through the model slots in to_samples


def nearest_rank(values: list[float], q: float) -> float:
    """The smallest value with at least q of all values at or below it (q = 1: the maximum)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    for i, value in enumerate(ordered, start=1):
        if i / len(ordered) >= q - 1e-12:
            return value
    return ordered[-1]


def usage_spread(acc: Acc, snap: Snapshot, now: datetime, cfg: Config) -> None:
    """Yesterday (local): messages sent per sending user, USD spent per spending user."""
    day = now.astimezone(cfg.tz).date() - timedelta(days=1)
    lo, hi = local_midnight(day, cfg.tz), local_midnight(day + timedelta(days=1), cfg.tz)
    sent: dict[Any, int] = {}
    for msg in snap["messages"]:
        created = utc(msg.get("createdAt"))
        if created is not None and lo <= created < hi and msg.get("isCreatedByUser") is True \
                and msg.get("user") is not None:
            sent[hashable(msg["user"])] = sent.get(hashable(msg["user"]), 0) + 1
    spent: dict[Any, float] = {}
    for tx in snap["transactions"]:
        seconds = oid_seconds(tx)
        if seconds is None or not lo.timestamp() <= seconds < hi.timestamp():
            continue
        if tx.get("tokenType") in ("prompt", "completion") and tx.get("user") is not None:
            key = hashable(tx["user"])
            spent[key] = spent.get(key, 0.0) + abs(num(tx.get("tokenValue"))) / 1e6
    spend = [v for v in spent.values() if v > 0]
    for p in ("50", "90", "99", "100"):
        acc.set("librechat_messages_sent_per_user_yesterday", (p,),
                nearest_rank([float(v) for v in sent.values()], int(p) / 100))
        acc.set("librechat_cost_usd_per_user_yesterday", (p,), nearest_rank(spend, int(p) / 100))
    for top, fraction in (("1%", 0.01), ("10%", 0.10)):
        heavy = sorted(spend, reverse=True)[:max(1, math.ceil(fraction * len(spend) - 1e-9))]
        acc.set("librechat_cost_share_of_top_users_yesterday", (top,),
                sum(heavy) / sum(spend) if spend and sum(spend) > 0 else 0.0)
    acc.set("librechat_spending_users_yesterday", (), float(len(spend)))


def agent_gauges(acc: Acc, snap: Snapshot) -> None:
    for agent in snap["agents"]:
        if isinstance(agent.get("id"), str):
            acc.agents[agent["id"]] = (label(agent.get("name")), label(agent.get("provider")),
                                       label(agent.get("model")))
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
        usd = credits / 1e6
        holds = balance.get("reservations")
        for hold in holds if isinstance(holds, list) else []:
            expires = utc(hold.get("expiresAt")) if isinstance(hold, dict) else None
            if expires is not None and expires > now:
                acc.add("librechat_balance_reservations", (), 1)
                acc.add("librechat_balance_credits_reserved", (), num(hold.get("amount")))
        acc.add("librechat_balance_users_by_range", (
            "0" if usd <= 0 else "0-0.1" if usd < 0.1 else "0.1-1" if usd < 1 else
            "1-10" if usd < 10 else "10+",), 1)
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
        acc.add("librechat_files_bytes", key, max(num(doc.get("bytes")), 0.0))
        if doc.get("embedded") is True:
            acc.add("librechat_files_embedded", (), 1)
    for msg in snap["messages"]:
        feedback = msg.get("feedback")
        if not isinstance(feedback, dict):
            continue
        rating = feedback.get("rating")
        if rating not in ("thumbsUp", "thumbsDown"):
            continue
        acc.add("librechat_feedback", (rating, message_model(msg, snap)), 1)
        tag = feedback.get("tag")
        acc.add("librechat_feedback_tags", (rating, "none" if tag in (None, "") else label(tag)), 1)


def closed(value: Any, allowed: tuple[str, ...]) -> str:
    """A value of a label with a fixed list of values: itself if listed, else other."""
    return value if isinstance(value, str) and value in allowed else "other"


def matches(value: Any, wanted: Iterable[Any]) -> bool:
    """MongoDB's {field: x} or {field: {$in: [...]}}: the value, or an array holding one."""
    wanted = list(wanted)
    if isinstance(value, list):
        return any(v in wanted for v in value if isinstance(v, str))
    return isinstance(value, str) and value in wanted


def date_before(value: Any, bound: datetime, *, inclusive: bool = False) -> bool:
    """MongoDB's {field: {$lt: date}} ($lte when inclusive): a date before the bound, or an
    array holding one; nothing else compares with a date."""
    values = value if isinstance(value, list) else [value]
    for v in values:
        when = utc(v)
        if when is not None and (when < bound or (inclusive and when == bound)):
            return True
    return False


def feature_gauges(acc: Acc, snap: Snapshot, now: datetime) -> None:
    """The stored-now families of the LibreChat 0.8 collections, from the documents."""
    for name in ("librechat_memory_users", "librechat_memory_entries",
                 "librechat_memory_tokens", "librechat_files_pending_stuck"):
        acc.add(name, (), 0.0)
    users: set[Any] = set()
    for entry in snap["memoryentries"]:
        acc.add("librechat_memory_entries", (), 1)
        acc.add("librechat_memory_tokens", (), max(num(entry.get("tokenCount")), 0.0))
        if entry.get("userId") is not None:
            users.add(hashable(entry["userId"]))
    acc.set("librechat_memory_users", (), float(len(users)))
    for server in snap["mcpservers"]:
        acc.add("librechat_mcp_servers", (label(server.get("serverName")),), 1)
    for category in snap["agentcategories"]:
        acc.add("librechat_agent_categories",
                ("true" if category.get("isActive") is True else "false",
                 "true" if category.get("custom") is True else "false"), 1)
    for agent in snap["agents"]:
        if is_true(agent.get("is_promoted")):
            acc.add("librechat_agents_promoted", (label(agent.get("category")),), 1)
    for entry in snap["aclentries"]:
        if date_before(entry.get("expiredAt"), now, inclusive=True):
            continue  # expired; LibreChat's TTL index removes it within a minute
        acc.add("librechat_acl_entries", (label(entry.get("resourceType")),
                                          closed(entry.get("principalType"), PRINCIPAL_TYPES)), 1)
    for schedule in snap["schedules"]:
        if is_true(schedule.get("deleting")) or is_true(schedule.get("erased")):
            continue
        enabled = schedule.get("enabled") is True
        acc.add("librechat_schedules", ("true" if enabled else "false",), 1)
        if not enabled:
            reason = schedule.get("disabledReason")
            acc.add("librechat_schedules_disabled",
                    ("none" if reason is None else closed(reason, SCHEDULE_REASONS),), 1)
    for run in snap["scheduleruns"]:
        if matches(run.get("status"), SCHEDULE_ACTIVE):
            acc.add("librechat_schedule_runs_in_progress",
                    (closed(run.get("status"), SCHEDULE_ACTIVE),), 1)
    for doc in snap["files"]:
        status = doc.get("status")
        if matches(status, FILE_STATUSES):
            acc.add("librechat_files_by_status", (closed(status, FILE_STATUSES),), 1)
        if matches(status, ["pending"]) and date_before(doc.get("updatedAt"),
                                                        now - timedelta(minutes=5)):
            acc.add("librechat_files_pending_stuck", (), 1)


def schedule_run_counters(acc: Acc, snap: Snapshot, now: datetime,
                          counted: Callable[[Doc], bool] | None) -> None:
    """Scheduled runs settled before now (a settledAt date), each once, with their seconds;
    `counted` narrows them further when given. Only ObjectId ids, as LibreChat writes."""
    for run in snap["scheduleruns"]:
        settled = utc(run.get("settledAt"))
        if not isinstance(run.get("_id"), ObjectId) or settled is None or settled >= now:
            continue
        if counted is not None and not counted(run):
            continue
        status = closed(run.get("status"), SCHEDULE_OUTCOMES)
        acc.add("librechat_schedule_runs_total", (status,), 1)
        acc.add("librechat_schedule_run_duration_seconds_total", (status,),
                max(num(run.get("durationMs")), 0.0) / 1000)


def audit_counters(acc: Acc, snap: Snapshot, counted: Callable[[Doc], bool]) -> None:
    for entry in snap["auditlogs"]:
        if counted(entry):
            acc.add("librechat_audit_events_total", (
                label(entry.get("category")), closed(entry.get("outcome"), AUDIT_OUTCOMES),
                closed(entry.get("severity"), AUDIT_SEVERITIES)), 1)


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
