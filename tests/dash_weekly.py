"""The two weeks of traffic behind the LibreChatActivityStopped unit tests.

``alerts/librechat.rules.test.yml`` holds these series in promtool's expanding notation, one
line per day; ``tests/test_dashboard_alerts.py`` checks that the file holds exactly what this
module generates, so the hand-readable YAML cannot drift from the scenario it claims to be.

    python3 tests/dash_weekly.py          # print the YAML input_series block

One sample a minute from promtool's t=0, Thursday 1970-01-01 00:00 UTC, for 12 days and 12
hours (until Tuesday 1970-01-13 12:00). The office sends 30 messages an hour (half a message a
minute), Monday to Friday 08:00-12:00 and 13:00-17:00: the small office whose evenings and lunch
breaks fired the old rule. Each instance is one story:

* ``office``: every week the same.
* ``early``: Monday 1970-01-12 the office leaves at 16:30, half an hour early.
* ``outage``: Tuesday 1970-01-13 the last message is at 10:00 (LibreChat is down), the job
  keeps working.
* ``new``: the job was installed on Monday 1970-01-12 (no data a week before); the same outage.
* ``jobdown``: Tuesday 1970-01-13 from 10:01 the job fails: ``up 0`` and no counters.
"""

from __future__ import annotations

import re
from collections.abc import Callable

DAY = 1440  # minutes
SAMPLES = 12 * DAY + 12 * 60  # until Tuesday 1970-01-13 12:00
MONDAY_2 = 11 * DAY  # Monday 1970-01-12 00:00 (t=0 is a Thursday)
TUESDAY_2 = 12 * DAY
LABELS = 'job="node",instance="{name}:9100"'


def office(t: int) -> float:
    """Messages in the minute (t-1, t]."""
    day, minute = divmod(t, DAY)
    if day % 7 in (2, 3):  # Saturday, Sunday
        return 0.0
    return 0.5 if (8 * 60 < minute <= 12 * 60 or 13 * 60 < minute <= 17 * 60) else 0.0


def _early(t: int) -> float:
    return 0.0 if MONDAY_2 + 16 * 60 + 30 < t <= MONDAY_2 + 17 * 60 else office(t)


def _outage(t: int) -> float:
    return 0.0 if t > TUESDAY_2 + 10 * 60 else office(t)


def counter(incr: Callable[[int], float],
            present: Callable[[int], bool] = lambda t: True) -> list[float | None]:
    values: list[float | None] = []
    total = 0.0
    for t in range(SAMPLES):
        total += incr(t) if t else 0.0
        values.append(total if present(t) else None)
    return values


def gauge(value: Callable[[int], float | None]) -> list[float | None]:
    return [value(t) for t in range(SAMPLES)]


def scenarios() -> dict[str, tuple[list[float | None], list[float | None]]]:
    """instance name -> (librechat_messages_total, librechat_exporter_up)."""
    job_fails = TUESDAY_2 + 10 * 60 + 1
    installed = MONDAY_2
    return {
        "office": (counter(office), gauge(lambda t: 1.0)),
        "early": (counter(_early), gauge(lambda t: 1.0)),
        "outage": (counter(_outage), gauge(lambda t: 1.0)),
        "new": (counter(_outage, present=lambda t: t >= installed),
                gauge(lambda t: 1.0 if t >= installed else None)),
        "jobdown": (counter(office, present=lambda t: t < job_fails),
                    gauge(lambda t: 1.0 if t < job_fails else 0.0)),
    }


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def encode(values: list[float | None]) -> list[str]:
    """promtool's expanding notation, one line per day: ``_xN`` for N missing samples,
    ``a+bxN`` for a, a+b, ..., a+N*b, ``axN`` for N+1 times a."""
    days: dict[int, list[str]] = {}
    t = 0
    while t < len(values):
        day = t // DAY
        stop = min(len(values), (day + 1) * DAY)
        first = values[t]
        end = t
        if first is None:
            while end + 1 < stop and values[end + 1] is None:
                end += 1
            days.setdefault(day, []).append(f"_x{end - t + 1}")
        elif t + 1 < stop and values[t + 1] is not None:
            step = float(values[t + 1]) - first  # type: ignore[arg-type]
            while end + 1 < stop and values[end + 1] is not None \
                    and float(values[end + 1]) - float(values[end]) == step:  # type: ignore[arg-type]
                end += 1
            n = end - t
            days.setdefault(day, []).append(
                f"{_number(first)}+{_number(step)}x{n}" if step else f"{_number(first)}x{n}")
        else:
            days.setdefault(day, []).append(_number(first))
        t = end + 1
    return [" ".join(days[d]) for d in sorted(days)]


def decode(lines: list[str]) -> list[float | None]:
    """The inverse of ``encode`` (the subset of promtool's notation it writes)."""
    values: list[float | None] = []
    for token in " ".join(lines).split():
        missing = re.fullmatch(r"_x(\d+)", token)
        series = re.fullmatch(r"(-?[\d.]+)(?:\+(-?[\d.]+))?x(\d+)", token)
        if missing:
            values += [None] * int(missing.group(1))
        elif series:
            start, step = float(series.group(1)), float(series.group(2) or 0)
            values += [start + step * i for i in range(int(series.group(3)) + 1)]
        else:
            values.append(float(token))
    return values


def yaml_block(indent: int = 6) -> str:
    """The input_series entries of the weekly test group."""
    pad = " " * indent
    out: list[str] = []
    for name, (messages, up) in scenarios().items():
        for metric, values in (("librechat_messages_total", messages),
                               ("librechat_exporter_up", up)):
            out.append(f"{pad}- series: '{metric}{{{LABELS.format(name=name)}}}'")
            out.append(f"{pad}  values: >-")
            out += [f"{pad}    {line}" for line in encode(values)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(yaml_block(), end="")
