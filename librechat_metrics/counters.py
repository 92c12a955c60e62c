"""Running totals of counter families, kept in the state file between runs; open-ended label
values go through the shared slot tables (dimensions.py), so a value never moves between its own
series and 'other' while it keeps its slot."""

from __future__ import annotations

import json
from typing import Any

from .catalogue import CATALOGUE, TENANT_DIMENSION, Spec
from .dimensions import Dimensions, cap_rows
from .families import Family
from .labels import OTHER


class Counters:
    """The counter families of one section: totals, slots, and rows staged until `settle`."""

    def __init__(self, state: dict[str, Any], dims: Dimensions, tenant: bool) -> None:
        self.totals: dict[str, dict[str, float]] = state.setdefault("counters", {})
        self.staged: dict[str, dict[str, float]] = state.setdefault("staged", {})
        self.dims = dims
        self.tenant = tenant

    def add(self, spec: Spec, value: float, **labels: str) -> None:
        """Count `value` for these label values; open-ended ones are staged for `settle`."""
        key = spec.key(labels, self.tenant)
        if spec.dim_positions(self.tenant):
            self._stage(spec, key, value)
        else:
            self._add_total(spec.name, key, value)

    def _add_total(self, name: str, key: tuple[str, ...], value: float) -> None:
        row = json.dumps(list(key))
        bucket = self.totals.setdefault(name, {})
        bucket[row] = bucket.get(row, 0.0) + value

    def _stage(self, spec: Spec, key: tuple[str, ...], value: float) -> None:
        rows = self.staged.setdefault(spec.name, {})
        row = json.dumps(list(key))
        rows[row] = rows.get(row, 0.0) + value

    def settle(self) -> None:
        """Map open label values through the shared slot tables by the volume of everything
        staged, then add.

        Called once the documents of a run (or of a whole first count) are all staged, so new
        slots go to the biggest values overall, not to the biggest of one chunk.
        """
        # In catalogue order, so that which value takes a free slot never depends on the
        # order MongoDB returned the rows in.
        order = list(CATALOGUE)
        for name in sorted(self.staged, key=order.index):
            staged, spec = self.staged[name], CATALOGUE[name]
            rows = {tuple(json.loads(k)): v for k, v in staged.items()}
            for key, value in cap_rows(rows, spec.dim_positions(self.tenant),
                                       self.dims).items():
                self._add_total(name, key, value)
        self.staged.clear()
        if self.tenant:
            self._fold_unslotted_tenants()

    def _fold_unslotted_tenants(self) -> None:
        """Totals kept from before tenants were capped (2.1.1) whose tenant holds no slot take
        free slots, the biggest first; the rest are summed into 'other'. Their own series end,
        none goes down. Afterwards there is nothing left to fold: a tenant's totals leave with
        its slot (run.forget_retired)."""
        for name, bucket in self.totals.items():
            spec = CATALOGUE.get(name)
            if spec is None or not spec.tenanted:
                continue
            at = len(spec.labels)  # the tenant label comes last
            slotted = {*self.dims.values(TENANT_DIMENSION), OTHER}
            rows = {tuple(json.loads(k)): v for k, v in bucket.items()}
            if all(len(key) <= at or key[at] in slotted for key in rows):
                continue
            folded = cap_rows(rows, (((at,), TENANT_DIMENSION),), self.dims)
            self.totals[name] = {json.dumps(list(key)): v for key, v in folded.items()}

    def family(self, spec: Spec) -> Family:
        fam = Family.of(spec, self.tenant)
        for key, value in self.totals.get(spec.name, {}).items():
            fam.samples[tuple(json.loads(key))] = value
        return fam
