"""Running totals of counter families, kept in the state file between runs, with sticky label
slots so that a capped value never moves between its own series and 'other'."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .catalogue import Spec
from .families import Family
from .labels import OTHER


def assign_slots(slots: list[str], volumes: Mapping[str, float], limit: int) -> dict[str, str]:
    """Map label values onto at most `limit` sticky slots, the rest onto 'other'.

    Counters need sticky slots: a value that moved between its own series and 'other' would make
    'other' fall, which Prometheus reads as a counter reset.
    """
    mapping: dict[str, str] = {}
    for value in sorted(volumes, key=lambda v: (-volumes[v], v)):
        if value not in slots and len(slots) < limit:
            slots.append(value)
        mapping[value] = value if value in slots else OTHER
    return mapping


class Counters:
    """The counter families of one section: totals, slots, and rows staged until `settle`."""

    def __init__(self, state: dict[str, Any], limit: int, tenant: bool) -> None:
        self.totals: dict[str, dict[str, float]] = state.setdefault("counters", {})
        self.slots: dict[str, dict[str, list[str]]] = state.setdefault("slots", {})
        self.staged: dict[str, dict[str, Any]] = state.setdefault("staged", {})
        self.limit = limit
        self.tenant = tenant

    def add(self, spec: Spec, value: float, **labels: str) -> None:
        """Count `value` for these label values; open-ended ones are staged for `settle`."""
        key = spec.key(labels, self.tenant)
        if spec.capped:
            self._stage(spec, key, value)
        else:
            self._add_total(spec.name, key, value)

    def _add_total(self, name: str, key: tuple[str, ...], value: float) -> None:
        row = json.dumps(list(key))
        bucket = self.totals.setdefault(name, {})
        bucket[row] = bucket.get(row, 0.0) + value

    def _stage(self, spec: Spec, key: tuple[str, ...], value: float) -> None:
        groups = spec.capped_positions(self.tenant)
        staged = self.staged.setdefault(spec.name, {"groups": [list(g) for g in groups],
                                                    "rows": {}})
        row = json.dumps(list(key))
        staged["rows"][row] = staged["rows"].get(row, 0.0) + value

    def settle(self) -> None:
        """Give open label values their slots by the volume of everything staged, then add.

        Called once the documents of a run (or of a whole first count) are all staged, so the
        slots go to the biggest values overall, not to the biggest of one chunk.
        """
        for name, staged in self.staged.items():
            rows = {tuple(json.loads(k)): v for k, v in staged["rows"].items()}
            for group in staged["groups"]:
                rows = self._cap_group(name, rows, tuple(group))
            for key, value in rows.items():
                self._add_total(name, key, value)
        self.staged.clear()

    def _cap_group(self, name: str, rows: dict[tuple[str, ...], float],
                   group: tuple[int, ...]) -> dict[tuple[str, ...], float]:
        def joint(key: tuple[str, ...]) -> str:
            return json.dumps([key[i] for i in group])

        volumes: dict[str, float] = {}
        for key, value in rows.items():
            volumes[joint(key)] = volumes.get(joint(key), 0.0) + value
        slots = self.slots.setdefault(name, {}).setdefault(",".join(map(str, group)), [])
        mapping = assign_slots(slots, volumes, self.limit)
        capped: dict[tuple[str, ...], float] = {}
        for key, value in rows.items():
            new = list(key)
            if mapping[joint(key)] == OTHER:
                for i in group:
                    new[i] = OTHER
            capped[tuple(new)] = capped.get(tuple(new), 0.0) + value
        return capped

    def family(self, spec: Spec) -> Family:
        fam = Family.of(spec, self.tenant)
        for key, value in self.totals.get(spec.name, {}).items():
            fam.samples[tuple(json.loads(key))] = value
        return fam
