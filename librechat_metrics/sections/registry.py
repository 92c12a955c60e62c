"""Every section, in run order: counters first (they need the run's budget for first counts),
then the stored-now gauges refreshed every --slow-interval."""

from __future__ import annotations

from .activity import activity_families
from .agents import agent_families
from .base import Section
from .conversations import (
    collection_families,
    conversation_families,
    stored_conversation_families,
)
from .daily import daily_families
from .feedback import feedback_families
from .files import file_families, stored_file_families
from .messages import message_families
from .tokens import token_families, token_window_families
from .users import balance_families, registration_families, session_families, user_families

SECTIONS: tuple[Section, ...] = (
    Section("messages", message_families),
    Section("activity", activity_families),
    Section("tokens", token_families),
    Section("token_windows", token_window_families),
    Section("conversations", conversation_families),
    Section("files", file_families),
    Section("registrations", registration_families),
    Section("daily", daily_families),
    Section("users", user_families, refresh="slow"),
    Section("sessions", session_families, refresh="slow"),
    Section("balances", balance_families, refresh="slow"),
    Section("stored_conversations", stored_conversation_families, refresh="slow"),
    Section("stored_files", stored_file_families, refresh="slow"),
    Section("feedback", feedback_families, refresh="slow"),
    Section("agents", agent_families, refresh="slow"),
    Section("collections", collection_families),
)
