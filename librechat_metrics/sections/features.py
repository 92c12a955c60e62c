"""What LibreChat 0.8 stores, stored now: memories, MCP servers, the agent marketplace, what is
shared with whom, and the preview status of files.

Each collection an older LibreChat lacks is checked first (sections/optional.py): where it is
absent its families are left out, said once at INFO.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..dimensions import Dimensions
from ..families import Family
from ..labels import closed_label, label_value, number
from ..queries import bounded, grouped
from ..settings import Settings
from .base import tenant_of, tenant_total
from .optional import collection_present

FILE_STATUSES = dict(cat.FILES_BY_STATUS.closed)["status"]
STUCK_AFTER = timedelta(minutes=5)
# LibreChat's own cutoff: at start-up it marks files pending for longer than this failed
# ('orphaned'), since a preview render gives up after 60 s.


def per_user_memory(tenant: bool) -> list[dict[str, Any]]:
    """Stages that fold a user's memory entries into one row: entries, tokens (a negative or
    non-numeric tokenCount as 0) and the user id, null where the entry has none."""
    key: dict[str, Any] = {"user": "$userId", "tenantId": "$tenantId"} if tenant else {
        "user": "$userId"}
    return [{"$group": {"_id": key, "entries": {"$sum": 1},
                        "tokens": {"$sum": {"$max": [bounded("$tokenCount"), 0]}}}},
            {"$project": {"tenantId": "$_id.tenantId",
                          "user": {"$ifNull": ["$_id.user", None]}, "entries": 1, "tokens": 1}}]


def memory_families(db: Any, clock: Clock, state: dict[str, Any],
                    settings: Settings, dims: Dimensions) -> list[Family]:
    """Users with memories, entries and tokens held now. A scan of memoryentries, whose size
    LibreChat bounds per user (memory.tokenLimit); grouped on the server, one row per tenant."""
    if not collection_present(db, clock, state, "memoryentries", "0.7.9"):
        return []
    rows = grouped(db.memoryentries, {}, {}, settings.tenant_label, {
        "entries": {"$sum": "$entries"}, "tokens": {"$sum": "$tokens"},
        "users": {"$sum": {"$cond": [{"$eq": ["$user", None]}, 0, 1]}}},
        before=per_user_memory(settings.tenant_label))
    return [tenant_total(cat.MEMORY_USERS, rows, settings, "users"),
            tenant_total(cat.MEMORY_ENTRIES, rows, settings, "entries"),
            tenant_total(cat.MEMORY_TOKENS, rows, settings, "tokens")]


def mcp_server_families(db: Any, clock: Clock, state: dict[str, Any],
                        settings: Settings, dims: Dimensions) -> list[Family]:
    """MCP servers stored now, by serverName (a scan of a collection of a few documents)."""
    if not collection_present(db, clock, state, "mcpservers", "0.8.2"):
        return []
    servers = Family.of(cat.MCP_SERVERS, settings.tenant_label)
    for row in grouped(db.mcpservers, {}, {"server": "$serverName"}, settings.tenant_label):
        servers.inc(number(row["n"]), mcp_server=label_value(row["_id"].get("server")),
                    tenant=tenant_of(row["_id"]))
    return [servers]


def marketplace_families(db: Any, clock: Clock, state: dict[str, Any],
                         settings: Settings, dims: Dimensions) -> list[Family]:
    """Agents promoted now by category (LibreChat's is_promoted index), and the marketplace's
    categories (a scan of agentcategories, a few documents) where that collection exists."""
    tenant_on = settings.tenant_label
    promoted = Family.of(cat.AGENTS_PROMOTED, tenant_on)
    for row in grouped(db.agents, {"is_promoted": True}, {"category": "$category"}, tenant_on):
        promoted.inc(number(row["n"]), category=label_value(row["_id"].get("category")),
                     tenant=tenant_of(row["_id"]))
    if not collection_present(db, clock, state, "agentcategories", "0.8.0"):
        return [promoted]
    categories = Family.of(cat.AGENT_CATEGORIES, tenant_on)
    for row in grouped(db.agentcategories, {}, {"active": {"$eq": ["$isActive", True]},
                                                "custom": {"$eq": ["$custom", True]}},
                       tenant_on):
        gid = row["_id"]
        categories.inc(number(row["n"]), active=str(gid.get("active") is True).lower(),
                       custom=str(gid.get("custom") is True).lower(), tenant=tenant_of(gid))
    return [promoted, categories]


def sharing_families(db: Any, clock: Clock, state: dict[str, Any],
                     settings: Settings, dims: Dimensions) -> list[Family]:
    """ACL entries in force now by resource type and principal type: those whose expiredAt is
    not past (LibreChat's TTL index deletes them within a minute). A scan of aclentries, a few
    entries per shared resource."""
    if not collection_present(db, clock, state, "aclentries", "0.8.0"):
        return []
    entries = Family.of(cat.ACL_ENTRIES, settings.tenant_label)
    in_force = {"expiredAt": {"$not": {"$lte": clock.now}}}
    for row in grouped(db.aclentries, in_force, {"resource": "$resourceType",
                                                  "principal": "$principalType"},
                       settings.tenant_label):
        gid = row["_id"]
        entries.inc(number(row["n"]), resource_type=label_value(gid.get("resource")),
                    principal_type=closed_label(gid.get("principal"), cat.ACL_PRINCIPAL_TYPES),
                    tenant=tenant_of(gid))
    return [entries]


def file_status_families(db: Any, clock: Clock, state: dict[str, Any],
                         settings: Settings, dims: Dimensions) -> list[Family]:
    """Files by preview status, and those pending for longer than LibreChat waits; both read
    through LibreChat's status index (the files of one status, not the whole collection)."""
    tenant_on = settings.tenant_label
    statuses = Family.of(cat.FILES_BY_STATUS, tenant_on)
    for row in grouped(db.files, {"status": {"$in": list(FILE_STATUSES)}}, {"status": "$status"},
                       tenant_on):
        statuses.inc(number(row["n"]), status=closed_label(row["_id"].get("status"),
                                                           FILE_STATUSES),
                     tenant=tenant_of(row["_id"]))
    stuck = grouped(db.files, {"status": "pending", "updatedAt": {"$lt": clock.now - STUCK_AFTER}},
                    {}, tenant_on)
    return [statuses, tenant_total(cat.FILES_PENDING_STUCK, stuck, settings)]
