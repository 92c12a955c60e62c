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
from ..labels import USD_PER_CREDIT, number
from ..queries import ROW_BATCH, Match, WholeCollection, absolute, grouped_rows
from ..settings import Settings
from .agents import AGENT_ID_PREFIX, agent_documents
from .base import tenant_of


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


AGENT_BATCH = 20_000
# Conversations resolved per query, and agent-held conversations per transactions query:
# bounded memory and bounded `$in` lists however many conversations a first count meets.

SPEND = {"tokenType": {"$in": ["prompt", "completion"]}}
SUMS = {"raw": {"$sum": absolute("$rawAmount")}, "value": {"$sum": absolute("$tokenValue")}}
BY_CONVERSATION = {"conversation": "$conversationId", "type": "$tokenType"}


def count_agent_costs(db: Any, match: Match, counters: Counters, settings: Settings) -> None:
    if isinstance(match, WholeCollection):
        count_held_conversations(db, match, counters, settings)
        return
    # New transactions (or a first-count chunk): grouped by conversation, whose agents are
    # looked up; the rows come as a stream and are resolved a batch at a time.
    rows = grouped_rows(db.transactions, {**match, **SPEND,
                                          "conversationId": {"$type": "string"}},
                        BY_CONVERSATION, settings.tenant_label, SUMS)
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= AGENT_BATCH:
            _count_rows(batch, conversation_agents(db, (r["_id"]["conversation"] for r in batch)),
                        counters)
            batch = []
    _count_rows(batch, conversation_agents(db, (r["_id"]["conversation"] for r in batch)),
                counters)


def count_held_conversations(db: Any, match: Match, counters: Counters,
                             settings: Settings) -> None:
    """A first count's one pass (issue 12): grouping every stored transaction by conversation
    would cost more than all the other counters together (a group per conversation), so it
    goes the other way round: the conversations an agent holds (one scan of conversations),
    then only their transactions, through LibreChat's `conversationId` index."""
    held = db.conversations.find({"agent_id": {"$regex": f"^{AGENT_ID_PREFIX}"}},
                                 {"conversationId": 1, "agent_id": 1}).batch_size(ROW_BATCH)
    batch: dict[str, str] = {}
    for doc in held:
        if isinstance(doc.get("agent_id"), str) and isinstance(doc.get("conversationId"), str):
            batch[doc["conversationId"]] = doc["agent_id"]
        if len(batch) >= AGENT_BATCH:
            _count_held(db, match, batch, counters, settings)
            batch = {}
    _count_held(db, match, batch, counters, settings)


def _count_held(db: Any, match: Match, held: dict[str, str], counters: Counters,
                settings: Settings) -> None:
    agents = agent_documents(db, held.values())
    held = {convo: agent for convo, agent in held.items() if agent in agents}
    if not held:
        return
    # A plain filter (not WholeCollection): the `conversationId` index, not a scan.
    rows = grouped_rows(db.transactions, {**match, **SPEND,
                                          "conversationId": {"$in": sorted(held)}},
                        BY_CONVERSATION, settings.tenant_label, SUMS)
    _count_rows(rows, held, counters)


def _count_rows(rows: Iterable[dict[str, Any]], held: dict[str, str],
                counters: Counters) -> None:
    # Summed per agent here first: a first count meets tens of thousands of conversations.
    cost: dict[tuple[str, str], float] = {}
    tokens: dict[tuple[str, str, Any], float] = {}
    for row in rows:
        agent = held.get(row["_id"]["conversation"])
        if agent is None:
            continue
        tenant = tenant_of(row["_id"])
        cost[agent, tenant] = cost.get((agent, tenant), 0.0) + number(row["value"])
        key = (agent, tenant, row["_id"]["type"])
        tokens[key] = tokens.get(key, 0.0) + number(row["raw"])
    for (agent, tenant), value in cost.items():
        counters.add(cat.AGENT_COST_USD_TOTAL, value * USD_PER_CREDIT, agent_id=agent,
                     tenant=tenant)
    for (agent, tenant, token_type), value in tokens.items():
        counters.add(cat.AGENT_TOKENS_TOTAL, value, agent_id=agent, token_type=token_type,
                     tenant=tenant)
