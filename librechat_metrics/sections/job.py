"""The job's own metrics, written on every run, failed ones included."""

from __future__ import annotations

import dataclasses
import math
import platform
import time
from collections.abc import Iterable, Mapping
from typing import Any

import pymongo
from prometheus_client.utils import floatToGoString

from .. import __version__
from .. import catalogue as cat
from ..families import Family
from ..labels import UNKNOWN
from ..progress import Identity, horizon_family, runs_family, watermark_family
from ..settings import Settings
from ..textfile import sealed, text


@dataclasses.dataclass
class RunResult:
    """What one run collected, and how each section fared."""

    families: list[Family]
    state: dict[str, Any]
    up: bool
    errors: dict[str, int]
    durations: dict[str, float]
    server_version: str = ""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


def backfill_progress_family(sections_state: dict[str, Any]) -> Family:
    progress = Family.of(cat.EXPORTER_BACKFILL_PROGRESS)
    for name, section_state in sections_state.items():
        stream = section_state.get("stream") if isinstance(section_state, dict) else None
        if isinstance(stream, dict):
            job = stream.get("backfill")
            progress.set(float(job.get("progress", 0.0)) if job else 1.0, section=name)
        elif isinstance(section_state, dict) and _is_number(section_state.get("progress")):
            progress.set(float(section_state["progress"]), section=name)
    return progress


def refreshed_family(sections_state: dict[str, Any]) -> Family:
    refreshed = Family.of(cat.EXPORTER_SECTION_REFRESHED)
    for name, section_state in sections_state.items():
        if isinstance(section_state, dict) and _is_number(section_state.get("refreshed_at")):
            refreshed.set(float(section_state["refreshed_at"]), section=name)
    return refreshed


def self_families(result: RunResult, settings: Settings, section_names: Iterable[str],
                  total: float, last_success: float | None,
                  counted: Mapping[str, tuple[cat.Spec, ...]]) -> list[Family]:
    """Up, timestamps, durations, per-section errors, settings, versions, first-count progress;
    the runs counter, each counting section's watermark and the identity the counts belong to
    (progress.py), which a restore reads back.

    Families with nothing to say (no section ran, no first count) are left out rather than
    written empty; the MongoDB version is the last one seen when this run did not reach it.
    """
    def single(spec: cat.Spec, value: float) -> Family:
        family = Family.of(spec)
        family.set(value)
        return family

    durations = Family.of(cat.EXPORTER_SECTION_DURATION)
    for name, seconds in result.durations.items():
        durations.set(seconds, section=name)
    errors = Family.of(cat.EXPORTER_ERRORS)
    for name in section_names:
        errors.set(float(result.errors.get(name, 0 if result.up else 1)), section=name)
    config = Family.of(cat.EXPORTER_CONFIG_INFO)
    config.set(1.0, database=settings.mongodb_database, timezone=settings.timezone,
               daily_days=str(settings.daily_days), label_limit=str(settings.label_limit),
               label_ttl_days=f"{settings.label_ttl:g}",
               tenant_label=str(settings.tenant_label).lower())
    build = Family.of(cat.EXPORTER_BUILD_INFO)
    mongodb = result.server_version or str(result.state.get("server_version") or UNKNOWN)
    build.set(1.0, version=__version__, python=platform.python_version(),
              pymongo=pymongo.version, mongodb=mongodb)
    families = [single(cat.EXPORTER_UP, 1.0 if result.up else 0.0),
                single(cat.EXPORTER_RUN_TIMESTAMP, time.time()),
                single(cat.EXPORTER_RUN_DURATION, total), durations, errors, config, build,
                refreshed_family(result.state.get("sections", {})),
                backfill_progress_family(result.state.get("sections", {})),
                runs_family(result.state),
                watermark_family(result.state.get("sections", {}), counted),
                horizon_family(result.state.get("sections", {}), counted)]
    identity = Identity.from_json(result.state.get("identity"))
    if identity is not None:
        families.append(identity.family())
    if last_success is not None:
        families.insert(1, single(cat.EXPORTER_LAST_SUCCESS, last_success))
    return [family for family in families if family.samples]


def render_with_size(families: list[Family]) -> bytes:
    """The sealed file of `families` plus its own series count and byte size, so that a panel
    can show what each run rewrites. The families are rendered once. The size counts its own
    line, so it is the width of its number that is searched for."""
    series = Family.of(cat.EXPORTER_OUTPUT_SERIES)
    series.set(float(sum(len(f.samples) for f in families) + 2))
    size = Family.of(cat.EXPORTER_OUTPUT_BYTES)
    body = text(families)

    def file_with(value: int) -> bytes:
        size.set(float(value))
        return sealed(body + text([series, size]))

    rest = len(file_with(0)) - len(floatToGoString(0.0))  # every byte but the number's
    for width in range(1, 24):
        data = file_with(rest + width)
        if len(data) == rest + width:
            return data
    # Above 1 MB the number is written in Go's exponent form, whose width can jump (1.23456e+06,
    # 1.234561e+06) so that no value is exactly right: then it is one byte off.
    return file_with(len(file_with(rest + 12)))
