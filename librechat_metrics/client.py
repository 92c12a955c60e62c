"""One MongoDB client with timeouts, and which of its errors mean the database is gone."""

from __future__ import annotations

from typing import Any

import pymongo
from pymongo.errors import ConnectionFailure, OperationFailure

from .errors import JobError
from .settings import Settings


def mongo_client(settings: Settings) -> pymongo.MongoClient[Any]:
    ms = int(settings.connect_timeout * 1000)
    return pymongo.MongoClient(
        settings.mongodb_uri, appname="librechat-textfile", tz_aware=True, connect=False,
        serverSelectionTimeoutMS=ms, connectTimeoutMS=ms,
        socketTimeoutMS=int(settings.timeout * 1000), maxPoolSize=2,
        unicode_decode_error_handler="replace", retryReads=True)


def checked_client(settings: Settings) -> pymongo.MongoClient[Any]:
    """The client, or one clear error for a URI pymongo rejects outside its own errors."""
    try:
        return mongo_client(settings)
    except (ValueError, TypeError, OSError) as exc:
        raise JobError(f"invalid MONGODB_URI: {exc}") from exc


def is_fatal(exc: BaseException) -> bool:
    """Errors that mean the database as a whole is gone or too slow, not one bad query."""
    return isinstance(exc, ConnectionFailure) or bool(getattr(exc, "timeout", False)) or (
        isinstance(exc, OperationFailure) and exc.code == 18)


def mongo_hosts(uri: str) -> str:
    """The hosts of the URI, for the log (never the credentials)."""
    try:
        nodes = pymongo.uri_parser.parse_uri(uri, validate=False, warn=True)["nodelist"]
    except Exception:
        return "(unparsable URI)"
    return ",".join(f"{host}:{port}" for host, port in nodes)
