"""Settings: flags > environment > .env > defaults, resolved once into a frozen dataclass."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import __version__


class SettingsError(ValueError):
    """One or more settings are invalid; the message names every one."""


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
    label_ttl: float = 30.0  # days
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
           "MongoDB connection string (credentials, replicaSet, readPreference, tls); "
           "LibreChat's MONGO_URI when MONGODB_URI is set nowhere", "URI"),
    Option("mongodb_database", "--mongodb-database", "MONGODB_DATABASE", str,
           "LibreChat's database name; when unset, the database in the URI's path, else "
           "LibreChat", "NAME"),
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
           "values per label dimension (model, tool, ...), shared by all families; the rest are "
           "summed into 'other'", "N"),
    Option("label_ttl", "--label-ttl", "LIBRECHAT_TEXTFILE_LABEL_TTL", _parse_positive(float),
           "days a label value may go unseen before its slot is freed and its series end",
           "DAYS"),
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


def _argument_parser(prog: str) -> argparse.ArgumentParser:
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
                        help="dotenv file read for the variables above (a missing file is "
                             "skipped) [default .env]")
    parser = argparse.ArgumentParser(
        prog=prog, parents=[common],
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


LIBRECHAT_URI_VARIABLE = "MONGO_URI"


@dataclasses.dataclass(frozen=True)
class UriParts:
    """A MongoDB URI split without pymongo (which resolves mongodb+srv:// names as it parses)."""

    userinfo: str | None  # "user:password" as written, None without credentials
    hosts: str
    database: str | None  # percent-decoded, without a ".collection"
    escaped: bool  # False: user info that pymongo refuses or splits in the wrong place


# After the "@" that ends the user info: a host list, then the path, the options or the end.
_HOST_LIST = re.compile(r"[^@/?]+(?=[/?]|$)")
_HOST = re.compile(r"\[[^\[\]]+\](:\d+)?|[^:\[\]]+(:\d+)?")


def _escaped(userinfo: str) -> bool:
    """What pymongo's parse_userinfo accepts (and no "/" or "?", which end its host part)."""
    return not ("@" in userinfo or "/" in userinfo or "?" in userinfo
                or userinfo.count(":") > 1 or re.search(r"%(?![0-9A-Fa-f]{2})", userinfo))


def _plain_hosts(hosts: str) -> bool:
    return bool(hosts) and all(_HOST.fullmatch(host) for host in hosts.split(","))


def uri_parts(uri: str) -> UriParts | None:
    """The user info, hosts and database of a MongoDB URI, or None if it is none.

    Split as pymongo splits it: options at the first "?", the path at the first "/", the user
    info up to the host part's last "@". When that split gives user info pymongo refuses, a
    host list it cannot read, or an "@" in the path, the password was typed unescaped ("@",
    ":", "/" or "?" in it): then the user info runs to the last "@" that a plain host list
    follows, so that the whole password is known, to blank it and to say what to fix
    (`escaped` is then False, unless the fault was elsewhere: a port typo, say).
    """
    _scheme, separator, rest = uri.partition("://")
    if not separator:
        return None
    host_part, _, path = rest.partition("?")[0].partition("/")
    userinfo, at, hosts = host_part.rpartition("@")
    if "@" not in path and _plain_hosts(hosts) and (not at or _escaped(userinfo)):
        return UriParts(userinfo if at else None, hosts, _database(path), True)
    if "@" not in rest or (not at and _in_an_option(rest)):
        return UriParts(None, hosts, _database(path), True)
    return _unescaped_parts(rest)


def _in_an_option(rest: str) -> bool:
    """The first "@" is in an option's value (`?appName=me@example`), not after a password."""
    before = rest[:rest.index("@")]
    return "?" in before and "=" in before.partition("?")[2]


def _unescaped_parts(rest: str) -> UriParts:
    for at in reversed([m.start() for m in re.finditer("@", rest)]):
        hosts = _HOST_LIST.match(rest, at + 1)
        if hosts:
            tail = rest[hosts.end():]
            path = tail[1:].partition("?")[0] if tail.startswith("/") else ""
            return UriParts(rest[:at], hosts.group(0), _database(path), _escaped(rest[:at]))
    userinfo = rest.rpartition("@")[0]
    return UriParts(userinfo, "", None, _escaped(userinfo))


def _database(path: str) -> str | None:
    return unquote_plus(path).split(".", 1)[0] or None


def uri_database(uri: str) -> str | None:
    """The database in a MongoDB URI's path (`mongodb://host:27017/LibreChat?...`), or None."""
    parts = uri_parts(uri)
    return parts.database if parts else None


def _read_env_file(path: str) -> dict[str, str]:
    # python-dotenv is imported only when there is a file to read: most runs (systemd's
    # EnvironmentFile, the environment) have none, and the import is a few ms of every run.
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(argv: list[str] | None, environ: Mapping[str, str],
                  prog: str = "librechat-textfile") -> Settings:
    """Resolve every setting from flags, then environment, then the .env file, then defaults.

    `prog` is the command's name in usage lines and argparse's errors."""
    args = _argument_parser(prog).parse_args(argv)
    dotenv = _read_env_file(args.env_file) if os.path.isfile(args.env_file) else {}
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
    if "mongodb_uri" not in values:
        # LibreChat's own variable, read only when MONGODB_URI is set nowhere.
        librechat_uri = next((src[LIBRECHAT_URI_VARIABLE] for src in (environ, dotenv)
                              if LIBRECHAT_URI_VARIABLE in src), None)
        if librechat_uri is not None:
            values["mongodb_uri"] = librechat_uri
    if "mongodb_database" not in values:
        values["mongodb_database"] = uri_database(
            values.get("mongodb_uri", Settings.mongodb_uri)) or Settings.mongodb_database
    values["stdout"] = bool(getattr(args, "stdout", False))
    values["command"] = args.command or "run"
    values["create_indexes"] = bool(getattr(args, "create_indexes", False))
    return Settings(**values)

