"""Files: created (with their bytes) by source and context, and stored now; RAG embeddings."""

from __future__ import annotations

from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..counters import Counters
from ..dimensions import Dimensions
from ..families import Family
from ..incremental import count_new
from ..labels import label_value, number
from ..queries import Match, bounded, grouped
from ..settings import Settings
from .base import tenant_of

BY_SOURCE = {"source": "$source", "context": "$context"}
BYTES = {"bytes": {"$sum": {"$max": [bounded("$bytes"), 0]}}}  # a negative size counts as 0


def file_labels(gid: dict[str, Any]) -> dict[str, str]:
    return {"source": label_value(gid.get("source")), "context": label_value(gid.get("context")),
            "tenant": tenant_of(gid)}


def file_families(db: Any, clock: Clock, state: dict[str, Any],
                  settings: Settings, dims: Dimensions) -> list[Family]:
    """Files uploaded or generated, counted once each, with their bytes."""
    def count_chunk(match: Match, counters: Counters) -> None:
        for row in grouped(db.files, match, BY_SOURCE, settings.tenant_label, BYTES):
            labels, n = file_labels(row["_id"]), number(row["n"])
            counters.add(cat.UPLOADED_FILES_TOTAL, n, tenant=labels["tenant"])
            counters.add(cat.FILES_CREATED_TOTAL, n, **labels)
            counters.add(cat.FILES_CREATED_BYTES_TOTAL, max(number(row["bytes"]), 0.0), **labels)

    counters = count_new(db.files, state, clock, settings, dims, count_chunk)
    if counters is None:
        return []
    return [counters.family(spec) for spec in (cat.UPLOADED_FILES_TOTAL,
                                               cat.FILES_CREATED_TOTAL,
                                               cat.FILES_CREATED_BYTES_TOTAL)]


def stored_file_families(db: Any, clock: Clock, state: dict[str, Any],
                         settings: Settings, dims: Dimensions) -> list[Family]:
    """Files and bytes stored now by source and context; files embedded for RAG."""
    tenant_on = settings.tenant_label
    files = Family.of(cat.FILES, tenant_on)
    size = Family.of(cat.FILES_BYTES, tenant_on)
    embedded = Family.of(cat.FILES_EMBEDDED, tenant_on)
    for row in grouped(db.files, {}, BY_SOURCE, tenant_on, {**BYTES, "embedded": {"$sum": {
            "$cond": [{"$eq": ["$embedded", True]}, 1, 0]}}}):
        labels = file_labels(row["_id"])
        files.inc(number(row["n"]), **labels)
        size.inc(max(number(row["bytes"]), 0.0), **labels)
        embedded.inc(number(row["embedded"]), tenant=labels["tenant"])
    return [files, size, embedded]
