"""Samples of one declared family, as plain data (so a slow section's last values can be kept in
the state file), and their open-ended labels mapped through the shared slot tables."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .catalogue import CATALOGUE, COUNTER, Spec
from .dimensions import Dimensions, cap_rows


@dataclasses.dataclass
class Family:
    """One metric family's samples, keyed by label values in the order of `labels`."""

    name: str
    kind: str  # "counter" or "gauge"
    help: str
    labels: tuple[str, ...] = ()
    samples: dict[tuple[str, ...], float] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, spec: Spec, tenant: bool = False) -> Family:
        """An empty family as the catalogue declares it (with the tenant label when on)."""
        return cls(spec.name, spec.kind, spec.help, spec.labelnames(tenant))

    @property
    def spec(self) -> Spec:
        return CATALOGUE[self.name]

    @property
    def tenant(self) -> bool:
        return len(self.labels) > len(self.spec.labels)

    def add(self, labelvalues: tuple[str, ...], value: float) -> None:
        self.samples[labelvalues] = self.samples.get(labelvalues, 0.0) + value

    def inc(self, value: float, **labels: str) -> None:
        """Add to the series of these named label values (tenant ignored when it is off)."""
        self.add(self.spec.key(labels, self.tenant), value)

    def set(self, value: float, **labels: str) -> None:
        self.samples[self.spec.key(labels, self.tenant)] = value

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "help": self.help,
                "labels": list(self.labels),
                "samples": [[*key, value] for key, value in self.samples.items()]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Family:
        labels = tuple(data["labels"])
        samples = {tuple(row[:-1]): float(row[-1]) for row in data["samples"]}
        return cls(data["name"], data["kind"], data["help"], labels, samples)

    def to_metric(self) -> Metric:
        maker = CounterMetricFamily if self.kind == COUNTER else GaugeMetricFamily
        metric = maker(self.name, self.help, labels=self.labels)
        for key in sorted(self.samples):
            metric.add_metric(list(key), self.samples[key])
        return metric


def capped(family: Family, dims: Dimensions) -> Family:
    """A gauge with every open-ended label mapped through its dimension's slot table (as a
    reader: it takes no slot in a dimension that counting keeps, dimensions.py)."""
    uses = family.spec.dim_positions(family.tenant)
    if not uses:
        return family
    return Family(family.name, family.kind, family.help, family.labels,
                  cap_rows(family.samples, uses, dims, counting=False))
