"""LibreChat's admin audit log (LibreChat 0.8.7+): entries created, by category, outcome and
severity, counted once each.

The log is append-only (LibreChat refuses updates), so an entry is counted when it is created,
against the `_id` watermark of incremental.py; a retention purge does not make it fall.
"""

from __future__ import annotations

from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..counters import Counters
from ..dimensions import Dimensions
from ..families import Family
from ..incremental import count_new
from ..labels import closed_label, label_value, number
from ..queries import Match, grouped
from ..settings import Settings
from .base import tenant_of
from .optional import collection_present

CLOSED = dict(cat.AUDIT_EVENTS_TOTAL.closed)
BY = {"category": "$category", "outcome": "$outcome", "severity": "$severity"}


def audit_families(db: Any, clock: Clock, state: dict[str, Any],
                   settings: Settings, dims: Dimensions) -> list[Family]:
    """Audit log entries created, counted once each. Where the collection is absent the
    watermark still advances (nothing is found), so entries are counted from when it appears."""
    present = collection_present(db, clock, state, "auditlogs", "0.8.7")

    def count_chunk(match: Match, counters: Counters) -> None:
        for row in grouped(db.auditlogs, match, BY, settings.tenant_label):
            gid = row["_id"]
            counters.add(cat.AUDIT_EVENTS_TOTAL, number(row["n"]),
                         category=label_value(gid.get("category")),
                         outcome=closed_label(gid.get("outcome"), CLOSED["outcome"]),
                         severity=closed_label(gid.get("severity"), CLOSED["severity"]),
                         tenant=tenant_of(gid))

    counters = count_new(db.auditlogs, state, clock, settings, dims, count_chunk)
    if counters is None or not present:
        return []
    return [counters.family(cat.AUDIT_EVENTS_TOTAL)]
