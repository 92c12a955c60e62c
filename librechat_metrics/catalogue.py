"""Every metric family the job writes, declared once: name, type, HELP, labels, and which labels
are open-ended (capped to --label-limit values, the rest summed into 'other').

Sections add to a family through its declaration (`cat.MESSAGES_TOTAL`), never through a
string, and the counting, zeros, caps, the tenant label and rendering all read it from here.
To add a family: declare it below with the release that first writes it (`since=`), fill it
in one section, and regenerate docs/metrics.md (`python -m librechat_metrics.reference >
docs/metrics.md`; tests/test_catalogue.py fails until it matches this file).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

COUNTER, GAUGE = "counter", "gauge"
TENANT = "tenant"


@dataclasses.dataclass(frozen=True)
class Dimension:
    """An open-ended label dimension: one slot table (--label-limit values, aging after
    --label-ttl) shared by every family that carries it, so a model has a series in messages,
    errors, tokens and cost alike, or in none."""

    name: str


MODEL = Dimension("model")
ENDPOINT = Dimension("endpoint")
TOOL = Dimension("tool")  # the pair (tool, mcp_server): an MCP tool belongs to its server
AGENT = Dimension("agent")
MCP_SERVER = Dimension("mcp_server")
FEEDBACK_TAG = Dimension("feedback_tag")
FILE_SOURCE = Dimension("file_source")
FILE_CONTEXT = Dimension("file_context")
TOKEN_CONTEXT = Dimension("token_context")
AUTH_PROVIDER = Dimension("auth_provider")
USER_ROLE = Dimension("user_role")
AGENT_PROVIDER = Dimension("agent_provider")
AGENT_CATEGORY = Dimension("agent_category")
FINISH_REASON = Dimension("finish_reason")
AUDIT_CATEGORY = Dimension("audit_category")
ACL_RESOURCE_TYPE = Dimension("acl_resource_type")
# The tenant label (--tenant-label) of every tenanted family: capped and aged like a model, so
# that a site with a thousand tenants writes --label-limit of them and 'other'.
TENANT_DIMENSION = Dimension(TENANT)
DIMENSIONS = (MODEL, ENDPOINT, TOOL, AGENT, MCP_SERVER, FEEDBACK_TAG, FILE_SOURCE,
              FILE_CONTEXT, TOKEN_CONTEXT, AUTH_PROVIDER, USER_ROLE, AGENT_PROVIDER,
              AGENT_CATEGORY, FINISH_REASON, AUDIT_CATEGORY, ACL_RESOURCE_TYPE,
              TENANT_DIMENSION)


@dataclasses.dataclass(frozen=True)
class Spec:
    """The declaration of one metric family."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()
    # Open-ended labels and their dimension; a group of labels (tool, mcp_server) shares one.
    dims: tuple[tuple[tuple[str, ...], Dimension], ...] = ()
    # Labels with a fixed set of values: each is written, at 0 where nothing happened.
    closed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # With --tenant-label, a family over documents that carry tenantId gets a 'tenant' label.
    tenanted: bool = True
    # The release that first wrote the family under this name (docs/metrics.md shows it).
    since: str = ""

    def labelnames(self, tenant: bool) -> tuple[str, ...]:
        return (*self.labels, TENANT) if tenant and self.tenanted else self.labels

    def key(self, labels: Mapping[str, str], tenant: bool) -> tuple[str, ...]:
        """The sample key for named label values; a missing or unknown name is a bug."""
        given = set(labels) - {TENANT}
        if given != set(self.labels):
            raise KeyError(f"{self.name} takes labels {self.labels}, got {sorted(given)}")
        return tuple(labels[name] for name in self.labelnames(tenant))

    def dim_positions(self, tenant: bool) -> tuple[tuple[tuple[int, ...], Dimension], ...]:
        """Where each capped dimension sits in a sample key: the declared ones, then the
        tenant label when the family has it."""
        names = self.labelnames(tenant)
        uses = tuple((tuple(names.index(label) for label in group), dim)
                     for group, dim in self.dims)
        if TENANT in names:
            uses += (((names.index(TENANT),), TENANT_DIMENSION),)
        return uses


CATALOGUE: dict[str, Spec] = {}
Dims = Mapping[str | tuple[str, ...], Dimension]
Closed = Mapping[str, tuple[str, ...]]


def _declare(name: str, kind: str, help_text: str, labels: tuple[str, ...], dims: Dims,
             closed: Closed, tenanted: bool, since: str) -> Spec:
    if name in CATALOGUE:
        raise ValueError(f"{name} is declared twice")
    uses = tuple(((group,) if isinstance(group, str) else tuple(group), dim)
                 for group, dim in dims.items())
    covered = {label for group, _ in uses for label in group} | set(closed)
    if not covered <= set(labels):
        raise ValueError(f"{name}: dimensions or closed labels that are not its labels")
    if not re.fullmatch(r"\d+\.\d+\.\d+", since):
        raise ValueError(f"{name}: since must be the release that first writes it, got {since!r}")
    spec = Spec(name, kind, help_text, labels, uses, tuple(closed.items()), tenanted, since)
    CATALOGUE[name] = spec
    return spec


def counter(name: str, help_text: str, *labels: str, since: str, dims: Dims | None = None,
            closed: Closed | None = None, tenanted: bool = True) -> Spec:
    return _declare(name, COUNTER, help_text, labels, dims or {}, closed or {}, tenanted, since)


def gauge(name: str, help_text: str, *labels: str, since: str, dims: Dims | None = None,
          closed: Closed | None = None, tenanted: bool = True) -> Spec:
    return _declare(name, GAUGE, help_text, labels, dims or {}, closed or {}, tenanted, since)


BY_MODEL = {"model": MODEL}
ROLES = {"role": ("user", "assistant")}
TOKEN_KINDS = ("uncached_prompt", "cache_read", "cache_write", "completion")
RATINGS = {"rating": ("thumbsUp", "thumbsDown")}
BY_FILE = {"source": FILE_SOURCE, "context": FILE_CONTEXT}

# ---- messages (sections/messages.py) --------------------------------------------------------

MESSAGES_TOTAL = counter("librechat_messages_total",
                         "Messages created (user and assistant), counted once each.", since="1.0.0")
ERROR_MESSAGES_TOTAL = counter("librechat_error_messages_total",
                               "Messages created with error: true or an error content part.",
                               since="1.0.0")
MESSAGES_PER_MODEL_TOTAL = counter(
    "librechat_messages_per_model_total",
    "Assistant messages created, by model (an agent's messages under the agent's LLM).",
    "model", dims=BY_MODEL, since="1.0.0")
ERRORS_PER_MODEL_TOTAL = counter(
    "librechat_errors_per_model_total",
    "Assistant messages created with an error, by model (the messages of "
    "librechat_messages_per_model_total that carry an error).", "model", dims=BY_MODEL,
    since="1.0.0")
ENDPOINT_MESSAGES_TOTAL = counter(
    "librechat_endpoint_messages_total",
    "Messages created, by endpoint and role (user or assistant).", "endpoint", "role",
    dims={"endpoint": ENDPOINT}, closed=ROLES, since="1.0.0")
UNFINISHED_MESSAGES_TOTAL = counter(
    "librechat_unfinished_messages_total",
    "Assistant messages created unfinished (aborted or partial), by model.", "model",
    dims=BY_MODEL, since="1.0.0")
AGENT_MESSAGES_TOTAL = counter(
    "librechat_agent_messages_total",
    "Assistant messages created by LibreChat agents, by agent id (names in "
    "librechat_agent_info).", "agent_id", dims={"agent_id": AGENT}, since="1.0.0")
RESPONSES_BY_FINISH_REASON_TOTAL = counter(
    "librechat_responses_by_finish_reason_total",
    "Assistant messages created, by model and the provider's finish_reason where LibreChat "
    "saved one (length: cut off at the token limit, content_filter: blocked), none where not.",
    "model", "finish_reason", dims={"model": MODEL, "finish_reason": FINISH_REASON}, since="2.0.0")
DAILY_UNIQUE_USERS = gauge("librechat_daily_unique_users",
                           "Distinct users with a message created since local midnight.",
                           tenanted=False, since="1.0.0")
WEEKLY_UNIQUE_USERS = gauge("librechat_weekly_unique_users",
                            "Distinct users with a message created since Monday 00:00 local.",
                            tenanted=False, since="1.0.0")
MONTHLY_UNIQUE_USERS = gauge("librechat_monthly_unique_users",
                             "Distinct users with a message created since the 1st 00:00 local.",
                             tenanted=False, since="1.0.0")
UNIQUE_USERS = gauge("librechat_unique_users",
                     "Distinct users with a message created in the trailing window.", "window",
                     closed={"window": ("1h", "24h", "7d", "30d")}, tenanted=False, since="1.0.0")

# ---- tools (sections/tools.py) -------------------------------------------------------------

BY_TOOL = {("tool", "mcp_server"): TOOL}
TOOL_CALLS_TOTAL = counter(
    "librechat_tool_calls_total",
    "Tool calls in messages created, by tool; mcp_server names the server of MCP tools "
    "(<tool>_mcp_<server>), none for other tools.", "tool", "mcp_server", dims=BY_TOOL,
    since="1.0.0")
TOOL_CALL_ERRORS_TOTAL = counter(
    "librechat_tool_call_errors_total",
    "Tool calls in messages created whose output says 'error processing tool' (LibreChat's UI "
    "heuristic), by tool.", "tool", "mcp_server", dims=BY_TOOL, since="1.0.0")

# ---- the 5-minute windows (sections/activity.py, sections/tokens.py) ------------------------

ACTIVE_USERS = gauge("librechat_active_users",
                     "Distinct users with a message created in the last 5 minutes.", since="1.0.0")
ACTIVE_CONVERSATIONS = gauge(
    "librechat_active_conversations",
    "Distinct conversations with a message created in the last 5 minutes.", since="1.0.0")
MESSAGES_5M = gauge("librechat_messages_5m", "Messages created in the last 5 minutes.",
                    since="1.0.0")
MESSAGES_PER_MODEL_5M = gauge("librechat_messages_per_model_5m",
                              "Assistant messages created in the last 5 minutes, by model.",
                              "model", dims=BY_MODEL, since="1.0.0")
ERROR_MESSAGES_5M = gauge("librechat_error_messages_5m",
                          "Error messages created in the last 5 minutes.", since="1.0.0")
ERRORS_PER_MODEL_5M = gauge("librechat_errors_per_model_5m",
                            "Assistant messages created with an error in the last 5 minutes, "
                            "by model.", "model", dims=BY_MODEL, since="1.0.0")
INPUT_TOKENS_5M = gauge("librechat_input_tokens_5m",
                        "Prompt tokens billed in the last 5 minutes.", since="1.0.0")
OUTPUT_TOKENS_5M = gauge("librechat_output_tokens_5m",
                         "Completion tokens billed in the last 5 minutes.", since="1.0.0")
MODEL_INPUT_TOKENS_5M = gauge("librechat_model_input_tokens_5m",
                              "Prompt tokens billed in the last 5 minutes, by model.", "model",
                              dims=BY_MODEL, since="1.0.0")
MODEL_OUTPUT_TOKENS_5M = gauge("librechat_model_output_tokens_5m",
                               "Completion tokens billed in the last 5 minutes, by model.",
                               "model", dims=BY_MODEL, since="1.0.0")

# ---- tokens and cost (sections/tokens.py) ----------------------------------------------------

INPUT_TOKENS_TOTAL = counter("librechat_input_tokens_total",
                             "Prompt tokens billed (transactions tokenType prompt, |rawAmount|, "
                             "cache reads and writes included).", since="1.0.0")
OUTPUT_TOKENS_TOTAL = counter("librechat_output_tokens_total",
                              "Completion tokens billed (transactions tokenType completion).",
                              since="1.0.0")
INPUT_TOKENS_PER_MODEL_TOTAL = counter("librechat_input_tokens_per_model_total",
                                       "Prompt tokens billed, by transaction model.", "model",
                                       dims=BY_MODEL, since="1.0.0")
OUTPUT_TOKENS_PER_MODEL_TOTAL = counter("librechat_output_tokens_per_model_total",
                                        "Completion tokens billed, by transaction model.",
                                        "model", dims=BY_MODEL, since="1.0.0")
TOKENS_TOTAL = counter("librechat_tokens_total",
                       "Tokens by model and kind: uncached_prompt, cache_read, cache_write, "
                       "completion; kinds add up to all billed tokens.", "model", "kind",
                       dims=BY_MODEL, closed={"kind": TOKEN_KINDS}, since="1.0.0")
CONTEXT_TOKENS_TOTAL = counter(
    "librechat_context_tokens_total",
    "Tokens by transaction context (message, title, summarization, ...) and token_type "
    "(prompt with its cache, or completion).", "context", "token_type",
    dims={"context": TOKEN_CONTEXT}, closed={"token_type": ("prompt", "completion")}, since="1.0.0")
LLM_CALLS_TOTAL = counter("librechat_llm_calls_total",
                          "LLM calls (completion transactions), by model.", "model",
                          dims=BY_MODEL, since="1.0.0")
COST_USD_TOTAL = counter("librechat_cost_usd_total",
                         "Cost in USD of prompt and completion tokens (|tokenValue| / 1e6), by "
                         "model; credits excluded.", "model", dims=BY_MODEL, since="1.0.0")
CREDITS_GRANTED_TOTAL = counter(
    "librechat_credits_granted_total",
    "Token credits granted (tokenType credits; 1e6 credits = 1 USD), by context "
    "(autoRefill, admin).", "context", dims={"context": TOKEN_CONTEXT}, since="1.0.0")
CONTEXT_COST_USD_TOTAL = counter(
    "librechat_context_cost_usd_total",
    "Cost in USD of prompt and completion tokens by transaction context (message, title, "
    "summarization, incomplete, ...).", "context", dims={"context": TOKEN_CONTEXT}, since="2.0.0")
AGENT_COST_USD_TOTAL = counter(
    "librechat_agent_cost_usd_total",
    "Cost in USD of the transactions of conversations held by an agent (conversation "
    "agent_id naming an agent in agents; titles and summaries included), by agent id.",
    "agent_id", dims={"agent_id": AGENT}, since="2.0.0")
AGENT_TOKENS_TOTAL = counter(
    "librechat_agent_tokens_total",
    "Tokens of the transactions of conversations held by an agent, by agent id and "
    "token_type (prompt with its cache, or completion).", "agent_id", "token_type",
    dims={"agent_id": AGENT}, closed={"token_type": ("prompt", "completion")}, since="2.0.0")
TOKEN_SOURCE_INFO = gauge(
    "librechat_token_source_info",
    "Where token figures come from: transactions (provider-reported), or messages.tokenCount "
    "when the database has no transactions.", "source", tenanted=False, since="1.0.0")

# ---- conversations (sections/conversations.py) ---------------------------------------------

CONVERSATIONS_TOTAL = counter("librechat_conversations_total", "Conversations created.",
                              since="1.0.0")
ENDPOINT_CONVERSATIONS_TOTAL = counter("librechat_endpoint_conversations_total",
                                       "Conversations created, by endpoint.", "endpoint",
                                       dims={"endpoint": ENDPOINT}, since="1.0.0")
TEMPORARY_CONVERSATIONS = gauge(
    "librechat_temporary_conversations",
    "Temporary conversations stored now (isTemporary, or expiredAt on LibreChat before 0.8.6).",
    since="1.0.0")
ARCHIVED_CONVERSATIONS = gauge("librechat_archived_conversations",
                               "Archived conversations stored now.", since="1.0.0")
COLLECTION_DOCUMENTS = gauge(
    "librechat_collection_documents",
    "Documents stored now per LibreChat collection (MongoDB's metadata estimate; 0 when "
    "absent).", "collection", tenanted=False, since="1.0.0")

# ---- files (sections/files.py) -------------------------------------------------------------

UPLOADED_FILES_TOTAL = counter("librechat_uploaded_files_total", "Files created.", since="1.0.0")
FILES_CREATED_TOTAL = counter("librechat_files_created_total",
                              "Files created, by source and context.", "source", "context",
                              dims=BY_FILE, since="1.0.0")
FILES_CREATED_BYTES_TOTAL = counter("librechat_files_created_bytes_total",
                                    "Bytes of files created, by source and context.",
                                    "source", "context", dims=BY_FILE, since="2.0.0")
FILES = gauge("librechat_files", "Files stored now, by source and context.",
              "source", "context", dims=BY_FILE, since="1.0.0")
FILES_BYTES = gauge("librechat_files_bytes", "Bytes of files stored now, by source and context.",
                    "source", "context", dims=BY_FILE, since="2.0.0")
FILES_EMBEDDED = gauge("librechat_files_embedded",
                       "Files stored now that are embedded in the RAG vector store.", since="1.0.0")

# ---- users, sessions, balances (sections/users.py) -----------------------------------------

REGISTERED_USERS_TOTAL = counter("librechat_registered_users_total", "User accounts created.",
                                 since="1.0.0")
REGISTRATIONS_TOTAL = counter("librechat_registrations_total",
                              "User accounts created, by auth provider.", "provider",
                              dims={"provider": AUTH_PROVIDER}, since="1.0.0")
USERS = gauge("librechat_users",
              "User accounts stored now, by auth provider, role and e-mail verification.",
              "provider", "role", "email_verified",
              dims={"provider": AUTH_PROVIDER, "role": USER_ROLE},
              closed={"email_verified": ("true", "false")}, since="1.0.0")
USERS_PENDING_VERIFICATION = gauge(
    "librechat_users_pending_verification",
    "Local sign-ups not yet verified (expiresAt set; LibreChat deletes them after 7 days).",
    since="1.0.0")
SESSIONS_ACTIVE = gauge(
    "librechat_sessions_active",
    "Login sessions alive now (refresh sessions with expiration in the future).", since="1.0.0")
BANS_ACTIVE = gauge("librechat_bans_active",
                    "Bans in force now (logs keys BANS:<id> with expiresAt in the future), by "
                    "kind: user id or ip.", "kind", closed={"kind": ("user", "ip")}, since="1.0.0")
BALANCES = gauge("librechat_balances",
                 "Balance records stored now (one per user in balance mode).", since="1.0.0")
BALANCE_CREDITS = gauge("librechat_balance_credits",
                        "Token credits held by all users now (1e6 credits = 1 USD).", since="1.0.0")
BALANCE_USERS_AT_ZERO = gauge("librechat_balance_users_at_zero",
                              "Users whose balance is zero or less now.", since="1.0.0")
BALANCE_RESERVATIONS = gauge(
    "librechat_balance_reservations",
    "Credit holds of requests running now (balances.reservations with expiresAt in the "
    "future; LibreChat with @librechat/data-schemas 0.0.71+, else 0).", since="2.0.0")
BALANCE_CREDITS_RESERVED = gauge(
    "librechat_balance_credits_reserved",
    "Token credits held by requests running now (the sum of those holds' amounts).", since="2.0.0")
BALANCE_RANGES = ("0", "0-0.1", "0.1-1", "1-10", "10+")
BALANCE_USERS_BY_RANGE = gauge(
    "librechat_balance_users_by_range",
    "Users by balance now, in USD ranges (not cumulative): 0 is at or below zero, 0-0.1 above "
    "zero and below 0.10, then below 1, below 10, and 10+ from 10 USD up.", "balance_usd",
    closed={"balance_usd": BALANCE_RANGES}, since="2.0.0")

# ---- feedback (sections/feedback.py) -------------------------------------------------------

FEEDBACK = gauge("librechat_feedback",
                 "Feedback stored now on assistant messages, by rating (thumbsUp, thumbsDown) "
                 "and model.", "rating", "model", dims=BY_MODEL, closed=RATINGS, since="1.0.0")
FEEDBACK_TAGS = gauge("librechat_feedback_tags", "Feedback stored now, by rating and reason tag.",
                      "rating", "tag", dims={"tag": FEEDBACK_TAG}, closed=RATINGS, since="1.0.0")

# ---- agents (sections/agents.py) -----------------------------------------------------------

AGENTS = gauge("librechat_agents", "Agents defined now, by provider (endpoint) and category.",
               "provider", "category",
               dims={"provider": AGENT_PROVIDER, "category": AGENT_CATEGORY}, since="1.0.0")
AGENTS_WITH_MCP_SERVER = gauge(
    "librechat_agents_with_mcp_server",
    "Agents defined now that use an MCP server, by server (mcpServerNames).", "mcp_server",
    dims={"mcp_server": MCP_SERVER}, since="1.0.0")
AGENT_INFO = gauge(
    "librechat_agent_info",
    "1 per agent with series in the agent families: its name, provider and LLM, for joins "
    "on agent_id (group_left); refreshed with the stored-now gauges.",
    "agent_id", "agent_name", "provider", "model", tenanted=False, since="2.0.0")

# ---- daily statistics (sections/daily.py) --------------------------------------------------

_WINDOW = "over the daily statistics window (the last --daily-days complete local days)"
UNIQUE_USERS_YESTERDAY = gauge("librechat_unique_users_yesterday",
                               "Distinct users with a message created yesterday (local day).",
                               tenanted=False, since="1.0.0")
UNIQUE_USERS_PER_DAY_AVERAGE = gauge("librechat_unique_users_per_day_average",
                                     f"Mean daily unique users {_WINDOW}, idle days as 0.",
                                     tenanted=False, since="1.0.0")
UNIQUE_USERS_PER_DAY_STDDEV = gauge("librechat_unique_users_per_day_stddev",
                                    f"Population stddev of daily unique users {_WINDOW}.",
                                    tenanted=False, since="1.0.0")
MESSAGES_PER_USER_PER_DAY_AVERAGE = gauge(
    "librechat_messages_per_user_per_day_average",
    f"Mean messages sent per active user per day, over user-days {_WINDOW}.", tenanted=False,
    since="1.0.0")
MESSAGES_PER_USER_PER_DAY_STDDEV = gauge(
    "librechat_messages_per_user_per_day_stddev",
    f"Population stddev of messages sent per active user per day {_WINDOW}.", tenanted=False,
    since="1.0.0")
MESSAGES_PER_MODEL_YESTERDAY = gauge(
    "librechat_messages_per_model_yesterday",
    "Assistant messages created yesterday (local day), by model.", "model", dims=BY_MODEL,
    tenanted=False, since="1.0.0")
MESSAGES_PER_MODEL_PER_DAY_AVERAGE = gauge(
    "librechat_messages_per_model_per_day_average",
    f"Mean assistant messages per day by model {_WINDOW}, idle days as 0.", "model",
    dims=BY_MODEL, tenanted=False, since="1.0.0")
MESSAGES_PER_MODEL_PER_DAY_STDDEV = gauge(
    "librechat_messages_per_model_per_day_stddev",
    f"Population stddev of assistant messages per day by model {_WINDOW}.", "model",
    dims=BY_MODEL, tenanted=False, since="1.0.0")

# ---- usage spread over users (sections/spread.py) -------------------------------------------

# "percentile", not "quantile": Prometheus keeps that label for summaries (promtool flags it).
_PERCENTILES = {"percentile": ("50", "90", "99", "100")}
MESSAGES_SENT_PER_USER_YESTERDAY = gauge(
    "librechat_messages_sent_per_user_yesterday",
    "Messages sent per user who sent any, yesterday (local day): nearest-rank percentiles "
    "(100 = the maximum).", "percentile", closed=_PERCENTILES, tenanted=False, since="2.0.0")
COST_USD_PER_USER_YESTERDAY = gauge(
    "librechat_cost_usd_per_user_yesterday",
    "USD spent per user who spent any, yesterday (local day, transactions by _id time): "
    "nearest-rank percentiles (100 = the maximum).", "percentile", closed=_PERCENTILES,
    tenanted=False, since="2.0.0")
COST_SHARE_OF_TOP_USERS_YESTERDAY = gauge(
    "librechat_cost_share_of_top_users_yesterday",
    "Share (0-1) of yesterday's spend by the top 1% and 10% of spending users (at least one).",
    "top", closed={"top": ("1%", "10%")}, tenanted=False, since="2.0.0")
SPENDING_USERS_YESTERDAY = gauge(
    "librechat_spending_users_yesterday",
    "Users with any prompt or completion spend yesterday (local day).", tenanted=False,
    since="2.0.0")

# ---- what LibreChat 0.8 stores (sections/features.py, schedules.py, audit.py) ---------------
# Each family of a collection that an older LibreChat lacks is left out where it is absent.
# The closed values are LibreChat's own enums (@librechat/data-schemas 0.0.71); a stored value
# outside them is counted as 'other'.

TRUE_FALSE = ("true", "false")
MEMORY_USERS = gauge("librechat_memory_users",
                     "Users with at least one memory entry stored now (memoryentries, LibreChat "
                     "0.7.9+).", since="2.2.0")
MEMORY_ENTRIES = gauge("librechat_memory_entries", "Memory entries stored now.", since="2.2.0")
MEMORY_TOKENS = gauge("librechat_memory_tokens",
                      "Tokens held in memory entries now (the sum of their tokenCount).",
                      since="2.2.0")
MCP_SERVERS = gauge(
    "librechat_mcp_servers",
    "MCP servers stored in the database now (added in the UI, LibreChat 0.8.2+; servers of "
    "librechat.yaml are not stored), by serverName.", "mcp_server",
    dims={"mcp_server": MCP_SERVER}, since="2.2.0")
AGENT_CATEGORIES = gauge(
    "librechat_agent_categories",
    "Agent marketplace categories defined now (agentcategories, LibreChat 0.8.0+), by active "
    "and custom (false: one of LibreChat's built-in categories).", "active", "custom",
    closed={"active": TRUE_FALSE, "custom": TRUE_FALSE}, since="2.2.0")
AGENTS_PROMOTED = gauge(
    "librechat_agents_promoted",
    "Agents promoted in the marketplace now (is_promoted, LibreChat 0.8.0+), by category.",
    "category", dims={"category": AGENT_CATEGORY}, since="2.2.0")
ACL_PRINCIPAL_TYPES = ("user", "group", "role", "public")
ACL_ENTRIES = gauge(
    "librechat_acl_entries",
    "Permission entries in force now (aclentries, LibreChat 0.8.0+): what is shared with whom, "
    "by resource type and principal type (every resource's owner holds a user entry too; "
    "public on sharedLink: public shared links).", "resource_type", "principal_type",
    dims={"resource_type": ACL_RESOURCE_TYPE}, closed={"principal_type": ACL_PRINCIPAL_TYPES},
    since="2.2.0")
SCHEDULE_DISABLED_REASONS = (
    "mcp_reauth_required", "mcp_configuration_missing", "mcp_permission_denied",
    "too_many_failures", "agent_deleted", "invalid_schedule", "permission_revoked",
    "insufficient_balance", "project_deleted", "project_required", "none")
SCHEDULE_RUNS_ACTIVE = ("started", "requires_action")
SCHEDULE_RUN_OUTCOMES = ("success", "error", "interrupted", "skipped_overlap", "skipped_balance")
SCHEDULES = gauge("librechat_schedules",
                  "Scheduled agent prompts defined now (schedules, LibreChat 0.8.8+; deleted "
                  "ones aside), by enabled.", "enabled", closed={"enabled": TRUE_FALSE},
                  since="2.2.0")
SCHEDULES_DISABLED = gauge(
    "librechat_schedules_disabled",
    "Disabled schedules now, by disabledReason (none: disabled by their owner).", "reason",
    closed={"reason": SCHEDULE_DISABLED_REASONS}, since="2.2.0")
SCHEDULE_RUNS_IN_PROGRESS = gauge(
    "librechat_schedule_runs_in_progress",
    "Scheduled runs going on now: started, or requires_action (paused for a tool approval).",
    "status", closed={"status": SCHEDULE_RUNS_ACTIVE}, since="2.2.0")
SCHEDULE_RUNS_TOTAL = counter(
    "librechat_schedule_runs_total",
    "Scheduled agent runs settled, counted once each when LibreChat settles them (settledAt), "
    "by outcome: success, error, interrupted, skipped_overlap, skipped_balance (not run for "
    "lack of balance).", "status", closed={"status": SCHEDULE_RUN_OUTCOMES}, since="2.2.0")
SCHEDULE_RUN_DURATION_TOTAL = counter(
    "librechat_schedule_run_duration_seconds_total",
    "Seconds the settled scheduled runs took (durationMs, where LibreChat recorded one; skips "
    "have none), by outcome.", "status", closed={"status": SCHEDULE_RUN_OUTCOMES}, since="2.2.0")
AUDIT_EVENTS_TOTAL = counter(
    "librechat_audit_events_total",
    "Admin audit log entries created (auditlogs, LibreChat 0.8.7+), by category, outcome "
    "(success, failure, denied, pending) and severity.", "category", "outcome", "severity",
    dims={"category": AUDIT_CATEGORY},
    closed={"outcome": ("success", "failure", "denied", "pending"),
            "severity": ("info", "warning", "critical")}, since="2.2.0")
FILES_BY_STATUS = gauge(
    "librechat_files_by_status",
    "Files stored now by preview status (LibreChat 0.8.6+ sets it on files whose preview "
    "renders in the background, such as code-execution documents): pending, ready, failed.",
    "status", closed={"status": ("pending", "ready", "failed")}, since="2.2.0")
FILES_PENDING_STUCK = gauge(
    "librechat_files_pending_stuck",
    "Files still pending 5 minutes after their last update: a preview render lost with a "
    "restart (LibreChat marks them failed at its next start).", since="2.2.0")
INCOMPLETE_SURCHARGE_USD_TOTAL = counter(
    "librechat_incomplete_surcharge_usd_total",
    "USD billed above LibreChat's own price for cancelled answers, by model: completion "
    "transactions of context incomplete are billed at 1.15x, so 0.15/1.15 of their "
    "|tokenValue| / 1e6.", "model", dims=BY_MODEL, since="2.2.0")
CHURNED_USERS = gauge(
    "librechat_churned_users",
    "Distinct users whose last message is 7 to 30 days old: active in the last 30 days, not in "
    "the last 7.", tenanted=False, since="2.2.0")

# ---- the job itself (sections/job.py) ------------------------------------------------------

EXPORTER_UP = gauge("librechat_exporter_up",
                    "1 if the last run reached MongoDB and wrote fresh metrics, else 0.",
                    tenanted=False, since="1.0.0")
EXPORTER_LAST_SUCCESS = gauge("librechat_exporter_last_success_timestamp_seconds",
                              "When a run last succeeded (Unix time).", tenanted=False,
                              since="1.0.0")
EXPORTER_RUN_TIMESTAMP = gauge("librechat_exporter_run_timestamp_seconds",
                               "When the last run ended (Unix time).", tenanted=False,
                               since="1.0.0")
EXPORTER_RUN_DURATION = gauge("librechat_exporter_run_duration_seconds",
                              "Wall time of the last run.", tenanted=False, since="1.0.0")
EXPORTER_SECTION_DURATION = gauge("librechat_exporter_section_duration_seconds",
                                  "Time each section took in the last run, without its waits "
                                  "for the sections before it (a first count runs two at "
                                  "a time).",
                                  "section",
                                  tenanted=False, since="2.0.0")
EXPORTER_ERRORS = gauge("librechat_exporter_errors",
                        "Errors of each section in the last run (a failed section's families "
                        "are left out).", "section", tenanted=False, since="1.0.0")
EXPORTER_CONFIG_INFO = gauge(
    "librechat_exporter_config_info",
    "Settings that shape the numbers: database, calendar timezone, daily statistics window in "
    "days, label limit and time-to-live in days, tenant label (1).",
    "database", "timezone", "daily_days", "label_limit", "label_ttl_days", "tenant_label",
    tenanted=False, since="1.0.0")
EXPORTER_BUILD_INFO = gauge(
    "librechat_exporter_build_info",
    "Versions of the job, Python, pymongo and the MongoDB server (1).",
    "version", "python", "pymongo", "mongodb", tenanted=False, since="1.0.0")
EXPORTER_SECTION_REFRESHED = gauge(
    "librechat_exporter_section_refresh_timestamp_seconds",
    "When each stored-now section last read MongoDB (Unix time; between refreshes its values "
    "are replayed from the state).", "section", tenanted=False, since="2.0.0")
EXPORTER_RUNS = counter(
    "librechat_exporter_runs_total",
    "Runs of the job by result: ok (every section succeeded), partial (some sections failed, "
    "their counters carried at their last values), failed (nothing fresh: up 0). Kept in the "
    "state and in the file, so it continues across a lost state.", "result",
    closed={"result": ("ok", "partial", "failed")}, tenanted=False, since="2.2.0")
EXPORTER_SECTION_WATERMARK = gauge(
    "librechat_exporter_section_watermark_timestamp_seconds",
    "Per counting section, the ObjectId time (Unix) below which it has counted every document "
    "it will count; its counters in this file hold exactly those. A lost state resumes each "
    "section from here.", "section", tenanted=False, since="2.2.0")
EXPORTER_SECTION_HORIZON = gauge(
    "librechat_exporter_section_horizon_timestamp_seconds",
    "Per counting section, where its overlap zone starts (ObjectId time, Unix; --lag behind "
    "its last count): a document inserted later with an older ObjectId is not counted. From "
    "here up to the watermark every stored document has been counted.", "section",
    tenanted=False, since="2.2.0")
EXPORTER_IDENTITY_INFO = gauge(
    "librechat_exporter_identity_info",
    "Which counters this file may stand in for (1): the MongoDB deployment (a fingerprint of "
    "the UUID of LibreChat's messages collection), its replica set, and the layout version of "
    "the counters and watermarks.", "deployment", "replica_set", "schema", tenanted=False,
    since="2.2.0")
EXPORTER_OUTPUT_SERIES = gauge(
    "librechat_exporter_output_series",
    "Samples (series) in the file this run wrote, these two self-metrics included.",
    tenanted=False, since="2.2.0")
EXPORTER_OUTPUT_BYTES = gauge(
    "librechat_exporter_output_bytes",
    "Size in bytes of the file this run wrote, its own line and the seal included.",
    tenanted=False, since="2.2.0")
EXPORTER_BACKFILL_PROGRESS = gauge(
    "librechat_exporter_backfill_progress_ratio",
    "How far the first count of stored documents has got, per section (1 when done; a "
    "section's counters appear once it is done).", "section", tenanted=False, since="1.0.0")
