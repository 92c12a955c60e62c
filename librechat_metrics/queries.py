"""The one `$match` + `$group` helper every section uses, and the guard expressions that keep a
bad document from turning a sum into NaN or an aggregation error."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from pymongo.errors import OperationFailure

from .labels import finite_number

Match = Mapping[str, Any]  # a MongoDB filter selecting documents to count

NATURAL = {"$natural": 1}

NOT_OBJECT_ID = {"$type": ["number", "string", "object", "binData", "bool", "date", "null",
                           "timestamp", "minKey", "maxKey", "symbol", "javascript",
                           "dbPointer"]}
# An `_id` that is no ObjectId: `_id` holds any type but arrays, regexes and undefined. Written
# as the other types (not `$not`), the `_id` index bounds it, so it reads only such documents.
ROW_BATCH = 5_000


class WholeCollection(dict):  # type: ignore[type-arg]
    """A filter that selects (nearly) a whole collection: a first count's one pass. `grouped`
    reads it in natural order, one sequential scan, rather than walking the `_id` index with a
    fetch per document. A copy (`{**match}`) is a plain filter again."""


def grouped_rows(coll: Any, match: Match, by: Mapping[str, Any], tenant: bool,
                 sums: Mapping[str, Any] | None = None,
                 before: list[dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
    """Documents of `match` grouped by `by` (plus `tenantId` when the tenant label is on).

    Each row has `_id` (the group's fields), `n` (documents) and one field per `sums` entry;
    `before` holds stages run between the `$match` and the `$group`. The rows come as the
    server sends them (a cursor): a caller with many groups need not hold them all.
    """
    key = {**by, "tenant": "$tenantId"} if tenant else dict(by)
    pipeline = [{"$match": dict(match)}, *(before or []),
                {"$group": {"_id": key, "n": {"$sum": 1}, **(sums or {})}}]
    options: dict[str, Any] = {"hint": NATURAL} if isinstance(match, WholeCollection) else {}
    # Batches of ROW_BATCH rows, not pymongo's 16 MB: a caller that streams many groups keeps
    # its memory bounded (a 16 MB batch decodes to some 100 MB of Python objects).
    return coll.aggregate(pipeline, allowDiskUse=True, batchSize=ROW_BATCH, **options)


def grouped(coll: Any, match: Match, by: Mapping[str, Any], tenant: bool,
            sums: Mapping[str, Any] | None = None,
            before: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """`grouped_rows` as a list."""
    return list(grouped_rows(coll, match, by, tenant, sums, before))


NUMBER_LIMIT = 1e15


def bounded(expr: Any) -> dict[str, Any]:
    """`expr` when it is a finite number of sane size, else 0, so one bad document cannot
    turn a sum into NaN or a string into an aggregation error.

    Two comparisons decide it: in BSON's order of types every non-number (null and missing
    below, strings, objects, booleans, dates above) and NaN (below every number) and the
    infinities fall outside [-10^15, 10^15]. No `$isNumber`, which Amazon DocumentDB lacks.
    """
    return {"$cond": [{"$and": [{"$gte": [expr, -NUMBER_LIMIT]},
                                {"$lte": [expr, NUMBER_LIMIT]}]}, expr, 0]}


def is_number(expr: Any) -> dict[str, Any]:
    """MongoDB's `$isNumber` (an integer, double or Decimal128, NaN and the infinities too),
    by comparison: NaN is the least number in BSON's order, infinity the greatest, and every
    other type sorts wholly below or above the numbers."""
    return {"$and": [{"$gte": [expr, float("nan")]}, {"$lte": [expr, float("inf")]}]}


def absolute(expr: Any) -> dict[str, Any]:
    return {"$abs": bounded(expr)}


def fast_abs(path: str) -> dict[str, Any]:
    """|field| for a fast sum (`fast_else_guarded`): missing or null give null, which `$sum`
    skips; any other non-number fails the aggregation."""
    return {"$abs": path}


def checked_sum(value: Any) -> float | None:
    """A fast sum as a float when it is a finite number within ±NUMBER_LIMIT, else None (a
    NaN, an infinity or an absurd value was summed: read again with the guard)."""
    total = finite_number(value)
    return None if total is None or abs(total) > NUMBER_LIMIT else total


T = TypeVar("T")


def fast_else_guarded(fast: Callable[[], T | None], guarded: Callable[[], T]) -> T:
    """`fast()`: sums with `$abs` straight on the fields, a good deal cheaper than `bounded`
    on every document. `$abs` fails the aggregation on a value that is no number (a string,
    a boolean, a date), and `fast` returns None for a sum that is not a finite number within
    ±NUMBER_LIMIT (a NaN, an infinity or an absurd value somewhere); either way the same
    documents are read again by `guarded()`, so the result is the guarded one."""
    try:
        result = fast()
    except OperationFailure as exc:
        if getattr(exc, "timeout", False):
            raise
        result = None
    return guarded() if result is None else result


IS_ERROR = {"$or": [
    {"$eq": ["$error", True]},
    {"$in": ["error", {"$cond": [{"$isArray": "$content.type"}, "$content.type", []]}]},
]}
IS_USER = {"$eq": ["$isCreatedByUser", True]}
