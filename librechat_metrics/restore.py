"""Counters that survive a lost state file: rebuilt from the last .prom this job wrote.

When the state file is missing or unusable but the previous .prom was written by this job for
the same database and tenant setting, every counter (values and label values) is taken from
it and counting resumes from its last-success time. Only when neither exists are the stored
documents counted (a first install): a recount after deletions would start lower than before,
which Prometheus reads as a reset and `increase()` as the whole history happening again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .catalogue import COUNTER, EXPORTER_CONFIG_INFO, EXPORTER_LAST_SUCCESS, TOKEN_SOURCE_INFO, Spec
from .dimensions import remember_values
from .settings import Settings
from .state import STATE_VERSION


class NotRestorable(ValueError):
    """The .prom cannot stand in for the state; the message says why."""


def read_samples(path: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """{family name: [(labels, value)]} of a Prometheus text file."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise NotRestorable(f"no previous {path} ({exc.strerror})") from exc
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                name = sample.name
                if family.type == COUNTER and name.endswith("_created"):
                    continue
                samples.setdefault(name, []).append((dict(sample.labels), float(sample.value)))
    except ValueError as exc:
        raise NotRestorable(f"{path} does not parse: {exc}") from exc
    return samples


def _single(samples: dict[str, list[tuple[dict[str, str], float]]], spec: Spec) -> tuple[
        dict[str, str], float]:
    rows = samples.get(spec.name, [])
    if len(rows) != 1:
        raise NotRestorable(f"it has no {spec.name}")
    return rows[0]


def check_same_job(samples: dict[str, list[tuple[dict[str, str], float]]],
                   settings: Settings) -> float:
    """The last-success time, when the file is this job's, for this database and setting."""
    config, _ = _single(samples, EXPORTER_CONFIG_INFO)
    if config.get("database") != settings.mongodb_database:
        raise NotRestorable(f"it was written for database {config.get('database')!r}")
    if config.get("tenant_label") != str(settings.tenant_label).lower():
        raise NotRestorable("it was written with another --tenant-label setting")
    _, last_success = _single(samples, EXPORTER_LAST_SUCCESS)
    if not math.isfinite(last_success) or last_success <= 0:
        raise NotRestorable("its last-success time is not a time")
    return last_success


def restored_section(specs: Iterable[Spec], samples: dict[str, Any], tenant: bool,
                     horizon: float, table: dict[str, dict[str, float]]) -> dict[str, Any] | None:
    """A section's state from its counters in the file, or None when one of them is absent
    (the section failed in that run, or had not finished its first count)."""
    counters: dict[str, dict[str, float]] = {}
    for spec in specs:
        if spec.name not in samples:
            return None
        names = spec.labelnames(tenant)
        totals: dict[str, float] = {}
        for labels, value in samples[spec.name]:
            if set(labels) != set(names) or not math.isfinite(value) or value < 0:
                raise NotRestorable(f"{spec.name} has labels {sorted(labels)}")
            key = [labels[n] for n in names]
            totals[json.dumps(key)] = value
            remember_values(table, spec, key, horizon)
        counters[spec.name] = totals
    return {"counters": counters, "stream": {"horizon": math.floor(horizon), "seen": []}}


def state_from_textfile(path: str, settings: Settings,
                        counted: dict[str, tuple[Spec, ...]]) -> dict[str, Any]:
    """A state whose counters continue those of the .prom at `path`.

    `counted` names the counter families of each counting section. Raises NotRestorable.
    """
    samples = read_samples(path)
    last_success = check_same_job(samples, settings)
    table: dict[str, dict[str, float]] = {}
    sections: dict[str, Any] = {}
    for name, specs in counted.items():
        section = restored_section(specs, samples, settings.tenant_label, last_success, table)
        if section is not None:
            sections[name] = section
    if not sections:
        raise NotRestorable("it holds no counters (a failed run or a first count wrote it)")
    tokens = sections.get("tokens")
    if tokens is not None:
        source = [labels.get("source") for labels, _ in samples.get(TOKEN_SOURCE_INFO.name, [])]
        tokens["source"] = source[0] if source in (["transactions"], ["messages"]) else \
            "transactions"
    return {"version": STATE_VERSION, "sections": sections, "last_success": last_success,
            "dimensions": table}
