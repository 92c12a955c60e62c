"""Synthetic LibreChat data, written as LibreChat (Mongoose, @librechat/data-schemas) writes it.

The exporter under test reads LibreChat's MongoDB directly, so test data that differs from the
real thing in a field name, a BSON type or an index makes every test meaningless. Everything
here follows shared/reference/librechat-data-model.md (§2 fields, §4 example documents, §6
generator guidance) and tests/librechat_indexes.json (indexes read back from the real models).

Two ways to use it:

* ``generate(db, GenOptions(...))`` fills an empty database with a whole deployment's history
  (users, balances, sessions, agents, conversations, messages, transactions, files, bans).
* ``make_user`` / ``make_conversation`` / ``make_message`` / ``make_transaction`` / ``make_file``
  (and a few more) build one document at an exact time; the caller inserts it. Call
  ``ensure_indexes(db)`` first so unique and TTL indexes behave as in LibreChat.

Storage facts reproduced (all seen only by writing through the real models):

* ``user`` is the hex *string* of the user's ``_id`` in messages and conversations, an ObjectId
  in transactions, files, balances and sessions; ``agents.author`` is an ObjectId.
* Integral numbers are BSON int32 and all others doubles, as the Node driver stores a JS number;
  a negated zero (a zero cache write, ``-0``) is the double -0.0.
* ``_id`` ObjectIds encode the document's ``createdAt`` second (LibreChat's ids are made at
  insert time); the other 8 bytes come from the seeded RNG, so a seed gives identical documents.
* A balance's ``_id`` is its user's ``_id``; ``feedback`` carries its own ``_id``.
* Dates are tz-aware UTC truncated to milliseconds, as BSON dates hold them.

Texts are short on purpose: ``tokenCount`` is the number LibreChat stored, not ``len(text)/4``,
so large data sets stay small in memory and on disk.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import IndexModel
from pymongo.database import Database

INDEX_FILE = Path(__file__).with_name("librechat_indexes.json")
LATEST = "0.8.8"
SUPPORTED_VERSIONS = ("0.7.5", "0.7.7", "0.7.9", "0.8.3", "0.8.5", "0.8.7", "0.8.8")
# The LibreChat release that introduced each collection newer than 0.7.5 (the data model
# reference's collection map, and the @librechat/data-schemas packages: 0.0.51, of 0.8.6, has
# no schedules or audit log; 0.0.71 has both). Scheduled chats arrived after 0.8.7 (PR #14540,
# 2026-07-31; v0.8.8-rc1). A database of an older version lacks the collection altogether.
COLLECTION_SINCE = {
    "memoryentries": "0.7.9",
    "agentcategories": "0.8.0",
    "aclentries": "0.8.0",
    "mcpservers": "0.8.2",
    "auditlogs": "0.8.7",
    "schedules": "0.8.8",
    "scheduleruns": "0.8.8",
}
# Constants.NO_PARENT: the parentMessageId of a conversation's first message.
NO_PARENT = "00000000-0000-0000-0000-000000000000"
# interface.temporaryChatRetention default (720 h).
TEMP_CHAT_RETENTION = timedelta(days=30)
# createUser(): unverified local sign-ups get expiresAt = now + 604800 s.
PENDING_USER_TTL = timedelta(days=7)
# createFile(): uploads not yet used in a message get expiresAt = now + 3600 s.
UPLOAD_TTL = timedelta(hours=1)
# REFRESH_TOKEN_EXPIRY default.
SESSION_TTL = timedelta(days=7)
# BAN_DURATION default (2 h), in milliseconds as Keyv stores it.
BAN_DURATION_MS = 2 * 60 * 60 * 1000
# Transaction.js: aborted completions are priced at 1.15x.
CANCEL_RATE = 1.15
# tx.js defaultRate: what a model missing from the price table costs per 1M tokens.
DEFAULT_RATE = 6
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

FEEDBACK_TAGS = {
    "thumbsUp": [
        "accurate_reliable",
        "creative_solution",
        "clear_well_written",
        "attention_to_detail",
    ],
    "thumbsDown": [
        "not_matched",
        "inaccurate",
        "bad_style",
        "missing_image",
        "unjustified_refusal",
        "not_helpful",
        "other",
    ],
}
MCP_TOOLS = [
    "search_mcp_brave",
    "get_issue_mcp_github",
    "list_issues_mcp_github",
    "fetch_mcp_fetch",
]
BUILTIN_TOOLS = ["web_search", "execute_code", "file_search"]


class _Missing:
    """Sentinel: pass ``field=MISSING`` to a builder to drop that field from the document."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens (= token credits per token), as LibreChat's tx.js holds them."""

    prompt: float
    completion: float
    write: float | None = None  # cache write; None: priced as prompt
    read: float | None = None  # cache read; None: priced as prompt


PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.5, 10, read=1.25),
    "gpt-4o-mini": Price(0.15, 0.6, read=0.075),
    "claude-sonnet-4-20250514": Price(3, 15, write=3.75, read=0.3),
    "gemini-2.5-pro": Price(1.25, 10),
    # "meta-llama/llama-3.1-70b" is deliberately absent: LibreChat prices it at DEFAULT_RATE.
}


@dataclass(frozen=True)
class ModelChoice:
    """An endpoint/model pair a conversation can use, with the sender label LibreChat shows."""

    endpoint: str
    model: str
    sender: str
    weight: int
    endpoint_type: str | None = None  # conversations.endpointType ('custom' for custom endpoints)
    provider: str = ""  # agents.provider for agents built on this model


MODELS = [
    ModelChoice("openAI", "gpt-4o", "GPT-4o", 30, provider="openAI"),
    ModelChoice("openAI", "gpt-4o-mini", "GPT-4o mini", 20, provider="openAI"),
    ModelChoice("anthropic", "claude-sonnet-4-20250514", "Claude", 20, provider="anthropic"),
    ModelChoice("google", "gemini-2.5-pro", "Gemini", 10, provider="google"),
    ModelChoice("OpenRouter", "meta-llama/llama-3.1-70b", "OpenRouter", 8, "custom", "OpenRouter"),
]
LEGACY_OPENAI_CLIENT = ("openAI", "azureOpenAI", "OpenRouter")  # OpenRouter: a custom endpoint


def _finish_reason(rng: random.Random) -> str:
    roll = rng.random()
    return "length" if roll < 0.04 else "content_filter" if roll < 0.05 else "stop"


AGENTS_WEIGHT = 15  # share of conversations on endpoint "agents" when agents exist

FIRST_NAMES = [
    "Jane",
    "Omar",
    "Li",
    "Ana",
    "Kofi",
    "Mia",
    "Raj",
    "Sven",
    "Yuki",
    "Zoe",
    "Ivan",
    "Nia",
]
LAST_NAMES = ["Doe", "Haddad", "Wei", "Silva", "Mensah", "Novak", "Patel", "Berg", "Sato", "Kim"]
AGENT_NAMES = ["Research Assistant", "Code Helper", "HR Policy Bot", "Data Analyst", "Triage Agent"]
TITLES = [
    "PDF summary",
    "Python retry loop",
    "Quarterly numbers",
    "Email draft",
    "SQL join help",
    "Trip plan",
    "Regex question",
    "Release notes",
    "Meeting recap",
    "Docker networking",
]
PROMPTS = [
    "Summarize this PDF",
    "Why does my retry loop never stop? It catches every exception and sleeps one second.",
    "Draft a polite reply declining the meeting.",
    "Explain the difference between a left join and an inner join with an example.",
    "What changed in the release?",
    "Give me three options for the team offsite, with a rough budget for each.",
    "Fix this regex: ^(\\d{3})-(\\d{4)$",
    "Translate to German: the report is due on Friday.",
]
ANSWERS = [
    "The report says revenue grew 12%.",
    "Here is a corrected version.",
    "Sure, here are three options.",
    "The loop never exits because the exception is swallowed.",
]
PROVIDER_WEIGHTS = [("local", 50), ("google", 20), ("openid", 20), ("ldap", 10)]
BAN_TYPES = ["concurrent", "message_limit", "login", "illegal_model_request", "non_browser"]
ERROR_TEXTS = [
    '{"type":"ban"}',
    '{"type":"message_limit","max":40,"windowInMinutes":1}',
    '{"type":"moderation","info":"flagged"}',
]
ERROR_PARTS = [
    "An error occurred while processing the request: 429 Rate limit reached for requests",
    "An error occurred while processing the request: 529 Overloaded",
    "An error occurred while processing the request: 400 context_length_exceeded",
]
# (mime, weight, median bytes, extension)
MIMES = [
    ("application/pdf", 30, 250_000, "pdf"),
    ("image/png", 25, 400_000, "png"),
    ("image/jpeg", 15, 300_000, "jpg"),
    ("text/plain", 10, 8_000, "txt"),
    ("text/csv", 5, 40_000, "csv"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", 8, 90_000, "docx"),
    ("application/json", 4, 15_000, "json"),
    ("image/webp", 3, 150_000, "webp"),
]
# Types LibreChat's RAG API embeds for file_search.
EMBEDDABLE = (
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
)
FILE_SOURCES = [("local", 60), ("s3", 25), ("firebase", 5), ("azure_blob", 5), ("mistral_ocr", 5)]


# --- small helpers -----------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _has(version: str, since: str) -> bool:
    """True when LibreChat ``version`` has a field introduced in ``since``."""
    return _version(version) >= _version(since)


def _rng(rng_or_seed: random.Random | int | None) -> random.Random:
    if isinstance(rng_or_seed, random.Random):
        return rng_or_seed
    return _BUILDER_RNG if rng_or_seed is None else random.Random(rng_or_seed)


# Builders called without an rng draw ids from here: unique within a run, and the same run
# order gives the same ids.
_BUILDER_RNG = random.Random(0x11BEC4A7)


def _ms(dt: datetime) -> datetime:
    """tz-aware UTC truncated to milliseconds: exactly what a BSON date round-trips."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: LibreChat timestamps are UTC, pass tzinfo=UTC")
    dt = dt.astimezone(UTC)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def _num(value: float) -> int | float:
    """A JS number as the Node driver stores it: int32 when integral and in range, else double."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return value
    if value == 0 and math.copysign(1.0, value) < 0:
        return -0.0  # JS -0 is stored as the double -0.0, not int32 0
    if float(value).is_integer() and INT32_MIN <= value <= INT32_MAX:
        return int(value)
    return float(value)


def _neg(count: float) -> int | float:
    """``-count`` as JS evaluates it: -0 for a zero count (stored as the double -0.0)."""
    return _num(-float(count))


def object_id_at(dt: datetime, rng: random.Random | int | None = None) -> ObjectId:
    """An ObjectId whose timestamp is ``dt``'s second; the other 8 bytes come from ``rng``."""
    seconds = int(_ms(dt).timestamp())
    return ObjectId(struct.pack(">I", seconds) + _rng(rng).randbytes(8))


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _nanoid(rng: random.Random, size: int = 21) -> str:
    alphabet = "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict"
    return "".join(rng.choice(alphabet) for _ in range(size))


def _weighted(rng: random.Random, items: list[tuple[Any, int]]) -> Any:
    return rng.choices([item for item, _ in items], weights=[w for _, w in items])[0]


def _apply(doc: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Overrides replace fields; MISSING removes them."""
    for key, value in over.items():
        if value is MISSING:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def _oid(user: ObjectId | str) -> ObjectId:
    return user if isinstance(user, ObjectId) else ObjectId(user)


def rate_for(model: str | None, token_type: str) -> int | float:
    """The multiplier LibreChat stores as ``rate`` for a plain (non-cache) transaction."""
    if token_type == "credits":
        return 1
    price = PRICES.get(model or "")
    if price is None:
        return DEFAULT_RATE
    return _num(price.prompt if token_type == "prompt" else price.completion)


# --- builders: one document each, shaped as LibreChat stores it ----------------------------


def make_user(
    rng_or_seed: random.Random | int | None,
    created: datetime,
    *,
    provider: str = "local",
    role: str = "USER",
    pending: bool = False,
    version: str = LATEST,
    **over: Any,
) -> dict[str, Any]:
    """A ``users`` document. ``pending``: an unverified local sign-up (expiresAt = created+7d)."""
    rng = _rng(rng_or_seed)
    created = _ms(created)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    tag = rng.randbytes(4).hex()
    username = f"{first}.{last}.{tag}".lower()
    doc: dict[str, Any] = {
        "_id": object_id_at(created, rng),
        "name": f"{first} {last}",
        "username": username,
        "email": f"{username}@example.com",
        "emailVerified": not pending,
        "avatar": None,
        "provider": provider,
        "role": role,
    }
    doc.update(_provider_fields(rng, provider, username, version))
    doc["plugins"] = []
    if _has(version, "0.7.8"):
        doc["twoFactorEnabled"] = False
    if _has(version, "0.7.7"):
        doc["backupCodes"] = []
    doc["refreshToken"] = []
    if _has(version, "0.7.5"):
        doc["termsAccepted"] = False
    if _has(version, "0.7.9"):
        doc["personalization"] = {"memories": True}
    if _has(version, "0.8.2"):
        doc["favorites"] = []
    if _has(version, "0.8.6"):
        doc["skillStates"] = {}
    if pending:
        # Only local sign-ups get the TTL; verification (updateUser) $unsets it.
        doc["expiresAt"] = created + PENDING_USER_TTL
    doc.update(createdAt=created, updatedAt=created, __v=0)
    return _apply(doc, over)


def _provider_fields(
    rng: random.Random, provider: str, username: str, version: str
) -> dict[str, Any]:
    """Password or external id per provider; social/SSO accounts have no password."""
    if provider == "local":
        alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return {"password": "$2a$10$" + "".join(rng.choice(alphabet) for _ in range(53))}
    if provider == "google":
        return {
            "googleId": str(rng.randrange(10**20, 10**21)),
            "avatar": f"https://lh3.googleusercontent.com/a/{rng.randbytes(8).hex()}=s96-c",
        }
    if provider == "openid":
        fields: dict[str, Any] = {"openidId": _uuid4(rng)}
        if _has(version, "0.8.6"):
            fields["openidIssuer"] = "https://login.example.com/realms/corp"
        return fields
    if provider == "ldap":
        return {"ldapId": f"uid={username},ou=people,dc=example,dc=com"}
    return {}


def make_conversation(
    user_id: ObjectId | str,
    created: datetime,
    *,
    endpoint: str = "openAI",
    model: str | None = "gpt-4o",
    rng: random.Random | int | None = None,
    version: str = LATEST,
    temporary: bool = False,
    **over: Any,
) -> dict[str, Any]:
    """A ``conversations`` document (``user`` as hex string). Pass ``messages=[...]`` (ObjectIds),
    ``updatedAt=`` (last turn) and ``agent_id=`` as needed; a temporary chat expires 30 days
    after its last save (``updatedAt``)."""
    rng = _rng(rng)
    created = _ms(created)
    updated = _ms(over.pop("updatedAt", created))
    doc: dict[str, Any] = {
        "_id": object_id_at(created, rng),
        "conversationId": _uuid4(rng),
        "user": str(user_id),
        "__v": 0,
        "title": "New Chat",
        "endpoint": endpoint,
    }
    if model is not None:
        doc["model"] = model
    doc["messages"] = []
    doc["isArchived"] = False
    if _has(version, "0.7.5"):
        doc["tags"] = []
    if _has(version, "0.7.6"):
        doc["files"] = []
    if _has(version, "0.8.6"):
        doc["isTemporary"] = temporary
    if _has(version, "0.7.7"):
        # saveConvo sets expiredAt on every save: null for normal chats.
        doc["expiredAt"] = updated + TEMP_CHAT_RETENTION if temporary else None
    doc.update(resendFiles=True, createdAt=created, updatedAt=updated)
    return _apply(doc, over)


def make_message(
    user_id: ObjectId | str,
    conversation_id: str,
    created: datetime,
    *,
    by_user: bool,
    model: str | None = None,
    endpoint: str | None = "openAI",
    rng: random.Random | int | None = None,
    version: str = LATEST,
    temporary: bool = False,
    **over: Any,
) -> dict[str, Any]:
    """A ``messages`` document (``user`` as hex string). User messages always get ``model: None``;
    assistant messages get ``model`` (the agent id on endpoint "agents"). ``endpoint=None``
    leaves the field out, as for ``error: true`` messages. Pass ``text``/``content``/
    ``tokenCount``/``parentMessageId``/``sender``/``feedback`` and others as overrides."""
    rng = _rng(rng)
    created = _ms(created)
    doc: dict[str, Any] = {
        "_id": object_id_at(created, rng),
        "messageId": _uuid4(rng),
        "conversationId": conversation_id,
        "user": str(user_id),
        "__v": 0,
        "parentMessageId": NO_PARENT,
        "model": None if by_user else model,
    }
    if endpoint is not None:
        doc["endpoint"] = endpoint
    doc.update(_message_body(rng, by_user, model, endpoint, version))
    doc["isCreatedByUser"] = by_user
    if _has(version, "0.8.6"):
        doc["isTemporary"] = temporary
    doc.update(unfinished=False, error=False, _meiliIndex=False)
    if _has(version, "0.7.7"):
        # saveMessage sets expiredAt on every save: null unless the chat is temporary.
        doc["expiredAt"] = created + TEMP_CHAT_RETENTION if temporary else None
    doc.update(createdAt=created, updatedAt=created)
    return _apply(doc, over)


def _message_body(
    rng: random.Random, by_user: bool, model: str | None, endpoint: str | None, version: str
) -> dict[str, Any]:
    """sender/text/content/tokenCount defaults for a user or an assistant message."""
    if by_user:
        text = rng.choice(PROMPTS)
        return {"sender": "User", "text": text, "tokenCount": max(1, round(len(text) / 4))}
    answer = rng.choice(ANSWERS)
    body: dict[str, Any] = {"sender": _sender_for(model, endpoint)}
    if _uses_content_parts(version, endpoint):
        body.update(text="", content=[{"type": "text", "text": answer}])
    else:
        body["text"] = answer
    body["tokenCount"] = max(1, round(len(answer) / 4))
    return body


def _uses_content_parts(version: str, endpoint: str | None) -> bool:
    # Since 0.7.9 every chat endpoint runs through the agents pipeline, which stores the
    # response in content[] and '' in text; before that only the agents endpoint did.
    return endpoint == "agents" or _has(version, "0.7.9")


def _sender_for(model: str | None, endpoint: str | None) -> str:
    for choice in MODELS:
        if choice.model == model:
            return choice.sender
    return endpoint or "Assistant"


def make_transaction(
    user_oid: ObjectId | str,
    created: datetime,
    token_type: str,
    model: str | None,
    raw_amount: float,
    *,
    context: str = "message",
    rng: random.Random | int | None = None,
    version: str = LATEST,
    **over: Any,
) -> dict[str, Any]:
    """A ``transactions`` document. ``raw_amount`` as stored: negative token count for spend
    (prompt/completion), positive credits for ``token_type="credits"``. ``rate`` and
    ``tokenValue`` follow Transaction.calculateTokenValue (incomplete completions: rate x1.15,
    ceil). Pass ``conversationId=``/``messageId=`` as overrides."""
    rng = _rng(rng)
    created = _ms(created)
    rate = rate_for(model, token_type)
    token_value = raw_amount * rate
    if token_type == "completion" and context == "incomplete":
        token_value = math.ceil(token_value * CANCEL_RATE)
        rate = rate * CANCEL_RATE
    doc: dict[str, Any] = {"_id": object_id_at(created, rng), "user": _oid(user_oid)}
    doc["tokenType"] = token_type
    if model is not None:
        doc["model"] = model
    doc.update(
        context=context,
        rate=_num(rate),
        rawAmount=_num(raw_amount),
        tokenValue=_num(token_value),
        createdAt=created,
        updatedAt=created,
        __v=0,
    )
    return _apply(doc, over)


def make_structured_prompt(
    user_oid: ObjectId | str,
    created: datetime,
    model: str,
    input_tokens: int,
    write_tokens: int,
    read_tokens: int,
    *,
    rng: random.Random | int | None = None,
    version: str = LATEST,
    **over: Any,
) -> dict[str, Any]:
    """A cache-aware prompt transaction (Transaction.calculateStructuredTokenValue): the three
    counts are stored negative, ``rawAmount = -(sum)``, ``rate`` is their weighted average."""
    price = PRICES.get(model, Price(DEFAULT_RATE, DEFAULT_RATE))
    rates = (price.prompt, price.write or price.prompt, price.read or price.prompt)
    counts = (input_tokens, write_tokens, read_tokens)
    total = sum(counts)
    cost = sum(c * r for c, r in zip(counts, rates, strict=True))
    rate = cost / total if total else price.prompt
    doc = make_transaction(
        user_oid, created, "prompt", model, _neg(total), rng=rng, version=version
    )
    doc.update(
        inputTokens=_neg(input_tokens),
        writeTokens=_neg(write_tokens),
        readTokens=_neg(read_tokens),
        rate=_num(rate),
        tokenValue=_neg(cost),
    )
    return _apply(doc, over)


def make_file(
    user_oid: ObjectId | str,
    created: datetime,
    *,
    mime: str = "application/pdf",
    context: str = "message_attachment",
    source: str = "local",
    expires: bool = False,
    rng: random.Random | int | None = None,
    version: str = LATEST,
    **over: Any,
) -> dict[str, Any]:
    """A ``files`` document. ``expires``: a fresh upload not yet used in a message, so it
    still carries ``expiresAt = created + 1 h`` and ``usage: 0``. Pass ``bytes=``,
    ``filename=``, ``conversationId=``, ``messageId=``, ``embedded=`` as overrides."""
    rng = _rng(rng)
    created = _ms(created)
    user = _oid(user_oid)
    file_id = _uuid4(rng)
    ext = next((m[3] for m in MIMES if m[0] == mime), "bin")
    filename = over.pop("filename", f"file-{rng.randbytes(3).hex()}.{ext}")
    doc: dict[str, Any] = {
        "_id": object_id_at(created, rng),
        "user": user,
        "file_id": file_id,
        "bytes": _num(max(1, round(rng.lognormvariate(math.log(100_000), 1.0)))),
        "filename": filename,
        "filepath": _filepath(source, user, file_id, filename, mime),
        "object": "file",
        "embedded": False,
        "type": mime,
        "context": context,
        "usage": 0 if expires else 1,
        "source": source,
    }
    if mime.startswith("image/"):
        doc.update(width=rng.choice([512, 768, 1024]), height=rng.choice([512, 768, 1024]))
    if expires:
        doc["expiresAt"] = created + UPLOAD_TTL
    doc.update(createdAt=created, updatedAt=created, __v=0)
    return _apply(doc, over)


def _filepath(source: str, user: ObjectId, file_id: str, filename: str, mime: str) -> str:
    folder = "images" if mime.startswith("image/") else "uploads"
    if source == "s3":
        return f"https://librechat-files.s3.amazonaws.com/{folder}/{user}/{file_id}__{filename}"
    if source == "firebase":
        return f"https://firebasestorage.googleapis.com/v0/b/librechat/o/{folder}%2F{user}%2F{filename}"
    if source == "azure_blob":
        return (
            f"https://librechat.blob.core.windows.net/files/{folder}/{user}/{file_id}__{filename}"
        )
    return f"/{folder}/{user}/{file_id}__{filename}"


def make_balance(
    user_oid: ObjectId | str,
    token_credits: float,
    *,
    last_refill: datetime,
    version: str = LATEST,
    **over: Any,
) -> dict[str, Any]:
    """A ``balances`` document: no timestamps, ``_id`` equal to the user's ``_id``."""
    user = _oid(user_oid)
    doc: dict[str, Any] = {"_id": user, "user": user, "__v": 0, "tokenCredits": _num(token_credits)}
    if _has(version, "0.7.8"):
        doc.update(
            autoRefillEnabled=False,
            refillIntervalValue=30,
            refillIntervalUnit="days",
            lastRefill=_ms(last_refill),
            refillAmount=0,
        )
    return _apply(doc, over)


def make_session(
    user_oid: ObjectId | str,
    login: datetime,
    *,
    rng: random.Random | int | None = None,
    version: str = LATEST,
    **over: Any,
) -> dict[str, Any]:
    """A ``sessions`` document: one per login, ``_id`` at login time, expiration login + 7 d."""
    rng = _rng(rng)
    login = _ms(login)
    doc: dict[str, Any] = {
        "_id": object_id_at(login, rng),
        "refreshTokenHash": hashlib.sha256(rng.randbytes(32)).hexdigest(),
        "expiration": login + SESSION_TTL,
        "user": _oid(user_oid),
        "__v": 0,
    }
    return _apply(doc, over)


def make_agent(
    author: dict[str, Any],
    created: datetime,
    *,
    choice: ModelChoice = MODELS[0],
    tools: list[str] | None = None,
    rng: random.Random | int | None = None,
    version: str = LATEST,
    **over: Any,
) -> dict[str, Any]:
    """An ``agents`` document (id ``agent_`` + 21-char nanoid) by the ``author`` user document."""
    rng = _rng(rng)
    created = _ms(created)
    tools = list(tools or [])
    name = over.pop("name", rng.choice(AGENT_NAMES))
    doc: dict[str, Any] = {
        "_id": object_id_at(created, rng),
        "id": f"agent_{_nanoid(rng)}",
        "name": name,
        "description": f"{name} for the team",
        "instructions": "Answer briefly and cite sources.",
        "provider": choice.provider,
        "model": choice.model,
        "model_parameters": {"temperature": _num(0.3)},
        "tools": tools,
        "author": author["_id"],
        "authorName": author["name"],
        "conversation_starters": [],
        "tool_resources": {},
    }
    doc.update(_agent_versioned_fields(doc, tools, created, version))
    doc.update(createdAt=created, updatedAt=created, __v=0)
    return _apply(doc, over)


def _agent_versioned_fields(
    doc: dict[str, Any], tools: list[str], created: datetime, version: str
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if _has(version, "0.7.6"):
        fields["agent_ids"] = []
    if not _has(version, "0.8.5"):
        # Sharing moved to the ACL collections in 0.8.5.
        fields.update(projectIds=[], isCollaborative=False)
    if _has(version, "0.7.9"):
        fields["versions"] = [
            {
                "name": doc["name"],
                "provider": doc["provider"],
                "model": doc["model"],
                "tools": list(tools),
                "createdAt": created,
                "updatedAt": created,
            }
        ]
    if _has(version, "0.8.0"):
        fields.update(category="general", is_promoted=False)
    if _has(version, "0.8.1"):
        fields["edges"] = []
    if _has(version, "0.8.2"):
        servers = sorted({t.split("_mcp_", 1)[1] for t in tools if "_mcp_" in t})
        fields["mcpServerNames"] = servers
    return fields


def make_ban(
    key_suffix: str,
    created: datetime,
    *,
    violation_type: str = "concurrent",
    violation_count: int = 20,
    duration_ms: int = BAN_DURATION_MS,
    rng: random.Random | int | None = None,
    **over: Any,
) -> dict[str, Any]:
    """A ``logs`` document as Keyv writes a ban: key ``BANS:<user id hex or ip>``, ``value`` the
    Keyv JSON string, ``expiresAt`` created + duration. Keyv adds no ``__v`` or timestamps."""
    rng = _rng(rng)
    created = _ms(created)
    expires = created + timedelta(milliseconds=duration_ms)
    expires_ms = int(expires.timestamp() * 1000)
    value = {
        "type": violation_type,
        "violation_count": violation_count,
        "duration": duration_ms,
        "expiresAt": expires_ms,
    }
    doc: dict[str, Any] = {
        "_id": object_id_at(created, rng),
        "key": f"BANS:{key_suffix}",
        "value": json.dumps({"value": value, "expires": expires_ms}, separators=(",", ":")),
        "expiresAt": expires,
    }
    return _apply(doc, over)


# --- indexes -------------------------------------------------------------------------------


def load_index_spec() -> dict[str, list[dict[str, Any]]]:
    """Collection name -> index specs (as listIndexes returns them) from librechat_indexes.json."""
    spec = json.loads(INDEX_FILE.read_text())
    return {name: entry["indexes"] for name, entry in spec["collections"].items()}


def collections_at(version: str) -> tuple[str, ...]:
    """The collections the generator writes that LibreChat ``version`` has."""
    return tuple(name for name in COLLECTIONS
                 if _has(version, COLLECTION_SINCE.get(name, "0.7.5")))


def ensure_indexes(db: Database[Any], version: str = LATEST) -> None:
    """Create every LibreChat index (and so every collection) that the generator writes to
    and LibreChat ``version`` has (LibreChat creates them at start-up)."""
    present = collections_at(version)
    for name, indexes in load_index_spec().items():
        if name not in present:
            continue
        models = [_index_model(ix) for ix in indexes if ix["name"] != "_id_"]
        db[name].create_indexes(models)


def _index_model(spec: dict[str, Any]) -> IndexModel:
    options = {k: v for k, v in spec.items() if k not in ("v", "key", "name", "ns")}
    return IndexModel(list(spec["key"].items()), name=spec["name"], **options)


# --- the whole-deployment generator --------------------------------------------------------


@dataclass
class GenOptions:
    """What deployment to simulate.

    seed: same seed and options give byte-identical documents (pass ``now`` explicitly: its
        default is the wall clock).
    now: the deployment's current time, tz-aware UTC. Every ``createdAt`` lies in
        ``[now - days, now]``; activity thickens towards ``now``, and a few chats end in the
        last 4 minutes, so the 5-minute, today (UTC) and 7-day windows always hold messages.
    users, conversations_per_user, turns_per_conversation: sizes (Poisson means; a turn is
        one user message and its reply).
    version: the LibreChat release whose schema to write. Fields appear only from the
        release that introduced them: expiredAt and temporary chats 0.7.7, autoRefill
        credits and twoFactorEnabled 0.7.8, feedback and content[] on every endpoint 0.7.9,
        ephemeral ``endpoint__model___sender`` agent ids and addedConvo 0.8.2,
        transactions.messageId 0.8.3, contextMeta and tenantId 0.8.5, isTemporary 0.8.6.
        The indexes are always those of librechat_indexes.json (current LibreChat).
    tenants: tenant ids dealt to users round-robin; from 0.8.5 every document of a
        tenant-aware collection carries its user's ``tenantId``, and the first user of each
        tenant is ADMIN. Ignored before 0.8.5.
    transactions: False emulates ``transactions.enabled: false`` with balance off: the
        transactions and balances collections exist (with indexes) but stay empty.
    hostile: add a handful of malformed documents (see ``_hostile_documents``).
    """

    seed: int = 1
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    days: int = 40
    users: int = 30
    conversations_per_user: float = 3.0
    turns_per_conversation: float = 3.0
    version: str = LATEST
    tenants: list[str] | None = None
    transactions: bool = True
    hostile: bool = False

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("GenOptions.now must be tz-aware (UTC)")
        if not _has(self.version, "0.7.5"):
            raise ValueError(f"version {self.version!r}: the generator emulates 0.7.5 and later")
        if self.users < 1 or self.days < 1:
            raise ValueError("GenOptions needs users >= 1 and days >= 1")


@dataclass
class Summary:
    """Documents inserted per collection, for sanity checks (the metric oracle reads MongoDB)."""

    counts: dict[str, int]

    def __getitem__(self, collection: str) -> int:
        return self.counts.get(collection, 0)


# Generator bookkeeping kept on user dicts while building; removed before insert.
PRIVATE_KEYS = ("_pending", "_tenant")
COLLECTIONS = (
    "users",
    "balances",
    "sessions",
    "agents",
    "conversations",
    "messages",
    "transactions",
    "files",
    "logs",
    "memoryentries",
    "agentcategories",
    "aclentries",
    "mcpservers",
    "sharedlinks",
    "auditlogs",
    "schedules",
    "scheduleruns",
)


def generate(db: Database[Any], opts: GenOptions) -> Summary:
    """Create LibreChat's indexes, then bulk-insert a deterministic deployment into ``db``
    (expected empty). Returns the number of documents inserted per collection."""
    ensure_indexes(db, opts.version)
    docs = _Generator(opts).run()
    for name in COLLECTIONS:
        if docs[name]:
            db[name].insert_many(docs[name], ordered=True)
    return Summary({name: len(docs[name]) for name in COLLECTIONS})


@dataclass
class _Turn:
    """Running state of one conversation while its messages are laid out."""

    conv: dict[str, Any]
    user: dict[str, Any]
    choice: ModelChoice | None
    agent: dict[str, Any] | None
    temporary: bool
    tenant: dict[str, Any]
    history_tokens: int = 0
    parent: str = NO_PARENT
    messages: list[dict[str, Any]] = field(default_factory=list)


class _Generator:
    """Builds every document in memory (so ordering and ids depend on the seed only)."""

    def __init__(self, opts: GenOptions) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.now = _ms(opts.now)
        self.v = opts.version
        self.docs: dict[str, list[dict[str, Any]]] = {name: [] for name in COLLECTIONS}
        self.file_counter = 0
        self.last_activity: dict[ObjectId, datetime] = {}

    def run(self) -> dict[str, list[dict[str, Any]]]:
        self._users()
        self._agents()
        self._conversations()
        self._standalone_files()
        self._sessions()
        if self.opts.transactions:
            self._credits()
            self._balances()
        self._bans()
        # The 0.8 collections from an rng of their own: every document above stays as it was.
        _features(self, random.Random(f"features-{self.opts.seed}"))
        if self.opts.hostile:
            for name, extra in _hostile_documents(self).items():
                self.docs[name].extend(extra)
        for user in self.docs["users"]:
            for key in PRIVATE_KEYS:
                del user[key]
        return self.docs

    # -- shared bits ---------------------------------------------------------

    def ago(self, seconds: float) -> datetime:
        return _ms(self.now - timedelta(seconds=seconds))

    def tenant_of(self, index: int) -> dict[str, Any]:
        """``{"tenantId": ...}`` for the index-th user, or {} when documents carry no tenant."""
        tenants = self.opts.tenants
        if not tenants or not _has(self.v, "0.8.5"):
            return {}
        return {"tenantId": tenants[index % len(tenants)]}

    def add(self, collection: str, doc: dict[str, Any]) -> dict[str, Any]:
        self.docs[collection].append(doc)
        return doc

    def poisson(self, mean: float) -> int:
        """A Poisson count (Knuth); a normal approximation for large means, where Knuth's
        product of uniforms would underflow."""
        if mean <= 0:
            return 0
        if mean > 30:
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    # -- users ---------------------------------------------------------------

    def _users(self) -> None:
        span = self.opts.days * 86400
        for i in range(self.opts.users):
            self.add("users", self._user(i, span))

    def _user(self, i: int, span: float) -> dict[str, Any]:
        rng, tenant = self.rng, self.tenant_of(i)
        # Users are dealt round-robin to tenants, so users 0..T-1 open one tenant each.
        first_of_tenant = i < (len(self.opts.tenants or []) if tenant else 1)
        pending = not first_of_tenant and rng.random() < 0.08
        if first_of_tenant:
            # The first registered account (per tenant) becomes ADMIN; it is the oldest.
            created, provider = self.ago(span - i * 60), "local"
        elif pending:
            created, provider = self.ago(rng.uniform(600, 10 * 86400)), "local"
        else:
            recent = rng.random() < 0.1  # fresh registrations for today/this-week windows
            low, high = (3600, 3 * 86400) if recent else (3 * 86400, span - 3600)
            created = self.ago(rng.uniform(low, max(low, high)))
            provider = _weighted(rng, PROVIDER_WEIGHTS)
        role = "ADMIN" if first_of_tenant else "USER"
        user = make_user(
            rng, created, provider=provider, role=role, pending=pending, version=self.v, **tenant
        )
        # Index-based names keep the unique email/ldapId indexes safe at any user count.
        user["username"] = f"{user['username'].rsplit('.', 1)[0]}.{i}"
        user["email"] = f"{user['username']}@example.com"
        if "ldapId" in user:
            user["ldapId"] = f"uid={user['username']},ou=people,dc=example,dc=com"
        user["_pending"] = pending
        user["_tenant"] = tenant
        return user

    def active_users(self) -> list[dict[str, Any]]:
        return [u for u in self.docs["users"] if not u["_pending"]]

    # -- agents --------------------------------------------------------------

    def _agents(self) -> None:
        authors = self.active_users()
        for i in range(max(2, self.opts.users // 6)):
            author = authors[i % min(len(authors), 3)]
            created = _ms(author["createdAt"] + timedelta(hours=self.rng.uniform(1, 24)))
            if created > self.ago(3600):
                continue
            choice = self.rng.choice(MODELS)
            tools = self.rng.sample(BUILTIN_TOOLS + MCP_TOOLS, k=self.rng.randint(1, 4))
            agent = make_agent(
                author,
                created,
                choice=choice,
                tools=tools,
                rng=self.rng,
                version=self.v,
                **author["_tenant"],
            )
            self.add("agents", agent)
            if self.rng.random() < 0.5:
                self._add_file(
                    author, created, mime="application/pdf", context="agents", embedded=True
                )

    # -- conversations -------------------------------------------------------

    def _conversations(self) -> None:
        users = self.active_users()
        # The first users also get a chat that ends within the last 4 minutes, so the
        # 5-minute window always has data, and "today" (UTC) too, even just after midnight.
        midnight = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        latest = min(240.0, (self.now - midnight).total_seconds())
        for user in users[:3]:
            self._conversation(user, end_age=self.rng.uniform(0, latest))
        for user in users:
            for _ in range(self.poisson(self.opts.conversations_per_user)):
                self._conversation(user, end_age=self._end_age(user))

    def _end_age(self, user: dict[str, Any]) -> float:
        """Seconds before now at which a conversation ends: dense near now, thinning out."""
        max_age = (self.now - user["createdAt"]).total_seconds() - 120
        r = self.rng.random()
        if r < 0.4:
            age = self.rng.expovariate(1 / (6 * 3600))
        elif r < 0.65:
            age = self.rng.uniform(0, 7 * 86400)
        else:
            age = self.rng.uniform(0, self.opts.days * 86400)
        return age if age <= max_age else self.rng.uniform(0, max(0.0, max_age))

    def agents_for(self, user: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
        """Agents that existed at ``at`` in the user's tenant (tenants do not share agents)."""
        tenant = user["_tenant"].get("tenantId")
        return [
            a for a in self.docs["agents"] if a["createdAt"] <= at and a.get("tenantId") == tenant
        ]

    def _pick_model(
        self, user: dict[str, Any], start: datetime
    ) -> tuple[ModelChoice | None, dict[str, Any] | None]:
        agents = self.agents_for(user, start)
        weighted: list[tuple[Any, int]] = [(m, m.weight) for m in MODELS]
        if agents:
            weighted.append(("agents", AGENTS_WEIGHT))
        choice = _weighted(self.rng, weighted)
        if choice == "agents":
            return None, self.rng.choice(agents)
        return choice, None

    def _conversation(self, user: dict[str, Any], end_age: float) -> None:
        times = self._turn_times(user, end_age)
        if not times:
            return
        choice, agent = self._pick_model(user, times[0][0])
        temporary = (
            _has(self.v, "0.7.7")
            and self.rng.random() < 0.08
            # Older temporary chats are gone: LibreChat's TTL index deleted them.
            and times[-1][1] + TEMP_CHAT_RETENTION > self.now
        )
        conv = self._conversation_doc(user, choice, agent, times[0][0], temporary)
        state = _Turn(conv, user, choice, agent, temporary, user["_tenant"])
        for user_at, reply_at in times:
            self._turn(state, user_at, reply_at)
        self._finish_conversation(state)

    def _turn_times(self, user: dict[str, Any], end_age: float) -> list[tuple[datetime, datetime]]:
        """(user message, reply) times laid out backwards from the conversation's end."""
        n = 1 + self.poisson(max(0.0, self.opts.turns_per_conversation - 1))
        end = self.now - timedelta(seconds=end_age)
        times: list[tuple[datetime, datetime]] = []
        for _ in range(n):
            reply = end
            asked = reply - timedelta(seconds=self.rng.uniform(2, 45))
            if asked <= user["createdAt"]:
                break
            times.append((_ms(asked), _ms(reply)))
            end = asked - timedelta(seconds=self.rng.expovariate(1 / 180))
        return times[::-1]

    def _conversation_doc(
        self,
        user: dict[str, Any],
        choice: ModelChoice | None,
        agent: dict[str, Any] | None,
        start: datetime,
        temporary: bool,
    ) -> dict[str, Any]:
        endpoint = "agents" if agent else choice.endpoint  # type: ignore[union-attr]
        # Agent chats often have no (or a stale) model on the conversation; leave it out.
        model = None if agent else choice.model  # type: ignore[union-attr]
        conv = make_conversation(
            user["_id"],
            start,
            endpoint=endpoint,
            model=model,
            rng=self.rng,
            version=self.v,
            temporary=temporary,
            **user["_tenant"],
        )
        if choice is not None and choice.endpoint_type:
            conv["endpointType"] = choice.endpoint_type
        # LibreChat stores a conversation's agent_id from 0.7.6 (convoSchema gained the field).
        agent_id = (agent["id"] if _has(self.v, "0.7.6") else None) if agent else \
            self._ephemeral_agent_id(choice)
        if agent_id is not None:
            conv["agent_id"] = agent_id
        if not temporary and self.rng.random() < 0.1:
            conv["isArchived"] = True
        if _has(self.v, "0.7.5") and self.rng.random() < 0.1:
            conv["tags"] = [self.rng.choice(["work", "ideas", "later"])]
        return conv

    def _ephemeral_agent_id(self, choice: ModelChoice | None) -> str | None:
        """What LibreChat stores as agent_id on non-agent endpoints (none before 0.7.9)."""
        if choice is None or not _has(self.v, "0.7.9"):
            return None
        if not _has(self.v, "0.8.2"):
            return "ephemeral"
        return f"{choice.endpoint}__{choice.model}___{choice.sender}".replace(":", "__")

    def _finish_conversation(self, state: _Turn) -> None:
        conv = state.conv
        conv["messages"] = [m["_id"] for m in state.messages]
        last = max(m["createdAt"] for m in state.messages)
        conv["updatedAt"] = last
        if state.temporary and _has(self.v, "0.7.7"):
            conv["expiredAt"] = last + TEMP_CHAT_RETENTION
        if self.rng.random() < 0.85 and last < self.ago(300):
            conv["title"] = self.rng.choice(TITLES)
            self._title_transactions(state, conv["createdAt"])
        self.last_activity[state.user["_id"]] = max(
            last, self.last_activity.get(state.user["_id"], last)
        )
        self.add("conversations", conv)

    # -- messages ------------------------------------------------------------

    def _message(self, state: _Turn, at: datetime, *, by_user: bool, **over: Any) -> dict[str, Any]:
        endpoint = state.conv["endpoint"]
        model = None
        if not by_user:
            model = state.agent["id"] if state.agent else state.choice.model  # type: ignore[union-attr]
        msg = make_message(
            state.user["_id"],
            state.conv["conversationId"],
            at,
            by_user=by_user,
            model=model,
            endpoint=endpoint,
            rng=self.rng,
            version=self.v,
            temporary=state.temporary,
            parentMessageId=state.parent,
            **state.tenant,
            **over,
        )
        if state.agent and not by_user:
            msg["sender"] = state.agent["name"]
        state.messages.append(msg)
        return self.add("messages", msg)

    def _turn(self, state: _Turn, user_at: datetime, reply_at: datetime) -> None:
        question = self._message(state, user_at, by_user=True)
        if self.rng.random() < 0.06:
            self._attach_upload(state, question)
        state.parent = question["messageId"]
        state.history_tokens += question["tokenCount"]
        roll = self.rng.random()
        if roll < 0.03:
            reply = self._error_reply(state, reply_at)
        else:
            reply = self._reply(
                state, reply_at, unfinished=roll < 0.05, error_part=0.05 <= roll < 0.08
            )
            if state.agent and _has(self.v, "0.8.2") and self.rng.random() < 0.05:
                self._added_convo_reply(state, question, reply_at)
        state.parent = reply["messageId"]

    def _reply(
        self, state: _Turn, at: datetime, *, unfinished: bool, error_part: bool
    ) -> dict[str, Any]:
        tokens = int(min(4000, max(5, self.rng.lognormvariate(5.5, 0.8))))
        msg = self._message(state, at, by_user=False, tokenCount=tokens)
        # Error parts exist only where responses are content[] (the agents pipeline).
        error_part = error_part and "content" in msg
        if "content" in msg:
            msg["content"] = self._content_parts(state, msg, error_part)
        if error_part:
            msg["tokenCount"] = 0
        if unfinished:
            msg["unfinished"] = True
        elif not _has(self.v, "0.7.9") and state.conv.get("endpoint") in LEGACY_OPENAI_CLIENT:
            # Before 0.7.9 the OpenAIClient (openAI, azureOpenAI and custom endpoints) saved the
            # provider's finish_reason of the first choice; no other client ever did. Its own
            # stream, so that the rest of the deployment is generated as before.
            msg["finish_reason"] = _finish_reason(random.Random(msg["messageId"]))
        if _has(self.v, "0.8.5"):
            msg["contextMeta"] = {
                "calibrationRatio": _num(round(self.rng.uniform(0.9, 1.1), 2)),
                "encoding": "o200k_base",
            }
        if not (unfinished or error_part):
            self._maybe_feedback(msg)
        if not error_part:  # a provider failure reports no usage, so nothing is spent
            self._message_transactions(state, msg, "incomplete" if unfinished else "message")
        state.history_tokens += msg["tokenCount"]
        return msg

    def _content_parts(
        self, state: _Turn, msg: dict[str, Any], error_part: bool
    ) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        tools = (
            state.agent["tools"]
            if state.agent
            else (["web_search"] if self.rng.random() < 0.3 else [])
        )
        if tools and self.rng.random() < (0.4 if state.agent else 0.15):
            for name in self.rng.sample(tools, k=self.rng.randint(1, min(2, len(tools)))):
                parts.append(self._tool_call(name))
                if name == "execute_code" and self.rng.random() < 0.5:
                    self._code_output(state, msg)
        parts.extend(msg["content"])
        if error_part:
            parts.append({"type": "error", "error": self.rng.choice(ERROR_PARTS)})
        return parts

    def _tool_call(self, name: str) -> dict[str, Any]:
        call_id = "call_" + "".join(
            self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            for _ in range(24)
        )
        return {
            "type": "tool_call",
            "tool_call": {
                "id": call_id,
                "name": name,
                "args": json.dumps({"query": "quarterly report"}),
                "output": "3 results",
                "type": "tool_call",
                "progress": 1,
            },
        }

    def _error_reply(self, state: _Turn, at: datetime) -> dict[str, Any]:
        # sendError/denyRequest: error true, JSON text, no endpoint, no model, no tokenCount.
        msg = make_message(
            state.user["_id"],
            state.conv["conversationId"],
            at,
            by_user=False,
            model=None,
            endpoint=None,
            rng=self.rng,
            version=self.v,
            temporary=state.temporary,
            parentMessageId=state.parent,
            text=self.rng.choice(ERROR_TEXTS),
            content=MISSING,
            tokenCount=MISSING,
            error=True,
            **state.tenant,
        )
        msg["sender"] = state.agent["name"] if state.agent else state.choice.sender  # type: ignore[union-attr]
        state.messages.append(msg)
        return self.add("messages", msg)

    def _added_convo_reply(self, state: _Turn, question: dict[str, Any], at: datetime) -> None:
        """A parallel response to the same question; its model is the agent id + '____1'."""
        agent = self.rng.choice(self.agents_for(state.user, at) or [state.agent])
        sibling = _Turn(
            state.conv,
            state.user,
            None,
            agent,
            state.temporary,
            state.tenant,
            state.history_tokens,
            question["messageId"],
            state.messages,
        )
        at = _ms(min(self.now, at + timedelta(seconds=self.rng.uniform(0.5, 5))))
        reply = self._message(
            sibling, at, by_user=False, addedConvo=True, tokenCount=int(self.rng.uniform(20, 800))
        )
        reply["model"] = f"{agent['id']}____1"
        self._message_transactions(sibling, reply, "message")

    def _maybe_feedback(self, msg: dict[str, Any]) -> None:
        if not _has(self.v, "0.7.9") or self.rng.random() >= 0.05:
            return
        rating = "thumbsUp" if self.rng.random() < 0.7 else "thumbsDown"
        at = _ms(min(self.now, msg["createdAt"] + timedelta(seconds=self.rng.uniform(10, 3600))))
        feedback: dict[str, Any] = {"rating": rating, "tag": self.rng.choice(FEEDBACK_TAGS[rating])}
        if self.rng.random() < 0.3:
            feedback["text"] = "Thanks!" if rating == "thumbsUp" else "Missed the point."
        feedback["_id"] = object_id_at(at, self.rng)
        msg["feedback"] = feedback
        msg["updatedAt"] = at  # updateMessage bumps the timestamp

    # -- transactions --------------------------------------------------------

    def _spend_model(self, state: _Turn) -> str:
        """transactions.model is the model actually called, never an agent id."""
        return state.agent["model"] if state.agent else state.choice.model  # type: ignore[union-attr]

    def _txn_fields(self, state: _Turn, msg: dict[str, Any] | None) -> dict[str, Any]:
        fields: dict[str, Any] = {"conversationId": state.conv["conversationId"]}
        if msg is not None and _has(self.v, "0.8.3"):
            fields["messageId"] = msg["messageId"]
        return fields | state.tenant

    def _message_transactions(self, state: _Turn, msg: dict[str, Any], context: str) -> None:
        if not self.opts.transactions:
            return
        model, at = self._spend_model(state), msg["createdAt"]
        overhead = self.rng.randint(300, 2500) if state.agent else self.rng.randint(30, 200)
        prompt_tokens = state.history_tokens + overhead
        fields = self._txn_fields(state, msg)
        cached = model in ("claude-sonnet-4-20250514", "gpt-4o") and prompt_tokens > 400
        if context == "message" and cached and self.rng.random() < 0.4:
            prompt = self._structured_prompt(state, model, at, prompt_tokens)
        else:
            prompt = make_transaction(
                state.user["_id"],
                at,
                "prompt",
                model,
                _neg(prompt_tokens),
                context=context,
                rng=self.rng,
                version=self.v,
            )
        completion = make_transaction(
            state.user["_id"],
            at,
            "completion",
            model,
            _neg(msg["tokenCount"]),
            context=context,
            rng=self.rng,
            version=self.v,
        )
        for txn in (prompt, completion):
            self.add("transactions", _with_fields_after_user(txn, fields))

    def _structured_prompt(
        self, state: _Turn, model: str, at: datetime, total: int
    ) -> dict[str, Any]:
        read = int(total * self.rng.uniform(0.3, 0.9))
        # OpenAI reports no cache writes, so its writeTokens is -0 (stored as -0.0).
        write = 0 if model == "gpt-4o" else self.rng.randint(0, (total - read) // 2)
        return make_structured_prompt(
            state.user["_id"],
            at,
            model,
            total - read - write,
            write,
            read,
            rng=self.rng,
            version=self.v,
        )

    def _title_transactions(self, state: _Turn, first_at: datetime) -> None:
        if not self.opts.transactions:
            return
        model = (
            "gpt-4o-mini"
            if self._spend_model(state).startswith("gpt-")
            else self._spend_model(state)
        )
        at = _ms(min(self.now, first_at + timedelta(seconds=self.rng.uniform(50, 60))))
        fields = self._txn_fields(state, None)
        for token_type, tokens in (
            ("prompt", self.rng.randint(100, 400)),
            ("completion", self.rng.randint(4, 15)),
        ):
            txn = make_transaction(
                state.user["_id"],
                at,
                token_type,
                model,
                _neg(tokens),
                context="title",
                rng=self.rng,
                version=self.v,
            )
            self.add("transactions", _with_fields_after_user(txn, fields))

    def _credits(self) -> None:
        """Top-ups: admin grants (config/add-balance.js, all versions) and auto-refills (0.7.8+)."""
        for user in self.active_users():
            contexts = ["admin"] + (["autoRefill"] if _has(self.v, "0.7.8") else [])
            for context in contexts:
                if self.rng.random() >= 0.12:
                    continue
                age = (self.now - user["createdAt"]).total_seconds()
                at = self.ago(self.rng.uniform(0, age))
                txn = make_transaction(
                    user["_id"],
                    at,
                    "credits",
                    None,
                    1_000_000 if context == "autoRefill" else 5_000_000,
                    context=context,
                    rng=self.rng,
                    version=self.v,
                    **user["_tenant"],
                )
                self.add("transactions", txn)

    def _balances(self) -> None:
        """tokenCredits replayed from the user's transactions; clamped at 0 from 0.7.8 on."""
        spent: dict[ObjectId, list[dict[str, Any]]] = {}
        for txn in self.docs["transactions"]:
            spent.setdefault(txn["user"], []).append(txn)
        # Registration grants startBalance, so pending sign-ups have a balance too.
        for user in self.docs["users"]:
            credits: float = 1_000_000  # balance.startBalance granted at registration
            txns = sorted(spent.get(user["_id"], []), key=lambda t: t["createdAt"])
            for txn in txns:
                credits += txn["tokenValue"]
                if _has(self.v, "0.7.8"):
                    credits = max(0, credits)
            refills = [t["createdAt"] for t in txns if t.get("context") == "autoRefill"]
            balance = make_balance(
                user["_id"],
                credits,
                last_refill=max(refills, default=user["createdAt"]),
                version=self.v,
                **user["_tenant"],
            )
            if refills:
                balance.update(autoRefillEnabled=True, refillAmount=1_000_000)
            self.add("balances", balance)

    # -- files ---------------------------------------------------------------

    def _add_file(self, user: dict[str, Any], at: datetime, **over: Any) -> dict[str, Any]:
        self.file_counter += 1
        mime = over.pop("mime", None) or _weighted(self.rng, [(m[0], m[1]) for m in MIMES])
        source = over.pop("source", None) or _weighted(self.rng, FILE_SOURCES)
        median = next(m[2] for m in MIMES if m[0] == mime)
        ext = next(m[3] for m in MIMES if m[0] == mime)
        over.setdefault("filename", f"{over.get('context', 'file')}_{self.file_counter}.{ext}")
        over.setdefault(
            "bytes", _num(max(1, round(self.rng.lognormvariate(math.log(median), 0.8))))
        )
        doc = make_file(
            user["_id"],
            at,
            mime=mime,
            source=source,
            rng=self.rng,
            version=self.v,
            **user["_tenant"],
            **over,
        )
        return self.add("files", doc)

    def _attach_upload(self, state: _Turn, question: dict[str, Any]) -> None:
        uploaded = _ms(question["createdAt"] - timedelta(seconds=self.rng.uniform(3, 60)))
        file = self._add_file(state.user, uploaded, conversationId=state.conv["conversationId"])
        if file["type"] in EMBEDDABLE and self.rng.random() < 0.6:
            file["embedded"] = True  # indexed into the RAG vector store for file_search
        if _has(self.v, "0.8.3"):
            file["messageId"] = question["messageId"]
        snapshot = {
            k: file[k]
            for k in (
                "file_id",
                "filename",
                "filepath",
                "type",
                "bytes",
                "source",
                "embedded",
                "width",
                "height",
            )
            if k in file
        }
        question["files"] = [snapshot]
        if "files" in state.conv:
            state.conv["files"].append(file["file_id"])

    def _code_output(self, state: _Turn, msg: dict[str, Any]) -> None:
        over: dict[str, Any] = {"conversationId": state.conv["conversationId"]}
        if _has(self.v, "0.8.3"):
            over["messageId"] = msg["messageId"]
        self._add_file(
            state.user,
            msg["createdAt"],
            mime="image/png",
            context="execute_code",
            source="execute_code",
            **over,
        )

    def _standalone_files(self) -> None:
        """Avatars, generated images and a few fresh uploads that still carry expiresAt."""
        for user in self.active_users():
            if self.rng.random() < 0.3:
                at = _ms(user["createdAt"] + timedelta(minutes=self.rng.uniform(1, 60)))
                self._add_file(user, at, mime="image/png", context="avatar", usage=0)
            if self.rng.random() < 0.1:
                at = self.ago(self.rng.uniform(60, (self.now - user["createdAt"]).total_seconds()))
                self._add_file(user, at, mime="image/png", context="image_generation")
        for user in self.active_users()[:3]:
            # Uploaded within the last 2 h and never sent: some already past expiresAt.
            self._add_file(user, self.ago(self.rng.uniform(60, 7200)), expires=True)

    # -- sessions and bans ---------------------------------------------------

    def _sessions(self) -> None:
        for user in self.active_users():
            if user["provider"] == "openid" and self.rng.random() < 0.5:
                continue  # OPENID_REUSE_TOKENS logins write no session
            last = self.last_activity.get(user["_id"], user["createdAt"])
            logins = [max(user["createdAt"], last - timedelta(seconds=self.rng.uniform(0, 7200)))]
            age = (self.now - user["createdAt"]).total_seconds()
            logins += [self.ago(self.rng.uniform(0, age)) for _ in range(self.rng.randint(0, 2))]
            for login in logins:
                self.add(
                    "sessions",
                    make_session(
                        user["_id"], login, rng=self.rng, version=self.v, **user["_tenant"]
                    ),
                )

    def _bans(self) -> None:
        users = self.active_users()
        for i in range(max(2, len(users) // 10)):
            # Half are live (banned within the ban duration), half have expired.
            live = i % 2 == 0
            at = self.ago(self.rng.uniform(60, 7000) if live else self.rng.uniform(8000, 5 * 86400))
            kind = self.rng.choice(BAN_TYPES)
            user = users[-1 - i % len(users)]
            self.add("logs", make_ban(str(user["_id"]), at, violation_type=kind, rng=self.rng))
            ip = f"203.0.113.{10 + i}"
            self.add("logs", make_ban(ip, at, violation_type=kind, rng=self.rng))


def _with_fields_after_user(txn: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Put conversationId/messageId right after ``user``, where LibreChat's documents have them."""
    head = {"_id": txn["_id"], "user": txn["user"]}
    return head | fields | {k: v for k, v in txn.items() if k not in head}


# --- hostile documents ---------------------------------------------------------------------


def _hostile_documents(gen: _Generator) -> dict[str, list[dict[str, Any]]]:
    """A handful of documents no well-behaved LibreChat writes, in fields an exporter reads:
    wrong BSON types, huge and nasty strings. A robust exporter neither crashes nor emits
    an invalid exposition line because of them."""
    user = gen.active_users()[0]
    uid, rng, v = user["_id"], gen.rng, gen.v
    conv = make_conversation(uid, gen.ago(900), rng=rng, version=v, title='evil "title"\n')
    cid = conv["conversationId"]

    def reply(seconds_ago: float, model: Any = "gpt-4o", **over: Any) -> dict[str, Any]:
        return make_message(
            uid, cid, gen.ago(seconds_ago), by_user=False, model=model, rng=rng, version=v, **over
        )

    nasty = [
        'quote"model',
        "back\\slash",
        "new\nline",
        "nul\x00byte",
        "emoji 🤖🔥",
        "jane.doe@example.com",
    ]
    messages = [
        reply(800 - i, model=m)
        for i, m in enumerate(
            [42, ObjectId(b"\x00" * 12), {"name": "gpt-4o"}, "x" * 10_000, *nasty]
        )
    ]
    messages += [
        reply(
            780, feedback={"rating": "thumbsDown", "tag": 7, "_id": object_id_at(gen.ago(700), rng)}
        ),
        reply(
            779,
            feedback={
                "rating": "thumbsUp",
                "tag": {"key": "x"},
                "_id": object_id_at(gen.ago(700), rng),
            },
        ),
        reply(
            778,
            feedback={
                "rating": "thumbsDown",
                "tag": ["a", "b"],
                "_id": object_id_at(gen.ago(700), rng),
            },
        ),
        reply(
            777,
            content=[
                {
                    "type": "tool_call",
                    "tool_call": {
                        "id": "call_x",
                        "name": 'bad"name\nwith_mcp_sërvér 🤖',
                        "args": "{}",
                        "output": "",
                        "type": "tool_call",
                        "progress": 1,
                    },
                }
            ],
        ),
        reply(776, content="a string where an array belongs"),
        reply(775, tokenCount="123"),
        reply(774, endpoint=None),
        reply(773, user=MISSING),
    ]
    bad_date = reply(772)
    bad_date["createdAt"] = gen.ago(772).isoformat().replace("+00:00", "Z")
    messages.append(bad_date)
    conv["messages"] = [m["_id"] for m in messages]
    txns = [
        make_transaction(
            uid, gen.ago(770), "prompt", "gpt-4o", -100, rng=rng, version=v, rawAmount="-100"
        ),
        make_transaction(uid, gen.ago(769), "completion", 12345, -5, rng=rng, version=v),
        make_transaction(uid, gen.ago(768), "completion", 'evil"\n\\model', -5, rng=rng, version=v),
    ]
    files = [make_file(uid, gen.ago(767), mime='image/"png"\n', rng=rng, version=v, bytes="12kB")]
    hostile = {"conversations": [conv], "messages": messages, "transactions": txns, "files": files}
    _hostile_features(gen, hostile, random.Random(f"hostile-features-{gen.opts.seed}"))
    return hostile


def _hostile_features(gen: _Generator, out: dict[str, list[dict[str, Any]]],
                      rng: random.Random) -> None:
    """Malformed documents in the fields the 0.8 families read, each only where the version
    has the collection: strings where numbers or dates belong, arrays, objects, values
    outside LibreChat's enums, missing fields."""
    user = gen.active_users()[0]
    uid, v, at = user["_id"], gen.v, gen.ago(700)
    if _has(v, "0.8.6"):
        out["files"] += [
            make_file(uid, at, rng=rng, version=v, status="stuck"),
            make_file(uid, at, rng=rng, version=v, status=["pending"]),
            make_file(uid, at, rng=rng, version=v, status="pending", updatedAt="yesterday"),
        ]
    if _has(v, "0.7.9"):
        out["memoryentries"] = [
            make_memory_entry(uid, at, "a", "x", 0, rng=rng, version=v, tokenCount="12"),
            make_memory_entry(uid, at, "b", "x", -5, rng=rng, version=v),
            make_memory_entry(uid, at, "c", "x", float("inf"), rng=rng, version=v),
            make_memory_entry(uid, at, "d", "x", 7, rng=rng, version=v, userId=MISSING),
            make_memory_entry(uid, at, "e", "x", 7, rng=rng, version=v, userId=[uid]),
            make_memory_entry(uid, at, "f", "x", 7, rng=rng, version=v, userId=str(uid)),
        ]
    if _has(v, "0.8.0"):
        out["agentcategories"] = [
            make_agent_category("odd", at, order=9, custom=True, rng=rng, isActive="yes"),
            make_agent_category("odder", at, order=10, rng=rng),
        ]
        del out["agentcategories"][1]["custom"]
        resource = object_id_at(at, rng)
        out["aclentries"] = [
            make_acl_entry("robot", uid, "agent", resource, 1, uid, at, rng=rng),
            make_acl_entry("user", uid, "agent", resource, 1, uid, at, rng=rng,
                           principalType=MISSING),
            make_acl_entry("public", None, 42, resource, 1, uid, at, rng=rng),
            make_acl_entry("public", None, {"type": "agent"}, resource, 1, uid, at, rng=rng),
            make_acl_entry("public", None, "agent", resource, 1, uid, at, rng=rng,
                           expiredAt=gen.ago(60)),
            make_acl_entry("group", uid, "agent", resource, 1, uid, at, rng=rng,
                           expiredAt="2020-01-01"),
            make_acl_entry("user", uid, "agent", resource, 1, uid, at, rng=rng,
                           expiredAt=gen.ago(-3600)),
        ]
        agent = make_agent(user, at, rng=rng, version=v, is_promoted=[True],
                           category=["hr", "it"])
        out["agents"] = [agent, make_agent(user, at, rng=rng, version=v, is_promoted="true")]
    if _has(v, "0.8.2"):
        out["mcpservers"] = [
            make_mcp_server(uid, at, "x", rng=rng, version=v, serverName={"name": "x"}),
            make_mcp_server(uid, at, "y", rng=rng, version=v, serverName=MISSING),
            make_mcp_server(uid, at, 'evil"\nserver', rng=rng, version=v),
        ]
    if _has(v, "0.8.7"):
        chain: list[dict[str, Any]] = [{"seq": 1000, "hash": "f" * 64}]
        actor = {"type": "user", "id": str(uid), "name": "x"}
        target = {"type": "role", "id": "USER"}
        out["auditlogs"] = [
            make_audit_entry(chain, at, "grant.assigned", actor, target, rng=rng,
                             outcome="exploded"),
            make_audit_entry(chain, at, "grant.assigned", actor, target, rng=rng,
                             severity=MISSING),
            make_audit_entry(chain, at, "grant.assigned", actor, target, rng=rng,
                             category={"a": 1}, outcome=["denied"]),
        ]
    if _has(v, "0.8.8"):
        agent_id = gen.docs["agents"][0]["id"]
        odd = make_schedule(uid, at, agent_id, name="odd", hour=1, slot=4, rng=rng,
                            enabled="yes", disabledReason="aliens")
        out["schedules"] = [
            odd,
            make_schedule(uid, at, agent_id, name="gone", hour=1, slot=5, rng=rng,
                          deleting=True),
            make_schedule(uid, at, agent_id, name="erased", hour=1, slot=6, rng=rng,
                          erased=True, enabled=False),
            make_schedule(uid, at, agent_id, name="off", hour=1, slot=7, rng=rng,
                          enabled=False, disabledReason=["too_many_failures"]),
        ]
        runs = [make_schedule_run(odd, gen.ago(900 + i), "success", duration_ms=1000, rng=rng)
                for i in range(6)]
        runs[0]["status"] = "exploded"
        runs[1]["durationMs"] = "500"
        runs[2]["durationMs"] = -10
        runs[3]["settledAt"] = gen.ago(890).isoformat()
        runs[4]["status"] = ["requires_action"]
        runs[4].pop("settledAt")
        runs[5].pop("durationMs")
        out["scheduleruns"] = runs


# --- the LibreChat 0.8 collections ---------------------------------------------------------
# Shapes read back from documents written through @librechat/data-schemas 0.0.71's own methods
# (setMemory, createMCPServer, ensureDefaultCategories/createCategory, grantPermission,
# recordAuditEntry, createScheduleWithSlot, reserveStartedRun/recordRunOutcome/recordSkippedRun);
# fields appear from the release that introduced them.

DEFAULT_CATEGORIES = ("general", "hr", "rd", "finance", "it", "sales", "aftersales")
# seedDefaultRoles: the access roles' permBits (VIEW 1, EDIT 2, DELETE 4, SHARE 8).
VIEWER, EDITOR, OWNER = 1, 3, 15
MEMORY_KEYS = ("preferred_language", "job_title", "current_projects", "writing_style",
               "favorite_tools", "timezone")
SCHEDULE_STATUS_WEIGHTS = [("success", 80), ("error", 8), ("skipped_balance", 6),
                           ("interrupted", 3), ("skipped_overlap", 3)]


def access_role_id(name: str) -> ObjectId:
    """A stable _id for one of LibreChat's seeded access roles (agent_owner, ...)."""
    return ObjectId(hashlib.sha256(name.encode()).digest()[:12])


def make_memory_entry(
    user_oid: ObjectId | str,
    created: datetime,
    key: str,
    value: str,
    token_count: float,
    *,
    agent_id: str | None = None,
    updated: datetime | None = None,
    rng: random.Random | int | None = None,
    version: str = LATEST,
    **over: Any,
) -> dict[str, Any]:
    """A ``memoryentries`` document as setMemory upserts it (no timestamps: ``updated_at``);
    from 0.8.8 the upsert's filter names the agent partition, so ``agentId`` is stored, null
    for the user's shared pool."""
    rng = _rng(rng)
    created = _ms(created)
    doc: dict[str, Any] = {"_id": object_id_at(created, rng)}
    if _has(version, "0.8.8"):
        doc["agentId"] = agent_id
    doc.update(key=key, userId=_oid(user_oid), __v=0, tokenCount=_num(token_count),
               updated_at=_ms(updated or created), value=value)
    return _apply(doc, over)


def make_mcp_server(
    author_oid: ObjectId | str,
    created: datetime,
    server_name: str,
    *,
    title: str | None = None,
    rng: random.Random | int | None = None,
    version: str = LATEST,
    **over: Any,
) -> dict[str, Any]:
    """An ``mcpservers`` document (createMCPServer): serverName from the title, else
    ``mcp-<nanoid 16>``; normalizedServerName is in 0.0.71's schema, not 0.0.51's."""
    rng = _rng(rng)
    created = _ms(created)
    config: dict[str, Any] = {"type": "streamable-http",
                              "url": f"https://mcp.example.com/{server_name}"}
    if title is not None:
        config = {"title": title, **config}
    doc: dict[str, Any] = {"_id": object_id_at(created, rng), "serverName": server_name}
    if _has(version, "0.8.8"):
        doc["normalizedServerName"] = server_name
    doc.update(config=config, author=_oid(author_oid), createdAt=created, updatedAt=created,
               __v=0)
    return _apply(doc, over)


def make_agent_category(
    value: str,
    created: datetime,
    *,
    order: int,
    custom: bool = False,
    active: bool = True,
    label: str | None = None,
    rng: random.Random | int | None = None,
    **over: Any,
) -> dict[str, Any]:
    """An ``agentcategories`` document: a default one as ensureDefaultCategories seeds it
    (localization keys as label and description), or a custom one (createCategory)."""
    rng = _rng(rng)
    created = _ms(created)
    doc: dict[str, Any] = {
        "_id": object_id_at(created, rng),
        "value": value,
        "label": label or f"com_agents_category_{value}",
        "description": "" if custom else f"com_agents_category_{value}_description",
        "order": order,
        "isActive": active,
        "custom": custom,
        "createdAt": created,
        "updatedAt": created,
        "__v": 0,
    }
    return _apply(doc, over)


def make_acl_entry(
    principal_type: str,
    principal_id: ObjectId | str | None,
    resource_type: str,
    resource_id: ObjectId,
    perm_bits: int,
    granted_by: ObjectId | str,
    at: datetime,
    *,
    role: str | None = None,
    rng: random.Random | int | None = None,
    **over: Any,
) -> dict[str, Any]:
    """An ``aclentries`` document as grantPermission upserts it: the query's fields, then the
    $set ones; a public entry has no principalId or principalModel."""
    rng = _rng(rng)
    at = _ms(at)
    doc: dict[str, Any] = {"_id": object_id_at(at, rng)}
    models = {"user": "User", "group": "Group", "role": "Role"}
    if principal_type != "public":
        doc.update(principalId=principal_id, principalModel=models.get(principal_type, "User"))
    doc.update(principalType=principal_type, resourceId=resource_id, resourceType=resource_type,
               __v=0, createdAt=at, grantedAt=at, grantedBy=_oid(granted_by),
               permBits=perm_bits)
    if role is not None:
        doc["roleId"] = access_role_id(role)
    doc["updatedAt"] = at
    return _apply(doc, over)


def make_shared_link(
    user_id: ObjectId | str,
    conversation: dict[str, Any],
    created: datetime,
    *,
    rng: random.Random | int | None = None,
    version: str = LATEST,
    **over: Any,
) -> dict[str, Any]:
    """A ``sharedlinks`` document (createSharedLink): public through ``isPublic`` up to 0.8.6,
    through an ACL entry (resourceType sharedLink) with file snapshots from 0.8.7."""
    rng = _rng(rng)
    created = _ms(created)
    doc: dict[str, Any] = {
        "_id": object_id_at(created, rng),
        "conversationId": conversation["conversationId"],
        "title": conversation.get("title", "New Chat"),
        "user": str(user_id),
        "messages": list(conversation.get("messages", [])),
        "shareId": _nanoid(rng),
    }
    if _has(version, "0.8.7"):
        doc.update(snapshotFiles=True, fileSnapshots=[])
    else:
        doc["isPublic"] = True
    doc.update(createdAt=created, updatedAt=created, __v=0)
    return _apply(doc, over)


def make_audit_entry(
    chain: list[dict[str, Any]],
    created: datetime,
    action: str,
    actor: dict[str, Any],
    target: dict[str, Any],
    *,
    outcome: str = "success",
    tenant_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    rng: random.Random | int | None = None,
    **over: Any,
) -> dict[str, Any]:
    """An ``auditlogs`` entry appended to ``chain`` (recordAuditEntry): category from the
    action, severity warning for failure and denied, else info; seq and prevHash continue the
    chain. LibreChat's entry hash is stood in for by a SHA-256 of the entry's fields."""
    rng = _rng(rng)
    created = _ms(created)
    previous = chain[-1] if chain else None
    doc: dict[str, Any] = {
        "_id": object_id_at(created, rng),
        "schemaVersion": 1,
        "category": action.split(".", 1)[0],
        "action": action,
        "outcome": outcome,
        "severity": "warning" if outcome in ("failure", "denied") else "info",
        "actor": actor,
        "target": target,
    }
    if metadata is not None:
        doc["metadata"] = metadata
    if tenant_id is not None:
        doc["tenantId"] = tenant_id
    doc.update(chainKey=f"tenant:{tenant_id}" if tenant_id else "__platform__",
               seq=previous["seq"] + 1 if previous else 1,
               prevHash=previous["hash"] if previous else "0" * 64)
    doc["hash"] = hashlib.sha256(json.dumps(
        {k: v for k, v in doc.items() if k != "_id"}, default=str, sort_keys=True).encode()
    ).hexdigest()
    doc.update(createdAt=created, __v=0)
    chain.append(doc)
    return _apply(doc, over)


def make_schedule(
    user_oid: ObjectId | str,
    created: datetime,
    agent_id: str,
    *,
    name: str,
    hour: int,
    frequency: str = "daily",
    slot: int = 0,
    enabled: bool = True,
    disabled_reason: str | None = None,
    rng: random.Random | int | None = None,
    **over: Any,
) -> dict[str, Any]:
    """A ``schedules`` document (createScheduleWithSlot, then armed): id ``sched_<uuid>``,
    the owner's slot, counters at 0. Runs are laid out with ``make_schedule_run``."""
    rng = _rng(rng)
    created = _ms(created)
    doc: dict[str, Any] = {
        "_id": object_id_at(created, rng),
        "id": f"sched_{_uuid4(rng)}",
        "user": _oid(user_oid),
        "name": name,
        "prompt": "Summarize what changed since yesterday.",
        "agent_id": agent_id,
        "cadence": {"frequency": frequency, "hour": hour, "minute": 0},
        "timezone": "Europe/Berlin",
        "target": "new",
        "enabled": enabled,
    }
    if disabled_reason is not None:
        doc["disabledReason"] = disabled_reason
    doc.update(clientRequestId=_uuid4(rng),
               clientRequestDigest=hashlib.sha256(rng.randbytes(16)).hexdigest(),
               configRevision=0, deleting=False, slot=slot, runCount=0, failureCount=0,
               balanceSkipCount=0, createdAt=created, updatedAt=created, __v=0)
    return _apply(doc, over)


def make_schedule_run(
    schedule: dict[str, Any],
    scheduled_for: datetime,
    status: str,
    *,
    duration_ms: int | None = None,
    capacity_slot: int = 0,
    rng: random.Random | int | None = None,
    **over: Any,
) -> dict[str, Any]:
    """A ``scheduleruns`` document: a skip is inserted settled (settledAt = firedAt); a run is
    inserted ``started`` with a capacity slot and settled later on the same document (status,
    durationMs, settledAt; the slot unset), ``requires_action`` while paused for an
    approval."""
    rng = _rng(rng)
    fired = _ms(scheduled_for)
    doc: dict[str, Any] = {
        "_id": object_id_at(fired, rng),
        "scheduleId": schedule["id"],
        "user": schedule["user"],
    }
    if "tenantId" in schedule:
        doc["tenantId"] = schedule["tenantId"]
    doc.update(scheduledFor=fired, firedAt=fired, status=status)
    if status.startswith("skipped_"):
        doc.update(bookkept=True, settledAt=fired, createdAt=fired, updatedAt=fired, __v=0)
        return _apply(doc, over)
    if status == "started":
        doc["capacitySlot"] = capacity_slot
    doc.update(configRevision=0, createdAt=fired, updatedAt=fired, __v=0)
    if status in ("started", "requires_action"):
        if status == "requires_action":
            doc["conversationId"] = _uuid4(rng)
        return _apply(doc, over)
    settled = _ms(fired + timedelta(milliseconds=duration_ms or 0))
    doc.update(bookkept=True, conversationId=_uuid4(rng), updatedAt=settled)
    if duration_ms is not None:
        doc["durationMs"] = duration_ms
    if status == "error":
        doc["error"] = "The agent run failed: 502 Bad Gateway"
    doc["settledAt"] = settled
    return _apply(doc, over)


def _features(gen: _Generator, rng: random.Random) -> None:
    """The collections of LibreChat 0.7.9 to 0.8.8, each from the release that has it."""
    v = gen.v
    if _has(v, "0.7.9"):
        _memories(gen, rng)
    if _has(v, "0.8.0"):
        _marketplace(gen, rng)
    servers = _mcp_servers(gen, rng) if _has(v, "0.8.2") else []
    links = _shared_links(gen, rng)
    if _has(v, "0.8.0"):
        _acl_entries(gen, rng, servers, links)
    if _has(v, "0.8.6"):
        _preview_files(gen, rng)
    if _has(v, "0.8.7"):
        _audit_log(gen, rng)
    if _has(v, "0.8.8"):
        _schedules(gen, rng)


def _sometime(gen: _Generator, rng: random.Random, since: datetime,
              until: datetime | None = None) -> datetime:
    """A time between ``since`` and ``until`` (default now)."""
    end = until or gen.now
    span = max(0.0, (end - since).total_seconds())
    return _ms(since + timedelta(seconds=rng.uniform(0, span)))


def _memories(gen: _Generator, rng: random.Random) -> None:
    users = gen.active_users()
    for i, user in enumerate(users):
        if i >= 2 and rng.random() >= 0.4:
            continue
        agents = gen.agents_for(user, gen.now)
        for key in rng.sample(MEMORY_KEYS, k=rng.randint(1, 4)):
            created = _sometime(gen, rng, user["createdAt"])
            agent_id = agents[0]["id"] if agents and rng.random() < 0.2 else None
            gen.add("memoryentries", make_memory_entry(
                user["_id"], created, key, f"{key.replace('_', ' ')}: noted",
                rng.randint(3, 80), agent_id=agent_id,
                updated=_sometime(gen, rng, created), rng=rng, version=gen.v,
                **user["_tenant"]))


def _marketplace(gen: _Generator, rng: random.Random) -> None:
    """Categories seeded at start-up (no tenant), one custom and one retired custom category
    per tenant; agents spread over the categories, a third of them promoted."""
    start = gen.docs["users"][0]["createdAt"]
    for order, value in enumerate(DEFAULT_CATEGORIES):
        gen.add("agentcategories", make_agent_category(value, start, order=order, rng=rng))
    tenants = [{"tenantId": t} for t in gen.opts.tenants or []] if _has(gen.v, "0.8.5") else []
    for tenant in tenants or [{}]:
        at = _sometime(gen, rng, start)
        gen.add("agentcategories", make_agent_category(
            "legal", at, order=7, custom=True, label="Legal", rng=rng, **tenant))
        gen.add("agentcategories", make_agent_category(
            "archive", at, order=8, custom=True, active=False, label="Archive", rng=rng,
            **tenant))
    for agent in gen.docs["agents"]:
        agent["category"] = rng.choice(("general", "general", "hr", "rd", "it", "legal"))
        agent["is_promoted"] = rng.random() < 0.34


def _mcp_servers(gen: _Generator, rng: random.Random) -> list[dict[str, Any]]:
    """Servers added in the UI by the first user of each tenant: two the agents' MCP tools
    call, one without a title (its name generated)."""
    firsts: dict[Any, dict[str, Any]] = {}
    for user in gen.active_users():
        firsts.setdefault(user["_tenant"].get("tenantId"), user)
    servers = []
    for user in firsts.values():
        for name, title in (("brave", "Brave"), ("github", "GitHub"),
                            (f"mcp-{_nanoid(rng, 16)}", None)):
            at = _sometime(gen, rng, user["createdAt"])
            servers.append(gen.add("mcpservers", make_mcp_server(
                user["_id"], at, name, title=title, rng=rng, version=gen.v,
                **user["_tenant"])))
    return servers


def _shared_links(gen: _Generator, rng: random.Random) -> list[dict[str, Any]]:
    owners = {str(u["_id"]): u for u in gen.active_users()}
    links = []
    for conv in gen.docs["conversations"][:40:8]:
        user = owners.get(conv["user"])
        if user is None or not conv["messages"]:
            continue
        at = _sometime(gen, rng, conv["updatedAt"])
        links.append(gen.add("sharedlinks", make_shared_link(
            conv["user"], conv, at, rng=rng, version=gen.v, **user["_tenant"])))
    return links


def _acl_entries(gen: _Generator, rng: random.Random, servers: list[dict[str, Any]],
                 links: list[dict[str, Any]]) -> None:
    """Every agent and MCP server has its owner's entry; some agents are shared with everyone
    (public viewer) or with a group (editor); shared links (0.8.7+) are public viewers."""
    def grant(ptype: str, pid: Any, rtype: str, resource: dict[str, Any], bits: int,
              by: Any, role: str | None, at: datetime) -> None:
        tenant = {"tenantId": resource["tenantId"]} if "tenantId" in resource else {}
        gen.add("aclentries", make_acl_entry(ptype, pid, rtype, resource["_id"], bits, by, at,
                                             role=role, rng=rng, **tenant))

    for agent in gen.docs["agents"]:
        author = agent["author"]
        grant("user", author, "agent", agent, OWNER, author, "agent_owner", agent["createdAt"])
        roll = rng.random()
        if roll < 0.4:
            grant("public", None, "agent", agent, VIEWER, author, "agent_viewer",
                  _sometime(gen, rng, agent["createdAt"]))
        elif roll < 0.65:
            grant("group", object_id_at(agent["createdAt"], rng), "agent", agent, EDITOR,
                  author, "agent_editor", _sometime(gen, rng, agent["createdAt"]))
    for server in servers:
        grant("user", server["author"], "mcpServer", server, OWNER, server["author"],
              "mcpServer_owner", server["createdAt"])
    if _has(gen.v, "0.8.7"):
        for link in links:
            owner = ObjectId(link["user"])
            grant("user", owner, "sharedLink", link, OWNER, owner, "sharedLink_owner",
                  link["createdAt"])
            grant("public", None, "sharedLink", link, VIEWER, owner, "sharedLink_viewer",
                  link["createdAt"])


def _preview_files(gen: _Generator, rng: random.Random) -> None:
    """Documents made by code execution whose preview renders in the background (status,
    0.8.6+): ready ones with their HTML, one that timed out, one rendering now and one left
    pending by a restart 20 minutes ago."""
    users = gen.active_users()
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    for i, (status, age) in enumerate((("ready", 86400.0), ("ready", 7200.0),
                                       ("failed", 3600.0), ("pending", 20.0),
                                       ("pending", 1200.0))):
        user = users[i % len(users)]
        at = gen.ago(min(age, (gen.now - user["createdAt"]).total_seconds() - 1))
        over: dict[str, Any] = {"status": status, "previewRevision": _uuid4(rng)}
        if status == "ready":
            over.update(textFormat="html", text="<p>Quarterly report</p>")
        if status == "failed":
            over["previewError"] = "timeout"
        gen._add_file(user, at, mime=docx, context="execute_code", source="execute_code",
                      conversationId=_uuid4(rng), **over)


def _audit_log(gen: _Generator, rng: random.Random) -> None:
    """Admins granting and removing capabilities (and the Insights permission): a platform
    chain, and with tenants one chain per tenant; two denied and one failed attempt."""
    admins = [u for u in gen.docs["users"] if u["role"] == "ADMIN"]
    chains: dict[str | None, list[dict[str, Any]]] = {}
    plan = [("grant.assigned", "success"), ("grant.assigned", "success"),
            ("grant.removed", "success"), ("permission.insights_assigned", "success"),
            ("grant.assigned", "denied"), ("grant.removed", "success"),
            ("permission.insights_removed", "success"), ("grant.assigned", "failure"),
            ("grant.removed", "denied"), ("grant.assigned", "success")]
    times = sorted(gen.ago(rng.uniform(60, 5 * 86400)) for _ in plan)
    times[-1] = gen.ago(rng.uniform(30, 600))  # the last one within the last minutes
    for i, ((action, outcome), at) in enumerate(zip(plan, times, strict=True)):
        admin = admins[i % len(admins)]
        tenant = admin["_tenant"].get("tenantId") if i % 3 else None
        actor = {"type": "user", "id": str(admin["_id"]), "name": admin["name"]}
        target = {"type": "role", "id": "USER", "name": "USER"}
        gen.add("auditlogs", make_audit_entry(
            chains.setdefault(tenant, []), at, action, actor, target, outcome=outcome,
            tenant_id=tenant, metadata={"capability": "read:insights"}, rng=rng))


def _schedules(gen: _Generator, rng: random.Random) -> None:
    """Daily briefings of a few users with agents, one hourly schedule running now, one
    paused for an approval; three disabled (failures, balance, by the owner)."""
    owners = [u for u in gen.active_users() if gen.agents_for(u, gen.now)][:5]
    slots = 0
    for i, user in enumerate(owners):
        agent = gen.agents_for(user, gen.now)[0]
        age = min((gen.now - user["createdAt"]).total_seconds(), gen.opts.days * 86400)
        created = gen.ago(age * rng.uniform(0.3, 0.9))
        reason = (None, None, "too_many_failures", "insufficient_balance", None)[i]
        schedule = make_schedule(user["_id"], created, agent["id"], name="Morning briefing",
                                 hour=7, enabled=i not in (2, 3, 4), disabled_reason=reason,
                                 rng=rng, **user["_tenant"])
        gen.add("schedules", schedule)
        day = _ms(created.replace(hour=6, minute=0, second=0, microsecond=0)
                  + timedelta(days=1))
        # A disabled schedule stopped running some time ago.
        stop = gen.now if schedule["enabled"] else _sometime(gen, rng, created)
        while day + timedelta(minutes=5) < stop:
            status = _weighted(rng, SCHEDULE_STATUS_WEIGHTS)
            duration = None if status.startswith("skipped_") else rng.randint(4000, 90000)
            gen.add("scheduleruns", make_schedule_run(schedule, day, status,
                                                      duration_ms=duration, rng=rng))
            schedule["runCount"] += status == "success"
            day += timedelta(days=1)
        if i == 0:
            hourly = make_schedule(user["_id"], gen.ago(36 * 3600), agent["id"],
                                   name="Inbox triage", hour=0, frequency="hourly", slot=1,
                                   rng=rng, **user["_tenant"])
            gen.add("schedules", hourly)
            at = _ms(hourly["createdAt"].replace(minute=0, second=0, microsecond=0)
                     + timedelta(hours=1))
            while at < gen.now:
                running = at + timedelta(hours=1) > gen.now
                status = "started" if running else _weighted(rng, SCHEDULE_STATUS_WEIGHTS)
                duration = None if status in ("started", "skipped_balance",
                                              "skipped_overlap") else rng.randint(2000, 40000)
                if not running and at + timedelta(milliseconds=duration or 0) > gen.now:
                    status, duration = "skipped_overlap", None
                gen.add("scheduleruns", make_schedule_run(
                    hourly, at, status, duration_ms=duration, capacity_slot=slots, rng=rng))
                at += timedelta(hours=1)
            slots += 1
        if i == 1:
            gen.add("scheduleruns", make_schedule_run(
                schedule, gen.ago(rng.uniform(60, 1800)), "requires_action", rng=rng))
