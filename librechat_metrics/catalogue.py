"""Every metric family the job writes, declared once: name, type, HELP, labels, and which labels
are open-ended (capped to --label-limit values, the rest summed into 'other').

Sections add to a family through its declaration (`cat.MESSAGES_TOTAL`), never through a
string, and the counting, zeros, caps, the tenant label and rendering all read it from here.
To add a family: declare it below, fill it in one section, list it in README.md's tables
(tests/test_catalogue.py checks the README and this file agree).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

COUNTER, GAUGE = "counter", "gauge"
TENANT = "tenant"


@dataclasses.dataclass(frozen=True)
class Spec:
    """The declaration of one metric family."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()
    # Groups of open-ended labels: each group is capped as one value (a value and its
    # companion go to 'other' together), groups one after the other.
    capped: tuple[tuple[str, ...], ...] = ()
    # With --tenant-label, a family over documents that carry tenantId gets a 'tenant' label.
    tenanted: bool = True

    def labelnames(self, tenant: bool) -> tuple[str, ...]:
        return (*self.labels, TENANT) if tenant and self.tenanted else self.labels

    def key(self, labels: Mapping[str, str], tenant: bool) -> tuple[str, ...]:
        """The sample key for named label values; a missing or unknown name is a bug."""
        given = set(labels) - {TENANT}
        if given != set(self.labels):
            raise KeyError(f"{self.name} takes labels {self.labels}, got {sorted(given)}")
        return tuple(labels[name] for name in self.labelnames(tenant))

    def capped_positions(self, tenant: bool) -> tuple[tuple[int, ...], ...]:
        names = self.labelnames(tenant)
        return tuple(tuple(names.index(label) for label in group) for group in self.capped)


CATALOGUE: dict[str, Spec] = {}


def _declare(name: str, kind: str, help_text: str, labels: tuple[str, ...] = (),
             capped: tuple[tuple[str, ...], ...] | None = None, tenanted: bool = True) -> Spec:
    if name in CATALOGUE:
        raise ValueError(f"{name} is declared twice")
    spec = Spec(name, kind, help_text, labels,
                tuple((label,) for label in labels if label in OPEN_ENDED)
                if capped is None else capped, tenanted)
    CATALOGUE[name] = spec
    return spec


def counter(name: str, help_text: str, *labels: str, **options: object) -> Spec:
    return _declare(name, COUNTER, help_text, labels, **options)  # type: ignore[arg-type]


def gauge(name: str, help_text: str, *labels: str, **options: object) -> Spec:
    return _declare(name, GAUGE, help_text, labels, **options)  # type: ignore[arg-type]


# Labels whose values come from documents without a fixed list: capped by default.
OPEN_ENDED = frozenset({"model", "endpoint", "tool", "mcp_server", "context", "provider",
                        "role", "source", "tag", "category", "agent_id", "agent_name"})

# ---- messages (sections/messages.py) --------------------------------------------------------

MESSAGES_TOTAL = counter("librechat_messages_total",
                         "Messages created (user and assistant), counted once each.")
ERROR_MESSAGES_TOTAL = counter("librechat_error_messages_total",
                               "Messages created with error: true or an error content part.")
MESSAGES_PER_MODEL_TOTAL = counter(
    "librechat_messages_per_model_total",
    "Assistant messages created, by model (agent id on the agents endpoint).", "model")
ERRORS_PER_MODEL_TOTAL = counter("librechat_errors_per_model_total",
                                 "Error messages created, by model.", "model")
ENDPOINT_MESSAGES_TOTAL = counter(
    "librechat_endpoint_messages_total",
    "Messages created, by endpoint and role (user or assistant).", "endpoint", "role",
    capped=(("endpoint",),))
UNFINISHED_MESSAGES_TOTAL = counter(
    "librechat_unfinished_messages_total",
    "Assistant messages created unfinished (aborted or partial), by model.", "model")
AGENT_MESSAGES_TOTAL = counter(
    "librechat_agent_messages_total",
    "Assistant messages created by LibreChat agents, by agent id and name.",
    "agent_id", "agent_name", capped=(("agent_id", "agent_name"),))
DAILY_UNIQUE_USERS = gauge("librechat_daily_unique_users",
                           "Distinct users with a message created since local midnight.",
                           tenanted=False)
WEEKLY_UNIQUE_USERS = gauge("librechat_weekly_unique_users",
                            "Distinct users with a message created since Monday 00:00 local.",
                            tenanted=False)
MONTHLY_UNIQUE_USERS = gauge("librechat_monthly_unique_users",
                             "Distinct users with a message created since the 1st 00:00 local.",
                             tenanted=False)
UNIQUE_USERS = gauge("librechat_unique_users",
                     "Distinct users with a message created in the trailing window.", "window",
                     tenanted=False)

# ---- tools (sections/tools.py) -------------------------------------------------------------

TOOL_CALLS_TOTAL = counter(
    "librechat_tool_calls_total",
    "Tool calls in messages created, by tool; mcp_server is set for MCP tools "
    "(<tool>_mcp_<server>).", "tool", "mcp_server")
TOOL_CALL_ERRORS_TOTAL = counter(
    "librechat_tool_call_errors_total",
    "Tool calls in messages created whose output says 'error processing tool' (LibreChat's UI "
    "heuristic), by tool.", "tool", "mcp_server")

# ---- the 5-minute windows (sections/activity.py) ---------------------------------------------

ACTIVE_USERS = gauge("librechat_active_users",
                     "Distinct users with a message created in the last 5 minutes.")
ACTIVE_CONVERSATIONS = gauge(
    "librechat_active_conversations",
    "Distinct conversations with a message created in the last 5 minutes.")
MESSAGES_5M = gauge("librechat_messages_5m", "Messages created in the last 5 minutes.")
MESSAGES_PER_MODEL_5M = gauge("librechat_messages_per_model_5m",
                              "Assistant messages created in the last 5 minutes, by model.",
                              "model")
ERROR_MESSAGES_5M = gauge("librechat_error_messages_5m",
                          "Error messages created in the last 5 minutes.")
ERRORS_PER_MODEL_5M = gauge("librechat_errors_per_model_5m",
                            "Error messages created in the last 5 minutes, by model.", "model")
INPUT_TOKENS_5M = gauge("librechat_input_tokens_5m",
                        "Prompt tokens billed in the last 5 minutes.")
OUTPUT_TOKENS_5M = gauge("librechat_output_tokens_5m",
                         "Completion tokens billed in the last 5 minutes.")
MODEL_INPUT_TOKENS_5M = gauge("librechat_model_input_tokens_5m",
                              "Prompt tokens billed in the last 5 minutes, by model.", "model")
MODEL_OUTPUT_TOKENS_5M = gauge("librechat_model_output_tokens_5m",
                               "Completion tokens billed in the last 5 minutes, by model.",
                               "model")

# ---- tokens and cost (sections/tokens.py) ----------------------------------------------------

INPUT_TOKENS_TOTAL = counter("librechat_input_tokens_total",
                             "Prompt tokens billed (transactions tokenType prompt, |rawAmount|, "
                             "cache reads and writes included).")
OUTPUT_TOKENS_TOTAL = counter("librechat_output_tokens_total",
                              "Completion tokens billed (transactions tokenType completion).")
INPUT_TOKENS_PER_MODEL_TOTAL = counter("librechat_input_tokens_per_model_total",
                                       "Prompt tokens billed, by transaction model.", "model")
OUTPUT_TOKENS_PER_MODEL_TOTAL = counter("librechat_output_tokens_per_model_total",
                                        "Completion tokens billed, by transaction model.",
                                        "model")
TOKENS_TOTAL = counter("librechat_tokens_total",
                       "Tokens by model and kind: prompt (not cached), cache_read, cache_write, "
                       "completion; kinds add up to all billed tokens.", "model", "kind")
CONTEXT_TOKENS_TOTAL = counter(
    "librechat_context_tokens_total",
    "Tokens by transaction context (message, title, summarization, ...) and token_type "
    "(prompt or completion).", "context", "token_type")
LLM_CALLS_TOTAL = counter("librechat_llm_calls_total",
                          "LLM calls (completion transactions), by model.", "model")
COST_USD_TOTAL = counter("librechat_cost_usd_total",
                         "Cost in USD of prompt and completion tokens (|tokenValue| / 1e6), by "
                         "model; credits excluded.", "model")
CREDITS_GRANTED_TOTAL = counter(
    "librechat_credits_granted_total",
    "Token credits granted (tokenType credits; 1e6 credits = 1 USD), by context "
    "(autoRefill, admin).", "context")
TOKEN_SOURCE_INFO = gauge(
    "librechat_token_source_info",
    "Where token figures come from: transactions (provider-reported), or messages.tokenCount "
    "when the database has no transactions.", "source", capped=(), tenanted=False)

# ---- conversations (sections/conversations.py) ---------------------------------------------

CONVERSATIONS_TOTAL = counter("librechat_conversations_total", "Conversations created.")
ENDPOINT_CONVERSATIONS_TOTAL = counter("librechat_endpoint_conversations_total",
                                       "Conversations created, by endpoint.", "endpoint")
TEMPORARY_CONVERSATIONS = gauge(
    "librechat_temporary_conversations",
    "Temporary conversations stored now (isTemporary, or expiredAt on LibreChat before 0.8.6).")
ARCHIVED_CONVERSATIONS = gauge("librechat_archived_conversations",
                               "Archived conversations stored now.")
COLLECTION_DOCUMENTS = gauge(
    "librechat_collection_documents",
    "Documents stored now per LibreChat collection (MongoDB's metadata estimate; 0 when "
    "absent).", "collection", tenanted=False)

# ---- files (sections/files.py) -------------------------------------------------------------

UPLOADED_FILES_TOTAL = counter("librechat_uploaded_files_total", "Files created.")
FILES_CREATED_TOTAL = counter("librechat_files_created_total",
                              "Files created, by source and context.", "source", "context")
FILE_BYTES_CREATED_TOTAL = counter("librechat_file_bytes_created_total",
                                   "Bytes of files created, by source and context.",
                                   "source", "context")
FILES = gauge("librechat_files", "Files stored now, by source and context.",
              "source", "context")
FILE_BYTES = gauge("librechat_file_bytes", "Bytes of files stored now, by source and context.",
                   "source", "context")
FILES_EMBEDDED = gauge("librechat_files_embedded",
                       "Files stored now that are embedded in the RAG vector store.")

# ---- users, sessions, balances (sections/users.py) -----------------------------------------

REGISTERED_USERS_TOTAL = counter("librechat_registered_users_total", "User accounts created.")
REGISTRATIONS_TOTAL = counter("librechat_registrations_total",
                              "User accounts created, by auth provider.", "provider")
USERS = gauge("librechat_users",
              "User accounts stored now, by auth provider, role and e-mail verification.",
              "provider", "role", "email_verified")
USERS_PENDING_VERIFICATION = gauge(
    "librechat_users_pending_verification",
    "Local sign-ups not yet verified (expiresAt set; LibreChat deletes them after 7 days).")
SESSIONS_ACTIVE = gauge(
    "librechat_sessions_active",
    "Login sessions alive now (refresh sessions with expiration in the future).")
BANS_ACTIVE = gauge("librechat_bans_active",
                    "Bans in force now (logs keys BANS:<id> with expiresAt in the future), by "
                    "kind: user id or ip.", "kind")
BALANCES = gauge("librechat_balances",
                 "Balance records stored now (one per user in balance mode).")
BALANCE_CREDITS = gauge("librechat_balance_credits",
                        "Token credits held by all users now (1e6 credits = 1 USD).")
BALANCE_USERS_AT_ZERO = gauge("librechat_balance_users_at_zero",
                              "Users whose balance is zero or less now.")

# ---- feedback (sections/feedback.py) -------------------------------------------------------

FEEDBACK = gauge("librechat_feedback",
                 "Feedback stored now on assistant messages, by rating (thumbsUp, thumbsDown) "
                 "and model.", "rating", "model")
FEEDBACK_TAGS = gauge("librechat_feedback_tags", "Feedback stored now, by rating and reason tag.",
                      "rating", "tag")

# ---- agents (sections/agents.py) -----------------------------------------------------------

AGENTS = gauge("librechat_agents", "Agents defined now, by provider (endpoint) and category.",
               "provider", "category")
AGENTS_WITH_MCP_SERVER = gauge(
    "librechat_agents_with_mcp_server",
    "Agents defined now that use an MCP server, by server (mcpServerNames).", "mcp_server")

# ---- daily statistics (sections/daily.py) --------------------------------------------------

_WINDOW = "over the daily statistics window (the last --daily-days complete local days)"
UNIQUE_USERS_YESTERDAY = gauge("librechat_unique_users_yesterday",
                               "Distinct users with a message created yesterday (local day).",
                               tenanted=False)
UNIQUE_USERS_PER_DAY_AVERAGE = gauge("librechat_unique_users_per_day_average",
                                     f"Mean daily unique users {_WINDOW}, idle days as 0.",
                                     tenanted=False)
UNIQUE_USERS_PER_DAY_STDDEV = gauge("librechat_unique_users_per_day_stddev",
                                    f"Population stddev of daily unique users {_WINDOW}.",
                                    tenanted=False)
MESSAGES_PER_USER_PER_DAY_AVERAGE = gauge(
    "librechat_messages_per_user_per_day_average",
    f"Mean messages sent per active user per day, over user-days {_WINDOW}.", tenanted=False)
MESSAGES_PER_USER_PER_DAY_STDDEV = gauge(
    "librechat_messages_per_user_per_day_stddev",
    f"Population stddev of messages sent per active user per day {_WINDOW}.", tenanted=False)
MESSAGES_PER_MODEL_YESTERDAY = gauge(
    "librechat_messages_per_model_yesterday",
    "Assistant messages created yesterday (local day), by model.", "model", tenanted=False)
MESSAGES_PER_MODEL_PER_DAY_AVERAGE = gauge(
    "librechat_messages_per_model_per_day_average",
    f"Mean assistant messages per day by model {_WINDOW}, idle days as 0.", "model",
    tenanted=False)
MESSAGES_PER_MODEL_PER_DAY_STDDEV = gauge(
    "librechat_messages_per_model_per_day_stddev",
    f"Population stddev of assistant messages per day by model {_WINDOW}.", "model",
    tenanted=False)

# ---- the job itself (sections/job.py) ------------------------------------------------------

EXPORTER_UP = gauge("librechat_exporter_up",
                    "1 if the last run reached MongoDB and wrote fresh metrics, else 0.",
                    tenanted=False)
EXPORTER_LAST_SUCCESS = gauge("librechat_exporter_last_success_timestamp_seconds",
                              "When a run last succeeded (Unix time).", tenanted=False)
EXPORTER_RUN_TIMESTAMP = gauge("librechat_exporter_run_timestamp_seconds",
                               "When the last run ended (Unix time).", tenanted=False)
EXPORTER_RUN_DURATION = gauge("librechat_exporter_run_duration_seconds",
                              "Wall time of the last run.", tenanted=False)
EXPORTER_SECTION_DURATION = gauge("librechat_exporter_duration_seconds",
                                  "Wall time of each section in the last run.", "section",
                                  tenanted=False)
EXPORTER_ERRORS = gauge("librechat_exporter_errors",
                        "Errors of each section in the last run (a failed section's families "
                        "are left out).", "section", tenanted=False)
EXPORTER_CONFIG_INFO = gauge(
    "librechat_exporter_config_info",
    "Settings that shape the numbers: calendar timezone, daily statistics window in days, "
    "label limit (1).", "timezone", "daily_days", "label_limit", tenanted=False)
EXPORTER_BUILD_INFO = gauge(
    "librechat_exporter_build_info",
    "Versions of the job, Python, pymongo and the MongoDB server (1).",
    "version", "python", "pymongo", "mongodb", tenanted=False)
EXPORTER_BACKFILL_PROGRESS = gauge(
    "librechat_exporter_backfill_progress_ratio",
    "How far the first count of stored documents has got, per section (1 when done; a "
    "section's counters appear once it is done).", "section", tenanted=False)
