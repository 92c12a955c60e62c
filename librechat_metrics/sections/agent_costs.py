"""Cost and tokens per agent: transactions carry the real LLM, conversations the agent.

A transaction's `conversationId` leads to its conversation's `agent_id` (LibreChat's unique
`conversationId` index), counted when that id names an agent in `agents`: ephemeral ids such
as `openAI__gpt-4o___GPT-4o` are not agents. Every non-credit transaction of the conversation
counts (the message, its title, summaries). Only the conversations of the transactions being
counted are looked up, so a steady run reads a handful.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import catalogue as cat
from ..counters import Counters
from ..labels import number
from ..queries import Match, absolute, grouped
from ..settings import Settings
from .agents import AGENT_ID_PREFIX, agent_documents
from .base import tenant_of

USD_PER_CREDIT = 1e-6


def conversation_agents(db: Any, conversation_ids: Iterable[str]) -> dict[str, str]:
    """{conversationId: agent id} for the conversations held by an existing agent."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    held = {doc["conversationId"]: doc["agent_id"] for doc in db.conversations.find(
        {"conversationId": {"$in": ids}}, {"conversationId": 1, "agent_id": 1})
        if isinstance(doc.get("agent_id"), str) and doc["agent_id"].startswith(AGENT_ID_PREFIX)}
    agents = agent_documents(db, held.values())
    return {convo: agent for convo, agent in held.items() if agent in agents}


def count_agent_costs(db: Any, match: Match, counters: Counters, settings: Settings) -> None:
    spend = {"tokenType": {"$in": ["prompt", "completion"]},
             "conversationId": {"$type": "string"}}
    rows = grouped(db.transactions, match, {"conversation": "$conversationId",
                                            "type": "$tokenType"},
                   settings.tenant_label, {"raw": {"$sum": absolute("$rawAmount")},
                                           "value": {"$sum": absolute("$tokenValue")}},
                   before=[{"$match": spend}])
    held = conversation_agents(db, (row["_id"]["conversation"] for row in rows))
    for row in rows:
        agent = held.get(row["_id"]["conversation"])
        if agent is None:
            continue
        tenant = tenant_of(row["_id"])
        counters.add(cat.AGENT_COST_USD_TOTAL, number(row["value"]) * USD_PER_CREDIT,
                     agent_id=agent, tenant=tenant)
        counters.add(cat.AGENT_TOKENS_TOTAL, number(row["raw"]), agent_id=agent,
                     token_type=row["_id"]["type"], tenant=tenant)
