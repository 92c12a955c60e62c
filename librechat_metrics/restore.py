"""Counters that survive a lost state file: rebuilt from the last .prom this job wrote.

The .prom carries, beside every counter, each counting section's watermark
(`librechat_exporter_section_watermark_timestamp_seconds`), the runs counter, and what the
counts belong to (`librechat_exporter_config_info`: database and tenant setting;
`librechat_exporter_identity_info`: the MongoDB deployment, its replica set, the layout
version). Its last line seals it (textfile.py): a file edited by hand, cut short or written by
another program does not stand in. A section with a watermark in the file continues from it,
its counters as the file holds them (a family without samples is 0); a section without one is
the only thing counted afresh.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .catalogue import (
    CATALOGUE,
    COUNTER,
    EXPORTER_CONFIG_INFO,
    EXPORTER_IDENTITY_INFO,
    EXPORTER_LAST_SUCCESS,
    EXPORTER_RUNS,
    EXPORTER_SECTION_HORIZON,
    EXPORTER_SECTION_WATERMARK,
    TOKEN_SOURCE_INFO,
    Spec,
)
from .dimensions import remember_values
from .progress import RESTORE_ZONE, RESULTS, Identity
from .settings import Settings
from .state import STATE_VERSION
from .textfile import unsealed

Samples = dict[str, list[tuple[dict[str, str], float]]]


class NotRestorable(ValueError):
    """The .prom cannot stand in for the state; the message says why."""


def read_samples(path: str) -> Samples:
    """{sample name: [(labels, value)]} of a sealed text file this job wrote."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise NotRestorable(f"no readable {path} ({getattr(exc, 'strerror', None) or exc})") \
            from exc
    body = unsealed(text)
    if body is None:
        raise NotRestorable("it is not sealed as this job seals its files (edited by hand, cut "
                            "short, or written by another program or an older version)")
    samples: Samples = {}
    try:
        for family in text_string_to_metric_families(body):
            known = CATALOGUE.get(family.name if family.type != COUNTER
                                  else f"{family.name}_total")
            if known is None or known.kind != family.type:
                raise NotRestorable(f"it holds {family.name} ({family.type}), which this "
                                    "version does not write")
            for sample in family.samples:
                if family.type == COUNTER and sample.name.endswith("_created"):
                    continue
                samples.setdefault(sample.name, []).append((dict(sample.labels),
                                                            float(sample.value)))
    except ValueError as exc:
        if isinstance(exc, NotRestorable):
            raise
        raise NotRestorable(f"it does not parse: {exc}") from exc
    return samples


def _single(samples: Samples, spec: Spec) -> tuple[dict[str, str], float]:
    rows = samples.get(spec.name, [])
    if len(rows) != 1:
        raise NotRestorable(f"it has no single {spec.name}")
    return rows[0]


def check_identity(samples: Samples, settings: Settings, identity: Identity | None,
                   counts: bool) -> None:
    """Refuse a file written for another database, tenant setting, deployment or layout.
    `identity` None: the deployment is not known in this run (MongoDB not reached), so only
    the layout is checked; without `counts` (no watermark: a failed first run wrote it) there
    is nothing but the runs counter to continue, and no deployment to check."""
    config, _ = _single(samples, EXPORTER_CONFIG_INFO)
    if config.get("database") != settings.mongodb_database:
        raise NotRestorable(f"it was written for database {config.get('database')!r}")
    if config.get("tenant_label") != str(settings.tenant_label).lower():
        raise NotRestorable("it was written with another --tenant-label setting")
    if not counts and EXPORTER_IDENTITY_INFO.name not in samples:
        return
    labels, _ = _single(samples, EXPORTER_IDENTITY_INFO)
    written = Identity(**{k: labels.get(k, "") for k in ("deployment", "replica_set",
                                                         "schema")})
    if written.schema != str(STATE_VERSION):
        raise NotRestorable(f"its counters are of layout {written.schema!r}, this version "
                            f"keeps layout {STATE_VERSION}")
    if identity is not None and (wrong := identity.differences(written)):
        raise NotRestorable("it was written for another MongoDB deployment (" +
                            "; ".join(wrong) + ")")


def per_section(samples: Samples, spec: Spec) -> dict[str, float]:
    values = {}
    for labels, value in samples.get(spec.name, []):
        if set(labels) != {"section"} or not math.isfinite(value) or value < 0:
            raise NotRestorable(f"{spec.name} has labels {sorted(labels)} or value {value}")
        values[labels["section"]] = value
    return values


def watermarks(samples: Samples) -> dict[str, tuple[float, float]]:
    """{section: (horizon, watermark)}."""
    marks = per_section(samples, EXPORTER_SECTION_WATERMARK)
    horizons = per_section(samples, EXPORTER_SECTION_HORIZON)
    if set(marks) != set(horizons) or any(horizons[s] > marks[s] for s in marks):
        raise NotRestorable("its section watermarks and horizons do not match")
    return {section: (horizons[section], marks[section]) for section in marks}


def restored_section(specs: tuple[Spec, ...], samples: Samples, tenant: bool,
                     marks: tuple[float, float], table: dict[str, dict[str, float]],
                     met: float) -> dict[str, Any]:
    """A section's state from its counters in the file (absent = 0), resuming at its
    horizon; its overlap zone up to the watermark is listed once MongoDB is reached
    (`restore_zone`, continuity.py)."""
    counters: dict[str, dict[str, float]] = {}
    for spec in specs:
        names = spec.labelnames(tenant)
        totals: dict[str, float] = {}
        for labels, value in samples.get(spec.name, []):
            if set(labels) != set(names) or not math.isfinite(value) or value < 0:
                raise NotRestorable(f"{spec.name} has labels {sorted(labels)} or value {value}")
            key = [labels[n] for n in names]
            totals[json.dumps(key)] = value
            remember_values(table, spec, key, met)
        counters[spec.name] = totals
    horizon, watermark = marks
    return {"counters": counters, "stream": {"horizon": math.floor(horizon), "seen": []},
            RESTORE_ZONE: [math.floor(horizon), math.floor(watermark)]}


def restored_runs(samples: Samples) -> dict[str, float]:
    runs = {result: 0.0 for result in RESULTS}
    for labels, value in samples.get(EXPORTER_RUNS.name, []):
        if labels.get("result") in runs and math.isfinite(value) and value >= 0:
            runs[labels["result"]] = value
    return runs


def state_from_textfile(path: str, settings: Settings, counted: Mapping[str, tuple[Spec, ...]],
                        identity: Identity | None) -> dict[str, Any]:
    """A state whose counters, watermarks and runs continue those of the .prom at `path`.

    `counted` names the counter families of each counting section. Raises NotRestorable.
    """
    samples = read_samples(path)
    marks = watermarks(samples)
    check_identity(samples, settings, identity, counts=bool(marks))
    # Label values are taken as met at the newest watermark: the run's clock (--now), which
    # the slot tables age by, not the wall time the file was written at.
    met = max((mark for _, mark in marks.values()), default=0.0)
    table: dict[str, dict[str, float]] = {}
    sections = {name: restored_section(specs, samples, settings.tenant_label, marks[name],
                                       table, met)
                for name, specs in counted.items() if name in marks}
    tokens = sections.get("tokens")
    if tokens is not None:
        source = [labels.get("source") for labels, _ in samples.get(TOKEN_SOURCE_INFO.name, [])]
        if source not in (["transactions"], ["messages"]):
            raise NotRestorable("its token counters name no source")
        tokens["source"] = source[0]
    last = samples.get(EXPORTER_LAST_SUCCESS.name, [])
    state: dict[str, Any] = {"version": STATE_VERSION, "sections": sections,
                             "last_success": last[0][1] if len(last) == 1 else None,
                             "dimensions": table, "runs": restored_runs(samples)}
    if EXPORTER_IDENTITY_INFO.name in samples:
        labels, _ = _single(samples, EXPORTER_IDENTITY_INFO)
        state["identity"] = Identity(labels["deployment"], labels["replica_set"],
                                     labels["schema"]).to_json()
    return state
