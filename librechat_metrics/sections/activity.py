"""The 5-minute windows over messages: active users and conversations, messages and errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..dimensions import Dimensions
from ..families import Family
from ..labels import label_value, model_label
from ..queries import IS_ERROR
from ..settings import Settings
from .agents import AgentModels

WINDOW_SECONDS = 300


def window_messages(db: Any, clock: Clock, seconds: float) -> list[dict[str, Any]]:
    """The messages of the window, with `is_error` decided by the counters' own IS_ERROR."""
    start = clock.now - timedelta(seconds=seconds)
    return list(db.messages.aggregate([
        {"$match": {"createdAt": {"$gte": start, "$lte": clock.now}}},
        {"$project": {"user": 1, "conversationId": 1, "model": 1, "endpoint": 1,
                      "isCreatedByUser": 1, "tenantId": 1, "is_error": IS_ERROR}}]))


def activity_families(db: Any, clock: Clock, state: dict[str, Any],
                      settings: Settings, dims: Dimensions) -> list[Family]:
    """Active users and conversations, messages and error messages of the last 5 minutes."""
    tenant_on = settings.tenant_label
    fams = {spec.name: Family.of(spec, tenant_on) for spec in (
        cat.ACTIVE_USERS, cat.ACTIVE_CONVERSATIONS, cat.MESSAGES_5M, cat.MESSAGES_PER_MODEL_5M,
        cat.ERROR_MESSAGES_5M, cat.ERRORS_PER_MODEL_5M)}
    users: dict[str, set[str]] = {}
    convos: dict[str, set[str]] = {}
    docs = window_messages(db, clock, WINDOW_SECONDS)
    llms = AgentModels(db, ((model_label(d.get("model")), d.get("endpoint")) for d in docs))
    for doc in docs:
        # With the tenant label off, every tenant's users are one set.
        tenant = label_value(doc.get("tenantId")) if tenant_on else ""
        model = llms.model(model_label(doc.get("model")), doc.get("endpoint"))
        users.setdefault(tenant, set()).add(str(doc.get("user")))
        convos.setdefault(tenant, set()).add(str(doc.get("conversationId")))
        fams[cat.MESSAGES_5M.name].inc(1, tenant=tenant)
        assistant = doc.get("isCreatedByUser") is not True
        if assistant:
            fams[cat.MESSAGES_PER_MODEL_5M.name].inc(1, model=model, tenant=tenant)
        if doc.get("is_error"):
            fams[cat.ERROR_MESSAGES_5M.name].inc(1, tenant=tenant)
            if assistant:  # as MESSAGES_PER_MODEL_5M counts: their ratio is a rate
                fams[cat.ERRORS_PER_MODEL_5M.name].inc(1, model=model, tenant=tenant)
    for tenant, members in users.items():
        fams[cat.ACTIVE_USERS.name].set(float(len(members)), tenant=tenant)
    for tenant, members in convos.items():
        fams[cat.ACTIVE_CONVERSATIONS.name].set(float(len(members)), tenant=tenant)
    return [f for f in fams.values()]
