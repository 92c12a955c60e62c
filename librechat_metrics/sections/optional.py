"""Collections that only newer LibreChat versions have: whether this database holds one, said
once at INFO when it does not."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..clock import Clock

log = logging.getLogger("librechat_textfile")

LISTED = "collections of the database"  # Clock.shared key: listed once per run
SAID = "absent collections said"  # Clock.shared key: two sections reading one say it once
_guard = threading.Lock()  # two sections may ask at once while a first count runs


def listed_collections(db: Any, clock: Clock) -> frozenset[str]:
    """The database's collection names, read once per run."""
    with _guard:
        if LISTED not in clock.shared:
            clock.shared[LISTED] = frozenset(
                db.list_collection_names(authorizedCollections=True))
        return clock.shared[LISTED]  # type: ignore[no-any-return]


def collection_present(db: Any, clock: Clock, state: dict[str, Any], name: str,
                       since: str) -> bool:
    """Whether the database holds collection `name` (LibreChat `since` and later create it).

    An absent one is said once at INFO: the section's state lists it under "absent" from then
    on, so the runs that follow (every minute, or every --slow-interval) stay quiet until it
    appears, and again after it has been seen. A state lost with its file says it once more.
    """
    present = name in listed_collections(db, clock)
    noted = set(state.get("absent", []))
    if present:
        noted.discard(name)
    elif name not in noted:
        noted.add(name)
        with _guard:
            said = clock.shared.setdefault(SAID, set())
            first = name not in said
            said.add(name)
        if first:
            log.info("collection %s not found (LibreChat before %s, or nothing written to it "
                     "yet): its metrics are left out until it appears", name, since)
    if noted:
        state["absent"] = sorted(noted)
    else:
        state.pop("absent", None)
    return present
