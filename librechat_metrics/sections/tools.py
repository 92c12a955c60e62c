"""Tool calls in messages: by tool, with MCP tools split into the tool and its server."""

from __future__ import annotations

from typing import Any

from .. import catalogue as cat
from ..counters import Counters
from ..labels import NONE, label_value, number
from ..queries import Match, grouped
from ..settings import Settings
from .base import tenant_of

TOOL_FAILED = {"$regexMatch": {
    "input": {"$convert": {"input": "$content.tool_call.output", "to": "string",
                           "onError": "", "onNull": ""}},
    "regex": "error processing tool", "options": "i"}}
# LibreChat's own UI marks a tool call failed by this text in its output; a heuristic that
# misses cancelled calls and other wordings, named as such in the metric's help.


def tool_rows(db: Any, match: Match, settings: Settings) -> list[dict[str, Any]]:
    """Tool-call content parts of the messages of `match`, by tool name, with failures."""
    unwound = [{"$match": {"content.type": "tool_call"}},
               {"$project": {"content": 1, "tenantId": 1}},
               {"$unwind": "$content"},
               {"$match": {"content.type": "tool_call"}}]
    name = {"$ifNull": ["$content.tool_call.name", "$content.tool_call.function.name"]}
    return grouped(db.messages, match, {"name": name}, settings.tenant_label,
                   {"errors": {"$sum": {"$cond": [TOOL_FAILED, 1, 0]}}}, before=unwound)


def split_tool(name: str) -> tuple[str, str]:
    """(tool, mcp_server): LibreChat names MCP tools `<tool>_mcp_<server>`."""
    if "_mcp_" in name:
        tool, server = name.rsplit("_mcp_", 1)
        return label_value(tool), label_value(server)
    return name, NONE


def count_tool_calls(db: Any, match: Match, counters: Counters, settings: Settings) -> None:
    for row in tool_rows(db, match, settings):
        tool, server = split_tool(label_value(row["_id"].get("name")))
        labels = {"tool": tool, "mcp_server": server, "tenant": tenant_of(row["_id"])}
        counters.add(cat.TOOL_CALLS_TOTAL, number(row["n"]), **labels)
        if number(row["errors"]):
            counters.add(cat.TOOL_CALL_ERRORS_TOTAL, number(row["errors"]), **labels)
