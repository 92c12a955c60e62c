"""Feedback: thumbs up/down stored now on assistant messages, by model and by reason tag."""

from __future__ import annotations

from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..dimensions import Dimensions
from ..families import Family
from ..labels import label_value, model_label, number
from ..queries import NOT_OBJECT_ID, grouped
from ..settings import Settings
from .agents import AgentModels
from .base import tenant_of

RATINGS = dict(cat.FEEDBACK.closed)["rating"]  # thumbsUp, thumbsDown
KEY = {"rating": "$feedback.rating", "model": "$model", "endpoint": "$endpoint",
       "tag": "$feedback.tag"}

PASSED = "feedback of the messages pass"
# A first count's pass over the messages groups them by these fields too (messages.PASS_KEY)
# and leaves the rows in the run's `Clock.shared` with the pass's upper `_id` bound: then
# the gauge reads only the messages the pass did not (issue 12), through the `_id` index.
# The pass read the ObjectIds below its bound, and ObjectId("000...") is the least ObjectId.


def rated_rows(db: Any, clock: Clock, settings: Settings) -> list[dict[str, Any]]:
    """Messages with a rating, grouped by rating, model, endpoint and tag."""
    match: dict[str, Any] = {"feedback.rating": {"$in": list(RATINGS)}}
    passed = clock.shared.get(PASSED)
    if passed is None:
        return grouped(db.messages, match, KEY, settings.tenant_label)
    below, rows = passed
    match["$or"] = [{"_id": {"$gte": below}}, {"_id": NOT_OBJECT_ID}]
    return rows + grouped(db.messages, match, KEY, settings.tenant_label)


def feedback_families(db: Any, clock: Clock, state: dict[str, Any],
                      settings: Settings, dims: Dimensions) -> list[Family]:
    """Thumbs up/down stored now on assistant messages, by model and by reason tag."""
    by_model = Family.of(cat.FEEDBACK, settings.tenant_label)
    by_tag = Family.of(cat.FEEDBACK_TAGS, settings.tenant_label)
    rows = rated_rows(db, clock, settings)
    llms = AgentModels(db, ((model_label(r["_id"].get("model")), r["_id"].get("endpoint"))
                            for r in rows))
    for row in rows:
        gid, n = row["_id"], number(row["n"])
        rating, tenant = gid.get("rating"), tenant_of(gid)
        if rating not in RATINGS:  # feedback stored as an array or other odd shape
            continue
        model = llms.model(model_label(gid.get("model")), gid.get("endpoint"))
        by_model.inc(n, rating=rating, model=model, tenant=tenant)
        # label_value spells a missing or empty tag "none", as every other missing value.
        by_tag.inc(n, rating=rating, tag=label_value(gid.get("tag")),
                   tenant=tenant)
    return [by_model, by_tag]
