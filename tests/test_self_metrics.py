"""The job's own metrics (README, "The job itself"), by value, not by presence.

A successful run and then a failed one (MongoDB refusing connections) on the same state file,
in-process against a real mongod, with the wall clock read before and after each run:

* ``librechat_exporter_last_success_timestamp_seconds`` is the successful run's time, and the
  failed run repeats it unchanged; ``..._run_timestamp_seconds`` is each run's own time;
* the run's duration is positive and no longer than the run took; every section's duration is
  positive and they add up to no more than the run's;
* ``librechat_exporter_errors`` is 0 for every section of the successful run and 1 for every
  section of the failed one, which has no section durations;
* ``librechat_exporter_build_info`` carries the job's, Python's, pymongo's and the server's
  versions, ``librechat_exporter_config_info`` the settings the run had;
* ``librechat_exporter_output_bytes`` is the size of the file the run wrote (``os.stat``) and
  ``librechat_exporter_output_series`` its sample lines (lines that are not comments), in the
  successful run and in the failed one.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import pymongo
from pymongo.database import Database

import librechat_textfile as lt
from librechat_metrics import parallel
from tests.fault_report import JobRun, job_argv, refusing_port, run_in_process
from tests.librechat_data import GenOptions, generate
from tests.promparse import Samples, parse

LAST_SUCCESS = "librechat_exporter_last_success_timestamp_seconds"
RUN_TIMESTAMP = "librechat_exporter_run_timestamp_seconds"
RUN_DURATION = "librechat_exporter_run_duration_seconds"
SECTION_DURATION = next(name for name in ("librechat_exporter_section_duration_seconds",
                                          "librechat_exporter_duration_seconds")
                        if name in lt.CATALOGUE)


def check_output_size(argv: list[str], samples: Samples) -> None:
    """The file's own size self-metrics against the file itself."""
    path = Path(argv[argv.index("--output") + 1])
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert samples["librechat_exporter_output_bytes"] == {(): float(path.stat().st_size)}
    assert samples["librechat_exporter_output_series"] == {(): float(len(lines))}


def timed(argv: list[str]) -> tuple[JobRun, Samples, float, float]:
    before = time.time()
    run = run_in_process(argv)
    after = time.time()
    text = Path(argv[argv.index("--output") + 1]).read_text()
    return run, parse(text)[0], before, after


def by_section(samples: Samples, family: str) -> dict[str, float]:
    return {dict(key)["section"]: value for key, value in samples.get(family, {}).items()}


def only_sample(samples: Samples, family: str) -> tuple[dict[str, str], float]:
    rows = samples[family]
    assert len(rows) == 1, rows
    (key, value), = rows.items()
    return dict(key), value


def test_self_metric_values(mongod: Any, mongo_client: pymongo.MongoClient[Any],
                            db: Database[Any], tmp_path: Path) -> None:
    generate(db, GenOptions(seed=95, users=5, days=3))
    settings = ("--timezone", "Europe/Berlin", "--daily-days", "7", "--label-limit", "20")
    argv = job_argv(mongod.uri, tmp_path, *settings, database=db.name, timeout=20,
                    connect_timeout=5)
    run, samples, before, after = timed(argv)
    assert run.returncode == lt.EXIT_OK, run.stderr
    check_output_size(argv, samples)
    assert samples["librechat_exporter_up"] == {(): 1.0}
    last_success = samples[LAST_SUCCESS][()]
    assert before <= last_success <= after
    assert last_success <= samples[RUN_TIMESTAMP][()] <= after
    total = samples[RUN_DURATION][()]
    assert 0 < total <= after - before
    errors = by_section(samples, "librechat_exporter_errors")
    durations = by_section(samples, SECTION_DURATION)
    assert {"messages", "tokens", "users", "daily", "collections"} <= set(errors)
    assert set(errors.values()) == {0.0}
    assert set(durations) == set(errors), "every section ran and has a duration"
    assert all(seconds > 0 for seconds in durations.values()), durations
    # A first count runs two sections at a time (parallel.WORKERS); each section's own time,
    # without its waits for the sections before it, fits the run, and together they fit the
    # run's time on that many threads.
    assert all(seconds <= total for seconds in durations.values()), durations
    assert sum(durations.values()) <= parallel.WORKERS * total
    assert set(by_section(samples, "librechat_exporter_backfill_progress_ratio").values()) == {
        1.0}
    build, one = only_sample(samples, "librechat_exporter_build_info")
    assert one == 1.0
    server = str(mongo_client.server_info()["version"])
    assert build == {"version": lt.__version__, "python": platform.python_version(),
                     "pymongo": pymongo.version, "mongodb": server}
    config, one = only_sample(samples, "librechat_exporter_config_info")
    assert one == 1.0
    assert {"timezone": "Europe/Berlin", "daily_days": "7", "label_limit": "20"}.items() <= \
        config.items()

    # The same state, MongoDB refusing connections: a failed run.
    with refusing_port() as port:
        argv = job_argv(f"mongodb://127.0.0.1:{port}/?directConnection=true", tmp_path,
                        *settings, timeout=3, connect_timeout=1)
        failed, after_failure, before, after = timed(argv)
    assert failed.returncode == lt.EXIT_FAILED, failed.stderr
    check_output_size(argv, after_failure)
    assert after_failure["librechat_exporter_up"] == {(): 0.0}
    assert after_failure[LAST_SUCCESS][()] == last_success
    assert before <= after_failure[RUN_TIMESTAMP][()] <= after
    assert 0 < after_failure[RUN_DURATION][()] <= after - before
    assert by_section(after_failure, "librechat_exporter_errors") == dict.fromkeys(errors, 1.0)
    assert by_section(after_failure, SECTION_DURATION) == {}, "no section ran"
    build, _ = only_sample(after_failure, "librechat_exporter_build_info")
    assert build["version"] == lt.__version__
    config, _ = only_sample(after_failure, "librechat_exporter_config_info")
    assert {"timezone": "Europe/Berlin", "daily_days": "7"}.items() <= config.items()

    # A run with the state (no first count due) goes one section after the other.
    steady, again, _, _ = timed(job_argv(mongod.uri, tmp_path, *settings, database=db.name,
                                         timeout=20, connect_timeout=5))
    assert steady.returncode == lt.EXIT_OK, steady.stderr
    assert sum(by_section(again, SECTION_DURATION).values()) <= again[RUN_DURATION][()]
