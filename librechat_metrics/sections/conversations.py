"""Conversations: created by endpoint, temporary and archived ones stored now, and the size of
every LibreChat collection from MongoDB's metadata."""

from __future__ import annotations

from typing import Any

from pymongo.errors import OperationFailure

from .. import catalogue as cat
from ..clock import Clock
from ..dimensions import Dimensions
from ..families import Family
from ..queries import grouped
from ..settings import Settings
from .base import created_by_label, tenant_total

TEMPORARY = {"expiredAt": {"$type": "date"},
             "$or": [{"isTemporary": True}, {"isTemporary": {"$exists": False}}]}
# Temporary chats always carry an expiredAt date (LibreChat 0.7.7+), so LibreChat's TTL index
# on expiredAt narrows the scan. 0.8.6+ also marks them isTemporary, and its retention mode
# 'all' gives every chat an expiredAt: then isTemporary decides.

LIBRECHAT_COLLECTIONS = (
    "actions", "agentapikeys", "agents", "assistants", "balances", "banners", "chatprojects",
    "conversations", "conversationtags", "files", "groups", "keys", "mcpservers",
    "memoryentries", "messages", "pluginauths", "presets", "promptgroups", "prompts", "roles",
    "sessions", "sharedlinks", "skills", "toolcalls", "transactions", "users",
)


def conversation_families(db: Any, clock: Clock, state: dict[str, Any],
                          settings: Settings, dims: Dimensions) -> list[Family]:
    """Conversations created, counted once each, by endpoint."""
    return created_by_label(db.conversations, state, clock, settings, dims, "endpoint",
                            cat.CONVERSATIONS_TOTAL, cat.ENDPOINT_CONVERSATIONS_TOTAL)


def stored_conversation_families(db: Any, clock: Clock, state: dict[str, Any],
                                 settings: Settings, dims: Dimensions) -> list[Family]:
    """Temporary and archived conversations stored now."""
    tenant_on = settings.tenant_label
    return [
        tenant_total(cat.TEMPORARY_CONVERSATIONS,
                     grouped(db.conversations, TEMPORARY, {}, tenant_on), settings),
        tenant_total(cat.ARCHIVED_CONVERSATIONS,
                     grouped(db.conversations, {"isArchived": True}, {}, tenant_on), settings),
    ]


def collection_families(db: Any, clock: Clock, state: dict[str, Any],
                        settings: Settings, dims: Dimensions) -> list[Family]:
    """Documents stored per LibreChat collection, from collection metadata (no scan)."""
    family = Family.of(cat.COLLECTION_DOCUMENTS)
    present = set(db.list_collection_names())
    for name in LIBRECHAT_COLLECTIONS:
        try:
            family.set(float(db[name].estimated_document_count()) if name in present else 0.0,
                       collection=name)
        except OperationFailure as exc:
            if exc.code != 13:  # a collection this user may not read is left out, not fatal
                raise
    return [family]
