"""Cost and tokens per agent: transactions carry the real LLM, conversations the agent.

A transaction's `conversationId` leads to its conversation's `agent_id` (LibreChat's unique
`conversationId` index), counted when that id names an agent in `agents`: ephemeral ids such
as `openAI__gpt-4o___GPT-4o` are not agents. Every non-credit transaction of the conversation
counts (the message, its title, summaries). Only the conversations of the transactions being
counted are looked up, so a steady run reads a handful.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .. import catalogue as cat
from ..counters import Counters
from ..labels import USD_PER_CREDIT, finite_number
from ..queries import (
    ROW_BATCH,
    Match,
    WholeCollection,
    absolute,
    checked_sum,
    fast_abs,
    fast_else_guarded,
    grouped_rows,
)
from ..settings import Settings
from .agents import AGENT_ID_PREFIX, agent_documents
from .base import tenant_of


def conversation_agents(db: Any, conversation_ids: Iterable[str]) -> dict[str, str]:
    """{conversationId: agent id} for the conversations held by an existing agent."""
    # A filter on a string also matches an array holding it: the grouped value, or the
    # conversation's own field, may be an array or a document, never a key.
    ids = sorted({i for i in conversation_ids if isinstance(i, str)})
    if not ids:
        return {}
    held = {doc["conversationId"]: doc["agent_id"] for doc in db.conversations.find(
        {"conversationId": {"$in": ids}}, {"conversationId": 1, "agent_id": 1})
        if isinstance(doc.get("conversationId"), str) and isinstance(doc.get("agent_id"), str)
        and doc["agent_id"].startswith(AGENT_ID_PREFIX)}
    agents = agent_documents(db, held.values())
    return {convo: agent for convo, agent in held.items() if agent in agents}


AGENT_BATCH = 20_000
# Conversations resolved per query, and agent-held conversations per transactions query:
# bounded memory and bounded `$in` lists however many conversations a first count meets.

SPEND = {"tokenType": {"$in": ["prompt", "completion"]}}
FAST_SUMS = {"raw": {"$sum": fast_abs("$rawAmount")}, "value": {"$sum": fast_abs("$tokenValue")}}
GUARDED_SUMS = {"raw": {"$sum": absolute("$rawAmount")},
                "value": {"$sum": absolute("$tokenValue")}}
BY_CONVERSATION = {"conversation": "$conversationId", "type": "$tokenType"}


class AgentTotals:
    """Cost and tokens summed per agent (and tenant, and token type) before they are counted:
    a first count meets tens of thousands of conversations."""

    def __init__(self) -> None:
        self.cost: dict[tuple[str, str], float] = {}
        self.tokens: dict[tuple[str, str, Any], float] = {}

    def add(self, rows: Iterable[dict[str, Any]], held: Mapping[str, str], fast: bool) -> bool:
        """Add the rows of the conversations an agent holds; False when a fast row's sum is
        out of bounds (queries.fast_else_guarded)."""
        for row in rows:
            conversation = row["_id"].get("conversation")
            agent = held.get(conversation) if isinstance(conversation, str) else None
            if agent is None:
                continue
            read = checked_sum if fast else finite_number
            raw, value = read(row["raw"]), read(row["value"])
            if fast and (raw is None or value is None):
                return False
            tenant = tenant_of(row["_id"])
            self.cost[agent, tenant] = self.cost.get((agent, tenant), 0.0) + (value or 0.0)
            key = (agent, tenant, row["_id"]["type"])
            self.tokens[key] = self.tokens.get(key, 0.0) + (raw or 0.0)
        return True

    def count(self, counters: Counters) -> None:
        for (agent, tenant), value in self.cost.items():
            counters.add(cat.AGENT_COST_USD_TOTAL, value * USD_PER_CREDIT, agent_id=agent,
                         tenant=tenant)
        for (agent, tenant, token_type), value in self.tokens.items():
            counters.add(cat.AGENT_TOKENS_TOTAL, value, agent_id=agent, token_type=token_type,
                         tenant=tenant)


def summed(read: Callable[[Mapping[str, Any], bool], AgentTotals | None]) -> AgentTotals:
    """read(sums, fast) with FAST_SUMS, else with GUARDED_SUMS (queries.fast_else_guarded)."""
    def guarded() -> AgentTotals:
        totals = read(GUARDED_SUMS, False)
        assert totals is not None  # a guarded read has no sum out of bounds
        return totals

    return fast_else_guarded(lambda: read(FAST_SUMS, True), guarded)


def count_agent_costs(db: Any, match: Match, counters: Counters, settings: Settings) -> None:
    if isinstance(match, WholeCollection):
        count_held_conversations(db, match, counters, settings)
        return
    # New transactions (or a first-count chunk): grouped by conversation, whose agents are
    # looked up; the rows come as a stream and are resolved a batch at a time.
    spend = {**match, **SPEND, "conversationId": {"$type": "string"}}

    def read(sums: Mapping[str, Any], fast: bool) -> AgentTotals | None:
        totals = AgentTotals()
        rows = grouped_rows(db.transactions, spend, BY_CONVERSATION, settings.tenant_label,
                            sums)
        for batch in batched(rows, AGENT_BATCH):
            held = conversation_agents(db, (r["_id"]["conversation"] for r in batch))
            if not totals.add(batch, held, fast):
                return None
        return totals

    summed(read).count(counters)


def batched(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


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
    spend = {**match, **SPEND, "conversationId": {"$in": sorted(held)}}

    def read(sums: Mapping[str, Any], fast: bool) -> AgentTotals | None:
        totals = AgentTotals()
        rows = grouped_rows(db.transactions, spend, BY_CONVERSATION, settings.tenant_label,
                            sums)
        return totals if totals.add(rows, held, fast) else None

    summed(read).count(counters)
