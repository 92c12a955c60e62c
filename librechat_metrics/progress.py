"""Where each counting section stands: its watermark, the counters that go with it, the runs
counter, and the deployment the counts belong to. Progress is a property of each section,
published with its counters, so the .prom alone can stand in for a lost state.

A section's watermark is the ObjectId time below which it has counted every document it will
count: its horizon, or just past the newest document of its overlap zone when that is later.
incremental.py lists the zone's ids in the state; the .prom cannot hold them, so a restore
resumes at the section's horizon and lists as seen the documents stored between the horizon
and the watermark (continuity.py): a late insert after the restore is counted, and only one
inserted into that span between the last run and the restore is missed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId

from . import catalogue as cat
from .families import Family

RESULTS = ("ok", "partial", "failed")
RESTORE_ZONE = "restore_zone"
# A restored section's [horizon, watermark): the stored ids in it are listed as seen before
# the section runs (continuity.list_restored_zone), then the key is dropped.
UNKNOWN_DEPLOYMENT = "unknown"


def finished(stream: Any) -> bool:
    """The stream's first count is done (it has a horizon and no backfill under way)."""
    return (isinstance(stream, dict) and isinstance(stream.get("horizon"), (int, float))
            and "backfill" not in stream)


def stream_watermark(stream: Mapping[str, Any]) -> float:
    """max(horizon, one second past the newest id of the overlap zone)."""
    horizon = math.floor(stream["horizon"])
    newest = max((int(ObjectId(i).generation_time.timestamp()) + 1
                  for i in stream.get("seen", ())), default=horizon)
    return float(max(horizon, newest))


def section_watermark(section_state: Mapping[str, Any]) -> float | None:
    """A counting section's watermark, None while its first count is not done. A section
    restored in a run that then failed has its overlap zone still to list (`restore_zone`):
    its watermark is the restored one."""
    stream = section_state.get("stream")
    if not finished(stream):
        return None
    zone = section_state.get(RESTORE_ZONE) or (0, 0)
    return max(stream_watermark(stream), float(zone[1]))


def counting_sections(sections: Mapping[str, Any],
                      counted: Mapping[str, tuple[cat.Spec, ...]]) -> dict[str, float]:
    """{section: watermark} of the counting sections whose counts stand."""
    marks = {}
    for name in counted:
        section_state = sections.get(name)
        if isinstance(section_state, dict):
            mark = section_watermark(section_state)
            if mark is not None:
                marks[name] = mark
    return marks


def carried_counters(section_state: Mapping[str, Any], specs: Iterable[cat.Spec],
                     tenant: bool) -> list[Family]:
    """The counter families of a section as its state holds them (its last published values),
    and the token source that goes with them."""
    families = []
    for spec in specs:
        family = Family.of(spec, tenant)
        for key, value in section_state.get("counters", {}).get(spec.name, {}).items():
            family.samples[tuple(json.loads(key))] = value
        families.append(family)
    if section_state.get("source"):
        source = Family.of(cat.TOKEN_SOURCE_INFO)
        source.set(1.0, source=section_state["source"])
        families.append(source)
    return families


def carried(sections: Mapping[str, Any], counted: Mapping[str, tuple[cat.Spec, ...]],
            tenant: bool, only: Iterable[str] | None = None) -> list[Family]:
    """Counter families of every (or `only` these) counting sections whose counts stand."""
    names = counting_sections(sections, counted)
    wanted = set(names if only is None else only) & set(names)
    return [family for name in counted if name in wanted
            for family in carried_counters(sections[name], counted[name], tenant)]


def watermark_family(sections: Mapping[str, Any],
                     counted: Mapping[str, tuple[cat.Spec, ...]]) -> Family:
    family = Family.of(cat.EXPORTER_SECTION_WATERMARK)
    for name, mark in counting_sections(sections, counted).items():
        family.set(mark, section=name)
    return family


def horizon_family(sections: Mapping[str, Any],
                   counted: Mapping[str, tuple[cat.Spec, ...]]) -> Family:
    family = Family.of(cat.EXPORTER_SECTION_HORIZON)
    for name in counting_sections(sections, counted):
        family.set(float(math.floor(sections[name]["stream"]["horizon"])), section=name)
    return family


def runs_of(state: Mapping[str, Any]) -> dict[str, float]:
    runs = state.get("runs") or {}
    return {result: float(runs.get(result, 0.0)) for result in RESULTS}


def count_run(state: dict[str, Any], result: str) -> None:
    runs = runs_of(state)
    runs[result] += 1
    state["runs"] = runs


def runs_family(state: Mapping[str, Any]) -> Family:
    family = Family.of(cat.EXPORTER_RUNS)
    for result, value in runs_of(state).items():
        family.set(value, result=result)
    return family


def generation(runs: Mapping[str, float]) -> float:
    """Runs counted so far: which of the state and the .prom was written last."""
    return sum(runs.values())


@dataclasses.dataclass(frozen=True)
class Identity:
    """What the counts belong to; a .prom of another identity never stands in for the state."""

    deployment: str = UNKNOWN_DEPLOYMENT
    replica_set: str = "none"
    schema: str = ""

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Identity | None:
        if not isinstance(data, dict) or not all(
                isinstance(data.get(f.name), str) for f in dataclasses.fields(cls)):
            return None
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    def family(self) -> Family:
        family = Family.of(cat.EXPORTER_IDENTITY_INFO)
        family.set(1.0, deployment=self.deployment, replica_set=self.replica_set,
                   schema=self.schema)
        return family

    def differences(self, other: Identity) -> list[str]:
        return [f"{f.name} {getattr(other, f.name)!r}, not {getattr(self, f.name)!r}"
                for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(other, f.name)]
