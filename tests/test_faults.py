"""Faults a scheduled run meets in production, against a real mongod and node_exporter.

Each fault runs the job as cron or systemd does (``python3 librechat_textfile.py ...`` in a
subprocess, wall time measured) and checks the README's contract for a failed run: exit 1
within --timeout + --connect-timeout (plus interpreter start), a .prom with
``librechat_exporter_up 0``, the self-metrics and the counters carried, the state's counts
identical, exactly one ERROR line that says what happened, and no password in any output.
Measured figures go to the reliability report (see tests/fault_report.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pymongo
import pytest
from pymongo.database import Database

import librechat_textfile as lt
from tests.fault_report import (
    PASSWORD,
    SECRET_FRAGMENTS,
    SLACK_S,
    TEST_COMMANDS,
    HangingServer,
    JobRun,
    Recorder,
    Snapshot,
    assert_clean_log,
    assert_failed_run,
    assert_no_secret,
    assert_state_kept,
    directory_listing,
    fail_point,
    fail_point_off,
    fill_filesystem,
    job_argv,
    kill,
    make_unprivileged,
    read_only_bind,
    recorder,
    refusing_port,
    run_job,
    scratch_dir,
    skip_or_fail,
    start_job,
    tmpfs,
    up_value,
)
from tests.job_control import job_operations, wait_for_job_operation, watch_job_operations
from tests.librechat_data import GenOptions, generate, make_message
from tests.mongod import Mongod, MongodError, find_mongod_binary
from tests.promparse import parse
from tests.services import NodeExporter, require_binary

TIMEOUT = 3.0
CONNECT = 1.0


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Recorder:
    return recorder(request.config)


def _require_mongod() -> str:
    try:
        return find_mongod_binary()
    except MongodError as exc:
        skip_or_fail(str(exc))
        raise


def seed(db: Database[Any], uri: str, directory: Path, *, users: int = 5,
         seed_value: int = 5) -> Path:
    """Generated LibreChat data and one successful run, so a state file exists to protect."""
    generate(db, GenOptions(seed=seed_value, users=users, days=10))
    first = run_job(job_argv(uri, directory, database=db.name))
    assert first.returncode == 0, first.stderr
    state = directory / "state.json"
    assert state.exists()
    return state


KEPT = "up 0 written, counters carried; the state's counts identical"


def record_failed(reliability: Recorder, fault: str, run: JobRun, outcome: str,
                  file_state: str = KEPT) -> None:
    reliability.record(fault, outcome, exit_code=run.returncode, seconds=run.seconds,
                       file_state=file_state, cases=1)


# --------------------------------------------------------------------------------------------
# MongoDB unreachable, hanging, too slow


def test_mongodb_down(db: Database[Any], mongod: Any, tmp_path: Path,
                      reliability: Recorder) -> None:
    state = seed(db, mongod.uri, tmp_path)
    output = tmp_path / "librechat.prom"
    last_success = parse(output.read_text())[0][
        "librechat_exporter_last_success_timestamp_seconds"][()]
    before = Snapshot.take(state)
    with refusing_port() as port:
        uri = (f"mongodb://librechat_metrics:{quote_plus(PASSWORD)}@127.0.0.1:{port}/"
               "?directConnection=true")
        run = run_job(job_argv(uri, tmp_path, database=db.name, timeout=TIMEOUT,
                               connect_timeout=CONNECT))
    assert_failed_run(run, output, before, timeout=TIMEOUT, connect_timeout=CONNECT,
                      says=["run failed", "connection refused"], state=state)
    # The failed run still says when the last success was: the seed run's time, unchanged.
    samples = parse(output.read_text())[0]
    assert samples["librechat_exporter_last_success_timestamp_seconds"][()] == last_success
    assert set(samples["librechat_exporter_errors"].values()) == {1.0}
    record_failed(reliability, "MongoDB down (connection refused)", run,
                  f"exit 1 within --connect-timeout ({CONNECT:g} s) plus start-up; one ERROR "
                  "line naming the refused connection")


def test_hanging_server(db: Database[Any], mongod: Any, tmp_path: Path,
                        reliability: Recorder) -> None:
    state = seed(db, mongod.uri, tmp_path)
    output = tmp_path / "librechat.prom"
    before = Snapshot.take(state)
    with HangingServer() as server:
        uri = (f"mongodb://librechat_metrics:{quote_plus(PASSWORD)}@127.0.0.1:{server.port}/"
               "?directConnection=true")
        run = run_job(job_argv(uri, tmp_path, database=db.name, timeout=TIMEOUT,
                               connect_timeout=CONNECT))
        assert server.accepted >= 1
    assert_failed_run(run, output, before, timeout=TIMEOUT, connect_timeout=CONNECT,
                      says=["run failed"], state=state)
    error = run.log_lines("ERROR")[0].lower()
    assert "timed out" in error or "no servers found" in error, error
    record_failed(reliability, "server accepts, never answers", run,
                  f"exit 1 within --connect-timeout ({CONNECT:g} s) plus start-up; one ERROR "
                  f"line: {run.log_lines('ERROR')[0].split(': ', 1)[-1][:60]}")


def test_connect_timeout_bounds_an_unreachable_server(tmp_path: Path) -> None:
    """--connect-timeout, not --timeout, bounds finding a server (fixed in 8f4fbcb: inside
    pymongo.timeout() the client-side operation timeout replaced serverSelectionTimeoutMS)."""
    timeout, connect = 10.0, 1.0
    with refusing_port() as port:
        run = run_job(job_argv(f"mongodb://127.0.0.1:{port}/?directConnection=true",
                               tmp_path, timeout=timeout, connect_timeout=connect))
    assert run.returncode == lt.EXIT_FAILED
    assert run.seconds <= connect + 3.0, (
        f"an unreachable server took {run.seconds:.1f} s with --connect-timeout {connect:g}")


@pytest.fixture(scope="module")
def slow_mongod() -> Iterator[Mongod]:
    """A mongod whose test commands can make the job's queries slow (failCommand)."""
    server = Mongod(binary=_require_mongod(), extra_args=TEST_COMMANDS).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slow_db(slow_mongod: Mongod, request: pytest.FixtureRequest) -> Iterator[Database[Any]]:
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(slow_mongod.uri, tz_aware=True)
    name = f"slow_{abs(hash(request.node.name)) % 10**8}"
    try:
        yield client[name]
    finally:
        fail_point_off(client)
        client.drop_database(name)
        client.close()


def test_mongodb_too_slow(slow_db: Database[Any], slow_mongod: Mongod, tmp_path: Path,
                          reliability: Recorder) -> None:
    state = seed(slow_db, slow_mongod.uri, tmp_path)
    output = tmp_path / "librechat.prom"
    before = Snapshot.take(state)
    fail_point(slow_db.client, block_ms=int(TIMEOUT * 1000) + 2000)
    run = run_job(job_argv(slow_mongod.uri, tmp_path, database=slow_db.name, timeout=TIMEOUT,
                           connect_timeout=CONNECT))
    assert_failed_run(run, output, before, timeout=TIMEOUT, connect_timeout=CONNECT,
                      says=["run failed"], state=state)
    assert "time" in run.log_lines("ERROR")[0].lower()
    record_failed(reliability, "every query slower than --timeout (failCommand blockTimeMS)",
                  run, "exit 1 at --timeout; one ERROR line")


def test_sigterm_during_a_run(slow_db: Database[Any], slow_mongod: Mongod, tmp_path: Path,
                              reliability: Recorder) -> None:
    """systemd's TimeoutStartSec or cron's `timeout 55` sends SIGTERM to a run that hangs."""
    state = seed(slow_db, slow_mongod.uri, tmp_path)
    output = tmp_path / "librechat.prom"
    before = Snapshot.take(state)
    fail_point(slow_db.client, block_ms=2000)  # every query of the job waits 2 s
    proc = start_job(job_argv(slow_mongod.uri, tmp_path, database=slow_db.name, timeout=30,
                              connect_timeout=CONNECT))
    started = time.monotonic()
    # The run is inside a query once MongoDB shows one of the job's commands in progress.
    wait_for_job_operation(slow_db.client, proc)
    signalled = time.monotonic()
    proc.terminate()
    stdout, stderr = proc.communicate(timeout=30)
    after_signal = time.monotonic() - signalled
    run = JobRun([], proc.returncode, time.monotonic() - started, stdout, stderr)
    state_changed = str(state) in before.changed()
    reliability.record(
        "SIGTERM during a run (systemd TimeoutStartSec, cron timeout)",
        f"exit {run.returncode}, {after_signal:.2f} s after the signal, in a query that had "
        "seconds to go", exit_code=run.returncode,
        seconds=after_signal, file_state=f"up {up_value(output.read_text()):g}; state "
        f"{'ADVANCED' if state_changed else 'byte-identical'}", cases=1)
    assert_failed_run(run, output, before, timeout=30, connect_timeout=CONNECT,
                      says=["SIGTERM"], state=state)
    # README: the run ends less than a second after the signal, not when the query would.
    assert after_signal < 1.0, f"exit {after_signal:.2f} s after SIGTERM"


# --------------------------------------------------------------------------------------------
# mongod killed while a run reads it


def test_mongod_killed_during_runs(tmp_path: Path, reliability: Recorder) -> None:
    """SIGKILL the server while a run has one of its queries in progress, six times at six
    different queries of the run (from the first to the last but one): each time the run ends
    as a clean failure."""
    binary = _require_mongod()
    outcomes: list[int] = []
    times: list[float] = []
    kill_at: list[int] = []  # the how-manieth query of the run the kill waits for, per case
    queries = 0  # of the case's undisturbed run against the slowed server
    duration = 0.0
    timeout = TIMEOUT
    for i in range(6):
        directory = tmp_path / f"run{i}"
        directory.mkdir()
        server = Mongod(binary=binary, extra_args=TEST_COMMANDS).start()
        try:
            # A short server selection: closing the client once its server is killed waits
            # for it (to end the sessions), 30 s by default.
            client: pymongo.MongoClient[Any] = pymongo.MongoClient(
                server.uri, tz_aware=True, serverSelectionTimeoutMS=500)
            state = seed(client["LibreChat"], server.uri, directory, seed_value=100 + i)
            output = directory / "librechat.prom"
            fail_point(client, block_ms=80)  # every query waits: each is seen in progress
            # Each case's own count of the queries its run will make: the same run with
            # --stdout (it reads the state but writes nothing), so the kill can wait for the
            # n-th of them whatever the seed's documents make the run do.
            calibration = start_job(job_argv(server.uri, directory, "--stdout", timeout=20,
                                             connect_timeout=CONNECT))
            started = time.monotonic()
            queries = len(watch_job_operations(client, calibration))
            duration = max(duration, time.monotonic() - started)
            assert calibration.wait() == 0, calibration.stderr.read() if \
                calibration.stderr else ""
            assert queries >= 6, f"an undisturbed run made only {queries} queries"
            kill_at.append(1 + round(i * (queries - 2) / 5))
            timeout = max(TIMEOUT, float(round(duration) + 2))
            argv = job_argv(server.uri, directory, timeout=timeout, connect_timeout=CONNECT)
            before = Snapshot.take(state)
            proc = start_job(argv)
            started = time.monotonic()
            seen: set[Any] = set()
            while len(seen) < kill_at[i]:
                seen.add(wait_for_job_operation(client, proc, exclude=seen)["opid"])
            kill(server.pid)
            stdout, stderr = proc.communicate(timeout=60)
            run = JobRun([], proc.returncode, time.monotonic() - started, stdout, stderr)
            client.close()
        finally:
            server.stop()
        outcomes.append(run.returncode)
        times.append(run.seconds)
        assert_failed_run(run, output, before, timeout=timeout, connect_timeout=CONNECT,
                          says=["run failed"], state=state)
    reliability.record(
        "mongod SIGKILLed while a run has a query in progress",
        f"killed at queries {', '.join(map(str, kill_at))} of the {queries} of a run: each a "
        f"clean failure (up 0, state kept), exit at about --timeout ({timeout:g} s; the read "
        f"retry waits for a server); undisturbed run {duration:.1f} s",
        exit_code=outcomes, seconds=times, file_state=KEPT,
        cases=len(outcomes))


# --------------------------------------------------------------------------------------------
# Credentials and authorization (mongod --auth)


TOKEN_FAMILY = re.compile(r"token|cost_usd|llm_calls|credits_granted")
"""What the token sections write (tokens, cost, LLM calls, credits, the token source): left out
when they cannot read transactions."""


@pytest.fixture(scope="module")
def auth_mongod() -> Iterator[Mongod]:
    server = Mongod(binary=_require_mongod(), auth=True).start()
    try:
        with pymongo.MongoClient(server.admin_uri, tz_aware=True) as admin:
            generate(admin["LibreChat"], GenOptions(seed=21, users=8, days=10))
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("wrong", ["wrong-password", "missing-user"])
def test_wrong_credentials(auth_mongod: Mongod, tmp_path: Path, reliability: Recorder,
                           wrong: str) -> None:
    good = auth_mongod.create_user("LibreChat", f"reader_{wrong}", PASSWORD,
                                   [{"role": "read", "db": "LibreChat"}])
    assert quote_plus(PASSWORD) in good  # the URI carries the password percent-encoded
    first = run_job(job_argv(good, tmp_path))
    assert first.returncode == 0, first.stderr
    assert_no_secret(first.stdout, first.stderr, (tmp_path / "librechat.prom").read_text())
    state = tmp_path / "state.json"
    before = Snapshot.take(state)
    typo = PASSWORD + "/typo%:+"
    if wrong == "wrong-password":
        uri = good.replace(quote_plus(PASSWORD), quote_plus(typo))
    else:
        uri = good.replace(f"reader_{wrong}:", "nobody_here:")
    run = run_job(job_argv(uri, tmp_path, timeout=TIMEOUT, connect_timeout=CONNECT))
    assert_failed_run(run, tmp_path / "librechat.prom", before, timeout=TIMEOUT,
                      connect_timeout=CONNECT, says=["authentication failed"], state=state)
    assert_no_secret(run.stdout, run.stderr, (tmp_path / "librechat.prom").read_text(),
                     secrets=[*SECRET_FRAGMENTS, typo, quote_plus(typo)])
    record_failed(reliability, f"credentials refused ({wrong})", run,
                  "exit 1; ERROR 'authentication failed'; password in no output")


def test_user_without_read_on_transactions(auth_mongod: Mongod, tmp_path: Path,
                                           reliability: Recorder) -> None:
    """A custom role with find on every LibreChat collection but transactions: the token
    sections fail, the others are written, exit 3, and the failed sections keep their state."""
    full = auth_mongod.create_user("LibreChat", "reader_all", PASSWORD,
                                   [{"role": "read", "db": "LibreChat"}])
    # Both runs at a given --now, stored-now gauges refreshed on each: a healthy run at the
    # second run's --now is then what every section that can read must write.
    now = datetime.now(UTC).replace(microsecond=0)
    earlier = now - timedelta(seconds=60)
    every_run = ("--slow-interval", "1")
    first = run_job(job_argv(full, tmp_path, "--now", earlier.isoformat(), *every_run))
    assert first.returncode == 0, first.stderr
    first_samples = parse((tmp_path / "librechat.prom").read_text())[0]
    with pymongo.MongoClient(auth_mongod.admin_uri) as admin:
        names = [n for n in admin["LibreChat"].list_collection_names() if n != "transactions"]
        admin["LibreChat"].command("createRole", "no_transactions", roles=[], privileges=[
            {"resource": {"db": "LibreChat", "collection": ""}, "actions": ["listCollections"]},
            *({"resource": {"db": "LibreChat", "collection": n}, "actions": ["find"]}
              for n in names)])
        user = auth_mongod.create_user("LibreChat", "reader_no_tx", PASSWORD,
                                       [{"role": "no_transactions", "db": "LibreChat"}])
        # A new message between the two runs, so the sections that may read see a change.
        uid = admin["LibreChat"].users.find_one({})["_id"]
        admin["LibreChat"].messages.insert_one(make_message(
            str(uid), "6f2c0d1e-8a7b-4c3d-9e2f-1a2b3c4d5e6f",
            now - timedelta(seconds=30), by_user=True, rng=77))
    state_file = tmp_path / "state.json"
    before = json.loads(state_file.read_text())
    run = run_job(job_argv(user, tmp_path, "--now", now.isoformat(), *every_run,
                           timeout=TIMEOUT, connect_timeout=CONNECT))
    (tmp_path / "healthy").mkdir()
    healthy = run_job(job_argv(full, tmp_path / "healthy", "--now", now.isoformat(),
                               *every_run))
    assert healthy.returncode == 0, healthy.stderr
    assert run.returncode == lt.EXIT_PARTIAL, run.stderr
    assert_clean_log(run, error_lines=None)
    errors = run.log_lines("ERROR")
    assert all("not authorized" in e and "transactions" in e for e in errors), errors
    failed = {m.group(1) for e in errors if (m := re.search(r"section (\w+) failed", e))}
    assert {"tokens", "token_windows"} <= failed, errors
    assert len(errors) == len(failed)
    text = (tmp_path / "librechat.prom").read_text()
    assert_no_secret(run.stdout, run.stderr, text)
    samples, _ = parse(text)
    assert samples["librechat_exporter_up"][()] == 1.0
    flagged = {dict(k)["section"]: v for k, v in samples["librechat_exporter_errors"].items()}
    assert {s for s, v in flagged.items() if v == 1.0} == failed
    # Every family of the sections that could read has the healthy run's values; the token
    # gauges, and only they, are left out; the token counters stay at the first run's values
    # (README "How counting works": a failed section's counters are carried, flat).
    reference = parse((tmp_path / "healthy" / "librechat.prom").read_text())[0]
    business = {n: r for n, r in samples.items() if not n.startswith("librechat_exporter_")}
    expected = {n: r for n, r in reference.items() if not n.startswith("librechat_exporter_")}
    carried = {n for n in business if TOKEN_FAMILY.search(n) and (
        n.endswith("_total") or n == "librechat_token_source_info")}
    assert {"librechat_input_tokens_total", "librechat_tokens_total", "librechat_cost_usd_total",
            "librechat_token_source_info"} <= carried
    for name in carried:
        assert business[name] == first_samples[name], name
        expected[name] = first_samples[name]
    left_out = set(expected) - set(business)
    # Within --lag after midnight the spread of yesterday is read again, transactions too:
    # then its families are left out as well (and it is among the failed sections).
    spread = {n for n in left_out if n.endswith("_yesterday")} if "spread" in failed else set()
    assert all(TOKEN_FAMILY.search(name) and not name.endswith("_total")
               for name in left_out - spread), left_out
    assert "librechat_input_tokens_5m" in left_out
    assert sorted(set(business) - set(expected)) == []
    # MongoDB refuses this user the transactions count too: that one sample is left out.
    transactions = (("collection", "transactions"),)
    assert transactions not in business["librechat_collection_documents"]
    del expected["librechat_collection_documents"][transactions]
    differ = [f"{n}{dict(k)}: {business[n].get(k)} != {v}" for n in business
              for k, v in expected[n].items() if business[n].get(k) != pytest.approx(v)]
    differ += [f"{n}{dict(k)}: not in the healthy run" for n in business
               for k in set(business[n]) - set(expected[n])]
    assert differ == [], "\n".join(differ)
    assert samples["librechat_messages_total"][()] > 0
    after = json.loads(state_file.read_text())
    for section in failed:
        assert after["sections"].get(section) == before["sections"].get(section), section
    assert after["sections"]["messages"] != before["sections"]["messages"]
    assert after.get("last_success") == before.get("last_success")
    reliability.record(
        "user without find on transactions", f"exit 3; {', '.join(sorted(failed))} flagged in "
        f"librechat_exporter_errors (one ERROR each), their gauges left out and their counters "
        f"carried at their last values, the other "
        f"{len(flagged) - len(failed)} sections written", exit_code=run.returncode,
        seconds=run.seconds,
        file_state="up 1, partial; failed sections' state byte-identical", cases=1)


# --------------------------------------------------------------------------------------------
# Replica set: the primary steps down during a run


@pytest.fixture(scope="module")
def replica_set() -> Iterator[Any]:
    from tests.mongod import start_replica_set

    _require_mongod()
    try:
        # No 15 s quiesce period per member on SIGTERM (MongoDB 5.0+) at teardown.
        rs = start_replica_set(3, extra_args=(
            *TEST_COMMANDS, "--setParameter", "shutdownTimeoutMillisForSignaledShutdown=100"))
    except MongodError as exc:
        skip_or_fail(f"a three-member replica set did not start here: {exc}")
        raise
    try:
        with pymongo.MongoClient(rs.uri, w="majority", tz_aware=True) as client:
            generate(client["LibreChat"], GenOptions(seed=31, users=8, days=10))
        yield rs
    finally:
        rs.stop()


def _primary(rs: Any) -> str:
    with pymongo.MongoClient(rs.uri, serverSelectionTimeoutMS=30_000) as client:
        return str(client.admin.command("hello")["primary"])


def _wait_for_new_primary(rs: Any, old: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with pymongo.MongoClient(rs.uri, serverSelectionTimeoutMS=30_000) as client:
            hello = client.admin.command("hello")
            primary = hello.get("primary")
            if primary and primary != old:
                try:
                    client["LibreChat"]["probe"].insert_one({"ok": 1})
                    return str(primary)
                except pymongo.errors.PyMongoError:
                    pass
        time.sleep(0.25)
    raise AssertionError(f"no new primary after {timeout:.0f} s")


@pytest.mark.parametrize("read_preference", ["primary", "secondaryPreferred"])
def test_primary_steps_down_during_a_run(replica_set: Any, tmp_path: Path,
                                         reliability: Recorder, read_preference: str) -> None:
    uri = replica_set.uri + ("" if read_preference == "primary"
                             else "&readPreference=secondaryPreferred")
    first = run_job(job_argv(uri, tmp_path, timeout=20, connect_timeout=5))
    assert first.returncode == 0, first.stderr
    state = tmp_path / "state.json"
    before = Snapshot.take(state)
    for member in replica_set.members:
        with pymongo.MongoClient(member.uri) as client:
            fail_point(client, block_ms=150)
    try:
        old = _primary(replica_set)
        proc = start_job(job_argv(uri, tmp_path, timeout=20, connect_timeout=5))
        started = time.monotonic()
        # The step-down comes while the job has a query in progress on one of the members
        # (the primary, or a secondary with secondaryPreferred).
        members = [pymongo.MongoClient(m.uri) for m in replica_set.members]
        try:
            deadline = time.monotonic() + 60
            while not any(job_operations(c) for c in members):
                assert proc.poll() is None, "the run ended before any query was seen"
                assert time.monotonic() < deadline, "no query of the job seen in 60 s"
                time.sleep(0.005)
        finally:
            for client in members:
                client.close()
        running_at_step_down = proc.poll() is None
        with pymongo.MongoClient(f"mongodb://{old}/?directConnection=true") as client:
            client.admin.command("replSetStepDown", 300, secondaryCatchUpPeriodSecs=10)
        stdout, stderr = proc.communicate(timeout=90)
        run = JobRun([], proc.returncode, time.monotonic() - started, stdout, stderr)
        new = _wait_for_new_primary(replica_set, old)
    finally:
        for member in replica_set.members:
            with pymongo.MongoClient(member.uri) as client:
                fail_point_off(client)
    assert running_at_step_down, "the run ended before the step-down"
    # README: the run and the next one succeed (pymongo retries the interrupted read once the
    # new primary is elected, within --timeout).
    assert run.returncode == lt.EXIT_OK, run.stderr
    assert up_value((tmp_path / "librechat.prom").read_text()) == 1.0
    assert_clean_log(run, error_lines=0)
    assert str(state) in before.changed(), "the state did not advance"
    outcome = "the run succeeded through the step-down"
    after = run_job(job_argv(uri, tmp_path, timeout=20, connect_timeout=5))
    assert after.returncode == 0, after.stderr
    assert up_value((tmp_path / "librechat.prom").read_text()) == 1.0
    reliability.record(
        f"replica set primary steps down mid-run (readPreference={read_preference})",
        f"{outcome}; the next run succeeded (new primary {new != old})",
        exit_code=run.returncode, seconds=run.seconds,
        file_state="up 1", cases=1)


# --------------------------------------------------------------------------------------------
# The output directory: missing, read-only, full; umask; stale temp files


def test_output_directory_missing(tmp_path: Path, reliability: Recorder) -> None:
    output = tmp_path / "textfile" / "librechat.prom"
    state = tmp_path / "state" / "state.json"
    (tmp_path / "state").mkdir()
    with HangingServer() as server:  # "at once": before it even connects to MongoDB
        run = run_job(job_argv(f"mongodb://127.0.0.1:{server.port}/?directConnection=true",
                               tmp_path, output=output, state=state, timeout=TIMEOUT,
                               connect_timeout=CONNECT))
        assert server.accepted == 0, "the job connected to MongoDB first"
    assert run.returncode == lt.EXIT_FAILED
    assert_clean_log(run, error_lines=1)
    assert "does not exist" in run.log_lines("ERROR")[0]
    assert str(output.parent) in run.log_lines("ERROR")[0]
    assert directory_listing(tmp_path) == {"state"}
    assert directory_listing(tmp_path / "state") == set()
    record_failed(reliability, "output directory missing", run,
                  "exit 1 at once; ERROR names the directory", "nothing created")


@pytest.fixture
def unprivileged_dirs() -> Iterator[tuple[Any, Path]]:
    """A directory tree owned by ``nobody`` and a way to run the job as that user."""
    base = scratch_dir("librechat-faults-")
    try:
        user = make_unprivileged(base)
        for sub in ("out", "state"):
            (base / sub).mkdir()
            user.own(base / sub)
        yield user, base
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(base)], check=False)
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_output_directory_read_only_for_the_job_user(
        db: Database[Any], mongod: Any, unprivileged_dirs: tuple[Any, Path],
        reliability: Recorder) -> None:
    user, base = unprivileged_dirs
    generate(db, GenOptions(seed=41, users=5, days=10))
    output, state = base / "out" / "librechat.prom", base / "state" / "state.json"
    argv = job_argv(mongod.uri, base, database=db.name, output=output, state=state,
                    timeout=TIMEOUT, connect_timeout=CONNECT)
    first = run_job(argv, python=user.python, env=user.env, preexec_fn=user.preexec)
    assert first.returncode == 0, first.stderr
    assert output.stat().st_uid == user.uid
    before = Snapshot.take(output, state)
    (base / "out").chmod(0o555)
    run = run_job(argv, python=user.python, env=user.env, preexec_fn=user.preexec)
    assert run.returncode == lt.EXIT_FAILED
    assert_clean_log(run, error_lines=1)
    assert "not writable" in run.log_lines("ERROR")[0]
    assert before.changed() == []
    assert directory_listing(base / "out") == {"librechat.prom"}
    record_failed(reliability, "output directory read-only (chmod 0555, job as nobody)", run,
                  "exit 1 at once; ERROR 'not writable'",
                  "old .prom and state untouched (nothing can be written)")


def test_output_directory_read_only_mount(db: Database[Any], mongod: Any, tmp_path: Path,
                                          reliability: Recorder) -> None:
    out = tmp_path / "out"
    out.mkdir()
    generate(db, GenOptions(seed=42, users=5, days=10))
    argv = job_argv(mongod.uri, tmp_path, database=db.name, output=out / "librechat.prom",
                    timeout=TIMEOUT, connect_timeout=CONNECT)
    assert run_job(argv).returncode == 0
    before = Snapshot.take(out / "librechat.prom", tmp_path / "state.json")
    with read_only_bind(out):
        run = run_job(argv)
    assert run.returncode == lt.EXIT_FAILED
    assert_clean_log(run, error_lines=1)
    assert "not writable" in run.log_lines("ERROR")[0]
    assert before.changed() == []
    record_failed(reliability, "output directory on a read-only mount (as root)", run,
                  "exit 1 at once; ERROR 'not writable'", "old .prom and state untouched")


def _disk_full_case(db: Database[Any], mongod: Any, tmp_path: Path) -> tuple[JobRun, Path,
                                                                           Path, Snapshot]:
    generate(db, GenOptions(seed=43, users=5, days=10))
    with tmpfs(tmp_path / "full") as full:
        output, state = full / "librechat.prom", tmp_path / "state.json"
        argv = job_argv(mongod.uri, tmp_path, database=db.name, output=output,
                        timeout=TIMEOUT, connect_timeout=CONNECT)
        assert run_job(argv).returncode == 0
        before = Snapshot.take(output, state)
        old_prom = output.read_bytes()
        fill_filesystem(full / "filler")
        run = run_job(argv)
        assert output.read_bytes() == old_prom, "the old .prom must survive a full disk"
        assert directory_listing(full) == {"librechat.prom", "filler"}, "temp file left"
    return run, output, state, before


def test_output_disk_full(db: Database[Any], mongod: Any, tmp_path: Path,
                          reliability: Recorder) -> None:
    run, _output, _state, _before = _disk_full_case(db, mongod, tmp_path)
    assert run.returncode == lt.EXIT_FAILED
    assert run.seconds <= TIMEOUT + CONNECT + SLACK_S
    assert_clean_log(run, error_lines=1)
    assert "No space left on device" in run.log_lines("ERROR")[0]
    assert_no_secret(run.stdout, run.stderr)
    record_failed(reliability, "output directory full (64 KiB tmpfs filled)", run,
                  "exit 1; ERROR 'No space left on device'; old .prom intact, no temp left",
                  "old .prom intact; state unchanged (the .prom is staged before the state "
                  "is saved)")


def test_output_disk_full_keeps_the_state(db: Database[Any], mongod: Any,
                                          tmp_path: Path) -> None:
    run, _output, state, before = _disk_full_case(db, mongod, tmp_path)
    assert run.returncode == lt.EXIT_FAILED
    assert_state_kept(before, state)


def test_state_disk_full(db: Database[Any], mongod: Any, tmp_path: Path,
                         reliability: Recorder) -> None:
    generate(db, GenOptions(seed=44, users=5, days=10))
    with tmpfs(tmp_path / "full") as full:
        output, state = tmp_path / "librechat.prom", full / "state.json"
        argv = job_argv(mongod.uri, tmp_path, database=db.name, state=state,
                        timeout=TIMEOUT, connect_timeout=CONNECT)
        assert run_job(argv).returncode == 0
        before = Snapshot.take(state)
        fill_filesystem(full / "filler")
        run = run_job(argv)
        leftovers = directory_listing(full) - {"state.json", "state.json.lock", "filler"}
        changed = before.changed()
    assert_failed_run(run, output, before, timeout=TIMEOUT, connect_timeout=CONNECT,
                      says=["cannot write state file", "No space left on device"])
    assert changed == [], "the state file changed in a failed run"
    assert leftovers == set()
    record_failed(reliability, "state directory full (64 KiB tmpfs filled)", run,
                  "exit 1; ERROR 'cannot write state file: No space left on device'")


def _as_nobody_wrapper(directory: Path, uid: int, gid: int) -> Path:
    """An executable that runs node_exporter as nobody, with the same pid (exec, no fork)."""
    binary = require_binary("prometheus-node-exporter")
    wrapper = directory / "node_exporter_as_nobody"
    wrapper.write_text(f"#!/bin/sh\nexec setpriv --reuid={uid} --regid={gid} --clear-groups "
                       f"{binary} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper


def test_umask_077_file_is_still_readable_by_node_exporter(
        db: Database[Any], mongod: Any, reliability: Recorder) -> None:
    """node_exporter runs as its own user (Debian: prometheus); here as nobody."""
    require_binary("prometheus-node-exporter")
    base = scratch_dir("librechat-umask-")
    try:
        textfile = base / "textfile"
        textfile.mkdir(mode=0o755)
        textfile.chmod(0o755)
        generate(db, GenOptions(seed=45, users=5, days=10))
        argv = job_argv(mongod.uri, base, database=db.name, output=textfile / "librechat.prom",
                        state=base / "state" / "state.json")
        run = run_job(argv, preexec_fn=lambda: os.umask(0o077))
        assert run.returncode == 0, run.stderr
        mode = stat.S_IMODE((textfile / "librechat.prom").stat().st_mode)
        assert mode == 0o644
        assert stat.S_IMODE((base / "state" / "state.json").stat().st_mode) == 0o600
        # A control: a 0600 file is what umask 077 would give without the job's chmod.
        (textfile / "control.prom").write_text("control_metric 1\n")
        (textfile / "control.prom").chmod(0o600)
        nobody = 65534
        with NodeExporter(textfile, binary=str(_as_nobody_wrapper(base, nobody, nobody))) as ne:
            unreadable = ne.scrape()
            (textfile / "control.prom").unlink()
            served = ne.scrape()
        assert "node_textfile_scrape_error 1" in unreadable, "control: 0600 must be unreadable"
        assert "node_textfile_scrape_error 0" in served
        assert "librechat_exporter_up 1" in served
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
    reliability.record("umask 077", "the .prom is still 0644 (state 0600); node_exporter as "
                       "another user reads it", exit_code=0, seconds=run.seconds,
                       file_state="node_textfile_scrape_error 0 (a 0600 control file: 1)",
                       cases=1)


def test_stale_temp_file_from_a_killed_run(db: Database[Any], mongod: Any, tmp_path: Path,
                                           reliability: Recorder) -> None:
    require_binary("prometheus-node-exporter")
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    generate(db, GenOptions(seed=46, users=5, days=10))
    argv = job_argv(mongod.uri, tmp_path, database=db.name, output=textfile / "librechat.prom")
    assert run_job(argv).returncode == 0
    stale = [textfile / ".librechat.prom.k1ll3d_x.tmp", tmp_path / ".state.json.k1ll3d_y.tmp"]
    for path in stale:
        path.write_text('librechat_half_written{model="gpt')  # cut mid-line, as a kill leaves
    with NodeExporter(textfile) as exporter:
        served = exporter.scrape()
        assert "node_textfile_scrape_error 0" in served
        assert "k1ll3d" not in served and "librechat_half_written" not in served
        run = run_job(argv)
        after = exporter.scrape()
    assert run.returncode == 0, run.stderr
    assert not any(p.exists() for p in stale)
    assert sum("removed stale temp file" in line for line in run.log_lines("INFO")) == 2
    assert "node_textfile_scrape_error 0" in after and "librechat_exporter_up 1" in after
    reliability.record("stale temp files of a killed run (.librechat.prom.*.tmp)",
                       "removed by the next run (one INFO line each); node_exporter never "
                       "reads them", exit_code=run.returncode, seconds=run.seconds,
                       file_state="scrape_error 0 before and after", cases=len(stale))


# --------------------------------------------------------------------------------------------
# The state file


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "empty", "wrong-shape"])
@pytest.mark.parametrize("prom", ["kept", "lost too"])
def test_damaged_state_is_set_aside_and_restored_from_the_prom(
        db: Database[Any], mongod: Any, tmp_path: Path, reliability: Recorder, damage: str,
        prom: str) -> None:
    """A damaged state is renamed aside; the counters continue from the .prom (users deleted
    chats meanwhile, so a recount would be lower); with the .prom gone too, the stored
    documents are counted afresh (the oracle's count of what is stored)."""
    state = seed(db, mongod.uri, tmp_path)
    before = parse((tmp_path / "librechat.prom").read_text())[0]
    assert db.messages.delete_many({"isCreatedByUser": True}).deleted_count > 0
    good = state.read_bytes()
    damaged = {"corrupt": b"\x00\xffnot json at all{", "truncated": good[: len(good) // 2],
               "empty": b"", "wrong-shape": json.dumps(
                   {"version": lt.STATE_VERSION, "sections": {"messages": []}}).encode()}
    state.write_bytes(damaged[damage])
    if prom == "lost too":
        (tmp_path / "librechat.prom").unlink()
    run = run_job(job_argv(mongod.uri, tmp_path, database=db.name))
    assert run.returncode == 0, run.stderr
    assert_clean_log(run, error_lines=0)
    warnings = run.log_lines("WARNING")
    assert len(warnings) == 1 and "corrupt" in warnings[0] and ".bad" in warnings[0]
    aside = [p for p in tmp_path.iterdir() if p.name.endswith(".bad")]
    assert len(aside) == 1 and aside[0].read_bytes() == damaged[damage]
    assert json.loads(state.read_text())["version"] == lt.STATE_VERSION
    samples, _ = parse((tmp_path / "librechat.prom").read_text())
    assert samples["librechat_exporter_up"][()] == 1.0
    stored = db.messages.count_documents({})
    if prom == "kept":
        assert "counters restored from" in warnings[0]
        assert samples["librechat_messages_total"] == before["librechat_messages_total"]
        assert samples["librechat_messages_total"][()] > stored
    else:
        assert "counters restored" not in warnings[0]
        assert samples["librechat_messages_total"][()] == stored
    reliability.record(f"state file {damage}, .prom {prom}", "set aside as "
                       "state.json.<time>.bad (bytes kept), one WARNING, " +
                       ("counters restored from the .prom" if prom == "kept" else
                        "counted afresh"), exit_code=run.returncode, seconds=run.seconds,
                       file_state="up 1; new state; .bad identical", cases=1)


STATE_POISON: dict[str, tuple[tuple[str | int, ...], Any]] = {
    # (path inside the state, value): valid JSON that passes the job's well_formed() check
    "slow-refreshed_at-string": (("sections", "users", "refreshed_at"), "yesterday"),
    "cached-help-null": (("sections", "users", "families", 0, "help"), None),
    "cached-label-value-number": (("sections", "sessions", "families", 1, "samples", 0, 0), 7),
    "counter-key-not-json": (("sections", "messages", "counters", "librechat_messages_total"),
                             {"not json": 1.0}),
}


@pytest.mark.parametrize("case", list(STATE_POISON))
def test_state_with_wrong_types_is_set_aside(db: Database[Any], mongod: Any, tmp_path: Path,
                                             case: str) -> None:
    state = seed(db, mongod.uri, tmp_path)
    data = json.loads(state.read_text())
    path, value = STATE_POISON[case]
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    state.write_text(json.dumps(data))
    runs = [run_job(job_argv(mongod.uri, tmp_path, database=db.name)) for _ in range(2)]
    for run in runs:
        assert "Traceback" not in run.stderr, run.stderr
        assert run.returncode == lt.EXIT_OK, run.stderr
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".bad")], "not set aside"


def test_state_from_a_future_version(db: Database[Any], mongod: Any, tmp_path: Path,
                                     reliability: Recorder) -> None:
    state = seed(db, mongod.uri, tmp_path)
    future = json.loads(state.read_text())
    future["version"] = 99
    state.write_text(json.dumps(future))
    before = Snapshot.take(state)
    run = run_job(job_argv(mongod.uri, tmp_path, database=db.name, timeout=TIMEOUT,
                           connect_timeout=CONNECT))
    assert_failed_run(run, tmp_path / "librechat.prom", before, timeout=TIMEOUT,
                      connect_timeout=CONNECT, says=["newer version", "99"], state=state)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".bad")]
    record_failed(reliability, 'state file from a future version ("version": 99)', run,
                  "exit 1; ERROR 'newer version (99 > 1)'", "up 0 written; state untouched")


def test_state_directory_read_only_for_the_job_user(
        db: Database[Any], mongod: Any, unprivileged_dirs: tuple[Any, Path],
        reliability: Recorder) -> None:
    user, base = unprivileged_dirs
    generate(db, GenOptions(seed=47, users=5, days=10))
    output, state = base / "out" / "librechat.prom", base / "state" / "state.json"
    argv = job_argv(mongod.uri, base, database=db.name, output=output, state=state,
                    timeout=TIMEOUT, connect_timeout=CONNECT)
    assert run_job(argv, python=user.python, env=user.env,
                   preexec_fn=user.preexec).returncode == 0
    before = Snapshot.take(state)
    (base / "state").chmod(0o555)
    run = run_job(argv, python=user.python, env=user.env, preexec_fn=user.preexec)
    assert_failed_run(run, output, before, timeout=TIMEOUT, connect_timeout=CONNECT,
                      says=["cannot write state file", "permission denied"], state=state)
    assert directory_listing(base / "state") == {"state.json", "state.json.lock"}
    record_failed(reliability, "state directory read-only (chmod 0555, job as nobody)", run,
                  "exit 1; ERROR 'cannot write state file: Permission denied'")


def test_state_directory_read_only_without_a_lock_file(
        db: Database[Any], mongod: Any, unprivileged_dirs: tuple[Any, Path]) -> None:
    user, base = unprivileged_dirs
    generate(db, GenOptions(seed=48, users=5, days=10))
    output, state = base / "out" / "librechat.prom", base / "state" / "state.json"
    argv = job_argv(mongod.uri, base, database=db.name, output=output, state=state,
                    timeout=TIMEOUT, connect_timeout=CONNECT)
    assert run_job(argv, python=user.python, env=user.env,
                   preexec_fn=user.preexec).returncode == 0
    (base / "state" / "state.json.lock").unlink()
    before = Snapshot.take(state)
    (base / "state").chmod(0o555)
    run = run_job(argv, python=user.python, env=user.env, preexec_fn=user.preexec)
    assert run.returncode == lt.EXIT_FAILED
    assert "lock file" in run.stderr
    assert before.changed() == []
    assert up_value(output.read_text()) == 0.0, "the old up 1 file is still served"


def test_second_run_while_the_lock_is_held(db: Database[Any], mongod: Any, tmp_path: Path,
                                           reliability: Recorder) -> None:
    state = seed(db, mongod.uri, tmp_path)
    output = tmp_path / "librechat.prom"
    stale = tmp_path / ".librechat.prom.other_run.tmp"  # the other run's temp file
    stale.write_text("in progress\n")
    listing = directory_listing(tmp_path)
    before = Snapshot.take(state, output, stale, tmp_path / "state.json.lock")
    fd = os.open(tmp_path / "state.json.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # MongoDB here is a server that never answers: a run that went past the lock would
        # connect to it (and then wait out --connect-timeout).
        with HangingServer() as server:
            run = run_job(job_argv(f"mongodb://127.0.0.1:{server.port}/?directConnection=true",
                                   tmp_path, database=db.name))
            assert server.accepted == 0, "the second run connected to MongoDB"
    finally:
        os.close(fd)
    assert run.returncode == lt.EXIT_LOCKED, run.stderr
    assert_clean_log(run, error_lines=0)
    assert len(run.log_lines()) == 1 and len(run.log_lines("WARNING")) == 1, run.stderr
    assert "another run holds" in run.stderr
    assert before.changed() == []
    assert directory_listing(tmp_path) == listing
    reliability.record("a second run while the first holds state.json.lock",
                       "exit 75, one WARNING line, nothing touched (not even the other run's "
                       "temp file)", exit_code=run.returncode, seconds=run.seconds,
                       file_state=".prom, state, temp file byte- and mtime-identical", cases=1)


def malformed_uris(port: int) -> dict[str, str]:
    """URIs with a password that pymongo or the server refuses; `port` refuses connections."""
    secret = quote_plus(PASSWORD)
    return {
        "unescaped-at": f"mongodb://u:{PASSWORD}@127.0.0.1:{port}/",
        "unknown-options": f"mongodb://u:{secret}@127.0.0.1:{port}/?badOption=x&tls=maybe",
        "port-typo": f"mongodb://u:{secret}@127.0.0.1:27O17/",
        "port-out-of-range": f"mongodb://u:{secret}@127.0.0.1:99999/",
        "ipv6-unbracketed": f"mongodb://u:{secret}@[::1/",
        "tls-ca-file-missing": f"mongodb://u:{secret}@127.0.0.1:{port}/"
                               "?tls=true&tlsCAFile=/nonexistent/ca.pem",
        "srv-no-such-host": f"mongodb+srv://u:{secret}@no-such-host.invalid/",
    }


def test_every_failure_path_keeps_the_password_out(reliability: Recorder) -> None:
    """Malformed URIs and bad settings are failure paths too: exit non-zero, never the
    password (raw or percent-encoded) in stdout, stderr or the .prom."""
    codes: list[int] = []
    directory = scratch_dir("librechat-secret-")
    try:
        with refusing_port() as port:
            uris = malformed_uris(port)
            for uri in uris.values():
                run = run_job(job_argv(uri, directory, timeout=2, connect_timeout=1))
                codes.append(run.returncode)
                assert run.returncode == lt.EXIT_FAILED, run.stderr
                prom = directory / "librechat.prom"
                assert_no_secret(run.stdout, run.stderr,
                                 prom.read_text() if prom.exists() else "")
        bad_settings = run_job(["--mongodb-uri", uris["unknown-options"],
                                "--timeout", "-1", "--output", str(directory / "x.txt"),
                                "--env-file", "/nonexistent"])
        codes.append(bad_settings.returncode)
        assert bad_settings.returncode == lt.EXIT_USAGE
        assert_no_secret(bad_settings.stdout, bad_settings.stderr)
    finally:
        subprocess.run(["rm", "-rf", str(directory)], check=False)
    reliability.record("malformed URIs and bad settings, password in the URI",
                       "password in no output (raw or percent-encoded)", exit_code=codes,
                       cases=len(codes))


@pytest.mark.parametrize("case", ["port-typo", "port-out-of-range", "ipv6-unbracketed",
                                  "tls-ca-file-missing"])
def test_malformed_uri_is_a_clean_failure(db: Database[Any], mongod: Any, tmp_path: Path,
                                          case: str) -> None:
    """Either a failed run (exit 1, up 0 written) or invalid settings (exit 2, one line);
    never a traceback."""
    state = seed(db, mongod.uri, tmp_path)
    before = Snapshot.take(state)
    with refusing_port() as port:
        run = run_job(job_argv(malformed_uris(port)[case], tmp_path, database=db.name,
                               timeout=2, connect_timeout=1))
    assert "Traceback" not in run.stderr, run.stderr
    if run.returncode == lt.EXIT_USAGE:
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert before.changed() == []
        assert_no_secret(run.stdout, run.stderr)
    else:
        assert_failed_run(run, tmp_path / "librechat.prom", before, timeout=2,
                          connect_timeout=1, says=["run failed"], state=state)
