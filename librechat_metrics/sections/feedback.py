"""Feedback: thumbs up/down stored now on assistant messages, by model and by reason tag."""

from __future__ import annotations

from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..families import Family, capped
from ..labels import label_value, model_label, number
from ..queries import grouped
from ..settings import Settings
from .base import tenant_of

RATINGS = ("thumbsUp", "thumbsDown")
NO_TAG = "none"


def feedback_families(db: Any, clock: Clock, state: dict[str, Any],
                      settings: Settings) -> list[Family]:
    """Thumbs up/down stored now on assistant messages, by model and by reason tag."""
    by_model = Family.of(cat.FEEDBACK, settings.tenant_label)
    by_tag = Family.of(cat.FEEDBACK_TAGS, settings.tenant_label)
    for row in grouped(db.messages, {"feedback.rating": {"$in": list(RATINGS)}},
                       {"rating": "$feedback.rating", "model": "$model", "tag": "$feedback.tag"},
                       settings.tenant_label):
        gid, n = row["_id"], number(row["n"])
        rating, tenant = gid.get("rating"), tenant_of(gid)
        if rating not in RATINGS:  # feedback stored as an array or other odd shape
            continue
        by_model.inc(n, rating=rating, model=model_label(gid.get("model")), tenant=tenant)
        tag = gid.get("tag")
        by_tag.inc(n, rating=rating, tag=label_value(tag) if tag not in (None, "") else NO_TAG,
                   tenant=tenant)
    return [capped(by_model, settings.label_limit), capped(by_tag, settings.label_limit)]
