"""One MongoDB client with timeouts, which of its errors mean the database is gone, and at
--log-level debug one line per query (collection, time, documents returned)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pymongo
from pymongo import monitoring
from pymongo.errors import ConnectionFailure, OperationFailure

from .errors import JobError
from .settings import Settings, uri_parts

log = logging.getLogger("librechat_textfile")

UNESCAPED_CREDENTIALS = (
    "the user name or password in MONGODB_URI holds a character a URI must percent-encode "
    "(@ : / ? or a % not followed by two hex digits); write it encoded, as "
    "urllib.parse.quote_plus gives it: python3 -c 'import sys, urllib.parse; "
    "print(urllib.parse.quote_plus(sys.argv[1]))' 'PASSWORD'")


def mongo_client(settings: Settings) -> pymongo.MongoClient[Any]:
    ms = int(settings.connect_timeout * 1000)
    # The listener only at debug: at info and above a query costs nothing more.
    listeners = [QueryLog()] if settings.logging_level == "debug" else []
    return pymongo.MongoClient(
        settings.mongodb_uri, appname="librechat-textfile", tz_aware=True, connect=False,
        serverSelectionTimeoutMS=ms, connectTimeoutMS=ms,
        socketTimeoutMS=int(settings.timeout * 1000), maxPoolSize=2,
        unicode_decode_error_handler="replace", retryReads=True, event_listeners=listeners)


def checked_client(settings: Settings) -> pymongo.MongoClient[Any]:
    """The client, or one clear error for a URI pymongo rejects outside its own errors.

    A password typed unescaped is caught before pymongo sees it: pymongo's messages would
    quote the pieces it split the password into (as a port, a host, a database)."""
    parts = uri_parts(settings.mongodb_uri)
    if parts is not None and not parts.escaped:
        raise JobError(UNESCAPED_CREDENTIALS)
    try:
        return mongo_client(settings)
    except (ValueError, TypeError, OSError) as exc:
        raise JobError(f"invalid MONGODB_URI: {exc}") from exc


def is_fatal(exc: BaseException) -> bool:
    """Errors that mean the database as a whole is gone or too slow, not one bad query."""
    return isinstance(exc, ConnectionFailure) or bool(getattr(exc, "timeout", False)) or (
        isinstance(exc, OperationFailure) and exc.code == 18)


def mongo_hosts(uri: str) -> str:
    """The hosts of the URI, for the log (never the credentials): host:port as pymongo reads
    them, without a DNS lookup (a mongodb+srv:// URI names its SRV record)."""
    parts = uri_parts(uri)
    if parts is None or not parts.hosts:
        return "(unparsable URI)"
    if uri.startswith("mongodb+srv://"):
        return parts.hosts
    try:
        nodes = pymongo.uri_parser.split_hosts(parts.hosts)
    except Exception:
        return parts.hosts
    return ",".join(f"{host}:{port}" for host, port in nodes)


# Handshakes, heartbeats and authentication: not the job's queries.
NOT_QUERIES = frozenset({"hello", "ismaster", "isMaster", "saslStart", "saslContinue",
                         "authenticate", "getnonce", "endSessions", "ping"})


class QueryLog(monitoring.CommandListener):
    """One DEBUG line per query once its cursor is exhausted or closed: the command, its
    collection, MongoDB's time over all its batches and the documents returned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # a first count queries from two threads
        # (connection, request) -> (command, collection, cursor id of a getMore)
        self._started: dict[tuple[Any, int], tuple[str, str, int]] = {}
        self._open: dict[int, list[Any]] = {}  # cursor id -> [command, collection, µs, docs]

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in NOT_QUERIES:
            return
        body = event.command
        target = body.get("collection") if name == "getMore" else body.get(name)
        collection = target if isinstance(target, str) else event.database_name
        cursor = int(body.get("getMore") or 0) if name == "getMore" else 0
        with self._lock:
            self._started[(event.connection_id, event.request_id)] = (name, collection, cursor)
        if name == "killCursors":  # the job stopped reading early: what it had got
            for cursor_id in body.get("cursors") or []:
                with self._lock:
                    query = self._open.pop(int(cursor_id), None)
                if query:
                    self._log(query, " (cursor closed early)")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self._lock:
            begun = self._started.pop((event.connection_id, event.request_id), None)
        if begun is None or begun[0] == "killCursors":
            return
        name, collection, cursor_id = begun
        reply = event.reply if isinstance(event.reply, dict) else {}
        cursor = reply.get("cursor")
        if not isinstance(cursor, dict):
            self._log([name, collection, event.duration_micros, None], _result(reply))
            return
        batch = cursor.get("firstBatch", cursor.get("nextBatch"))
        with self._lock:
            query = self._open.pop(cursor_id, None) if cursor_id else None
            query = query or [name, collection, 0, 0]
            query[2] += event.duration_micros
            query[3] += len(batch) if isinstance(batch, list) else 0
            if cursor.get("id"):
                self._open[int(cursor["id"])] = query
                return
        self._log(query, "")

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            begun = self._started.pop((event.connection_id, event.request_id), None)
        if begun is not None:
            log.debug("query %s on %s failed after %.1f ms", begun[0], begun[1],
                      event.duration_micros / 1000)

    @staticmethod
    def _log(query: list[Any], note: str) -> None:
        name, collection, micros, docs = query
        returned = "" if docs is None else f", {docs} document{'' if docs == 1 else 's'}"
        log.debug("query %s on %s: %.1f ms%s%s", name, collection, micros / 1000, returned,
                  note)


def _result(reply: dict[str, Any]) -> str:
    """What a command without a cursor returned, in a few words."""
    if isinstance(reply.get("values"), list):  # distinct
        return f", {len(reply['values'])} values"
    if isinstance(reply.get("n"), int):  # count
        return f", count {reply['n']}"
    return ""
