"""Log lines: one format, one line per failure, and never a secret from the MongoDB URI."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from urllib.parse import unquote

from pymongo.errors import OperationFailure

from .settings import Settings

log = logging.getLogger("librechat_textfile")


def uri_secrets(uri: str) -> list[str]:
    """The password in a MongoDB URI, raw and percent-decoded, so logs can blank it."""
    match = re.match(r"^[a-z+]+://([^@/]*)@", uri)
    if not match or ":" not in match.group(1):
        return []
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

