"""Log lines: one format, one line per failure, and never a secret from the MongoDB URI."""

from __future__ import annotations

import grp
import logging
import os
import pwd
import re
import sys
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, unquote_plus

from pymongo.errors import OperationFailure

from .settings import Settings, _unescaped_parts, uri_parts

log = logging.getLogger("librechat_textfile")


# A secret this short is blanked only where it stands in a URI (":secret@"): as a word of its
# own it would blank "a" or "1" wherever they occur.
SHORT_SECRET = 4
# user:password@ in any URI of a line, for URIs other than the configured one.
URI_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def uri_secrets(uri: str) -> list[str]:
    """The password of a MongoDB URI as written and percent-decoded, longest first, so logs
    can blank it. A password typed unescaped ("@", ":", "/" in it) is taken whole, as far as
    the "@" before the hosts; when the split is ambiguous, both readings are blanked."""
    parts = uri_parts(uri)
    if parts is None:
        return []
    infos = {parts.userinfo}
    rest = uri.partition("://")[2]
    if rest.count("@") > (1 if parts.userinfo is not None else 0):
        infos.add(_unescaped_parts(rest).userinfo)  # one more "@": the other reading too
    raws = {info.partition(":")[2] for info in infos if info and ":" in info}
    secrets = {form for raw in raws for form in (raw, unquote(raw), unquote_plus(raw)) if form}
    return sorted(secrets, key=len, reverse=True)


def _secret_pattern(secret: str) -> re.Pattern[str]:
    if len(secret) < SHORT_SECRET:
        return re.compile(rf"(?<=:){re.escape(secret)}(?=@)")
    # Whole words only where the secret's own edge is a letter or digit: a password "pass"
    # is blanked, the word "password" is not.
    before = r"(?<![A-Za-z0-9])" if secret[0].isalnum() else ""
    after = r"(?![A-Za-z0-9])" if secret[-1].isalnum() else ""
    return re.compile(before + re.escape(secret) + after)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret, and the password of any URI in it, replaced by ***."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = _secret_pattern(secret).sub("***", text)
    return URI_PASSWORD.sub(r"\1***@", text)


class RedactingFilter(logging.Filter):
    """Blanks secrets in what a log call fills in (its arguments, a traceback), never in its
    message template: the job's own words stay whole whatever the password."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def _clean(self, value: Any) -> Any:
        if isinstance(value, (int, float)):  # %d and %.2f need numbers; they hold no secret
            return value
        return redact(str(value), self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        trace = None
        if record.exc_info:
            trace = self._clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info, record.exc_text = None, None
        if isinstance(record.msg, str) and isinstance(record.args, tuple) and record.args:
            record.args = tuple(self._clean(arg) for arg in record.args)
            if trace is not None:
                record.msg, record.args = f"{record.msg} %s", (*record.args, trace)
        else:  # a message built before the call, or arguments by name: blank it whole
            text = self._clean(record.getMessage())
            record.msg, record.args = text if trace is None else f"{text} {trace}", None
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


# The resolver's words for a name it cannot resolve (glibc, musl, macOS).
UNRESOLVED = re.compile(r"(?P<host>[^\s,:\[\]]+):\d+: \[Errno -?\d+\] (Name or service not "
                        r"known|Temporary failure in name resolution|No address associated "
                        r"with hostname|nodename nor servname provided)")


def unresolved_hint(text: str) -> str:
    """Why a MongoDB host name does not resolve, for a name that does not: LibreChat's
    compose file names its MongoDB `mongodb`, which resolves inside Compose only."""
    match = UNRESOLVED.search(text)
    if not match:
        return ""
    host = match.group("host")
    if "." in host or host == "localhost":
        return f"; the host name {host} does not resolve here: check the host in MONGODB_URI"
    return (f"; {host} is a name that resolves only inside Docker Compose's network (LibreChat's "
            f"MONGO_URI says mongodb://{host}:27017/...): on the Docker host publish MongoDB's "
            "port on 127.0.0.1 (README, Docker Compose) and use "
            "MONGODB_URI=mongodb://127.0.0.1:27017/LibreChat")


def this_user() -> tuple[str, str]:
    """The user and group this process runs as, by name where they have one."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = str(os.geteuid())
    try:
        group = grp.getgrgid(os.getegid()).gr_name
    except KeyError:
        group = str(os.getegid())
    return user, group


def state_directory_fix(directory: str) -> str:
    user, group = this_user()
    return (f"the state directory must exist and be writable by user {user}: sudo install -d "
            f"-m 0750 -o {user} -g {group} {directory} (the systemd unit's StateDirectory= "
            "makes it)")


def output_directory_fix(directory: str, missing: bool) -> str:
    user, group = this_user()
    if missing:
        return ("make it node_exporter's --collector.textfile.directory (Debian's "
                "prometheus-node-exporter: /var/lib/prometheus/node-exporter), or point --output "
                "(LIBRECHAT_TEXTFILE_OUTPUT) there")
    return (f"user {user}: run the job as a user that may write there, or give its group "
            f"write access: sudo dpkg-statoverride --update --add root {group} 2775 {directory}")


def describe_error(exc: BaseException) -> str:
    """One line, without topology dumps, for the log and nothing else."""
    if isinstance(exc, OperationFailure) and exc.code == 18:
        return "authentication failed (check the user and password in MONGODB_URI)"
    if isinstance(exc, OperationFailure) and exc.code == 13:
        return f"not authorized: {exc.details.get('errmsg', exc) if exc.details else exc}"
    raw = str(exc)
    text = raw.split(", Timeout:")[0].split("Topology Description:")[0]
    text = " ".join(text.split())
    described = f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
    return described + unresolved_hint(raw)
