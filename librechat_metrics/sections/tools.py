"""Tool calls in messages: by tool, with MCP tools split into the tool and its server."""

from __future__ import annotations

from typing import Any

from .. import catalogue as cat
from ..counters import Counters
from ..labels import NONE, label_value, number
from .base import tenant_of

FAILED_TEXT = "error processing tool"
# LibreChat's own UI marks a tool call failed by this text in its output; a heuristic that
# misses cancelled calls and other wordings, named as such in the metric's help.


def _tool_parts() -> dict[str, Any]:
    """A message's tool calls as a list of [name, failed], one per `content` part of type
    `tool_call` ([] for none); a lone object counts as a one-element list, as `$unwind` takes
    it. The name is `tool_call.name`, else `tool_call.function.name` (each only from an
    object); failed: `tool_call.output` is a string holding FAILED_TEXT, in any case.

    It is part of the messages' one-pass group key (messages.PASS_KEY): no `$unwind`, which
    reads every message a second time."""
    parts = {"$cond": [{"$isArray": "$content"}, "$content",
                       {"$cond": [{"$eq": [{"$type": "$content"}, "object"]}, ["$content"], []]}]}
    call = "$$p.tool_call"
    is_call = {"$eq": [{"$type": call}, "object"]}
    name = {"$cond": [is_call, {"$ifNull": [f"{call}.name", {"$cond": [
        {"$eq": [{"$type": f"{call}.function"}, "object"]}, f"{call}.function.name", None]}]},
        None]}
    output = f"{call}.output"
    failed = {"$cond": [{"$and": [is_call, {"$eq": [{"$type": output}, "string"]}]},
                        {"$regexMatch": {"input": output, "regex": FAILED_TEXT, "options": "i"}},
                        False]}
    return {"$map": {"input": {"$filter": {"input": parts, "as": "p",
                                           "cond": {"$eq": ["$$p.type", "tool_call"]}}},
                     "as": "p", "in": [name, failed]}}


TOOL_PARTS = _tool_parts()


def split_tool(name: str) -> tuple[str, str]:
    """(tool, mcp_server): LibreChat names MCP tools `<tool>_mcp_<server>`."""
    if "_mcp_" in name:
        tool, server = name.rsplit("_mcp_", 1)
        return label_value(tool), label_value(server)
    return name, NONE


def count_tool_calls(rows: list[dict[str, Any]], counters: Counters) -> None:
    """Tool-call counters from rows by tool name (`_id.name`, `n`, `errors`)."""
    for row in rows:
        tool, server = split_tool(label_value(row["_id"].get("name")))
        labels = {"tool": tool, "mcp_server": server, "tenant": tenant_of(row["_id"])}
        counters.add(cat.TOOL_CALLS_TOTAL, number(row["n"]), **labels)
        if number(row["errors"]):
            counters.add(cat.TOOL_CALL_ERRORS_TOTAL, number(row["errors"]), **labels)
