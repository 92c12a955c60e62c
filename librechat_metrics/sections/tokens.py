"""Tokens, LLM calls, cost and credits from transactions (provider-reported, the real model),
counted once each; messages.tokenCount only when a database has no transactions at all."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .. import catalogue as cat
from ..clock import Clock, oid_at
from ..counters import Counters
from ..dimensions import Dimensions
from ..families import Family
from ..incremental import count_new
from ..labels import UNKNOWN, USD_PER_CREDIT, is_bson_number, label_value, model_label, number
from ..queries import (
    Match,
    absolute,
    checked_sum,
    fast_abs,
    fast_else_guarded,
    grouped,
    is_number,
)
from ..settings import Settings
from .agent_costs import count_agent_costs
from .agents import AgentModels
from .base import tenant_of
from .messages import message_rows

TRANSACTION_KEY = {"model": "$model", "type": "$tokenType", "context": "$context"}


def transaction_rows(db: Any, match: Match, settings: Settings) -> list[dict[str, Any]]:
    """Transactions grouped by model, token type and context, with Σ|rawAmount|, Σ|tokenValue|,
    Σ|readTokens|, Σ|writeTokens|, the structured prompts and the uncached prompt tokens.

    Read fast, else guarded (`queries.fast_else_guarded`): FAST_SUMS and `fast_row`, else
    `guarded_transaction_rows`."""
    def fast() -> list[dict[str, Any]] | None:
        rows = [fast_row(row) for row in grouped(db.transactions, match, TRANSACTION_KEY,
                                                 settings.tenant_label, FAST_SUMS)]
        checked = [row for row in rows if row is not None]
        return checked if len(checked) == len(rows) else None

    return fast_else_guarded(fast, lambda: guarded_transaction_rows(db, match, settings))


def _abs_or_0(path: str) -> dict[str, Any]:
    """|field|, missing or null as 0 (inside an expression, where a null would spread)."""
    return {"$abs": {"$ifNull": [path, 0]}}


def token_sums(magnitude: Callable[[str], Any], zeroed: Callable[[str], Any],
               structured: Any) -> dict[str, Any]:
    """Σ|rawAmount|, Σ|tokenValue|, Σ|readTokens|, Σ|writeTokens| and the uncached prompt
    tokens. `magnitude` writes each |x| that is summed, `zeroed` each |x| inside the uncached
    expression, and `structured` tells a structured prompt (fast: `fast_abs`, `_abs_or_0` and one
    comparison; guarded: `absolute` and `is_number`).

    Each transaction on its own (docs/counting.md): a structured prompt's (a number in
    inputTokens) uncached part is its |rawAmount| less its cache reads and writes, at least 0;
    any other prompt is all uncached."""
    uncached = {"$max": [{"$subtract": [zeroed("$rawAmount"), {"$add": [
        zeroed("$readTokens"), zeroed("$writeTokens")]}]}, 0]}
    return {"raw": {"$sum": magnitude("$rawAmount")}, "value": {"$sum": magnitude("$tokenValue")},
            "read": {"$sum": magnitude("$readTokens")},
            "write": {"$sum": magnitude("$writeTokens")},
            "uncached": {"$sum": {"$cond": [structured, uncached, magnitude("$rawAmount")]}}}


FAST_SUMS = {**token_sums(fast_abs, _abs_or_0, {"$gte": ["$inputTokens", float("nan")]}),
             # Structured prompts, told by their extremes: None for none, numbers otherwise.
             # The one comparison above is also true for every type that sorts above the
             # numbers (a string, an object, a boolean, a date); such a value is then the
             # group's input_hi, and `fast_row` sends the match to the guarded read.
             "input_lo": {"$min": "$inputTokens"}, "input_hi": {"$max": "$inputTokens"}}
SUMMED = ("raw", "value", "read", "write", "uncached")


def fast_row(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """A FAST_SUMS row in `guarded_transaction_rows`' shape, or None when a sum shows a value
    the guard would have counted as 0 (NaN, an infinity, beyond ±10^15)."""
    sums = {name: checked_sum(row.get(name)) for name in SUMMED}
    lo, hi = row.get("input_lo"), row.get("input_hi")
    if any(v is None for v in sums.values()) or not (
            (lo is None and hi is None) or (is_bson_number(lo) and is_bson_number(hi))):
        return None
    return {"_id": row["_id"], "n": row["n"], **sums,
            "structured": 1.0 if lo is not None else 0.0}


def guarded_transaction_rows(db: Any, match: Match,
                             settings: Settings) -> list[dict[str, Any]]:
    """`transaction_rows` with a guard on every document: the fallback for unclean values."""
    return grouped(db.transactions, match, TRANSACTION_KEY, settings.tenant_label, {
        **token_sums(absolute, absolute, is_number("$inputTokens")),
        "structured": {"$sum": {"$cond": [is_number("$inputTokens"), 1, 0]}}})


def token_kinds(row: Mapping[str, Any]) -> dict[str, float]:
    """One prompt group's tokens by kind."""
    kinds = {"uncached_prompt": number(row["uncached"])}
    if number(row["structured"]):
        kinds.update(cache_read=number(row["read"]), cache_write=number(row["write"]))
    return kinds


def count_transactions(db: Any, match: Match, counters: Counters, settings: Settings) -> None:
    for row in transaction_rows(db, match, settings):
        gid = row["_id"]
        tenant = tenant_of(gid)
        model, token_type = model_label(gid.get("model")), gid.get("type")
        context = label_value(gid.get("context"))
        raw = number(row["raw"])
        if token_type == "prompt":
            add_token_totals(counters, cat.INPUT_TOKENS_TOTAL, cat.INPUT_TOKENS_PER_MODEL_TOTAL,
                             raw, model, tenant)
            for kind, value in token_kinds(row).items():
                counters.add(cat.TOKENS_TOTAL, value, model=model, kind=kind, tenant=tenant)
        elif token_type == "completion":
            add_token_totals(counters, cat.OUTPUT_TOKENS_TOTAL,
                             cat.OUTPUT_TOKENS_PER_MODEL_TOTAL, raw, model, tenant)
            counters.add(cat.TOKENS_TOTAL, raw, model=model, kind="completion", tenant=tenant)
            counters.add(cat.LLM_CALLS_TOTAL, number(row["n"]), model=model, tenant=tenant)
        elif token_type == "credits":
            counters.add(cat.CREDITS_GRANTED_TOTAL, raw, context=context, tenant=tenant)
            continue
        else:
            continue
        counters.add(cat.CONTEXT_TOKENS_TOTAL, raw, context=context,
                     token_type=str(token_type), tenant=tenant)
        counters.add(cat.COST_USD_TOTAL, number(row["value"]) * USD_PER_CREDIT, model=model,
                     tenant=tenant)
        counters.add(cat.CONTEXT_COST_USD_TOTAL, number(row["value"]) * USD_PER_CREDIT,
                     context=context, tenant=tenant)


def add_token_totals(counters: Counters, total: cat.Spec, per_model: cat.Spec, value: float,
                     model: str, tenant: str) -> None:
    counters.add(total, value, tenant=tenant)
    counters.add(per_model, value, model=model, tenant=tenant)


def count_fallback_tokens(db: Any, match: Match, counters: Counters,
                          settings: Settings) -> None:
    """LibreChat with `transactions.enabled: false`: the messages' own tokenCount."""
    rows = message_rows(db, match, settings)
    llms = AgentModels(db, ((model_label(r["_id"].get("model")), r["_id"].get("endpoint"))
                            for r in rows))
    for row in rows:
        gid = row["_id"]
        tokens = number(row["tokens"])
        if gid.get("user"):
            add_token_totals(counters, cat.INPUT_TOKENS_TOTAL, cat.INPUT_TOKENS_PER_MODEL_TOTAL,
                             tokens, UNKNOWN, tenant_of(gid))
        else:
            add_token_totals(counters, cat.OUTPUT_TOKENS_TOTAL,
                             cat.OUTPUT_TOKENS_PER_MODEL_TOTAL, tokens,
                             llms.model(model_label(gid.get("model")), gid.get("endpoint")),
                             tenant_of(gid))


TOKEN_COUNTERS = (cat.INPUT_TOKENS_TOTAL, cat.OUTPUT_TOKENS_TOTAL,
                  cat.INPUT_TOKENS_PER_MODEL_TOTAL, cat.OUTPUT_TOKENS_PER_MODEL_TOTAL,
                  cat.TOKENS_TOTAL, cat.CONTEXT_TOKENS_TOTAL, cat.LLM_CALLS_TOTAL,
                  cat.COST_USD_TOTAL, cat.CREDITS_GRANTED_TOTAL, cat.CONTEXT_COST_USD_TOTAL,
                  cat.AGENT_COST_USD_TOTAL, cat.AGENT_TOKENS_TOTAL)


def token_families(db: Any, clock: Clock, state: dict[str, Any],
                   settings: Settings, dims: Dimensions) -> list[Family]:
    """Tokens, LLM calls, cost and credits from transactions, counted once each."""
    has_transactions = db.transactions.find_one({}, {"_id": 1}) is not None
    source = "transactions" if has_transactions else "messages"
    if state.get("source", source) != source:
        # Transactions switched on (or off): keep each source's watermark apart, so that
        # neither is counted twice.
        state[f"stream_{state['source']}"] = state.pop("stream", {})
        state["stream"] = state.pop(f"stream_{source}", {})
    state["source"] = source
    def count(db: Any, match: Match, counters: Counters, settings: Settings) -> None:
        if has_transactions:
            count_transactions(db, match, counters, settings)
            count_agent_costs(db, match, counters, settings)
        else:
            count_fallback_tokens(db, match, counters, settings)

    counters = count_new(db.transactions if has_transactions else db.messages, state, clock,
                         settings, dims, lambda match, c: count(db, match, c, settings))
    if counters is None:
        return []
    source_info = Family.of(cat.TOKEN_SOURCE_INFO)
    source_info.set(1.0, source=source)
    return [*(counters.family(spec) for spec in TOKEN_COUNTERS), source_info]


def token_window_families(db: Any, clock: Clock, state: dict[str, Any],
                          settings: Settings, dims: Dimensions) -> list[Family]:
    """Prompt and completion tokens of the last 5 minutes (transactions `_id` window)."""
    window = {"_id": {"$gte": oid_at(clock.epoch - 300), "$lt": oid_at(clock.epoch + 1)},
              "tokenType": {"$in": ["prompt", "completion"]}}
    tenant_on = settings.tenant_label
    sides = {"prompt": (Family.of(cat.INPUT_TOKENS_5M, tenant_on),
                        Family.of(cat.MODEL_INPUT_TOKENS_5M, tenant_on)),
             "completion": (Family.of(cat.OUTPUT_TOKENS_5M, tenant_on),
                            Family.of(cat.MODEL_OUTPUT_TOKENS_5M, tenant_on))}
    for row in grouped(db.transactions, window, {"model": "$model", "type": "$tokenType"},
                       tenant_on, {"raw": {"$sum": absolute("$rawAmount")}}):
        gid = row["_id"]
        total, per_model = sides["prompt" if gid.get("type") == "prompt" else "completion"]
        total.inc(number(row["raw"]), tenant=tenant_of(gid))
        per_model.inc(number(row["raw"]), model=model_label(gid.get("model")),
                      tenant=tenant_of(gid))
    (prompt, prompt_by_model), (completion, completion_by_model) = sides.values()
    return [f
            for f in (prompt, completion, prompt_by_model, completion_by_model)]
