"""Agents: defined now (by provider and category, their MCP servers), their names and LLMs for
joins on agent_id, and the LLM an agent's messages count under."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..dimensions import Dimensions
from ..families import Family
from ..labels import UNKNOWN, label_value, number
from ..queries import grouped
from ..settings import Settings
from .base import tenant_of

AGENTS_ENDPOINT = "agents"
AGENT_ID_PREFIX = "agent_"


def is_agent_message(model: str, endpoint: Any) -> bool:
    """An agents-endpoint message whose model is an agent id (LibreChat stores it so)."""
    return endpoint == AGENTS_ENDPOINT and model.startswith(AGENT_ID_PREFIX)


def agent_documents(db: Any, agent_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The agents of these ids (LibreChat's unique `id` index), one query per run."""
    ids = sorted(set(agent_ids))
    if not ids:
        return {}
    return {doc["id"]: doc for doc in db.agents.find(
        {"id": {"$in": ids}}, {"id": 1, "name": 1, "provider": 1, "model": 1})
        if isinstance(doc.get("id"), str)}


class AgentModels:
    """The LLM each agent's messages count under: the agent's configured `model`, `unknown`
    for an agent that no longer exists. Looked up once per run, for the ids met."""

    def __init__(self, db: Any, rows: Iterable[tuple[str, Any]]) -> None:
        ids = {model for model, endpoint in rows if is_agent_message(model, endpoint)}
        self.agents = agent_documents(db, ids)

    def model(self, model: str, endpoint: Any) -> str:
        if not is_agent_message(model, endpoint):
            return model
        agent = self.agents.get(model)
        return label_value(agent.get("model")) if agent else UNKNOWN


def agent_info_family(db: Any, dims: Dimensions) -> Family:
    info = Family.of(cat.AGENT_INFO)
    known = agent_documents(db, dims.values(cat.AGENT))
    for agent_id in dims.values(cat.AGENT):
        agent = known.get(agent_id, {})
        info.set(1.0, agent_id=agent_id,
                 agent_name=label_value(agent.get("name")) if agent else UNKNOWN,
                 provider=label_value(agent.get("provider")) if agent else UNKNOWN,
                 model=label_value(agent.get("model")) if agent else UNKNOWN)
    return info


def agent_families(db: Any, clock: Clock, state: dict[str, Any],
                   settings: Settings, dims: Dimensions) -> list[Family]:
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
    return [agents, servers, agent_info_family(db, dims)]
