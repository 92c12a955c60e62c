"""The one `$match` + `$group` helper every section uses, and the guard expressions that keep a
bad document from turning a sum into NaN or an aggregation error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Match = Mapping[str, Any]  # a MongoDB filter selecting documents to count


def grouped(coll: Any, match: Match, by: Mapping[str, Any], tenant: bool,
            sums: Mapping[str, Any] | None = None,
            before: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Documents of `match` grouped by `by` (plus `tenantId` when the tenant label is on).

    Each row has `_id` (the group's fields), `n` (documents) and one field per `sums` entry;
    `before` holds stages run between the `$match` and the `$group`.
    """
    key = {**by, "tenant": "$tenantId"} if tenant else dict(by)
    pipeline = [{"$match": dict(match)}, *(before or []),
                {"$group": {"_id": key, "n": {"$sum": 1}, **(sums or {})}}]
    return list(coll.aggregate(pipeline, allowDiskUse=True))


def bounded(expr: Any) -> dict[str, Any]:
    """`expr` when it is a finite number of sane size, else 0, so one bad document cannot
    turn a sum into NaN or a string into an aggregation error."""
    return {"$cond": [{"$and": [{"$isNumber": expr}, {"$gte": [expr, -1e15]},
                                {"$lte": [expr, 1e15]}]}, expr, 0]}


def absolute(expr: Any) -> dict[str, Any]:
    return {"$abs": bounded(expr)}


IS_ERROR = {"$or": [
    {"$eq": ["$error", True]},
    {"$in": ["error", {"$cond": [{"$isArray": "$content.type"}, "$content.type", []]}]},
]}
IS_USER = {"$eq": ["$isCreatedByUser", True]}
