"""State file migrations: an older state is carried over, never silently recounted.

Version 1 → 2 (librechat-textfile 2.0.0):
* per-family label slots become one table per dimension (every value a v1 family held, met
  "now", so that they age out after --label-ttl unless runs meet them again);
* staged rows lose their label-position groups;
* renamed families and label values: `librechat_file_bytes_created_total` →
  `librechat_files_created_bytes_total`, `librechat_tokens_total{kind="prompt"}` →
  `kind="uncached_prompt"`, `mcp_server=""` → `"none"`, a missing value `"unknown"` → `"none"`
  (except the model of prompt tokens counted from messages, which is unknown, not missing);
* `librechat_agent_messages_total` loses `agent_name` (totals summed per agent id);
* cached stored-now gauges and daily summaries are dropped, so the first run after the
  upgrade computes them afresh (with agents under their LLM).

Version 2 → 3 (librechat-textfile 2.2.0): the runs counter starts at 0 for each result (the
runs before the upgrade were not counted). Nothing else changes shape: each section's
watermark is read from its stream (progress.py), and the deployment's identity is filled in
by the first run that reaches MongoDB.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .catalogue import (
    AGENT_MESSAGES_TOTAL,
    CATALOGUE,
    FILES_CREATED_BYTES_TOTAL,
    INPUT_TOKENS_PER_MODEL_TOTAL,
    TOKENS_TOTAL,
)
from .dimensions import remember_values
from .labels import NONE, UNKNOWN

RENAMED_FAMILIES = {"librechat_file_bytes_created_total": FILES_CREATED_BYTES_TOTAL.name}
KEEPS_UNKNOWN = INPUT_TOKENS_PER_MODEL_TOTAL.name  # counted from messages: the model unknown


def migrate(state: dict[str, Any]) -> dict[str, Any]:
    """The state carried forward to the current version, one step at a time."""
    if state["version"] == 1:
        state = v1_to_v2(state)
    if state["version"] == 2:
        state = v2_to_v3(state)
    if state["version"] != 3:
        raise ValueError(f"no migration from version {state['version']}")
    return state


def _v1_key(name: str, key: list[str], source: str | None) -> list[str]:
    spec = CATALOGUE[name]
    values = list(key)
    for i, label in enumerate(spec.labels):
        if values[i] == UNKNOWN and not (name == KEEPS_UNKNOWN and source == "messages"):
            values[i] = NONE
        if label == "mcp_server" and values[i] == "":
            values[i] = NONE
        if name == TOKENS_TOTAL.name and label == "kind" and values[i] == "prompt":
            values[i] = "uncached_prompt"
    return values


def _v1_totals(name: str, totals: dict[str, float], source: str | None) -> dict[str, float]:
    migrated: dict[str, float] = {}
    for raw, value in totals.items():
        key = json.loads(raw)
        if name == AGENT_MESSAGES_TOTAL.name:
            key = [key[0], *key[2:]]  # (agent_id, agent_name[, tenant]) -> (agent_id[, tenant])
        row = json.dumps(_v1_key(name, key, source))
        migrated[row] = migrated.get(row, 0.0) + float(value)
    return migrated


def v1_to_v2(state: dict[str, Any]) -> dict[str, Any]:
    when = float(state.get("last_success") or time.time())
    table: dict[str, dict[str, float]] = {}
    sections: dict[str, Any] = {}
    for section_name, section in state.get("sections", {}).items():
        section = dict(section)
        section.pop("slots", None)
        source = section.get("source")
        counters: dict[str, dict[str, float]] = {}
        for name, totals in section.get("counters", {}).items():
            name = RENAMED_FAMILIES.get(name, name)
            if name not in CATALOGUE:
                continue
            counters[name] = _v1_totals(name, totals, source)
            for row in counters[name]:
                remember_values(table, CATALOGUE[name], json.loads(row), when)
        if "counters" in section:
            section["counters"] = counters
        if "staged" in section:
            section["staged"] = {
                RENAMED_FAMILIES.get(name, name): _v1_totals(RENAMED_FAMILIES.get(name, name),
                                                             staged["rows"], source)
                for name, staged in section["staged"].items()
                if RENAMED_FAMILIES.get(name, name) in CATALOGUE}
        # Cached gauges and day summaries hold v1 label values (agent ids as models, "unknown"
        # for none): dropped, so the first run after the upgrade computes them afresh.
        for key in ("families", "refreshed_at", "config", "days", "progress"):
            section.pop(key, None)
        sections[section_name] = section
    return {"version": 2, "sections": sections, "last_success": state.get("last_success"),
            "dimensions": table}


def v2_to_v3(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "version": 3, "runs": {"ok": 0.0, "partial": 0.0, "failed": 0.0}}
