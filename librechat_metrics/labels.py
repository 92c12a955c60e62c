"""Label values: safe strings from whatever a document holds, and numbers that cannot poison a
sum. No user ids, e-mail addresses or conversation ids ever become a label value."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

from bson import ObjectId
from bson.decimal128 import Decimal128

OTHER = "other"
NONE = "none"  # the document has no value (a missing field, null, an empty string)
UNKNOWN = "unknown"  # a value that exists but cannot be resolved (an agent since deleted)
REDACTED = "redacted"
LABEL_MAX_CHARS = 100
AGENT_SUFFIX = re.compile(r"____[0-9]+$")
# Parallel "added convo" responses carry the agent id with a `____N` suffix (LibreChat 0.8.2+).
PERSONAL = re.compile(
    r"[^@\s]+@[^@\s]+\.[^@\s]+"  # an e-mail address
    r"|(?<![0-9a-fA-F])[0-9a-fA-F]{24}(?![0-9a-fA-F])"  # a user or document ObjectId
    r"|(?<![0-9a-fA-F])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
    r"-[0-9a-fA-F]{12}(?![0-9a-fA-F])"  # a UUID (conversation and message ids)
)
PERSONAL_WHOLE = re.compile(rf"(?:{PERSONAL.pattern})+")
# Ids and addresses inside a label value are replaced by 'redacted'; a value that is nothing
# but one becomes 'redacted' as a whole.


def label_value(value: Any) -> str:
    """A safe label value from whatever a document holds: a string, capped, no control chars."""
    if value is None:
        return NONE
    if isinstance(value, ObjectId):
        return REDACTED
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        value = json.dumps(value, default=str, sort_keys=True) if isinstance(
            value, (dict, list)) else str(value)
    # Only a bounded prefix is examined: the patterns below backtrack, and a 100k-character
    # model name must not stall a run. The margin keeps an id cut by the cap recognisable.
    head = value[:LABEL_MAX_CHARS * 4]
    cleaned = "".join(ch for ch in head if unicodedata.category(ch)[0] != "C").strip()
    if not cleaned:
        return NONE
    if PERSONAL_WHOLE.fullmatch(cleaned):
        return REDACTED
    return PERSONAL.sub(REDACTED, cleaned)[:LABEL_MAX_CHARS]


def model_label(value: Any) -> str:
    text = label_value(value)
    return AGENT_SUFFIX.sub("", text) if text.startswith("agent_") else text


USD_PER_CREDIT = 1e-6  # LibreChat: 1,000,000 token credits = 1 USD


def is_bson_number(value: Any) -> bool:
    """An int, long, double or Decimal128 as pymongo decodes them (not a bool)."""
    return isinstance(value, (int, float, Decimal128)) and not isinstance(value, bool)


def finite_number(value: Any) -> float | None:
    """A BSON number as a finite float; None for NaN, the infinities and non-numbers."""
    if not is_bson_number(value):
        return None
    if isinstance(value, Decimal128):
        decimal = value.to_decimal()
        # A signalling NaN raises on float(); it is no finite number either way.
        if not decimal.is_finite():
            return None
        value = decimal  # 1E+6144 is finite, its float is not
    number = float(value)
    return number if math.isfinite(number) else None


def number(value: Any) -> float:
    """A finite float from a MongoDB sum, or 0 for anything else (strings, NaN, Decimal128)."""
    finite = finite_number(value)
    return 0.0 if finite is None else finite


def closed_label(value: Any, allowed: tuple[str, ...]) -> str:
    """A value of a closed label: itself when it is one of `allowed`, else 'other' (so a
    hostile document cannot open a label that is declared closed)."""
    return value if isinstance(value, str) and value in allowed else OTHER
