"""Daily statistics over the last N complete local days, each finished day summarised once
(counts only, no user ids) and kept in the state."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from .. import catalogue as cat
from ..clock import Clock
from ..dimensions import Dimensions
from ..families import Family
from ..settings import Settings
from .finished_days import touched_days
from .recent import shared_day, was_read


def daily_families(db: Any, clock: Clock, state: dict[str, Any],
                   settings: Settings, dims: Dimensions) -> list[Family]:
    """Yesterday, average and population stddev over the last N complete local days.

    Each day is summarised once (sections/recent.py), newest first, while the run's budget
    lasts; the families appear once every day of the window is summarised (a first run on a
    large database takes a few runs). Only counts are kept, no user ids.
    """
    if state.get("timezone") != settings.timezone:
        state.update(timezone=settings.timezone, days={})
    today = clock.today()
    window = [(today - timedelta(days=n)).isoformat() for n in range(settings.daily_days, 0, -1)]
    # A finished day that new documents belong to (an import, a late save) is summarised again.
    touched = {d.isoformat() for d in touched_days(
        db, clock, state.get("checked"), settings.lag, date.fromisoformat(window[0]))}
    cached: dict[str, Any] = {d: v for d, v in state.get("days", {}).items()
                              if d in window and d not in touched}
    for day in reversed(window):
        when = date.fromisoformat(day)
        # A day this run has read already (the unique users of a first count) costs nothing.
        if day not in cached and (clock.has_time() or was_read(clock, when)):
            cached[day] = shared_day(db, clock, when).summary(db)
    state["days"] = cached
    state["progress"] = len(cached) / len(window)
    state["checked"] = clock.epoch
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
    return daily_user_families([float(s["users"]) for s in summaries], sent) + \
        daily_model_families(per_model, dims)


def mean_stddev(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    return statistics.fmean(values), statistics.pstdev(values)


def weighted_mean_stddev(histogram: Mapping[float, float]) -> tuple[float, float]:
    """Mean and population stddev of values given as {value: how many times}."""
    total = sum(histogram.values())
    if not total:
        return 0.0, 0.0
    mean = sum(v * n for v, n in histogram.items()) / total
    return mean, math.sqrt(sum(n * (v - mean) ** 2 for v, n in histogram.items()) / total)


def daily_user_families(counts: list[float], sent: Mapping[float, float]) -> list[Family]:
    users_mean, users_sd = mean_stddev(counts)
    sent_mean, sent_sd = weighted_mean_stddev(sent)
    families = []
    for spec, value in ((cat.UNIQUE_USERS_YESTERDAY, counts[-1]),
                        (cat.UNIQUE_USERS_PER_DAY_AVERAGE, users_mean),
                        (cat.UNIQUE_USERS_PER_DAY_STDDEV, users_sd),
                        (cat.MESSAGES_PER_USER_PER_DAY_AVERAGE, sent_mean),
                        (cat.MESSAGES_PER_USER_PER_DAY_STDDEV, sent_sd)):
        family = Family.of(spec)
        family.set(value)
        families.append(family)
    return families


def daily_model_families(per_model: dict[str, list[float]], dims: Dimensions) -> list[Family]:
    # Models are mapped through the shared slot table before the statistics are taken: the
    # stddev of the summed series of 'other' is not the sum of their stddevs.
    mapping = dims.map(cat.MODEL, {m: sum(series) for m, series in per_model.items()},
                       counting=False)
    merged: dict[str, list[float]] = {}
    for model, series in per_model.items():
        target = merged.setdefault(mapping[model], [0.0] * len(series))
        merged[mapping[model]] = [a + b for a, b in zip(target, series, strict=True)]
    yesterday = Family.of(cat.MESSAGES_PER_MODEL_YESTERDAY)
    mean = Family.of(cat.MESSAGES_PER_MODEL_PER_DAY_AVERAGE)
    stddev = Family.of(cat.MESSAGES_PER_MODEL_PER_DAY_STDDEV)
    for model, series in merged.items():
        yesterday.set(series[-1], model=model)
        average, spread = mean_stddev(series)
        mean.set(average, model=model)
        stddev.set(spread, model=model)
    return [yesterday, mean, stddev]
