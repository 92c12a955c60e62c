#!/usr/bin/env python3
"""librechat_textfile: LibreChat usage metrics for node_exporter's textfile collector.

A short-lived job, run every minute by a systemd timer or cron. It reads LibreChat's MongoDB
(users, conversations, messages, transactions, files, feedback, tools), and atomically writes
one Prometheus text file that node_exporter's textfile collector serves:

    python3 librechat_textfile.py                 # write the .prom file (the scheduled use)
    python3 librechat_textfile.py --stdout        # print the metrics for a person to read
    python3 librechat_textfile.py indexes         # list the indexes the queries want
    python3 librechat_textfile.py indexes --create

What it deliberately does not do:

* It never writes to MongoDB during a run; a user with the built-in ``read`` role is enough.
  Only ``indexes --create`` writes, and only when asked.
* It does not serve HTTP: node_exporter does that, with its own TLS and auth.
* Counters never go down. Documents are counted once, when first seen (a watermark on ``_id``
  kept in the state file, with an overlap that catches late inserts), never by re-counting what
  is stored now, so deleted chats and TTL-expired temporary chats do not make counters fall.
  Values that can shrink are gauges.
* It does not re-scan whole collections every minute: counters read only new documents,
  windows ride the ``createdAt``/``_id`` indexes, and stored-now gauges are refreshed every
  ``--slow-interval`` seconds, their last values kept in the state file.

Dependencies: pymongo, prometheus_client, python-dotenv. Python 3.11+.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import fcntl
import json
import logging
import math
import os
import platform
import re
import signal
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pymongo
from bson import ObjectId
from bson.decimal128 import Decimal128
from dotenv import dotenv_values
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

__version__ = "1.0.0"
__all__ = ["JobError", "Settings", "collect", "load_settings", "main"]

log = logging.getLogger("librechat_textfile")

STATE_VERSION = 1
# The state file's layout; bump STATE_VERSION when a section's state changes shape, so an
# older file leads to a clean recompute rather than a misread.

OTHER = "other"
UNKNOWN = "unknown"
REDACTED = "redacted"
LABEL_MAX_CHARS = 100
AGENT_SUFFIX = re.compile(r"____\d+$")
# Parallel "added convo" responses carry the agent id with a `____N` suffix (LibreChat 0.8.2+).
PERSONAL = re.compile(
    r"[^@\s]+@[^@\s]+\.[^@\s]+"  # an e-mail address
    r"|(?<![0-9a-fA-F])[0-9a-fA-F]{24}(?![0-9a-fA-F])"  # a user or document ObjectId
    r"|(?<![0-9a-fA-F])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
    r"-[0-9a-fA-F]{12}(?![0-9a-fA-F])"  # a UUID (conversation and message ids)
)
PERSONAL_WHOLE = re.compile(rf"(?:{PERSONAL.pattern})+")
# Ids and addresses inside a label value are replaced by 'redacted'; a value that is nothing
# but one becomes 'redacted' as a whole.
EXIT_OK, EXIT_FAILED, EXIT_PARTIAL, EXIT_USAGE, EXIT_LOCKED = 0, 1, 3, 2, 75
USD_PER_CREDIT = 1e-6  # LibreChat: 1,000,000 token credits = 1 USD


# --------------------------------------------------------------------------------------------
# Settings: flags > environment > .env > defaults


class SettingsError(ValueError):
    """One or more settings are invalid; the message names every one."""


class JobError(RuntimeError):
    """A failure that ends the run with one clear log line."""


@dataclasses.dataclass(frozen=True)
class Settings:
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "LibreChat"
    output: str = "/var/lib/prometheus/node-exporter/librechat.prom"
    stdout: bool = False
    state_file: str = "/var/lib/librechat-textfile/state.json"
    timezone: str = "UTC"
    timeout: float = 40.0
    connect_timeout: float = 5.0
    daily_days: int = 30
    label_limit: int = 50
    lag: float = 300.0
    slow_interval: float = 900.0
    tenant_label: bool = False
    logging_level: str = "info"
    logging_format: str = "%(asctime)s - %(levelname)s - %(message)s"
    now: datetime | None = None
    command: str = "run"
    create_indexes: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def lock_file(self) -> str:
        return self.state_file + ".lock"


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parse_positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if not value > 0 or (kind is float and not math.isfinite(value)):
            raise ValueError(f"must be a positive number, got {text!r}")
        return value

    return parse


def _parse_timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {text!r}") from exc
    return text


def _parse_level(text: str) -> str:
    if text.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"not a log level: {text!r}")
    return text.lower()


def _parse_now(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"needs a UTC offset, e.g. {text}+00:00")
    return value.astimezone(UTC)


def _parse_output(text: str) -> str:
    if not text.endswith(".prom"):
        raise ValueError(f"must end in .prom (node_exporter reads only *.prom), got {text!r}")
    return text


@dataclasses.dataclass(frozen=True)
class Option:
    field: str
    flag: str
    env: str | None
    parse: Callable[[str], Any]
    help: str
    metavar: str | None = None


OPTIONS: tuple[Option, ...] = (
    Option("mongodb_uri", "--mongodb-uri", "MONGODB_URI", str,
           "MongoDB connection string (credentials, replicaSet, readPreference, tls)", "URI"),
    Option("mongodb_database", "--mongodb-database", "MONGODB_DATABASE", str,
           "LibreChat's database name", "NAME"),
    Option("output", "--output", "LIBRECHAT_TEXTFILE_OUTPUT", _parse_output,
           "the .prom file node_exporter reads; written atomically, mode 0644", "PATH"),
    Option("state_file", "--state-file", "LIBRECHAT_TEXTFILE_STATE_FILE", str,
           "watermarks and running totals (JSON); its directory also holds the lock", "PATH"),
    Option("timezone", "--timezone", "LIBRECHAT_TEXTFILE_TIMEZONE", _parse_timezone,
           "IANA timezone of calendar windows (day, week from Monday, month)", "ZONE"),
    Option("timeout", "--timeout", "LIBRECHAT_TEXTFILE_TIMEOUT", _parse_positive(float),
           "seconds all MongoDB work of one run may take, then the run fails", "SECONDS"),
    Option("connect_timeout", "--connect-timeout", "LIBRECHAT_TEXTFILE_CONNECT_TIMEOUT",
           _parse_positive(float), "seconds to find and connect to a MongoDB server", "SECONDS"),
    Option("daily_days", "--daily-days", "LIBRECHAT_TEXTFILE_DAILY_DAYS", _parse_positive(int),
           "complete local days the daily statistics average over", "N"),
    Option("label_limit", "--label-limit", "LIBRECHAT_TEXTFILE_LABEL_LIMIT", _parse_positive(int),
           "distinct values per label per family; the rest are summed into 'other'", "N"),
    Option("lag", "--lag", "LIBRECHAT_TEXTFILE_LAG", _parse_positive(float),
           "seconds of overlap re-read each run to catch late or clock-skewed inserts", "SECONDS"),
    Option("slow_interval", "--slow-interval", "LIBRECHAT_TEXTFILE_SLOW_INTERVAL",
           _parse_positive(float),
           "seconds between refreshes of stored-now gauges (users, files, feedback, balances)",
           "SECONDS"),
    Option("tenant_label", "--tenant-label", "LIBRECHAT_TEXTFILE_TENANT_LABEL", _parse_bool,
           "add a 'tenant' label from tenantId (multi-tenant LibreChat 0.8.5+): true/false",
           "BOOL"),
    Option("logging_level", "--log-level", "LOGGING_LEVEL", _parse_level,
           "debug, info, warning or error", "LEVEL"),
    Option("logging_format", "--log-format", "LOGGING_FORMAT", str,
           "Python logging format of the lines on stderr", "FORMAT"),
    Option("now", "--now", "LIBRECHAT_TEXTFILE_NOW", _parse_now,
           "pretend the current time is this ISO 8601 instant (tests, replays)", "TIME"),
)


def _argument_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    common = argparse.ArgumentParser(add_help=False)
    for opt in OPTIONS:
        default = getattr(defaults, opt.field)
        shown = "unset" if default is None else default
        common.add_argument(
            opt.flag, dest=opt.field, default=None, metavar=opt.metavar,
            help=f"{opt.help} [env {opt.env}; default {shown}]".replace("%", "%%"),
        )
    common.add_argument("--env-file", default=".env", metavar="PATH",
                        help="dotenv file read for the variables above [default .env]")
    parser = argparse.ArgumentParser(
        prog="librechat_textfile.py", parents=[common],
        description="Write LibreChat metrics from MongoDB into node_exporter's textfile "
                    "directory. Settings: flags > environment > .env file > defaults.",
    )
    parser.add_argument("--stdout", action="store_true",
                        help="print the metrics instead of writing the file; the state file "
                             "is read but not updated, and no lock is taken")
    parser.add_argument("--version", action="version",
                        version=f"librechat-textfile {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{indexes}")
    idx = sub.add_parser("indexes", parents=[common],
                         help="list the indexes the job's queries want; --create makes the "
                              "missing ones (needs a user allowed to createIndex)")
    idx.add_argument("--create", dest="create_indexes", action="store_true",
                     help="create the missing indexes")
    return parser


def load_settings(argv: list[str] | None, environ: Mapping[str, str]) -> Settings:
    """Resolve every setting from flags, then environment, then the .env file, then defaults."""
    args = _argument_parser().parse_args(argv)
    dotenv = {k: v for k, v in dotenv_values(args.env_file).items() if v is not None} \
        if os.path.isfile(args.env_file) else {}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for opt in OPTIONS:
        flag_value = getattr(args, opt.field, None)
        source, raw = (opt.flag, flag_value) if flag_value is not None else \
            next(((name, src[opt.env]) for name, src in (("environment", environ),
                                                           (".env", dotenv))
                  if opt.env and opt.env in src), (None, None))
        if raw is None:
            continue
        try:
            values[opt.field] = opt.parse(raw)
        except ValueError as exc:
            problems.append(f"{opt.env or opt.flag} ({source}): {exc}")
    if problems:
        raise SettingsError("invalid settings: " + "; ".join(problems))
    values["stdout"] = bool(getattr(args, "stdout", False))
    values["command"] = args.command or "run"
    values["create_indexes"] = bool(getattr(args, "create_indexes", False))
    return Settings(**values)


# --------------------------------------------------------------------------------------------
# Secrets never reach a log line


def uri_secrets(uri: str) -> list[str]:
    """The password in a MongoDB URI, raw and percent-decoded, so logs can blank it."""
    match = re.match(r"^[a-z+]+://([^@/]*)@", uri)
    if not match or ":" not in match.group(1):
        return []
    from urllib.parse import unquote

    raw = match.group(1).split(":", 1)[1]
    return [s for s in {raw, unquote(raw)} if s]


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += " " + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        record.msg, record.args = redact(message, self.secrets), None
        return True


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(settings.logging_format))
    handler.addFilter(RedactingFilter(uri_secrets(settings.mongodb_uri)))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(settings.logging_level.upper())
    # pymongo's warnings (an unknown URI option, say) in the same format, not as raw stderr.
    logging.captureWarnings(True)
    warnings_log = logging.getLogger("py.warnings")
    warnings_log.handlers[:] = [handler]
    warnings_log.propagate = False


def describe_error(exc: BaseException) -> str:
    """One line, without topology dumps, for the log and nothing else."""
    if isinstance(exc, OperationFailure) and exc.code == 18:
        return "authentication failed (check the user and password in MONGODB_URI)"
    if isinstance(exc, OperationFailure) and exc.code == 13:
        return f"not authorized: {exc.details.get('errmsg', exc) if exc.details else exc}"
    text = str(exc).split(", Timeout:")[0].split("Topology Description:")[0]
    text = " ".join(text.split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# Metric families, label values and cardinality


@dataclasses.dataclass
class Family:
    """One metric family as plain data, so a cached section can be stored in the state file."""

    name: str
    kind: str  # "counter" or "gauge"
    help: str
    labels: tuple[str, ...] = ()
    samples: dict[tuple[str, ...], float] = dataclasses.field(default_factory=dict)

    def add(self, labelvalues: tuple[str, ...], value: float) -> None:
        self.samples[labelvalues] = self.samples.get(labelvalues, 0.0) + value

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "help": self.help,
                "labels": list(self.labels),
                "samples": [[*key, value] for key, value in self.samples.items()]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Family:
        labels = tuple(data["labels"])
        samples = {tuple(row[:-1]): float(row[-1]) for row in data["samples"]}
        return cls(data["name"], data["kind"], data["help"], labels, samples)

    def to_metric(self) -> Metric:
        maker = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        metric = maker(self.name, self.help, labels=self.labels)
        for key in sorted(self.samples):
            metric.add_metric(list(key), self.samples[key])
        return metric


def label_value(value: Any) -> str:
    """A safe label value from whatever a document holds: a string, capped, no control chars."""
    if value is None:
        return UNKNOWN
    if isinstance(value, ObjectId):
        return REDACTED
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        value = json.dumps(value, default=str, sort_keys=True) if isinstance(
            value, (dict, list)) else str(value)
    # Only a bounded prefix is examined: the patterns below backtrack, and a 100k-character
    # model name must not stall a run. The margin keeps an id cut by the cap recognisable.
    head = value[:LABEL_MAX_CHARS * 4]
    cleaned = "".join(ch for ch in head if unicodedata.category(ch)[0] != "C").strip()
    if not cleaned:
        return UNKNOWN
    if PERSONAL_WHOLE.fullmatch(cleaned):
        return REDACTED
    return PERSONAL.sub(REDACTED, cleaned)[:LABEL_MAX_CHARS]


def model_label(value: Any) -> str:
    text = label_value(value)
    return AGENT_SUFFIX.sub("", text) if text.startswith("agent_") else text


def number(value: Any) -> float:
    """A finite float from a MongoDB sum, or 0 for anything else (strings, NaN, Decimal128)."""
    if isinstance(value, Decimal128):
        value = float(value.to_decimal())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0


def assign_slots(slots: list[str], volumes: Mapping[str, float], limit: int) -> dict[str, str]:
    """Map label values onto at most `limit` sticky slots, the rest onto 'other'.

    Counters need sticky slots: a value that moved between its own series and 'other' would make
    'other' fall, which Prometheus reads as a counter reset.
    """
    mapping: dict[str, str] = {}
    for value in sorted(volumes, key=lambda v: (-volumes[v], v)):
        if value not in slots and len(slots) < limit:
            slots.append(value)
        mapping[value] = value if value in slots else OTHER
    return mapping


def cap_gauge(family: Family, label: str, limit: int) -> Family:
    """Keep the top `limit` values of one label by volume; sum the rest into 'other'."""
    index = family.labels.index(label)
    volumes: dict[str, float] = {}
    for key, value in family.samples.items():
        volumes[key[index]] = volumes.get(key[index], 0.0) + value
    keep = set(sorted(volumes, key=lambda v: (-volumes[v], v))[:limit])
    capped = Family(family.name, family.kind, family.help, family.labels)
    for key, value in family.samples.items():
        new_key = key if key[index] in keep else (*key[:index], OTHER, *key[index + 1:])
        capped.add(new_key, value)
    return capped


class Counters:
    """Running totals of one section, kept in the state file between runs."""

    def __init__(self, state: dict[str, Any], limit: int) -> None:
        self.totals: dict[str, dict[str, float]] = state.setdefault("counters", {})
        self.slots: dict[str, dict[str, list[str]]] = state.setdefault("slots", {})
        self.staged: dict[str, dict[str, Any]] = state.setdefault("staged", {})
        self.limit = limit

    def add(self, family: str, labels: tuple[str, ...], value: float) -> None:
        """Add to a series; a label set seen once stays in the file, at 0 if need be."""
        key = json.dumps(list(labels))
        bucket = self.totals.setdefault(family, {})
        bucket[key] = bucket.get(key, 0.0) + value

    def add_capped(self, family: str, rows: Mapping[tuple[str, ...], float],
                   groups: tuple[tuple[int, ...], ...] = ((0,),)) -> None:
        """Stage rows whose labels at `groups` are open-ended; `settle` caps and adds them.

        Each group of label positions is capped as one value (an agent id with its name), so
        that a value and its companion go to 'other' together.
        """
        staged = self.staged.setdefault(family, {"groups": [list(g) for g in groups],
                                                 "rows": {}})
        for key, value in rows.items():
            row = json.dumps(list(key))
            staged["rows"][row] = staged["rows"].get(row, 0.0) + value

    def settle(self) -> None:
        """Give open label values their slots by the volume of everything staged, then add.

        Called once the documents of a run (or of a whole first count) are all staged, so the
        slots go to the biggest values overall, not to the biggest of one chunk.
        """
        for family, staged in self.staged.items():
            rows = {tuple(json.loads(k)): v for k, v in staged["rows"].items()}
            for group in staged["groups"]:
                rows = self._cap_group(family, rows, tuple(group))
            for key, value in rows.items():
                self.add(family, key, value)
        self.staged.clear()

    def _cap_group(self, family: str, rows: dict[tuple[str, ...], float],
                   group: tuple[int, ...]) -> dict[tuple[str, ...], float]:
        def joint(key: tuple[str, ...]) -> str:
            return json.dumps([key[i] for i in group])

        volumes: dict[str, float] = {}
        for key, value in rows.items():
            volumes[joint(key)] = volumes.get(joint(key), 0.0) + value
        slots = self.slots.setdefault(family, {}).setdefault(
            ",".join(map(str, group)), [])
        mapping = assign_slots(slots, volumes, self.limit)
        capped: dict[tuple[str, ...], float] = {}
        for key, value in rows.items():
            new = list(key)
            if mapping[joint(key)] == OTHER:
                for i in group:
                    new[i] = OTHER
            capped[tuple(new)] = capped.get(tuple(new), 0.0) + value
        return capped

    def family(self, name: str, help_text: str, labels: tuple[str, ...] = (),
               known: Iterable[tuple[str, ...]] = ()) -> Family:
        fam = Family(name, "counter", help_text, labels)
        for key in known:
            fam.samples[key] = 0.0
        for key, value in self.totals.get(name, {}).items():
            fam.samples[tuple(json.loads(key))] = value
        return fam


# --------------------------------------------------------------------------------------------
# Time: the run's clock, calendar windows in the configured timezone, ObjectId bounds


@dataclasses.dataclass(frozen=True)
class Clock:
    now: datetime  # aware, UTC
    tz: ZoneInfo
    deadline: float = math.inf  # time.monotonic() after which a first run pauses its backfill

    @property
    def epoch(self) -> float:
        return self.now.timestamp()

    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    def day_start(self, day: date) -> datetime:
        """The first instant of a local day, in UTC; DST gaps at midnight resolve forward."""
        return datetime.combine(day, dtime(0), tzinfo=self.tz).astimezone(UTC)

    def week_start(self) -> datetime:
        today = self.today()
        return self.day_start(today - timedelta(days=today.weekday()))

    def month_start(self) -> datetime:
        return self.day_start(self.today().replace(day=1))


def oid_at(seconds: float) -> ObjectId:
    """The smallest ObjectId of a second: `_id` range bounds, as LibreChat's ids carry time."""
    seconds = min(max(int(seconds), 0), 2**32 - 1)
    return ObjectId(seconds.to_bytes(4, "big") + b"\x00" * 8)


def as_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --------------------------------------------------------------------------------------------
# Incremental reading: the documents created since the last run, each exactly once


Match = Mapping[str, Any]  # a MongoDB filter selecting documents to count

BACKFILL_SHARE = 0.5  # of --timeout, for first counts; the rest is left for everything else

BACKFILL_CHUNK = 200_000
# Documents per aggregation while a first run counts a large collection: each chunk takes well
# under a second, so a run can stop between chunks before its deadline and resume next time.


def new_documents(coll: Any, stream: dict[str, Any], clock: Clock,
                  lag: float) -> Iterator[dict[str, Any]]:
    """Yield filters that together select every document not counted yet, each exactly once.

    The caller counts what each filter selects; `stream` (this collection's part of the state)
    advances only after the caller has finished with a filter. A first run counts the stored
    documents in `_id` chunks until the backfill deadline, and resumes on the next run.
    """
    if stream.get("horizon") is None:
        stream.setdefault("backfill", {"cursor": None,
                                       "target": math.floor(clock.epoch - lag)})
        yield from _backfill(coll, stream, clock)
        if "backfill" in stream:
            return
    yield from _recent(coll, stream, clock, lag)


def _backfill(coll: Any, stream: dict[str, Any], clock: Clock) -> Iterator[dict[str, Any]]:
    job = stream["backfill"]
    upper = oid_at(job["target"])
    while time.monotonic() < clock.deadline:
        lower = ObjectId(job["cursor"]) if job["cursor"] else oid_at(0)
        boundary = next(iter(coll.find({"_id": {"$gte": lower, "$lt": upper}}, {"_id": 1})
                             .sort("_id", 1).skip(BACKFILL_CHUNK).limit(1)), None)
        end = boundary["_id"] if boundary else upper
        yield {"_id": {"$gte": lower, "$lt": end}}
        if boundary is None:
            del stream["backfill"]
            stream.update(horizon=job["target"], seen=[])
            return
        job["cursor"] = str(end)
        job["progress"] = backfill_progress(coll, job)
        log.info("%s: first count %.0f%% done", coll.name, 100 * job["progress"])


def backfill_progress(coll: Any, job: Mapping[str, Any]) -> float:
    first = coll.find_one({"_id": {"$type": "objectId"}}, {"_id": 1}, sort=[("_id", 1)])
    if not first or not job.get("cursor"):
        return 0.0
    start = first["_id"].generation_time.timestamp()
    done = ObjectId(job["cursor"]).generation_time.timestamp() - start
    return min(max(done / max(job["target"] - start, 1.0), 0.0), 1.0)


def _recent(coll: Any, stream: dict[str, Any], clock: Clock,
            lag: float) -> Iterator[dict[str, Any]]:
    """The range between the old and the new horizon, plus the listed overlap zone.

    Everything older than `horizon` was counted by earlier runs. Ids in the overlap zone
    [horizon, now) are listed by the `_id` index alone and remembered, so a document inserted
    late, or by a server whose clock runs behind, is still counted exactly once.
    """
    # Horizons are whole seconds, as ObjectId times are: a fractional horizon would leave the
    # documents of its own second both in the range below it and out of the seen list.
    old_horizon = math.floor(stream["horizon"])
    seen = set(stream.get("seen", []))
    horizon = max(math.floor(clock.epoch - lag), old_horizon)
    zone = [doc["_id"] for doc in coll.find(
        {"_id": {"$gte": oid_at(horizon), "$lt": oid_at(clock.epoch)}}, {"_id": 1})]
    parts: list[dict[str, Any]] = []
    if old_horizon < horizon:
        below = [ObjectId(i) for i in seen
                 if old_horizon <= ObjectId(i).generation_time.timestamp() < horizon]
        parts.append({"_id": {"$gte": oid_at(old_horizon), "$lt": oid_at(horizon),
                              "$nin": below}})
    fresh = [i for i in zone if str(i) not in seen]
    if fresh:
        parts.append({"_id": {"$in": fresh}})
    if parts:
        yield parts[0] if len(parts) == 1 else {"$or": parts}
    stream.update(horizon=horizon, seen=sorted(str(i) for i in zone))


def count_new(coll: Any, state: dict[str, Any], clock: Clock, settings: Settings,
              count_chunk: Callable[[Match, Counters], None]) -> Counters | None:
    """Feed every not-yet-counted document to `count_chunk`; None while a first count runs."""
    stream = state.setdefault("stream", {})
    counters = Counters(state, settings.label_limit)
    for match in new_documents(coll, stream, clock, settings.lag):
        count_chunk(match, counters)
    if "backfill" in stream:
        return None
    counters.settle()
    return counters


def aggregate(coll: Any, match: Match, pipeline: list[dict[str, Any]]) -> list[dict]:
    return list(coll.aggregate([{"$match": dict(match)}, *pipeline], allowDiskUse=True))


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


# --------------------------------------------------------------------------------------------
# Sections: each a function of (db, clock, state, settings) returning metric families


@dataclasses.dataclass(frozen=True)
class Section:
    name: str
    compute: Callable[[Any, Clock, dict[str, Any], Settings], list[Family]]
    refresh: str = "run"  # "run": every run; "slow": every --slow-interval


def tenant_of(row_id: Mapping[str, Any], settings: Settings) -> tuple[str, ...]:
    return (label_value(row_id.get("tenant")),) if settings.tenant_label else ()


def tenant_labels(settings: Settings) -> tuple[str, ...]:
    return ("tenant",) if settings.tenant_label else ()


def group_id(fields: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    extra = {"tenant": "$tenantId"} if settings.tenant_label else {}
    return {**fields, **extra}


def _message_rows(db: Any, match: Match, settings: Settings) -> list[dict[str, Any]]:
    pipeline = [{"$group": {
        "_id": group_id({"model": "$model", "endpoint": "$endpoint", "user": IS_USER,
                         "error": IS_ERROR, "unfinished": {"$eq": ["$unfinished", True]}},
                        settings),
        "n": {"$sum": 1},
        "tokens": {"$sum": bounded("$tokenCount")},
    }}]
    return aggregate(db.messages, match, pipeline)


TOOL_FAILED = {"$regexMatch": {
    "input": {"$convert": {"input": "$content.tool_call.output", "to": "string",
                           "onError": "", "onNull": ""}},
    "regex": "error processing tool", "options": "i"}}
# LibreChat's own UI marks a tool call failed by this text in its output; a heuristic that
# misses cancelled calls and other wordings, named as such in the metric's help.


def _tool_rows(db: Any, match: Match, settings: Settings) -> list[dict[str, Any]]:
    pipeline = [
        {"$match": {"content.type": "tool_call"}},
        {"$project": {"content": 1, "tenantId": 1}},
        {"$unwind": "$content"},
        {"$match": {"content.type": "tool_call"}},
        {"$group": {"_id": group_id({"name": {"$ifNull": [
            "$content.tool_call.name", "$content.tool_call.function.name"]}}, settings),
            "n": {"$sum": 1}, "errors": {"$sum": {"$cond": [TOOL_FAILED, 1, 0]}}}},
    ]
    return aggregate(db.messages, match, pipeline)


def _last_active_rows(db: Any, match: Match, clock: Clock) -> list[dict[str, Any]]:
    # A createdAt ahead of the run (a skewed clock, a bad document) must not hide the user's
    # real activity; $max skips the nulls.
    created = {"$cond": [{"$and": [{"$eq": [{"$type": "$createdAt"}, "date"]},
                                   {"$lte": ["$createdAt", clock.now]}]}, "$createdAt", None]}
    pipeline = [{"$group": {"_id": "$user", "last": {"$max": created}}}]
    return aggregate(db.messages, match, pipeline)


def split_tool(name: str) -> tuple[str, str]:
    """(tool, mcp_server): LibreChat names MCP tools `<tool>_mcp_<server>`."""
    if "_mcp_" in name:
        tool, server = name.rsplit("_mcp_", 1)
        return label_value(tool), label_value(server)
    return name, ""


def agent_names(db: Any, agent_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(agent_ids))
    if not ids:
        return {}
    return {doc["id"]: label_value(doc.get("name")) for doc in db.agents.find(
        {"id": {"$in": ids}}, {"id": 1, "name": 1}) if isinstance(doc.get("id"), str)}


def count_messages(db: Any, match: Match, counters: Counters, settings: Settings) -> None:
    per: dict[str, dict[tuple[str, ...], float]] = {
        k: {} for k in ("all", "errors", "model", "model_errors", "endpoint", "unfinished",
                        "agents")}

    def bump(kind: str, key: tuple[str, ...], value: float) -> None:
        per[kind][key] = per[kind].get(key, 0.0) + value

    for row in _message_rows(db, match, settings):
        gid, n = row["_id"], number(row["n"])
        tenant = tenant_of(gid, settings)
        model = model_label(gid.get("model"))
        role = "user" if gid.get("user") else "assistant"
        bump("all", tenant, n)
        bump("endpoint", (label_value(gid.get("endpoint")), role, *tenant), n)
        if gid.get("error"):
            bump("errors", tenant, n)
            bump("model_errors", (model, *tenant), n)
        if role == "assistant":
            bump("model", (model, *tenant), n)
            if gid.get("unfinished"):
                bump("unfinished", (model, *tenant), n)
            if gid.get("endpoint") == "agents" and model.startswith("agent_"):
                bump("agents", (model, *tenant), n)
    for key, value in per["all"].items():
        counters.add("librechat_messages_total", key, value)
    for key, value in per["errors"].items():
        counters.add("librechat_error_messages_total", key, value)
    counters.add_capped("librechat_messages_per_model_total", per["model"])
    counters.add_capped("librechat_errors_per_model_total", per["model_errors"])
    counters.add_capped("librechat_endpoint_messages_total", per["endpoint"])
    counters.add_capped("librechat_unfinished_messages_total", per["unfinished"])
    names = agent_names(db, (key[0] for key in per["agents"]))
    counters.add_capped("librechat_agent_messages_total", groups=((0, 1),), rows={
        (key[0], names.get(key[0], UNKNOWN), *key[1:]): v for key, v in per["agents"].items()})


def count_tool_calls(db: Any, match: Match, counters: Counters, settings: Settings) -> None:
    calls: dict[tuple[str, ...], float] = {}
    failed: dict[tuple[str, ...], float] = {}
    for row in _tool_rows(db, match, settings):
        tool, server = split_tool(label_value(row["_id"].get("name")))
        key = (tool, server, *tenant_of(row["_id"], settings))
        calls[key] = calls.get(key, 0.0) + number(row["n"])
        if number(row["errors"]):
            failed[key] = failed.get(key, 0.0) + number(row["errors"])
    counters.add_capped("librechat_tool_calls_total", calls, ((0,), (1,)))
    counters.add_capped("librechat_tool_call_errors_total", failed, ((0,), (1,)))


ACTIVITY_HORIZON = 32 * 86400  # seconds: the longest unique-user window, 30 days or a month


def ends_before(match: Match, seconds: float) -> bool:
    """True for a first-count chunk whose documents are all older than `seconds`."""
    upper = match.get("_id", {}).get("$lt") if isinstance(match.get("_id"), dict) else None
    return isinstance(upper, ObjectId) and upper.generation_time.timestamp() <= seconds


def update_last_active(db: Any, match: Match, state: dict[str, Any], clock: Clock) -> None:
    """Per user, the newest message time: one map serves every unique-user window."""
    last: dict[str, float] = state.setdefault("last_active", {})
    if ends_before(match, clock.epoch - ACTIVITY_HORIZON):
        return  # a first count's old chunk: nobody in it is recent enough to matter
    for row in _last_active_rows(db, match, clock):
        user, when = row["_id"], as_utc(row["last"])
        if isinstance(user, ObjectId):
            user = str(user)
        if not isinstance(user, str) or when is None:
            continue
        last[user] = max(last.get(user, 0.0), when.timestamp())
    oldest = clock.epoch - ACTIVITY_HORIZON
    for user in [u for u, t in last.items() if t < oldest]:
        del last[user]


def unique_user_families(state: Mapping[str, Any], clock: Clock) -> list[Family]:
    last = state.get("last_active", {}).values()

    def active_since(start: datetime) -> float:
        lo, hi = start.timestamp(), clock.epoch
        return float(sum(1 for t in last if lo <= t <= hi))

    windows = (("librechat_daily_unique_users", clock.day_start(clock.today()),
                "Distinct users with a message created since local midnight."),
               ("librechat_weekly_unique_users", clock.week_start(),
                "Distinct users with a message created since Monday 00:00 local."),
               ("librechat_monthly_unique_users", clock.month_start(),
                "Distinct users with a message created since the 1st 00:00 local."))
    families = [Family(name, "gauge", text, (), {(): active_since(start)})
                for name, start, text in windows]
    rolling = Family("librechat_unique_users", "gauge",
                     "Distinct users with a message created in the trailing window.",
                     ("window",))
    for window, seconds in (("1h", 3600), ("24h", 86400), ("7d", 7 * 86400),
                            ("30d", 30 * 86400)):
        rolling.samples[(window,)] = active_since(clock.now - timedelta(seconds=seconds))
    return [*families, rolling]


def message_families(db: Any, clock: Clock, state: dict[str, Any],
                     settings: Settings) -> list[Family]:
    """Messages, errors, tool calls and agents created, counted once each; unique users."""
    def count_chunk(match: Match, counters: Counters) -> None:
        count_messages(db, match, counters, settings)
        count_tool_calls(db, match, counters, settings)
        update_last_active(db, match, state, clock)

    counters = count_new(db.messages, state, clock, settings, count_chunk)
    if counters is None:
        return []
    t = tenant_labels(settings)
    return [
        counters.family("librechat_messages_total",
                        "Messages created (user and assistant), counted once each.", t),
        counters.family("librechat_error_messages_total",
                        "Messages created with error: true or an error content part.", t),
        counters.family("librechat_messages_per_model_total",
                        "Assistant messages created, by model (agent id on the agents "
                        "endpoint).", ("model", *t)),
        counters.family("librechat_errors_per_model_total",
                        "Error messages created, by model.", ("model", *t)),
        counters.family("librechat_endpoint_messages_total",
                        "Messages created, by endpoint and role (user or assistant).",
                        ("endpoint", "role", *t)),
        counters.family("librechat_unfinished_messages_total",
                        "Assistant messages created unfinished (aborted or partial), by model.",
                        ("model", *t)),
        counters.family("librechat_agent_messages_total",
                        "Assistant messages created by LibreChat agents, by agent id and name.",
                        ("agent_id", "agent_name", *t)),
        counters.family("librechat_tool_calls_total",
                        "Tool calls in messages created, by tool; mcp_server is set for MCP "
                        "tools (<tool>_mcp_<server>).", ("tool", "mcp_server", *t)),
        counters.family("librechat_tool_call_errors_total",
                        "Tool calls in messages created whose output says 'error processing "
                        "tool' (LibreChat's UI heuristic), by tool.",
                        ("tool", "mcp_server", *t)),
        *unique_user_families(state, clock),
    ]


def _window_docs(db: Any, clock: Clock, seconds: float) -> list[dict[str, Any]]:
    """The messages of the window, with `is_error` decided by the counters' own IS_ERROR."""
    start = clock.now - timedelta(seconds=seconds)
    return list(db.messages.aggregate([
        {"$match": {"createdAt": {"$gte": start, "$lte": clock.now}}},
        {"$project": {"user": 1, "conversationId": 1, "model": 1, "isCreatedByUser": 1,
                      "tenantId": 1, "is_error": IS_ERROR}}]))


def activity_families(db: Any, clock: Clock, state: dict[str, Any],
                      settings: Settings) -> list[Family]:
    """The 5-minute windows: active users and conversations, messages and errors."""
    docs = _window_docs(db, clock, 300)
    t = tenant_labels(settings)

    def tenant(doc: Mapping[str, Any]) -> tuple[str, ...]:
        return (label_value(doc.get("tenantId")),) if settings.tenant_label else ()

    users: dict[tuple[str, ...], set[str]] = {}
    convos: dict[tuple[str, ...], set[str]] = {}
    fams = {name: Family(name, "gauge", text, labels) for name, text, labels in (
        ("librechat_active_users", "Distinct users with a message created in the last 5 "
                                   "minutes.", t),
        ("librechat_active_conversations", "Distinct conversations with a message created in "
                                           "the last 5 minutes.", t),
        ("librechat_messages_5m", "Messages created in the last 5 minutes.", t),
        ("librechat_messages_per_model_5m", "Assistant messages created in the last 5 minutes, "
                                            "by model.", ("model", *t)),
        ("librechat_error_messages_5m", "Error messages created in the last 5 minutes.", t),
        ("librechat_errors_per_model_5m", "Error messages created in the last 5 minutes, by "
                                          "model.", ("model", *t)))}
    for doc in docs:
        key = tenant(doc)
        model = model_label(doc.get("model"))
        users.setdefault(key, set()).add(str(doc.get("user")))
        convos.setdefault(key, set()).add(str(doc.get("conversationId")))
        fams["librechat_messages_5m"].add(key, 1)
        if doc.get("isCreatedByUser") is not True:
            fams["librechat_messages_per_model_5m"].add((model, *key), 1)
        if doc.get("is_error"):
            fams["librechat_error_messages_5m"].add(key, 1)
            fams["librechat_errors_per_model_5m"].add((model, *key), 1)
    for key, members in users.items():
        fams["librechat_active_users"].samples[key] = float(len(members))
    for key, members in convos.items():
        fams["librechat_active_conversations"].samples[key] = float(len(members))
    limit = settings.label_limit
    return [cap_gauge(f, "model", limit) if "model" in f.labels else f for f in fams.values()]


# ---- tokens and cost (transactions; messages.tokenCount only when there are none)


def _transaction_rows(db: Any, match: Match, settings: Settings) -> list[dict[str, Any]]:
    pipeline = [{"$group": {
        "_id": group_id({"model": "$model", "type": "$tokenType", "context": "$context"},
                        settings),
        "n": {"$sum": 1},
        "raw": {"$sum": absolute("$rawAmount")},
        "value": {"$sum": absolute("$tokenValue")},
        "input": {"$sum": absolute("$inputTokens")},
        "write": {"$sum": absolute("$writeTokens")},
        "read": {"$sum": absolute("$readTokens")},
        "structured": {"$sum": {"$cond": [{"$isNumber": "$inputTokens"}, 1, 0]}},
    }}]
    return aggregate(db.transactions, match, pipeline)


def token_kinds(row: Mapping[str, Any]) -> dict[str, float]:
    """Split one prompt group into kinds whose sum is the billed prompt (rawAmount)."""
    raw = number(row["raw"])
    cached_read, cached_write = number(row["read"]), number(row["write"])
    if not number(row["structured"]):
        return {"prompt": raw}
    return {"prompt": max(raw - cached_read - cached_write, 0.0),
            "cache_read": cached_read, "cache_write": cached_write}


def count_transactions(db: Any, match: Match, counters: Counters, settings: Settings) -> None:
    rows: dict[str, dict[tuple[str, ...], float]] = {k: {} for k in (
        "input", "output", "kinds", "context", "calls", "cost", "credits")}

    def bump(kind: str, key: tuple[str, ...], value: float) -> None:
        rows[kind][key] = rows[kind].get(key, 0.0) + value

    for row in _transaction_rows(db, match, settings):
        gid = row["_id"]
        tenant = tenant_of(gid, settings)
        model, token_type = model_label(gid.get("model")), gid.get("type")
        context = label_value(gid.get("context"))
        raw = number(row["raw"])
        if token_type == "prompt":
            bump("input", (model, *tenant), raw)
            for kind, value in token_kinds(row).items():
                bump("kinds", (model, kind, *tenant), value)
        elif token_type == "completion":
            bump("output", (model, *tenant), raw)
            bump("kinds", (model, "completion", *tenant), raw)
            bump("calls", (model, *tenant), number(row["n"]))
        elif token_type == "credits":
            bump("credits", (context, *tenant), raw)
            continue
        else:
            continue
        bump("context", (context, str(token_type), *tenant), raw)
        bump("cost", (model, *tenant), number(row["value"]) * USD_PER_CREDIT)
    add_token_totals(counters, rows["input"], rows["output"])
    counters.add_capped("librechat_tokens_total", rows["kinds"])
    counters.add_capped("librechat_context_tokens_total", rows["context"])
    counters.add_capped("librechat_llm_calls_total", rows["calls"])
    counters.add_capped("librechat_cost_usd_total", rows["cost"])
    counters.add_capped("librechat_credits_granted_total", rows["credits"])


def add_token_totals(counters: Counters, prompt: Mapping[tuple[str, ...], float],
                     completion: Mapping[tuple[str, ...], float]) -> None:
    for family, rows in (("librechat_input_tokens", prompt),
                         ("librechat_output_tokens", completion)):
        for key, value in rows.items():
            counters.add(f"{family}_total", key[1:], value)
        counters.add_capped(f"{family}_per_model_total", rows)


def count_fallback_tokens(db: Any, match: Match, counters: Counters,
                          settings: Settings) -> None:
    """LibreChat with `transactions.enabled: false`: the messages' own tokenCount."""
    prompt: dict[tuple[str, ...], float] = {}
    completion: dict[tuple[str, ...], float] = {}
    for row in _message_rows(db, match, settings):
        gid = row["_id"]
        tenant = tenant_of(gid, settings)
        target, model = (prompt, UNKNOWN) if gid.get("user") else (
            completion, model_label(gid.get("model")))
        key = (model, *tenant)
        target[key] = target.get(key, 0.0) + number(row["tokens"])
    add_token_totals(counters, prompt, completion)


def token_families(db: Any, clock: Clock, state: dict[str, Any],
                   settings: Settings) -> list[Family]:
    """Tokens, LLM calls, cost and credits from transactions, counted once each."""
    has_transactions = db.transactions.find_one({}, {"_id": 1}) is not None
    source = "transactions" if has_transactions else "messages"
    if state.get("source", source) != source:
        # Transactions switched on (or off): keep each source's watermark apart, so that
        # neither is counted twice.
        state[f"stream_{state['source']}"] = state.pop("stream", {})
        state["stream"] = state.pop(f"stream_{source}", {})
    state["source"] = source
    count = count_transactions if has_transactions else count_fallback_tokens
    counters = count_new(db.transactions if has_transactions else db.messages, state, clock,
                         settings, lambda match, c: count(db, match, c, settings))
    if counters is None:
        return []
    t = tenant_labels(settings)
    source_info = Family("librechat_token_source_info", "gauge",
                         "Where token figures come from: transactions (provider-reported), or "
                         "messages.tokenCount when the database has no transactions.",
                         ("source",), {(source,): 1.0})
    return [
        counters.family("librechat_input_tokens_total",
                        "Prompt tokens billed (transactions tokenType prompt, |rawAmount|, "
                        "cache reads and writes included).", t),
        counters.family("librechat_output_tokens_total",
                        "Completion tokens billed (transactions tokenType completion).", t),
        counters.family("librechat_input_tokens_per_model_total",
                        "Prompt tokens billed, by transaction model.", ("model", *t)),
        counters.family("librechat_output_tokens_per_model_total",
                        "Completion tokens billed, by transaction model.", ("model", *t)),
        counters.family("librechat_tokens_total",
                        "Tokens by model and kind: prompt (not cached), cache_read, "
                        "cache_write, completion; kinds add up to all billed tokens.",
                        ("model", "kind", *t)),
        counters.family("librechat_context_tokens_total",
                        "Tokens by transaction context (message, title, summarization, ...) "
                        "and token_type (prompt or completion).",
                        ("context", "token_type", *t)),
        counters.family("librechat_llm_calls_total",
                        "LLM calls (completion transactions), by model.", ("model", *t)),
        counters.family("librechat_cost_usd_total",
                        "Cost in USD of prompt and completion tokens (|tokenValue| / 1e6), by "
                        "model; credits excluded.", ("model", *t)),
        counters.family("librechat_credits_granted_total",
                        "Token credits granted (tokenType credits; 1e6 credits = 1 USD), by "
                        "context (autoRefill, admin).", ("context", *t)),
        source_info,
    ]


def token_window_families(db: Any, clock: Clock, state: dict[str, Any],
                          settings: Settings) -> list[Family]:
    """Prompt and completion tokens of the last 5 minutes (transactions `_id` window)."""
    t = tenant_labels(settings)
    start = clock.epoch - 300
    pipeline = [
        {"$match": {"_id": {"$gte": oid_at(start), "$lt": oid_at(clock.epoch + 1)},
                    "tokenType": {"$in": ["prompt", "completion"]}}},
        {"$group": {"_id": group_id({"model": "$model", "type": "$tokenType"}, settings),
                    "raw": {"$sum": absolute("$rawAmount")}}},
    ]
    fams = {name: Family(name, "gauge", text, labels) for name, text, labels in (
        ("librechat_input_tokens_5m", "Prompt tokens billed in the last 5 minutes.", t),
        ("librechat_output_tokens_5m", "Completion tokens billed in the last 5 minutes.", t),
        ("librechat_model_input_tokens_5m", "Prompt tokens billed in the last 5 minutes, by "
                                            "model.", ("model", *t)),
        ("librechat_model_output_tokens_5m", "Completion tokens billed in the last 5 minutes, "
                                             "by model.", ("model", *t)))}
    for row in db.transactions.aggregate(pipeline):
        gid = row["_id"]
        tenant = tenant_of(gid, settings)
        side = "input" if gid.get("type") == "prompt" else "output"
        fams[f"librechat_{side}_tokens_5m"].add(tenant, number(row["raw"]))
        fams[f"librechat_model_{side}_tokens_5m"].add(
            (model_label(gid.get("model")), *tenant), number(row["raw"]))
    return [cap_gauge(f, "model", settings.label_limit) if "model" in f.labels else f
            for f in fams.values()]


# ---- conversations, files, users: created counters


def _created_rows(coll: Any, match: Match, fields: Mapping[str, Any], settings: Settings,
                  extra: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    accumulators = {"n": {"$sum": 1}, **(extra or {})}
    return aggregate(coll, match, [{"$group": {"_id": group_id(fields, settings),
                                               **accumulators}}])


def _created_by_label(coll: Any, state: dict[str, Any], clock: Clock, settings: Settings,
                      label: str, total: tuple[str, str], by: tuple[str, str]) -> list[Family]:
    """Documents created, counted once each: a total and a split by one document field."""
    def count_chunk(match: Match, counters: Counters) -> None:
        rows: dict[tuple[str, ...], float] = {}
        for row in _created_rows(coll, match, {label: f"${label}"}, settings):
            key = (label_value(row["_id"].get(label)), *tenant_of(row["_id"], settings))
            rows[key] = rows.get(key, 0.0) + number(row["n"])
            counters.add(total[0], key[1:], number(row["n"]))
        counters.add_capped(by[0], rows)

    counters = count_new(coll, state, clock, settings, count_chunk)
    if counters is None:
        return []
    t = tenant_labels(settings)
    return [counters.family(total[0], total[1], t), counters.family(by[0], by[1], (label, *t))]


def conversation_families(db: Any, clock: Clock, state: dict[str, Any],
                          settings: Settings) -> list[Family]:
    """Conversations created, counted once each, by endpoint."""
    return _created_by_label(
        db.conversations, state, clock, settings, "endpoint",
        ("librechat_conversations_total", "Conversations created."),
        ("librechat_endpoint_conversations_total", "Conversations created, by endpoint."))


def file_families(db: Any, clock: Clock, state: dict[str, Any],
                  settings: Settings) -> list[Family]:
    """Files uploaded or generated, counted once each, with their bytes."""
    def count_chunk(match: Match, counters: Counters) -> None:
        count: dict[tuple[str, ...], float] = {}
        size: dict[tuple[str, ...], float] = {}
        for row in _created_rows(db.files, match, {"source": "$source", "context": "$context"},
                                 settings, {"bytes": {"$sum": {"$max": [bounded("$bytes"), 0]}}}):
            gid = row["_id"]
            key = (label_value(gid.get("source")), label_value(gid.get("context")),
                   *tenant_of(gid, settings))
            count[key] = count.get(key, 0.0) + number(row["n"])
            size[key] = size.get(key, 0.0) + max(number(row["bytes"]), 0.0)
            counters.add("librechat_uploaded_files_total", key[2:], number(row["n"]))
        counters.add_capped("librechat_files_created_total", count, ((0,), (1,)))
        counters.add_capped("librechat_file_bytes_created_total", size, ((0,), (1,)))

    counters = count_new(db.files, state, clock, settings, count_chunk)
    if counters is None:
        return []
    t = tenant_labels(settings)
    return [
        counters.family("librechat_uploaded_files_total", "Files created.", t),
        counters.family("librechat_files_created_total", "Files created, by source and "
                        "context.", ("source", "context", *t)),
        counters.family("librechat_file_bytes_created_total", "Bytes of files created, by "
                        "source and context.", ("source", "context", *t)),
    ]


def registration_families(db: Any, clock: Clock, state: dict[str, Any],
                          settings: Settings) -> list[Family]:
    """User accounts created, counted once each (users have no createdAt index: `_id`)."""
    return _created_by_label(
        db.users, state, clock, settings, "provider",
        ("librechat_registered_users_total", "User accounts created."),
        ("librechat_registrations_total", "User accounts created, by auth provider."))


# ---- daily statistics over the last N complete local days (each day computed once)


def day_summary(db: Any, clock: Clock, day: date) -> dict[str, Any]:
    """One complete local day: distinct users, messages sent per user, assistant messages per
    model. Kept in the state: a finished day does not change, so it is read once."""
    match = {"$match": {"createdAt": {"$gte": clock.day_start(day),
                                      "$lt": clock.day_start(day + timedelta(days=1))}}}
    users, sent = 0, {}
    for row in db.messages.aggregate([match, {"$group": {
            "_id": "$user", "sent": {"$sum": {"$cond": [IS_USER, 1, 0]}}}}]):
        if isinstance(row["_id"], (str, ObjectId)):
            users += 1
            if row["sent"]:
                key = str(int(row["sent"]))
                sent[key] = sent.get(key, 0) + 1
    models: dict[str, float] = {}
    for row in db.messages.aggregate([match, {"$match": {"isCreatedByUser": {"$ne": True}}},
                                      {"$group": {"_id": "$model", "n": {"$sum": 1}}}]):
        model = model_label(row["_id"])
        models[model] = models.get(model, 0.0) + number(row["n"])
    return {"users": users, "sent": sent, "models": models}


def daily_families(db: Any, clock: Clock, state: dict[str, Any],
                   settings: Settings) -> list[Family]:
    """Yesterday, average and population stddev over the last N complete local days.

    Each day is summarised once, newest first, while the run's budget lasts; the families
    appear once every day of the window is summarised (a first run on a large database takes
    a few runs). Only counts are kept, no user ids.
    """
    if state.get("timezone") != settings.timezone:
        state.update(timezone=settings.timezone, days={})
    today = clock.today()
    window = [(today - timedelta(days=n)).isoformat() for n in range(settings.daily_days, 0, -1)]
    cached: dict[str, Any] = {d: v for d, v in state.get("days", {}).items() if d in window}
    for day in reversed(window):
        if day not in cached and time.monotonic() < clock.deadline:
            cached[day] = day_summary(db, clock, date.fromisoformat(day))
    state["days"] = cached
    state["progress"] = len(cached) / len(window)
    if len(cached) < len(window):
        return []
    summaries = [cached[d] for d in window]
    sent: dict[float, float] = {}
    for summary in summaries:
        for count, users in summary["sent"].items():
            sent[float(count)] = sent.get(float(count), 0.0) + users
    per_model: dict[str, list[float]] = {}
    for index, summary in enumerate(summaries):
        for model, n in summary["models"].items():
            per_model.setdefault(model, [0.0] * len(window))[index] += n
    return daily_user_families([float(s["users"]) for s in summaries], sent,
                               settings.daily_days) + daily_model_families(
        per_model, settings.label_limit)


def _mean_stddev(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    return statistics.fmean(values), statistics.pstdev(values)


def _weighted_mean_stddev(histogram: Mapping[float, float]) -> tuple[float, float]:
    """Mean and population stddev of values given as {value: how many times}."""
    total = sum(histogram.values())
    if not total:
        return 0.0, 0.0
    mean = sum(v * n for v, n in histogram.items()) / total
    return mean, math.sqrt(sum(n * (v - mean) ** 2 for v, n in histogram.items()) / total)


def daily_user_families(counts: list[float], sent: Mapping[float, float],
                        days: int) -> list[Family]:
    users_mean, users_sd = _mean_stddev(counts)
    sent_mean, sent_sd = _weighted_mean_stddev(sent)
    window = f"over the last {days} complete local days"
    return [Family(name, "gauge", text, (), {(): value}) for name, text, value in (
        ("librechat_unique_users_yesterday", "Distinct users with a message created "
                                             "yesterday (local day).", counts[-1]),
        ("librechat_unique_users_per_day_average", f"Mean daily unique users {window}, idle "
                                                   "days as 0.", users_mean),
        ("librechat_unique_users_per_day_stddev", f"Population stddev of daily unique users "
                                                  f"{window}.", users_sd),
        ("librechat_messages_per_user_per_day_average", f"Mean messages sent per active user "
                                                        f"per day, over user-days {window}.",
         sent_mean),
        ("librechat_messages_per_user_per_day_stddev", f"Population stddev of messages sent "
                                                       f"per active user per day {window}.",
         sent_sd))]


def daily_model_families(per_model: dict[str, list[float]], limit: int) -> list[Family]:
    ranked = sorted(per_model, key=lambda m: (-sum(per_model[m]), m))
    merged: dict[str, list[float]] = {m: per_model[m] for m in ranked[:limit]}
    for model in ranked[limit:]:
        merged.setdefault(OTHER, [0.0] * len(per_model[model]))
        merged[OTHER] = [a + b for a, b in zip(merged[OTHER], per_model[model], strict=True)]
    yesterday = Family("librechat_messages_per_model_yesterday", "gauge",
                       "Assistant messages created yesterday (local day), by model.", ("model",))
    mean = Family("librechat_messages_per_model_per_day_average", "gauge",
                  "Mean assistant messages per day by model over the daily statistics window, "
                  "idle days as 0.", ("model",))
    stddev = Family("librechat_messages_per_model_per_day_stddev", "gauge",
                    "Population stddev of assistant messages per day by model over the daily "
                    "statistics window.", ("model",))
    for model, series in merged.items():
        yesterday.samples[(model,)] = series[-1]
        mean.samples[(model,)], stddev.samples[(model,)] = _mean_stddev(series)
    return [yesterday, mean, stddev]


# ---- stored-now gauges (refreshed every --slow-interval, last value kept in the state)


def _grouped_count(coll: Any, match: Match, fields: Mapping[str, Any],
                   settings: Settings, extra: Mapping[str, Any] | None = None) -> list[dict]:
    pipeline = [{"$match": dict(match)},
                {"$group": {"_id": group_id(fields, settings), "n": {"$sum": 1},
                            **(extra or {})}}]
    return list(coll.aggregate(pipeline, allowDiskUse=True))


def _scalar_family(name: str, help_text: str, rows: list[dict], settings: Settings,
                   value: str = "n") -> Family:
    """A gauge with no labels but the optional tenant, from rows grouped by tenant only."""
    fam = Family(name, "gauge", help_text, tenant_labels(settings))
    for row in rows:
        fam.add(tenant_of(row["_id"], settings), number(row[value]))
    return fam


def user_families(db: Any, clock: Clock, state: dict[str, Any],
                  settings: Settings) -> list[Family]:
    """Accounts stored now by provider, role and e-mail verification; pending sign-ups."""
    t = tenant_labels(settings)
    users = Family("librechat_users", "gauge", "User accounts stored now, by auth provider, "
                   "role and e-mail verification.", ("provider", "role", "email_verified", *t))
    for row in _grouped_count(db.users, {}, {"provider": "$provider", "role": "$role",
                                             "verified": {"$eq": ["$emailVerified", True]}},
                              settings):
        gid = row["_id"]
        users.add((label_value(gid.get("provider")), label_value(gid.get("role")),
                   "true" if gid.get("verified") else "false", *tenant_of(gid, settings)),
                  number(row["n"]))
    pending = _grouped_count(db.users, {"expiresAt": {"$type": "date"}}, {}, settings)
    return [
        cap_gauge(cap_gauge(users, "provider", settings.label_limit), "role",
                  settings.label_limit),
        _scalar_family("librechat_users_pending_verification", "Local sign-ups not yet "
                       "verified (expiresAt set; LibreChat deletes them after 7 days).",
                       pending, settings),
    ]


USER_BAN_KEY = re.compile(r"BANS:[0-9a-fA-F]{24}")  # otherwise the key holds an IP address


def session_families(db: Any, clock: Clock, state: dict[str, Any],
                     settings: Settings) -> list[Family]:
    """Login sessions alive and bans in force now."""
    t = tenant_labels(settings)
    alive = _grouped_count(db.sessions, {"expiration": {"$gt": clock.now}}, {}, settings)
    bans = Family("librechat_bans_active", "gauge", "Bans in force now (logs keys BANS:<id> "
                  "with expiresAt in the future), by kind: user id or ip.", ("kind", *t))
    if not t:
        bans.samples.update({("user",): 0.0, ("ip",): 0.0})
    for doc in db.logs.find({"key": {"$regex": "^BANS:"}, "expiresAt": {"$gt": clock.now}},
                            {"key": 1, "tenantId": 1}):
        key = doc.get("key")
        if not isinstance(key, str):
            continue
        kind = "user" if USER_BAN_KEY.fullmatch(key) else "ip"
        tenant = (label_value(doc.get("tenantId")),) if t else ()
        bans.add((kind, *tenant), 1.0)
    return [
        _scalar_family("librechat_sessions_active", "Login sessions alive now (refresh "
                       "sessions with expiration in the future).", alive, settings),
        bans,
    ]


def balance_families(db: Any, clock: Clock, state: dict[str, Any],
                     settings: Settings) -> list[Family]:
    """Token credits held now (balance mode), and users at or below zero."""
    credits = bounded("$tokenCredits")
    rows = _grouped_count(db.balances, {}, {}, settings, {
        "credits": {"$sum": credits},
        "zero": {"$sum": {"$cond": [{"$lte": [credits, 0]}, 1, 0]}}})
    return [
        _scalar_family("librechat_balances", "Balance records stored now (one per user in "
                       "balance mode).", rows, settings),
        _scalar_family("librechat_balance_credits", "Token credits held by all users now "
                       "(1e6 credits = 1 USD).", rows, settings, "credits"),
        _scalar_family("librechat_balance_users_at_zero", "Users whose balance is zero or "
                       "less now.", rows, settings, "zero"),
    ]


TEMPORARY = {"expiredAt": {"$type": "date"},
             "$or": [{"isTemporary": True}, {"isTemporary": {"$exists": False}}]}
# Temporary chats always carry an expiredAt date (LibreChat 0.7.7+), so LibreChat's TTL index
# on expiredAt narrows the scan. 0.8.6+ also marks them isTemporary, and its retention mode
# 'all' gives every chat an expiredAt: then isTemporary decides.


def stored_conversation_families(db: Any, clock: Clock, state: dict[str, Any],
                                 settings: Settings) -> list[Family]:
    """Temporary and archived conversations stored now."""
    temporary = _grouped_count(db.conversations, TEMPORARY, {}, settings)
    archived = _grouped_count(db.conversations, {"isArchived": True}, {}, settings)
    return [
        _scalar_family("librechat_temporary_conversations", "Temporary conversations stored "
                       "now (isTemporary, or expiredAt on LibreChat before 0.8.6).",
                       temporary, settings),
        _scalar_family("librechat_archived_conversations", "Archived conversations stored "
                       "now.", archived, settings),
    ]


def stored_file_families(db: Any, clock: Clock, state: dict[str, Any],
                         settings: Settings) -> list[Family]:
    """Files and bytes stored now by source and context; files embedded for RAG."""
    t = tenant_labels(settings)
    files = Family("librechat_files", "gauge", "Files stored now, by source and context.",
                   ("source", "context", *t))
    size = Family("librechat_file_bytes", "gauge", "Bytes of files stored now, by source and "
                  "context.", ("source", "context", *t))
    embedded = Family("librechat_files_embedded", "gauge", "Files stored now that are "
                      "embedded in the RAG vector store.", t)
    for row in _grouped_count(db.files, {}, {"source": "$source", "context": "$context"},
                              settings, {"bytes": {"$sum": {"$max": [bounded("$bytes"), 0]}},
                                         "embedded": {"$sum": {"$cond": [
                                             {"$eq": ["$embedded", True]}, 1, 0]}}}):
        gid = row["_id"]
        key = (label_value(gid.get("source")), label_value(gid.get("context")),
               *tenant_of(gid, settings))
        files.add(key, number(row["n"]))
        size.add(key, max(number(row["bytes"]), 0.0))
        embedded.add(key[2:], number(row["embedded"]))
    limit = settings.label_limit
    return [cap_gauge(cap_gauge(files, "source", limit), "context", limit),
            cap_gauge(cap_gauge(size, "source", limit), "context", limit), embedded]


RATINGS = ("thumbsUp", "thumbsDown")


def feedback_families(db: Any, clock: Clock, state: dict[str, Any],
                      settings: Settings) -> list[Family]:
    """Thumbs up/down stored now on assistant messages, by model and by reason tag."""
    t = tenant_labels(settings)
    by_model = Family("librechat_feedback", "gauge", "Feedback stored now on assistant "
                      "messages, by rating (thumbsUp, thumbsDown) and model.",
                      ("rating", "model", *t))
    by_tag = Family("librechat_feedback_tags", "gauge", "Feedback stored now, by rating and "
                    "reason tag.", ("rating", "tag", *t))
    for row in _grouped_count(db.messages, {"feedback.rating": {"$in": list(RATINGS)}},
                              {"rating": "$feedback.rating", "model": "$model",
                               "tag": "$feedback.tag"}, settings):
        gid = row["_id"]
        rating, tenant = gid.get("rating"), tenant_of(gid, settings)
        if rating not in RATINGS:  # feedback stored as an array or other odd shape
            continue
        by_model.add((rating, model_label(gid.get("model")), *tenant), number(row["n"]))
        tag = gid.get("tag")
        by_tag.add((rating, label_value(tag) if tag not in (None, "") else "none", *tenant),
                   number(row["n"]))
    limit = settings.label_limit
    return [cap_gauge(by_model, "model", limit), cap_gauge(by_tag, "tag", limit)]


LIBRECHAT_COLLECTIONS = (
    "actions", "agentapikeys", "agents", "assistants", "balances", "banners", "chatprojects",
    "conversations", "conversationtags", "files", "groups", "keys", "mcpservers",
    "memoryentries", "messages", "pluginauths", "presets", "promptgroups", "prompts", "roles",
    "sessions", "sharedlinks", "skills", "toolcalls", "transactions", "users",
)


def collection_families(db: Any, clock: Clock, state: dict[str, Any],
                        settings: Settings) -> list[Family]:
    """Documents stored per LibreChat collection, from collection metadata (no scan)."""
    fam = Family("librechat_collection_documents", "gauge", "Documents stored now per "
                 "LibreChat collection (MongoDB's metadata estimate; 0 when absent).",
                 ("collection",))
    present = set(db.list_collection_names())
    for name in LIBRECHAT_COLLECTIONS:
        try:
            fam.samples[(name,)] = float(db[name].estimated_document_count()) if (
                name in present) else 0.0
        except OperationFailure as exc:
            if exc.code != 13:  # a collection this user may not read is left out, not fatal
                raise
    return [fam]


def agent_families(db: Any, clock: Clock, state: dict[str, Any],
                   settings: Settings) -> list[Family]:
    """Agents defined now, by provider and category; their MCP servers."""
    t = tenant_labels(settings)
    agents = Family("librechat_agents", "gauge", "Agents defined now, by provider (endpoint) "
                    "and category.", ("provider", "category", *t))
    for row in _grouped_count(db.agents, {}, {"provider": "$provider",
                                              "category": "$category"}, settings):
        gid = row["_id"]
        agents.add((label_value(gid.get("provider")), label_value(gid.get("category")),
                    *tenant_of(gid, settings)), number(row["n"]))
    servers = Family("librechat_agents_with_mcp_server", "gauge", "Agents defined now that "
                     "use an MCP server, by server (mcpServerNames).", ("mcp_server", *t))
    pipeline = [{"$project": {"s": "$mcpServerNames", "tenantId": 1}},
                {"$unwind": "$s"},
                {"$group": {"_id": group_id({"server": "$s"}, settings), "n": {"$sum": 1}}}]
    for row in db.agents.aggregate(pipeline):
        servers.add((label_value(row["_id"].get("server")), *tenant_of(row["_id"], settings)),
                    number(row["n"]))
    limit = settings.label_limit
    return [cap_gauge(cap_gauge(agents, "provider", limit), "category", limit),
            cap_gauge(servers, "mcp_server", limit)]


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


# --------------------------------------------------------------------------------------------
# State file: read once at the start, written atomically once at the end


def empty_state() -> dict[str, Any]:
    return {"version": STATE_VERSION, "sections": {}}


def load_state(path: str, readonly: bool = False) -> dict[str, Any]:
    """The saved state, or a fresh one when there is none or it cannot be used.

    A corrupt or older file is set aside (renamed, never deleted) and the job recomputes from
    MongoDB, which Prometheus sees as a counter reset. A file from a newer version is left
    alone and the run fails, rather than destroying what the newer version kept.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        log.info("no state file at %s: first run, counting every stored document", path)
        return empty_state()
    except OSError as exc:
        raise JobError(f"cannot read state file {path}: {exc.strerror}") from exc
    try:
        state = json.loads(raw)
        version = state["version"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise TypeError("malformed")
    except (ValueError, KeyError, TypeError):
        return _set_aside(path, "is corrupt", readonly)
    if version > STATE_VERSION:
        # Checked before the shape: a newer version may keep other shapes, and its file
        # must survive a downgrade.
        raise JobError(f"state file {path} is from a newer version ({version} > "
                       f"{STATE_VERSION}); refusing to overwrite it")
    if version < STATE_VERSION:
        return _set_aside(path, f"is from an older version ({version})", readonly)
    if not well_formed(state):
        return _set_aside(path, "is corrupt", readonly)
    return state


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


def _label_key(key: Any) -> bool:
    try:
        labels = json.loads(key)
    except (TypeError, ValueError):
        return False
    return isinstance(labels, list) and all(isinstance(v, str) for v in labels)


def _dict_of(value: Any, check: Callable[[Any, Any], bool]) -> bool:
    return isinstance(value, dict) and all(check(k, v) for k, v in value.items())


def _totals(value: Any) -> bool:
    return _dict_of(value, lambda k, v: _label_key(k) and _is_number(v))


def _stream(value: Any) -> bool:
    job = value.get("backfill", {"target": 0, "cursor": None}) if isinstance(value, dict) \
        else None
    return (isinstance(value, dict) and set(value) <= {"horizon", "seen", "backfill"}
            and (value.get("horizon") is None or _is_number(value["horizon"]))
            and isinstance(value.get("seen", []), list)
            and all(isinstance(i, str) and ObjectId.is_valid(i) for i in value.get("seen", []))
            and isinstance(job, dict) and _is_number(job.get("target"))
            and (job.get("cursor") is None or (isinstance(job["cursor"], str)
                                                and ObjectId.is_valid(job["cursor"])))
            and _is_number(job.get("progress", 0)))


def _family_json(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("labels"), list):
        return False
    width = len(value["labels"]) + 1
    return (isinstance(value.get("name"), str) and value.get("kind") in ("counter", "gauge")
            and isinstance(value.get("help"), str)
            and all(isinstance(v, str) for v in value["labels"])
            and isinstance(value.get("samples"), list)
            and all(isinstance(row, list) and len(row) == width and _is_number(row[-1])
                    and all(isinstance(v, str) for v in row[:-1]) for row in value["samples"]))


def _day(value: Any) -> bool:
    return (isinstance(value, dict) and _is_number(value.get("users"))
            and _dict_of(value.get("sent"), lambda k, v: str(k).isdigit() and _is_number(v))
            and _dict_of(value.get("models"), lambda k, v: isinstance(k, str) and _is_number(v)))


SECTION_STATE: dict[str, Callable[[Any], bool]] = {
    # Every key a section keeps, with the shape it must have; anything else is corruption.
    "counters": lambda v: _dict_of(v, lambda k, f: isinstance(k, str) and _totals(f)),
    "slots": lambda v: _dict_of(v, lambda k, f: _dict_of(
        f, lambda g, slots: isinstance(slots, list)
        and all(isinstance(x, str) for x in slots))),
    "staged": lambda v: _dict_of(v, lambda k, f: isinstance(f, dict)
                                 and isinstance(f.get("groups"), list)
                                 and all(isinstance(g, list) and all(isinstance(i, int)
                                                                      for i in g)
                                         for g in f["groups"]) and _totals(f.get("rows"))),
    "stream": _stream,
    "stream_transactions": _stream,
    "stream_messages": _stream,
    "source": lambda v: v in ("transactions", "messages"),
    "last_active": lambda v: _dict_of(v, lambda k, t: isinstance(k, str) and _is_number(t)),
    "families": lambda v: isinstance(v, list) and all(_family_json(f) for f in v),
    "refreshed_at": _is_number,
    "config": lambda v: isinstance(v, str),
    "days": lambda v: _dict_of(v, lambda k, d: isinstance(k, str) and _day(d)),
    "timezone": lambda v: isinstance(v, str),
    "progress": _is_number,
}


def _well_formed_section(section: Any) -> bool:
    """The shapes the sections read back; anything else would fail them on every run."""
    return isinstance(section, dict) and all(
        key in SECTION_STATE and SECTION_STATE[key](value) for key, value in section.items())


def well_formed(state: Mapping[str, Any]) -> bool:
    sections = state.get("sections")
    last = state.get("last_success")
    return (isinstance(sections, dict) and all(isinstance(k, str) for k in sections)
            and all(_well_formed_section(v) for v in sections.values())
            and (last is None or _is_number(last)))


def _set_aside(path: str, why: str, readonly: bool) -> dict[str, Any]:
    if readonly:
        log.warning("state file %s %s; ignoring it for this read-only run", path, why)
        return empty_state()
    aside = f"{path}.{time.strftime('%Y%m%dT%H%M%S')}.bad"
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise JobError(f"state file {path} {why} and cannot be moved aside: "
                       f"{exc.strerror}") from exc
    log.warning("state file %s %s; moved to %s, recomputing from MongoDB", path, why, aside)
    return empty_state()


def stage_file(path: str, data: bytes, mode: int = 0o644) -> str:
    """Write `data` to a temp file beside `path`, flushed to disk; `commit_file` publishes it.

    The temp file sits in the same directory (rename is atomic only within one filesystem),
    its name does not end in .prom (node_exporter would read it), and its mode is set
    explicitly: mkstemp makes 0600 and the umask must not decide what node_exporter can read.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
    except BaseException:
        discard_file(tmp)
        raise
    return tmp


def commit_file(tmp: str, path: str) -> None:
    """Rename the staged file over `path`: a reader sees the old file or the new, never a part."""
    try:
        os.replace(tmp, path)
    except BaseException:
        discard_file(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def discard_file(tmp: str | None) -> None:
    if tmp:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    commit_file(stage_file(path, data, mode), path)


def remove_stale_temps(path: str) -> None:
    """Temp files left by a run that was killed between write and rename."""
    directory, base = os.path.split(os.path.abspath(path))
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if name.startswith(f".{base}.") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
                    log.info("removed stale temp file %s", name)


def save_state(path: str, state: Mapping[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        atomic_write(path, json.dumps(state, separators=(",", ":")).encode(), mode=0o600)
    except OSError as exc:
        raise JobError(f"cannot write state file {path}: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------------------------
# One run


@dataclasses.dataclass
class RunResult:
    families: list[Family]
    state: dict[str, Any]
    up: bool
    errors: dict[str, int]
    durations: dict[str, float]
    server_version: str = ""


def is_fatal(exc: BaseException) -> bool:
    """Errors that mean the database as a whole is gone or too slow, not one bad query."""
    return isinstance(exc, ConnectionFailure) or bool(getattr(exc, "timeout", False)) or (
        isinstance(exc, OperationFailure) and exc.code == 18)


def refresh_due(section: Section, cached: Mapping[str, Any], clock: Clock,
                settings: Settings) -> bool:
    if section.refresh == "run" or "families" not in cached:
        return True
    if cached.get("config") != config_key(settings):
        return True
    age = clock.epoch - cached.get("refreshed_at", 0.0)
    return not 0 <= age < settings.slow_interval  # a clock set back refreshes too


def config_key(settings: Settings) -> str:
    return json.dumps([__version__, settings.timezone, settings.daily_days,
                       settings.label_limit, settings.tenant_label])


def run_section(section: Section, db: Any, clock: Clock, old: Mapping[str, Any],
                settings: Settings) -> tuple[list[Family], dict[str, Any]]:
    """Run one section on a copy of its state, so a failure leaves the old state intact."""
    if not refresh_due(section, old, clock, settings):
        return [Family.from_json(f) for f in old["families"]], dict(old)
    state = copy.deepcopy(dict(old))
    families = section.compute(db, clock, state, settings)
    if section.refresh != "run":
        state.update(families=[f.to_json() for f in families], refreshed_at=clock.epoch,
                     config=config_key(settings))
    return families, state


def collect(db: Any, clock: Clock, state: dict[str, Any], settings: Settings,
            sections: Iterable[Section] = SECTIONS) -> RunResult:
    """Run every section; a failing one is reported and skipped, a lost database ends all."""
    new_state = {"version": STATE_VERSION, "sections": dict(state.get("sections", {})),
                 "last_success": state.get("last_success")}
    result = RunResult([], new_state, True, {}, {})
    for section in sections:
        if section.refresh == "slow" and first_count_pending(new_state):
            # A first count needs the run's budget; a timeout now would lose its progress.
            # Stored-now gauges wait, their last values (if any) are not replayed.
            result.errors[section.name] = 0
            continue
        started = time.monotonic()
        try:
            families, section_state = run_section(
                section, db, clock, state.get("sections", {}).get(section.name, {}), settings)
        except Exception as exc:
            # One bad query or one document the code did not foresee must not cost the other
            # sections their numbers; a lost database ends the run instead.
            if is_fatal(exc):
                raise
            log.error("section %s failed: %s", section.name, describe_error(exc))
            result.errors[section.name] = 1
        else:
            result.families.extend(families)
            new_state["sections"][section.name] = section_state
            result.errors[section.name] = 0
        result.durations[section.name] = time.monotonic() - started
    tenants: list[str] = []
    if settings.tenant_label:
        try:
            tenants = known_tenants(db)
        except PyMongoError as exc:
            if is_fatal(exc):
                raise
            log.warning("cannot list tenants for explicit zeros: %s", describe_error(exc))
    explicit_zeros(result.families, tenants)
    return result


def first_count_pending(state: Mapping[str, Any]) -> bool:
    return any(isinstance(section, dict) and "backfill" in section.get("stream", {})
               for section in state.get("sections", {}).values())


def known_tenants(db: Any) -> list[str]:
    """The tenants of the user accounts (a small collection with a tenantId index)."""
    return sorted({label_value(t) for t in db.users.distinct("tenantId") if t is not None})


def explicit_zeros(families: list[Family], tenants: list[str]) -> None:
    """A 0 for every family that is a single number (per known tenant with --tenant-label), so
    that a missing series always means a failed section, never "nothing happened"."""
    for family in families:
        if family.labels == ():
            family.samples.setdefault((), 0.0)
        elif family.labels == ("tenant",):
            for tenant in tenants:
                family.samples.setdefault((tenant,), 0.0)


def self_families(result: RunResult, settings: Settings, clock: Clock, total: float,
                  last_success: float | None) -> list[Family]:
    """The job's own health, written on every run, failed ones included."""
    info = Family("librechat_exporter_build_info", "gauge",
                  "Versions of the job, Python, pymongo and the MongoDB server (1).",
                  ("version", "python", "pymongo", "mongodb"))
    info.samples[(__version__, platform.python_version(), pymongo.version,
                  result.server_version or UNKNOWN)] = 1.0
    fams = [
        Family("librechat_exporter_up", "gauge",
               "1 if the last run reached MongoDB and wrote fresh metrics, else 0.", (),
               {(): 1.0 if result.up else 0.0}),
        Family("librechat_exporter_run_timestamp_seconds", "gauge",
               "When the last run ended (Unix time).", (), {(): time.time()}),
        Family("librechat_exporter_run_duration_seconds", "gauge",
               "Wall time of the last run.", (), {(): total}),
        Family("librechat_exporter_duration_seconds", "gauge",
               "Wall time of each section in the last run.", ("section",),
               {(name,): value for name, value in result.durations.items()}),
        Family("librechat_exporter_errors", "gauge",
               "Errors of each section in the last run (a failed section's families are "
               "left out).", ("section",),
               {(s.name,): float(result.errors.get(s.name, 0 if result.up else 1))
                for s in SECTIONS}),
        Family("librechat_exporter_config_info", "gauge",
               "Settings that shape the numbers: calendar timezone, daily statistics window "
               "in days, label limit (1).", ("timezone", "daily_days", "label_limit"),
               {(settings.timezone, str(settings.daily_days), str(settings.label_limit)): 1.0}),
        info,
    ]
    progress = Family("librechat_exporter_backfill_progress_ratio", "gauge",
                      "How far the first count of stored documents has got, per section (1 "
                      "when done; a section's counters appear once it is done).", ("section",))
    for name, section_state in result.state.get("sections", {}).items():
        stream = section_state.get("stream") if isinstance(section_state, dict) else None
        if isinstance(stream, dict):
            job = stream.get("backfill")
            progress.samples[(name,)] = float(job.get("progress", 0.0)) if job else 1.0
        elif isinstance(section_state, dict) and _is_number(section_state.get("progress")):
            progress.samples[(name,)] = float(section_state["progress"])
    fams.append(progress)
    if last_success is not None:
        fams.insert(1, Family("librechat_exporter_last_success_timestamp_seconds", "gauge",
                              "When a run last succeeded (Unix time).", (),
                              {(): last_success}))
    return fams


class _Families(Collector):
    def __init__(self, families: list[Family]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield family.to_metric()


def render(families: list[Family]) -> bytes:
    """Classic Prometheus text from a private registry (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


# --------------------------------------------------------------------------------------------
# Process: lock, deadline, client, output


class LockUnavailable(JobError):
    """The lock file cannot be opened (a read-only or missing state directory)."""


class Interrupted(BaseException):
    """SIGTERM (systemd's or timeout's) or the watchdog alarm ended the run.

    A BaseException, so that the per-section `except Exception` cannot swallow it.
    """


def _interrupt(signum: int, _frame: Any) -> None:
    raise Interrupted(f"stopped by {signal.Signals(signum).name}")


@contextlib.contextmanager
def job_lock(settings: Settings) -> Iterator[bool]:
    """Hold an exclusive lock for the run; yields False when another run holds it."""
    if settings.stdout:
        yield True
        return
    directory = os.path.dirname(os.path.abspath(settings.lock_file))
    try:
        os.makedirs(directory, exist_ok=True)
        fd = os.open(settings.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LockUnavailable(f"cannot open lock file {settings.lock_file}: "
                              f"{exc.strerror}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def check_output_dir(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise JobError(f"output directory {directory} does not exist (is node_exporter's "
                       "textfile directory configured?)")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise JobError(f"output directory {directory} is not writable by this user")


def mongo_client(settings: Settings) -> pymongo.MongoClient:
    ms = int(settings.connect_timeout * 1000)
    return pymongo.MongoClient(
        settings.mongodb_uri, appname="librechat-textfile", tz_aware=True, connect=False,
        serverSelectionTimeoutMS=ms, connectTimeoutMS=ms,
        socketTimeoutMS=int(settings.timeout * 1000), maxPoolSize=2,
        unicode_decode_error_handler="replace", retryReads=True)


def checked_client(settings: Settings) -> pymongo.MongoClient:
    """The client, or one clear error for a URI pymongo rejects outside its own errors."""
    try:
        return mongo_client(settings)
    except (ValueError, TypeError, OSError) as exc:
        raise JobError(f"invalid MONGODB_URI: {exc}") from exc


def collect_from_mongo(settings: Settings, clock: Clock,
                       state: dict[str, Any]) -> RunResult:
    client = checked_client(settings)
    try:
        db = client[settings.mongodb_database]
        # Inside pymongo.timeout() server selection waits for the whole remaining --timeout;
        # a first command of its own keeps an unreachable server to --connect-timeout.
        with pymongo.timeout(settings.connect_timeout):
            version = str(db.command("buildInfo").get("version", UNKNOWN))
        with pymongo.timeout(settings.timeout):
            result = collect(db, clock, state, settings)
            result.server_version = version
            return result
    finally:
        client.close()


def write_output(settings: Settings, data: bytes) -> None:
    if settings.stdout:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        atomic_write(settings.output, data)
    except OSError as exc:
        raise JobError(f"cannot write {settings.output}: {exc.strerror or exc}") from exc


def run_job(settings: Settings) -> int:
    started = time.monotonic()
    # A --stdout run keeps nothing for a next run, so its first count may use most of --timeout.
    share = 0.9 if settings.stdout else BACKFILL_SHARE
    clock = Clock(settings.now or datetime.now(UTC), settings.tz,
                  deadline=started + settings.timeout * share)
    if not settings.stdout:
        check_output_dir(settings.output)
    try:
        with job_lock(settings) as acquired:
            if not acquired:
                log.warning("another run holds %s; this one exits without touching anything",
                            settings.lock_file)
                return EXIT_LOCKED
            return locked_run(settings, clock, started)
    except LockUnavailable as exc:
        # Without a lock the run cannot be trusted with the state, but node_exporter must
        # stop serving the last numbers as if all were well.
        return write_failure(settings, clock, started, {}, str(exc))


def locked_run(settings: Settings, clock: Clock, started: float) -> int:
    """Collect, then publish: stage the .prom, save the state, rename the .prom into place.

    Staging first means a full or failing output disk leaves the state as it was; the rename
    is the only step after the state is saved.
    """
    if not settings.stdout:
        remove_stale_temps(settings.output)
        remove_stale_temps(settings.state_file)
    state: dict[str, Any] = {}
    pending: str | None = None
    try:
        state = load_state(settings.state_file, readonly=settings.stdout)
        result = collect_from_mongo(settings, clock, state)
        signal.alarm(0)
        partial = any(result.errors.values())
        last_success = state.get("last_success") if partial else time.time()
        result.state["last_success"] = last_success
        data = render(result.families + self_families(
            result, settings, clock, time.monotonic() - started, last_success))
        if not settings.stdout:
            pending = stage_output(settings.output, data)
            save_state(settings.state_file, result.state)
    except (PyMongoError, Interrupted, JobError) as exc:
        discard_file(pending)
        reason = describe_error(exc) if isinstance(exc, PyMongoError) else str(exc)
        return write_failure(settings, clock, started, state, reason)
    if pending:
        commit_file(pending, settings.output)
    else:
        write_output(settings, data)
    log.info("wrote %d families in %.2f s%s", len(result.families),
             time.monotonic() - started, " (some sections failed)" if partial else "")
    return EXIT_PARTIAL if partial else EXIT_OK


def write_failure(settings: Settings, clock: Clock, started: float,
                  state: Mapping[str, Any], reason: str) -> int:
    """The self-metrics alone with up 0, so that no stale business number is served."""
    signal.alarm(0)
    failed = RunResult([], dict(state), False, {}, {})
    try:
        write_output(settings, render(self_families(
            failed, settings, clock, time.monotonic() - started, state.get("last_success"))))
        wrote = "wrote up=0"
    except JobError as exc:
        wrote = f"could not write up=0 either ({exc})"
    log.error("run failed (MongoDB %s), %s and kept the state file: %s",
              mongo_hosts(settings.mongodb_uri), wrote, reason)
    return EXIT_FAILED


def mongo_hosts(uri: str) -> str:
    """The hosts of the URI, for the log (never the credentials)."""
    try:
        nodes = pymongo.uri_parser.parse_uri(uri, validate=False, warn=True)["nodelist"]
    except Exception:
        return "(unparsable URI)"
    return ",".join(f"{host}:{port}" for host, port in nodes)


def stage_output(path: str, data: bytes) -> str:
    try:
        return stage_file(path, data)
    except OSError as exc:
        raise JobError(f"cannot write {path}: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------------------------
# indexes: what the queries want, what exists, and (only when asked) create the missing ones


@dataclasses.dataclass(frozen=True)
class WantedIndex:
    collection: str
    keys: dict[str, int]
    options: dict[str, Any]
    why: str
    ours: bool  # False: LibreChat creates it at start-up; the job never creates those


WANTED_INDEXES: tuple[WantedIndex, ...] = (
    WantedIndex("messages", {"createdAt": 1}, {},
                "5-minute, rolling and daily windows", False),
    WantedIndex("sessions", {"expiration": 1}, {}, "sessions alive (a TTL index)", False),
    WantedIndex("conversations", {"expiredAt": 1}, {}, "temporary conversations (a TTL index)",
                False),
    WantedIndex("messages", {"feedback.rating": 1},
                {"name": "librechat_textfile_feedback", "sparse": True},
                "feedback gauges read rated messages only, not all messages", True),
    WantedIndex("conversations", {"isArchived": 1},
                {"name": "librechat_textfile_archived",
                 "partialFilterExpression": {"isArchived": True}},
                "archived conversations read archived ones only, not all", True),
)
# The _id index serves every counter and the transaction windows. TTL indexes delete data, so
# the job never creates LibreChat's own indexes, even with --create; it only reports them.


def index_present(db: Any, wanted: WantedIndex) -> bool:
    if wanted.collection not in db.list_collection_names():
        return False
    return any(list(ix["key"].items()) == list(wanted.keys.items())
               for ix in db[wanted.collection].list_indexes())


def run_indexes(settings: Settings) -> int:
    """Print each wanted index as present or missing; with --create, make the job's own."""
    try:
        client = checked_client(settings)
    except JobError as exc:
        log.error("indexes: %s", exc)
        return EXIT_FAILED
    try:
        with pymongo.timeout(settings.timeout):
            db = client[settings.mongodb_database]
            for wanted in WANTED_INDEXES:
                status = "present" if index_present(db, wanted) else "missing"
                if status == "missing" and settings.create_indexes and wanted.ours:
                    db[wanted.collection].create_index(list(wanted.keys.items()),
                                                       **wanted.options)
                    status = "created"
                owner = "job" if wanted.ours else "LibreChat"
                print(f"{status:8} {wanted.collection:14} {json.dumps(wanted.keys):24} "
                      f"{owner:10} {wanted.why}")
    except PyMongoError as exc:
        log.error("indexes: %s", describe_error(exc))
        return EXIT_FAILED
    finally:
        client.close()
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings(argv, os.environ)
    except SettingsError as exc:
        print(f"librechat_textfile: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings)
    if settings.command == "indexes":
        return run_indexes(settings)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    # A last resort if a call escapes pymongo's deadline (a stuck DNS lookup, say).
    signal.alarm(int(settings.timeout + settings.connect_timeout + 5))
    try:
        return run_job(settings)
    except JobError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    except Interrupted as exc:
        log.error("run interrupted (%s) while writing; state and file left as they were", exc)
        return EXIT_FAILED
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skips pymongo's exit hook, which waits ~0.5 s for the (closed) client's monitor threads:
    # everything is written, flushed and fsynced by now.
    os._exit(code)
