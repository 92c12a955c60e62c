"""Users: accounts created (by provider) and stored now, sessions alive, bans, balances."""

from __future__ import annotations

import re
from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..dimensions import Dimensions
from ..families import Family
from ..labels import label_value, number
from ..queries import bounded, grouped
from ..settings import Settings
from .base import created_by_label, tenant_of, tenant_total

BALANCE_RANGE = {"$switch": {"branches": [
    {"case": {"$lte": [bounded("$tokenCredits"), 0]}, "then": "0"},
    {"case": {"$lt": [bounded("$tokenCredits"), 100_000]}, "then": "0-0.1"},
    {"case": {"$lt": [bounded("$tokenCredits"), 1_000_000]}, "then": "0.1-1"},
    {"case": {"$lt": [bounded("$tokenCredits"), 10_000_000]}, "then": "1-10"}],
    "default": "10+"}}
# tokenCredits: 1,000,000 credits = 1 USD; a non-number counts as 0 credits, as in the sums.

USER_BAN_KEY = re.compile(r"BANS:[0-9a-fA-F]{24}")  # otherwise the key holds an IP address


def registration_families(db: Any, clock: Clock, state: dict[str, Any],
                          settings: Settings, dims: Dimensions) -> list[Family]:
    """User accounts created, counted once each (users have no createdAt index: `_id`)."""
    return created_by_label(db.users, state, clock, settings, dims, "provider",
                            cat.REGISTERED_USERS_TOTAL, cat.REGISTRATIONS_TOTAL)


def user_families(db: Any, clock: Clock, state: dict[str, Any],
                  settings: Settings, dims: Dimensions) -> list[Family]:
    """Accounts stored now by provider, role and e-mail verification; pending sign-ups."""
    users = Family.of(cat.USERS, settings.tenant_label)
    for row in grouped(db.users, {}, {"provider": "$provider", "role": "$role",
                                      "verified": {"$eq": ["$emailVerified", True]}},
                       settings.tenant_label):
        gid = row["_id"]
        users.inc(number(row["n"]), provider=label_value(gid.get("provider")),
                  role=label_value(gid.get("role")),
                  email_verified="true" if gid.get("verified") else "false",
                  tenant=tenant_of(gid))
    pending = grouped(db.users, {"expiresAt": {"$type": "date"}}, {}, settings.tenant_label)
    return [users,
            tenant_total(cat.USERS_PENDING_VERIFICATION, pending, settings)]


def session_families(db: Any, clock: Clock, state: dict[str, Any],
                     settings: Settings, dims: Dimensions) -> list[Family]:
    """Login sessions alive and bans in force now."""
    alive = grouped(db.sessions, {"expiration": {"$gt": clock.now}}, {}, settings.tenant_label)
    bans = Family.of(cat.BANS_ACTIVE, settings.tenant_label)
    if not settings.tenant_label:
        bans.set(0.0, kind="user")
        bans.set(0.0, kind="ip")
    for doc in db.logs.find({"key": {"$regex": "^BANS:"}, "expiresAt": {"$gt": clock.now}},
                            {"key": 1, "tenantId": 1}):
        key = doc.get("key")
        if not isinstance(key, str):
            continue
        kind = "user" if USER_BAN_KEY.fullmatch(key) else "ip"
        bans.inc(1.0, kind=kind, tenant=label_value(doc.get("tenantId")))
    return [tenant_total(cat.SESSIONS_ACTIVE, alive, settings), bans]


def balance_families(db: Any, clock: Clock, state: dict[str, Any],
                     settings: Settings, dims: Dimensions) -> list[Family]:
    """Token credits held now (balance mode), users by balance range and at or below zero,
    credits held by running requests."""
    # One pass: the totals are the sums over the ranges, and "at or below zero" is range 0.
    rows = grouped(db.balances, {}, {"range": BALANCE_RANGE}, settings.tenant_label,
                   {"credits": {"$sum": bounded("$tokenCredits")}})
    ranges = Family.of(cat.BALANCE_USERS_BY_RANGE, settings.tenant_label)
    for row in rows:
        ranges.inc(number(row["n"]), balance_usd=row["_id"]["range"],
                   tenant=tenant_of(row["_id"]))
    at_zero = [row for row in rows if row["_id"]["range"] == cat.BALANCE_RANGES[0]]
    holds = grouped(db.balances, {"reservations": {"$type": "array"}}, {}, settings.tenant_label,
                    {"credits": {"$sum": bounded("$reservations.amount")}}, before=[
                        {"$unwind": "$reservations"},
                        {"$match": {"reservations.expiresAt": {"$gt": clock.now}}}])
    return [ranges, tenant_total(cat.BALANCE_RESERVATIONS, holds, settings),
            tenant_total(cat.BALANCE_CREDITS_RESERVED, holds, settings, "credits"),
            tenant_total(cat.BALANCES, rows, settings),
            tenant_total(cat.BALANCE_CREDITS, rows, settings, "credits"),
            tenant_total(cat.BALANCE_USERS_AT_ZERO, at_zero, settings)]
