"""The two weeks of traffic behind the weekly unit tests (LibreChatActivityStopped,
LibreChatDatabaseUnreachable, and the frozen file that must page nobody).

``alerts/librechat.rules.test.yml`` holds these series in promtool's expanding notation, one
line per day; ``tests/test_dashboard_alerts.py`` checks that the file holds exactly what this
module generates, so the hand-readable YAML cannot drift from the scenario it claims to be.

    python3 tests/dash_weekly.py          # print the YAML input_series block

One sample a minute from promtool's t=0, Thursday 1970-01-01 00:00 UTC, for 12 days and 12
hours (until Tuesday 1970-01-13 12:00). The office sends 30 messages an hour (half a message a
minute), Monday to Friday 08:00-12:00 and 13:00-17:00: the small office whose evenings and lunch
breaks fired the old rule. Each instance has the series a run writes: the messages counter,
``up``, the run and last-success timestamps (a run 5 s before each scrape) and the active users
(3 in office minutes). Each instance is one story:

* ``office``: every week the same.
* ``early``: Monday 1970-01-12 the office leaves at 16:30, half an hour early.
* ``outage``: Tuesday 1970-01-13 the last message is at 10:00 (LibreChat is down), the job
  keeps working.
* ``new``: the job was installed on Monday 1970-01-12 (no data a week before); the same outage.
* ``dbdown``: Tuesday 1970-01-13 from 10:01 MongoDB is down: every run fails, ``up 0`` and no
  counters, while the timestamps of the runs go on.
* ``timer``: Tuesday 1970-01-13 from 10:01 the timer is stopped: node_exporter serves the file
  of 10:00 (``up 1``, every value frozen).
* ``nightdown``: Tuesday 1970-01-13 from 03:01 MongoDB is down, on a quiet night, until noon.
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


def _active(t: int) -> float:
    """Users with a message in the last 5 minutes (the office's three, in its hours)."""
    return 3.0 if any(office(t - i) for i in range(5)) else 0.0


def _run_at(t: int) -> float:
    """The run before the scrape at minute t, 5 s earlier (Unix seconds)."""
    return 60.0 * t - 5


def counter(incr: Callable[[int], float]) -> list[float]:
    """The running total of the messages of each minute."""
    values: list[float] = []
    total = 0.0
    for t in range(SAMPLES):
        total += incr(t) if t else 0.0
        values.append(total)
    return values


STALE = "stale"  # the scrape after a series vanished: Prometheus writes a staleness marker
Value = float | str | None  # a sample, STALE, or None (no sample)
Story = dict[str, list[Value]]  # metric name -> one value a minute


def vanishing(values: list[float | None]) -> list[Value]:
    """The series as Prometheus stores it: a staleness marker where it stops being scraped."""
    marked: list[Value] = list(values)
    for t in range(1, len(values)):
        if values[t] is None and values[t - 1] is not None:
            marked[t] = STALE
    return marked


def story(messages: Callable[[int], float], *, present: Callable[[int], bool] = lambda t: True,
          up: Callable[[int], bool] = lambda t: True,
          frozen_after: int | None = None) -> Story:
    """The series a run writes, for a site with these messages: only where the job exists
    (`present`); counters and active users only where the run succeeded (`up`); and, from
    minute `frozen_after` on, the file of that minute served again and again."""
    def at(t: int) -> int:
        return t if frozen_after is None or t <= frozen_after else frozen_after

    counted = counter(messages)
    success: list[float | None] = []
    last: float | None = None
    for t in range(SAMPLES):
        if present(t) and up(t):
            last = _run_at(t)
        success.append(last if present(t) else None)

    def where(ok: Callable[[int], bool], value: Callable[[int], float]) -> list[float | None]:
        return [value(at(t)) if present(t) and ok(at(t)) else None for t in range(SAMPLES)]

    series = {
        "librechat_messages_total": where(up, lambda t: counted[t]),
        "librechat_exporter_up": where(lambda t: True, lambda t: 1.0 if up(t) else 0.0),
        "librechat_exporter_run_timestamp_seconds": where(lambda t: True, _run_at),
        "librechat_exporter_last_success_timestamp_seconds": [
            success[at(t)] if present(t) else None for t in range(SAMPLES)],
        "librechat_active_users": where(up, _active),
    }
    return {name: vanishing(values) for name, values in series.items()}


def scenarios() -> dict[str, Story]:
    """instance name -> its series."""
    tuesday_10 = TUESDAY_2 + 10 * 60
    return {
        "office": story(office),
        "early": story(_early),
        "outage": story(_outage),
        "new": story(_outage, present=lambda t: t >= MONDAY_2),
        "dbdown": story(office, up=lambda t: t <= tuesday_10),
        "timer": story(office, frozen_after=tuesday_10),
        "nightdown": story(office, up=lambda t: t <= TUESDAY_2 + 3 * 60),
    }


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def encode(values: list[Value]) -> list[str]:
    """promtool's expanding notation, one line per day: ``_xN`` for N missing samples,
    ``a+bxN`` for a, a+b, ..., a+N*b, ``axN`` for N+1 times a, ``stale`` for a marker."""
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
            token = f"_x{end - t + 1}"
        elif isinstance(first, str):
            token = first
        elif t + 1 < stop and isinstance(values[t + 1], float):
            step = float(values[t + 1]) - first  # type: ignore[arg-type]
            while end + 1 < stop and isinstance(values[end + 1], float) \
                    and float(values[end + 1]) - float(values[end]) == step:  # type: ignore[arg-type]
                end += 1
            n = end - t
            token = f"{_number(first)}+{_number(step)}x{n}" if step else f"{_number(first)}x{n}"
        else:
            token = _number(first)
        days.setdefault(day, []).append(token)
        t = end + 1
    return [" ".join(days[d]) for d in sorted(days)]


def decode(lines: list[str]) -> list[Value]:
    """The inverse of ``encode`` (the subset of promtool's notation it writes)."""
    values: list[Value] = []
    for token in " ".join(lines).split():
        missing = re.fullmatch(r"_x(\d+)", token)
        series = re.fullmatch(r"(-?[\d.]+)(?:\+(-?[\d.]+))?x(\d+)", token)
        if missing:
            values += [None] * int(missing.group(1))
        elif series:
            start, step = float(series.group(1)), float(series.group(2) or 0)
            values += [start + step * i for i in range(int(series.group(3)) + 1)]
        elif token == STALE:
            values.append(STALE)
        else:
            values.append(float(token))
    return values


def yaml_block(indent: int = 6) -> str:
    """The input_series entries of the weekly test group."""
    pad = " " * indent
    out: list[str] = []
    for name, series in scenarios().items():
        for metric, values in series.items():
            out.append(f"{pad}- series: '{metric}{{{LABELS.format(name=name)}}}'")
            out.append(f"{pad}  values: >-")
            out += [f"{pad}    {line}" for line in encode(values)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(yaml_block(), end="")
