"""Agents defined now: by provider and category, and the MCP servers they use."""

from __future__ import annotations

from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..families import Family, capped
from ..labels import label_value, number
from ..queries import grouped
from ..settings import Settings
from .base import tenant_of


def agent_families(db: Any, clock: Clock, state: dict[str, Any],
                   settings: Settings) -> list[Family]:
    """Agents defined now, by provider and category; their MCP servers."""
    agents = Family.of(cat.AGENTS, settings.tenant_label)
    for row in grouped(db.agents, {}, {"provider": "$provider", "category": "$category"},
                       settings.tenant_label):
        gid = row["_id"]
        agents.inc(number(row["n"]), provider=label_value(gid.get("provider")),
                   category=label_value(gid.get("category")), tenant=tenant_of(gid))
    servers = Family.of(cat.AGENTS_WITH_MCP_SERVER, settings.tenant_label)
    unwound = [{"$project": {"s": "$mcpServerNames", "tenantId": 1}}, {"$unwind": "$s"}]
    for row in grouped(db.agents, {}, {"server": "$s"}, settings.tenant_label, before=unwound):
        servers.inc(number(row["n"]), mcp_server=label_value(row["_id"].get("server")),
                    tenant=tenant_of(row["_id"]))
    return [capped(agents, settings.label_limit), capped(servers, settings.label_limit)]
