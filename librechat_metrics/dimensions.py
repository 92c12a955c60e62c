"""Label dimensions: one slot table per open-ended dimension (model, endpoint, tool, ...), shared
by every family that carries it, kept in the state file.

A value takes a free slot the first time a run meets it (the biggest first, by volume), keeps
it while runs keep meeting it, and frees it after --label-ttl without being met. In a
dimension that a counter carries (model, endpoint, tool, ...), only counting meets a value: a
stored-now gauge (feedback by model, over every stored rating) maps onto the slots counting
holds and never takes or renews one, else a model that was ever rated would keep its slot for
good. Then: then its
series are no longer written and the state forgets it. Values without a slot are summed into
'other', which therefore never decreases. So a numerator and its denominator (errors and
messages by model) always have the same label values.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .catalogue import CATALOGUE, COUNTER, TENANT, TENANT_DIMENSION, Dimension, Spec
from .labels import OTHER

Rows = dict[tuple[str, ...], float]


class Dimensions:
    """{dimension: {value: when a run last met it}}, at most `limit` values each."""

    def __init__(self, table: dict[str, dict[str, float]], limit: int, ttl: float,
                 now: float) -> None:
        self.table = table
        self.limit, self.ttl, self.now = limit, ttl, now

    def map(self, dim: Dimension, volumes: Mapping[str, float],
            counting: bool = True) -> dict[str, str]:
        """Each value onto itself when it has (or now takes) a slot, else onto 'other'.
        Not `counting` (a gauge), a dimension that counters carry is only read."""
        slots = self.table.setdefault(dim.name, {})
        meets = counting or dim not in counted_dimensions()
        mapping: dict[str, str] = {}
        for value in sorted(volumes, key=lambda v: (-volumes[v], v)):
            if meets and value != OTHER and value not in slots and len(slots) < self.limit:
                slots[value] = self.now
            if value in slots:
                if meets:
                    # max(): a clock set back must not make a value look older than it is.
                    slots[value] = max(slots[value], self.now)
                mapping[value] = value
            else:
                mapping[value] = OTHER
        return mapping

    def values(self, dim: Dimension) -> list[str]:
        return sorted(self.table.get(dim.name, {}))

    def expire(self) -> dict[str, set[str]]:
        """Free the slots of values not met for the time-to-live; returns what was freed."""
        retired: dict[str, set[str]] = {}
        for name, slots in self.table.items():
            old = {value for value, seen in slots.items() if seen < self.now - self.ttl}
            for value in old:
                del slots[value]
            if old:
                retired[name] = old
        return retired


def joint_value(key: tuple[str, ...], positions: tuple[int, ...]) -> str:
    """A dimension's value in a sample key: the label itself, or a JSON list for a group."""
    if len(positions) == 1:
        return key[positions[0]]
    return json.dumps([key[i] for i in positions])


def split_value(value: str, width: int) -> list[str]:
    return [value] if width == 1 else list(json.loads(value))


@functools.cache
def counted_dimensions() -> frozenset[Dimension]:
    """The dimensions some counter family carries (the catalogue is complete once imported)."""
    return frozenset(dim for spec in CATALOGUE.values() if spec.kind == COUNTER
                     for _, dim in spec.dim_positions(tenant=True))


def cap_rows(rows: Rows, uses: Iterable[tuple[tuple[int, ...], Dimension]],
             dims: Dimensions, counting: bool = True) -> Rows:
    """Map every dimension of the rows through its slot table, summing what meets in 'other'."""
    for positions, dim in uses:
        volumes: dict[str, float] = {}
        for key, value in rows.items():
            joint = joint_value(key, positions)
            volumes[joint] = volumes.get(joint, 0.0) + value
        mapping = dims.map(dim, volumes, counting)
        capped: Rows = {}
        for key, value in rows.items():
            new = list(key)
            if mapping[joint_value(key, positions)] == OTHER:
                for i in positions:
                    new[i] = OTHER
            capped[tuple(new)] = capped.get(tuple(new), 0.0) + value
        rows = capped
    return rows


def zero_keys(spec: Spec, labelnames: tuple[str, ...], existing: Iterable[tuple[str, ...]],
              dims: Dimensions, tenants: Iterable[str]) -> list[tuple[str, ...]]:
    """Every sample key a family writes at 0 where nothing happened.

    A family with one dimension: every value of that dimension's table (and 'other' once it
    exists), crossed with every value of its closed labels and every known tenant. A family
    whose labels are all closed: their cross product. Families with two or more dimensions
    (files by source and context) keep the keys they have: their cross product would invent
    combinations that cannot happen.
    """
    existing = list(existing)
    if len(spec.dims) > 1:
        return []
    choices: dict[str, list[list[str]]] = {}  # label group -> its possible value lists
    for group, dim in spec.dims:
        positions = tuple(labelnames.index(label) for label in group)
        values = [split_value(v, len(group)) for v in dims.values(dim)]
        if any(joint_value(key, positions) == OTHER for key in existing):
            values.append([OTHER] * len(group))
        choices[",".join(group)] = values
    for label, values in spec.closed:
        choices[label] = [[v] for v in values]
    if TENANT in labelnames:
        # The known tenants that hold a slot: the others are summed into 'other'.
        slotted = set(dims.values(TENANT_DIMENSION))
        known = {t for t in tenants if t in slotted} | {
            key[labelnames.index(TENANT)] for key in existing}
        choices[TENANT] = [[t] for t in sorted(known)]
    covered = [label for group in choices for label in group.split(",")]
    if sorted(covered) != sorted(labelnames):
        return []  # a label with open values but no dimension (a source, a collection)
    keys = []
    for combo in itertools.product(*choices.values()):
        named: dict[str, Any] = {}
        for group, values in zip(choices, combo, strict=True):
            named.update(zip(group.split(","), values, strict=True))
        keys.append(tuple(named[label] for label in labelnames))
    return keys


def retired_keys(rows: Iterable[tuple[str, ...]], uses: Iterable[tuple[tuple[int, ...],
                 Dimension]], retired: Mapping[str, set[str]]) -> list[tuple[str, ...]]:
    """The keys that hold a value whose slot was freed."""
    uses = list(uses)
    return [key for key in rows
            if any(joint_value(key, positions) in retired.get(dim.name, set())
                   for positions, dim in uses)]


def remember_values(table: dict[str, dict[str, float]], spec: Spec, key: list[str],
                    when: float) -> None:
    """Give the dimension values of a counter's sample key a slot, met at `when`: counters
    carried over from elsewhere (a migrated state, a restored .prom) keep their series."""
    for positions, dim in spec.dim_positions(tenant=len(key) > len(spec.labels)):
        joint = joint_value(tuple(key), positions)
        if joint != OTHER:
            table.setdefault(dim.name, {})[joint] = when
