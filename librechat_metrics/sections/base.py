"""What every section shares: its declaration and the tenant of a grouped row."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..catalogue import Spec
from ..clock import Clock
from ..counters import Counters
from ..dimensions import Dimensions
from ..families import Family
from ..incremental import count_new
from ..labels import label_value, number
from ..queries import Match, grouped
from ..settings import Settings

Compute = Callable[[Any, Clock, dict[str, Any], Settings, Dimensions], list[Family]]


@dataclasses.dataclass(frozen=True)
class Section:
    name: str
    compute: Compute
    refresh: str = "run"  # "run": every run; "slow": every --slow-interval
    counters: tuple[Spec, ...] = ()  # the counter families it keeps (restore.py needs them)
    # A `Clock.shared` key: a slow section whose refresh costs little once an earlier section
    # of the run has left that read there, so it refreshes even while a first count goes on.
    cheap_with: str | None = None
    # The collection a counting section counts (tokens: transactions, or messages when the
    # database has none: its state's `source` says which).
    collection: str | None = None


def tenant_of(row_id: Mapping[str, Any]) -> str:
    """The tenant of a row grouped with the tenant label on (ignored when it is off)."""
    return label_value(row_id.get("tenant"))


def created_by_label(coll: Any, state: dict[str, Any], clock: Clock, settings: Settings,
                     dims: Dimensions, field: str, total: Spec, by: Spec) -> list[Family]:
    """Documents created, counted once each: a total and a split by one document field (the
    field's name is the label's)."""
    def count_chunk(match: Match, counters: Counters) -> None:
        for row in grouped(coll, match, {field: f"${field}"}, settings.tenant_label):
            gid, n = row["_id"], number(row["n"])
            counters.add(total, n, tenant=tenant_of(gid))
            counters.add(by, n, **{field: label_value(gid.get(field))}, tenant=tenant_of(gid))

    counters = count_new(coll, state, clock, settings, dims, count_chunk)
    if counters is None:
        return []
    return [counters.family(total), counters.family(by)]


def tenant_total(spec: Spec, rows: list[dict[str, Any]], settings: Settings,
                 value: str = "n") -> Family:
    """A gauge with no labels but the optional tenant, from rows grouped by tenant only."""
    family = Family.of(spec, settings.tenant_label)
    for row in rows:
        family.inc(number(row[value]), tenant=tenant_of(row["_id"]))
    return family
