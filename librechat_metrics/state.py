"""The state file: read once at the start, checked against the shapes the sections keep, and
written atomically once at the end."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from bson import ObjectId

from .atomic import atomic_write
from .errors import JobError
from .migrate import migrate
from .progress import RESTORE_ZONE, RESULTS

log = logging.getLogger("librechat_textfile")

STATE_VERSION = 3
# The state file's layout; bump STATE_VERSION when a section's state changes shape and add the
# step to migrate.py, so an older file is carried over rather than recounted.
LOST = "lost"  # read_state's word for a state file that was there but could not be used


def empty_state() -> dict[str, Any]:
    return {"version": STATE_VERSION, "sections": {}}


def load_state(path: str, readonly: bool = False) -> dict[str, Any]:
    """The saved state (migrated when older), or a fresh one when there is none or it cannot
    be used; see `read_state`."""
    return read_state(path, readonly)[0]


def read_state(path: str, readonly: bool = False) -> tuple[dict[str, Any], str, str]:
    """The saved state, how it was found ("ok", "migrated", "first": no file, or LOST), and
    for LOST what was wrong with the file and where it went.

    A corrupt file is set aside (renamed, never deleted) and a fresh state returned, LOST; the
    caller may then restore the counters from the last .prom. An older version is migrated.
    A file from a newer version is left alone and the run fails, rather than destroying what
    the newer version kept.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return empty_state(), "first", ""
    except OSError as exc:
        raise JobError(f"cannot read state file {path}: {exc.strerror}") from exc
    try:
        state = json.loads(raw)
        version = state["version"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise TypeError("malformed")
    except (ValueError, KeyError, TypeError):
        return empty_state(), LOST, _set_aside(path, "is corrupt", readonly)
    if version > STATE_VERSION:
        # Checked before the shape: a newer version may keep other shapes, and its file
        # must survive a downgrade.
        raise JobError(f"state file {path} is from a newer version ({version} > "
                       f"{STATE_VERSION}); refusing to overwrite it")
    status = "ok"
    if version < STATE_VERSION:
        try:
            state = migrate(state)
        except (ValueError, KeyError, TypeError, AttributeError):
            return empty_state(), LOST, _set_aside(
                path, f"is from version {version} and cannot be migrated", readonly)
        log.info("state file %s migrated from version %d to %d", path, version, STATE_VERSION)
        status = "migrated"
    if not well_formed(state):
        return empty_state(), LOST, _set_aside(path, "is corrupt", readonly)
    return state, status, ""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


def _label_key(key: Any) -> bool:
    try:
        labels = json.loads(key)
    except (TypeError, ValueError):
        return False
    return isinstance(labels, list) and all(isinstance(v, str) for v in labels)


def _dict_of(value: Any, check: Callable[[Any, Any], bool]) -> bool:
    return isinstance(value, dict) and all(check(k, v) for k, v in value.items())


def _totals(value: Any) -> bool:
    return _dict_of(value, lambda k, v: _label_key(k) and _is_number(v))


def _stream(value: Any) -> bool:
    job = value.get("backfill", {"target": 0, "cursor": None}) if isinstance(value, dict) \
        else None
    return (isinstance(value, dict) and set(value) <= {"horizon", "seen", "backfill"}
            and (value.get("horizon") is None or _is_number(value["horizon"]))
            and isinstance(value.get("seen", []), list)
            and all(isinstance(i, str) and ObjectId.is_valid(i) for i in value.get("seen", []))
            and isinstance(job, dict) and _is_number(job.get("target"))
            and (job.get("cursor") is None or (isinstance(job["cursor"], str)
                                                and ObjectId.is_valid(job["cursor"])))
            and _is_number(job.get("progress", 0)))


def _family_json(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("labels"), list):
        return False
    width = len(value["labels"]) + 1
    return (isinstance(value.get("name"), str) and value.get("kind") in ("counter", "gauge")
            and isinstance(value.get("help"), str)
            and all(isinstance(v, str) for v in value["labels"])
            and isinstance(value.get("samples"), list)
            and all(isinstance(row, list) and len(row) == width and _is_number(row[-1])
                    and all(isinstance(v, str) for v in row[:-1]) for row in value["samples"]))


def _day(value: Any) -> bool:
    return (isinstance(value, dict) and _is_number(value.get("users"))
            and _dict_of(value.get("sent"), lambda k, v: str(k).isdigit() and _is_number(v))
            and _dict_of(value.get("models"), lambda k, v: isinstance(k, str) and _is_number(v)))


def _spread(value: Any) -> bool:
    return (isinstance(value, dict) and _is_number(value.get("spenders"))
            and all(_dict_of(value.get(k), lambda q, v: isinstance(q, str) and _is_number(v))
                    for k in ("sent", "spent", "share")))


SECTION_STATE: dict[str, Callable[[Any], bool]] = {
    # Every key a section keeps, with the shape it must have; anything else is corruption.
    "counters": lambda v: _dict_of(v, lambda k, f: isinstance(k, str) and _totals(f)),
    "staged": lambda v: _dict_of(v, lambda k, f: isinstance(k, str) and _totals(f)),
    "stream": _stream,
    "stream_transactions": _stream,
    "stream_messages": _stream,
    "source": lambda v: v in ("transactions", "messages"),
    "last_active": lambda v: _dict_of(v, lambda k, t: isinstance(k, str) and _is_number(t)),
    "families": lambda v: isinstance(v, list) and all(_family_json(f) for f in v),
    "refreshed_at": _is_number,
    "config": lambda v: isinstance(v, str),
    "days": lambda v: _dict_of(v, lambda k, d: isinstance(k, str) and _day(d)),
    "timezone": lambda v: isinstance(v, str),
    "progress": _is_number,
    "checked": _is_number,
    "key": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "result": _spread,
    # The collections a section found absent and has said so (sections/optional.py).
    "absent": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    # A restored section's [horizon, watermark), listed as seen in the next run that reaches
    # MongoDB (continuity.py).
    RESTORE_ZONE: lambda v: isinstance(v, list) and len(v) == 2 and all(map(_is_number, v)),
}


def _well_formed_section(section: Any) -> bool:
    """The shapes the sections read back; anything else would fail them on every run."""
    return isinstance(section, dict) and all(
        key in SECTION_STATE and SECTION_STATE[key](value) for key, value in section.items())


def _dimensions(value: Any) -> bool:
    return _dict_of(value, lambda k, slots: isinstance(k, str) and _dict_of(
        slots, lambda v, seen: isinstance(v, str) and _is_number(seen)))


def well_formed(state: Mapping[str, Any]) -> bool:
    sections = state.get("sections")
    last = state.get("last_success")
    version = state.get("server_version")
    identity = state.get("identity")
    return (isinstance(sections, dict) and all(isinstance(k, str) for k in sections)
            and all(_well_formed_section(v) for v in sections.values())
            and (last is None or _is_number(last))
            and (version is None or isinstance(version, str))
            and _dimensions(state.get("dimensions", {}))
            and _dict_of(state.get("runs", {}), lambda k, v: k in RESULTS and _is_number(v)
                         and v >= 0)
            and (identity is None or (_dict_of(identity, lambda k, v: isinstance(k, str)
                                               and isinstance(v, str)))))


def _set_aside(path: str, why: str, readonly: bool) -> str:
    """Rename an unusable state file aside (never delete it); say what happened."""
    if readonly:
        return f"state file {path} {why}; ignored by this read-only run"
    aside = f"{path}.{time.strftime('%Y%m%dT%H%M%S')}.bad"
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise JobError(f"state file {path} {why} and cannot be moved aside: "
                       f"{exc.strerror}") from exc
    return f"state file {path} {why}; moved to {aside}"


def save_state(path: str, state: Mapping[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        atomic_write(path, json.dumps(state, separators=(",", ":")).encode(), mode=0o600)
    except OSError as exc:
        raise JobError(f"cannot write state file {path}: {exc.strerror or exc}") from exc


