"""The textfile writer: classic Prometheus text from a private registry, staged beside the .prom
file and renamed into place (or printed, for a person to read)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from .atomic import atomic_write, stage_file
from .errors import JobError
from .families import Family
from .settings import Settings


class _Families(Collector):
    def __init__(self, families: list[Family]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield family.to_metric()


SEAL = "# librechat-textfile sha256:"
# The last line of every file the job writes: a comment (node_exporter, Prometheus and promtool
# skip comments other than HELP and TYPE) holding the SHA-256 of everything above it. Only a
# sealed file may stand in for a lost state: one edited by hand or cut short is refused.


def render(families: list[Family]) -> bytes:
    """Classic Prometheus text from a private registry (never the global one), sealed."""
    return sealed(text(families))


def text(families: list[Family]) -> bytes:
    """The families' classic text, unsealed: text(a + b) == text(a) + text(b)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


def sealed(body: bytes) -> bytes:
    return body + f"{SEAL}{hashlib.sha256(body).hexdigest()}\n".encode()


def unsealed(text: str) -> str | None:
    """The body of a sealed file, or None when the seal is missing or does not match."""
    body, _, last = text.rstrip("\n").rpartition("\n")
    body += "\n"
    if not last.startswith(SEAL) or text != body + last + "\n":
        return None
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return body if last[len(SEAL):] == digest else None


def stage_output(path: str, data: bytes) -> str:
    try:
        return stage_file(path, data)
    except OSError as exc:
        raise JobError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_output(settings: Settings, data: bytes) -> None:
    if settings.stdout:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        atomic_write(settings.output, data)
    except OSError as exc:
        raise JobError(f"cannot write {settings.output}: {exc.strerror or exc}") from exc
