"""Read the job's Prometheus text exposition into plain dictionaries for comparisons."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

LabelKey = tuple[tuple[str, str], ...]
"""A sample's label set: (name, value) pairs sorted by name."""

Samples = dict[str, dict[LabelKey, float]]
"""sample name (``librechat_messages_total``) -> label set -> value."""


def label_key(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """(samples by sample name, declared type by sample-name base).

    Every family the text declares is in the type map, even one without samples; a counter
    ``librechat_x_total`` is keyed by its full name ``librechat_x_total``.
    """
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        types[name] = family.type
        for sample in family.samples:
            bucket = samples.setdefault(sample.name, {})
            key = label_key(dict(sample.labels))
            if key in bucket:
                raise AssertionError(f"duplicate sample {sample.name}{dict(key)}")
            bucket[key] = float(sample.value)
    return samples, types


def parse_file(path: str) -> tuple[Samples, dict[str, str]]:
    with open(path, encoding="utf-8") as handle:
        return parse(handle.read())


# ---------------------------------------------------------------------------------------------
# Running the job as a user would, then reading what it wrote


@dataclass
class JobRun:
    code: int
    samples: Samples
    types: dict[str, str]
    text: str
    output: Path
    state_file: Path


def run_job(uri: str, database: str, workdir: Path, now: datetime, *,
            timezone: str = "UTC", extra: Sequence[str] = ()) -> JobRun:
    """`librechat_textfile.main([...])` in-process with an explicit --now; the written file
    parsed. The state file and output live in `workdir` and persist between calls."""
    import librechat_textfile  # the repository root is on sys.path (tests/conftest.py)

    workdir.mkdir(parents=True, exist_ok=True)
    output, state = workdir / "librechat.prom", workdir / "state.json"
    argv = ["--mongodb-uri", uri, "--mongodb-database", database, "--output", str(output),
            "--state-file", str(state), "--now", now.isoformat(), "--timezone", timezone,
            "--env-file", str(workdir / "no.env"), *extra]
    code = librechat_textfile.main(argv)
    text = output.read_text(encoding="utf-8") if output.exists() else ""
    samples, types = parse(text)
    return JobRun(code, samples, types, text, output, state)


def ok(run: JobRun) -> JobRun:
    """The run, once it exited 0 (the end of its file in the message otherwise)."""
    assert run.code == 0, f"exit {run.code}: {run.text[-2000:]}"
    return run


def differences(actual: Samples, expected: Samples) -> list[str]:
    """Label sets present on one side only, and values not equal up to float summing order."""
    problems = []
    for name in sorted(set(actual) | set(expected)):
        got, want = actual.get(name, {}), expected.get(name, {})
        for key in sorted(set(got) | set(want)):
            if key not in got or key not in want:
                problems.append(f"{name}{dict(key)}: job {got.get(key)!r}, expected "
                                f"{want.get(key)!r}")
            elif not math.isclose(got[key], want[key], rel_tol=1e-9, abs_tol=1e-9):
                problems.append(f"{name}{dict(key)}: job {got[key]!r} != {want[key]!r}")
    return problems


def assert_same(actual: Samples, expected: Samples, what: str) -> None:
    problems = differences(actual, expected)
    assert not problems, f"{what}: {len(problems)} differences\n" + "\n".join(problems[:40])
