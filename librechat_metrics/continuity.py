"""Which counts a run continues from: the state file, the last .prom, or both.

The state is saved before the .prom is renamed into place (run.py), so after a crash between
the two renames the state is the newer one, and it simply wins. Each run counts itself in
`librechat_exporter_runs_total`: a run that reaches MongoDB in both files, a failed run in the
.prom only (it leaves the state file as it was). A .prom that has counted more runs than the
state was written after it: by failed runs (only the runs counter differs), or a state file
was put back from a backup. Then, section by section, the later watermark wins (a tie goes to
the state, which also lists its overlap zone), and every result of the runs counter keeps its
larger value: no counter falls and no document is counted twice.

Without a usable state the .prom stands in, when it is this job's for this database, tenant
setting and MongoDB deployment (restore.py). A failed run writes the counters it was given
(those of the state, or of the .prom standing in) back with up 0, so the file alone can always
stand in.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from .catalogue import EXPORTER_RUNS, Spec
from .clock import oid_at
from .progress import RESTORE_ZONE, RESULTS, Identity, generation, runs_of, section_watermark
from .restore import NotRestorable, state_from_textfile
from .sections.registry import SECTIONS
from .settings import Settings
from .textfile import unsealed

log = logging.getLogger("librechat_textfile")

COUNTED: dict[str, tuple[Spec, ...]] = {
    section.name: section.counters for section in SECTIONS if section.counters}
COLLECTIONS: dict[str, str] = {
    section.name: section.collection for section in SECTIONS if section.collection}
RUNS_LINE = re.compile(rf'^{EXPORTER_RUNS.name}\{{result="({"|".join(RESULTS)})"\}} (\S+)$',
                       re.MULTILINE)


def counted_collection(name: str, section_state: Mapping[str, Any]) -> str | None:
    if name == "tokens" and section_state.get("source") == "messages":
        return "messages"
    return COLLECTIONS.get(name)


def list_restored_zone(db: Any, name: str, section_state: dict[str, Any]) -> None:
    """A restored section's stored ids between its horizon and its watermark become its seen
    list before it counts (in the section's own run: a read that fails fails the section, and
    the zone waits for its next run). They were counted, or inserted late between the last run
    and the restore and are missed; every document at or above the watermark, or inserted from
    now on at or above the horizon, is counted as in any run."""
    zone = section_state.get(RESTORE_ZONE)
    collection = counted_collection(name, section_state) if zone else None
    if zone is None or collection is None:
        return
    low, high = zone
    ids = db[collection].find({"_id": {"$gte": oid_at(low), "$lt": oid_at(high)}}, {"_id": 1})
    section_state["stream"]["seen"] = sorted(str(doc["_id"]) for doc in ids)
    del section_state[RESTORE_ZONE]


def textfile_runs(path: str) -> dict[str, float] | None:
    """The runs counter of the sealed .prom at `path`, read without parsing the whole file
    (it is checked on every run); None when there is no such file."""
    try:
        with open(path, encoding="utf-8") as handle:
            body = unsealed(handle.read())
    except (OSError, UnicodeDecodeError):
        return None
    if body is None:
        return None
    runs = {result: 0.0 for result in RESULTS}
    for result, value in RUNS_LINE.findall(body):
        try:
            runs[result] = float(value)
        except ValueError:
            return None
    return runs


def textfile_is_newer(settings: Settings, state: Mapping[str, Any]) -> bool:
    written = textfile_runs(settings.output)
    return written is not None and generation(written) > generation(runs_of(state))


def merged(state: dict[str, Any], restored: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                        list[str]]:
    """The state with every section the .prom holds further along, and the larger runs."""
    sections = dict(state.get("sections", {}))
    taken = []
    for name, section in restored["sections"].items():
        mine = sections.get(name)
        ahead = section_watermark(section)
        kept = section_watermark(mine) if isinstance(mine, dict) else None
        if kept is None or (ahead is not None and ahead > kept):
            # The section's other keys (activity, token source) are rebuilt as after a restore.
            sections[name] = dict(section)
            taken.append(name)
    # The label slots of the newer file when it supplies a section: they are the ones its
    # counters were capped with.
    table = restored.get("dimensions", {}) if taken else state.get("dimensions", {})
    runs = {r: max(runs_of(state)[r], runs_of(restored)[r]) for r in RESULTS}
    last = [t for t in (state.get("last_success"), restored.get("last_success")) if t]
    return {**state, "sections": sections, "dimensions": table, "runs": runs,
            "last_success": max(last) if last else None}, taken


def continued_state(settings: Settings, state: dict[str, Any], status: str, lost: str,
                    identity: Identity) -> tuple[dict[str, Any], bool]:
    """The state this run counts from, once MongoDB has said which deployment it is; and
    whether the .prom stood in for a part of it."""
    if status in ("first", "lost"):
        return recovered_state(settings, state, lost, identity), True
    if not textfile_is_newer(settings, state):
        return state, False
    try:
        restored = state_from_textfile(settings.output, settings, COUNTED, identity)
    except NotRestorable as exc:
        log.warning("%s has counted more runs than state file %s but cannot stand in for it "
                    "(%s): continuing from the state file", settings.output,
                    settings.state_file, exc)
        return state, False
    state, taken = merged(state, restored)
    if taken:
        log.warning("%s was written after state file %s (a state file put back from a backup, "
                    "or one that could not be saved): sections %s continue from the file",
                    settings.output, settings.state_file, ", ".join(taken))
    else:
        # The usual case: failed runs count themselves in the file only.
        log.info("the runs counter continues from %s (failed runs since the state was saved)",
                 settings.output)
    return state, bool(taken)


def recovered_state(settings: Settings, fresh: dict[str, Any], lost: str,
                    identity: Identity) -> dict[str, Any]:
    """Without a usable state: each section the last .prom holds a watermark for continues
    from it; the others are counted afresh. One WARNING says which, unless nothing was ever
    published (a first install, or a first count not done yet)."""
    why = lost or f"no state file at {settings.state_file}"
    try:
        state = state_from_textfile(settings.output, settings, COUNTED, identity)
    except NotRestorable as exc:
        if not lost and not os.path.exists(settings.output):
            log.info("%s: first run, counting every stored document", why)
        else:
            log.warning("%s; %s cannot stand in for it (%s): counting the stored documents "
                        "afresh, which Prometheus sees as a counter reset", why,
                        settings.output, exc)
        return fresh
    restored = [name for name in COUNTED if name in state["sections"]]
    afresh = [name for name in COUNTED if name not in state["sections"]]
    if not restored:
        # What the file holds is a failed run's or a first count's: nothing was published
        # that a new count could contradict; its runs counter continues.
        log.info("%s: %s holds no counters yet, counting every stored document", why,
                 settings.output)
    elif afresh:
        log.warning("%s; counters restored from %s for sections %s, each from its own "
                    "watermark; %s had none there and %s counted afresh", why, settings.output,
                    ", ".join(restored), ", ".join(afresh), "is" if len(afresh) == 1 else "are")
    else:
        log.warning("%s; counters restored from %s (%d sections), each section resuming at "
                    "its own watermark", why, settings.output, len(restored))
    return state


def standing_in(settings: Settings) -> dict[str, Any] | None:
    """What a failed run without a usable state carries over: the last .prom's counters, when
    the file is this job's (the deployment cannot be checked without MongoDB), else None."""
    try:
        return state_from_textfile(settings.output, settings, COUNTED, None)
    except NotRestorable:
        return None
