"""Every section, in run order: counters first (they need the run's budget for first counts),
then the stored-now gauges refreshed every --slow-interval."""

from __future__ import annotations

from .. import catalogue as cat
from .activity import activity_families
from .agents import agent_families
from .base import Section
from .conversations import (
    collection_families,
    conversation_families,
    stored_conversation_families,
)
from .daily import daily_families
from .feedback import PASSED, feedback_families
from .files import file_families, stored_file_families
from .messages import MESSAGE_COUNTERS, message_families
from .spread import spread_families
from .tokens import TOKEN_COUNTERS, token_families, token_window_families
from .users import balance_families, registration_families, session_families, user_families

SECTIONS: tuple[Section, ...] = (
    Section("messages", message_families, counters=MESSAGE_COUNTERS,
            collection="messages"),
    Section("activity", activity_families),
    Section("tokens", token_families, counters=TOKEN_COUNTERS, collection="transactions"),
    Section("token_windows", token_window_families),
    Section("conversations", conversation_families,
            counters=(cat.CONVERSATIONS_TOTAL, cat.ENDPOINT_CONVERSATIONS_TOTAL),
            collection="conversations"),
    Section("files", file_families, counters=(
        cat.UPLOADED_FILES_TOTAL, cat.FILES_CREATED_TOTAL, cat.FILES_CREATED_BYTES_TOTAL),
        collection="files"),
    Section("registrations", registration_families,
            counters=(cat.REGISTERED_USERS_TOTAL, cat.REGISTRATIONS_TOTAL), collection="users"),
    Section("daily", daily_families),
    Section("spread", spread_families),
    Section("users", user_families, refresh="slow"),
    Section("sessions", session_families, refresh="slow"),
    Section("balances", balance_families, refresh="slow"),
    Section("stored_conversations", stored_conversation_families, refresh="slow"),
    Section("stored_files", stored_file_families, refresh="slow"),
    Section("feedback", feedback_families, refresh="slow", cheap_with=PASSED),
    Section("agents", agent_families, refresh="slow"),
    Section("collections", collection_families),
)
