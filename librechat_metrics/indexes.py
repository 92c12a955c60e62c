"""The `indexes` command: which indexes the job's queries want, which exist, and (only when
asked) creating the job's own optional ones. LibreChat's own indexes are never created."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pymongo
from pymongo.errors import PyMongoError

from .client import checked_client
from .errors import EXIT_FAILED, EXIT_OK, JobError
from .logs import describe_error
from .settings import Settings

log = logging.getLogger("librechat_textfile")

@dataclasses.dataclass(frozen=True)
class WantedIndex:
    collection: str
    keys: dict[str, int]
    options: dict[str, Any]
    why: str
    ours: bool  # False: LibreChat creates it at start-up; the job never creates those


WANTED_INDEXES: tuple[WantedIndex, ...] = (
    WantedIndex("messages", {"createdAt": 1}, {},
                "5-minute, rolling and daily windows", False),
    WantedIndex("sessions", {"expiration": 1}, {}, "sessions alive (a TTL index)", False),
    WantedIndex("conversations", {"expiredAt": 1}, {}, "temporary conversations (a TTL index)",
                False),
    WantedIndex("messages", {"feedback.rating": 1},
                {"name": "librechat_textfile_feedback", "sparse": True},
                "feedback gauges read rated messages only, not all messages", True),
    WantedIndex("conversations", {"isArchived": 1},
                {"name": "librechat_textfile_archived",
                 "partialFilterExpression": {"isArchived": True}},
                "archived conversations read archived ones only, not all", True),
)
# The _id index serves every counter and the transaction windows. TTL indexes delete data, so
# the job never creates LibreChat's own indexes, even with --create; it only reports them.


def index_present(db: Any, wanted: WantedIndex) -> bool:
    if wanted.collection not in db.list_collection_names():
        return False
    return any(list(ix["key"].items()) == list(wanted.keys.items())
               for ix in db[wanted.collection].list_indexes())


def run_indexes(settings: Settings) -> int:
    """Print each wanted index as present or missing; with --create, make the job's own."""
    try:
        client = checked_client(settings)
    except JobError as exc:
        log.error("indexes: %s", exc)
        return EXIT_FAILED
    try:
        with pymongo.timeout(settings.timeout):
            db = client[settings.mongodb_database]
            for wanted in WANTED_INDEXES:
                status = "present" if index_present(db, wanted) else "missing"
                if status == "missing" and settings.create_indexes and wanted.ours:
                    db[wanted.collection].create_index(list(wanted.keys.items()),
                                                       **wanted.options)
                    status = "created"
                owner = "job" if wanted.ours else "LibreChat"
                print(f"{status:8} {wanted.collection:14} {json.dumps(wanted.keys):24} "
                      f"{owner:10} {wanted.why}")
    except PyMongoError as exc:
        log.error("indexes: %s", describe_error(exc))
        return EXIT_FAILED
    finally:
        client.close()
    return EXIT_OK

