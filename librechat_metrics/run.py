"""One run: take the lock, read the state, run every section against MongoDB, render, stage the
.prom, save the state, rename the .prom into place. A failure writes the self-metrics alone
with up 0, so that node_exporter never serves stale business numbers as if all were well."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pymongo
from bson.binary import Binary
from pymongo.errors import OperationFailure, PyMongoError

from . import __version__
from .atomic import commit_file, discard_file, remove_stale_temps
from .catalogue import CATALOGUE, GAUGE
from .client import checked_client, is_fatal, mongo_hosts
from .clock import Clock
from .continuity import (
    COUNTED,
    continued_state,
    list_restored_zone,
    standing_in,
    textfile_runs,
)
from .dimensions import Dimensions, retired_keys, zero_keys
from .errors import (
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PARTIAL,
    Interrupted,
    JobError,
    LockUnavailable,
)
from .families import Family, capped
from .incremental import passes_fit_side_by_side
from .labels import UNKNOWN, label_value
from .logs import describe_error, output_directory_fix, state_directory_fix
from .parallel import WORKERS, Failed, InTurn, Turns, run_in_order
from .progress import UNKNOWN_DEPLOYMENT, Identity, carried, count_run, runs_of
from .sections.base import Section
from .sections.conversations import LIBRECHAT_COLLECTIONS
from .sections.job import RunResult, render_with_size, self_families
from .sections.registry import SECTIONS
from .settings import Settings
from .state import LOST, STATE_VERSION, read_state, save_state
from .textfile import stage_output, write_output

log = logging.getLogger("librechat_textfile")

BACKFILL_SHARE = 0.5  # of --timeout, for first counts; the rest is left for everything else


def config_key(settings: Settings) -> str:
    return json.dumps([__version__, settings.timezone, settings.daily_days,
                       settings.label_limit, settings.tenant_label])


def refresh_due(section: Section, cached: Mapping[str, Any], clock: Clock,
                settings: Settings) -> bool:
    if section.refresh == "run" or "families" not in cached:
        return True
    if cached.get("config") != config_key(settings):
        return True
    age = clock.epoch - cached.get("refreshed_at", 0.0)
    return not 0 <= age < settings.slow_interval  # a clock set back refreshes too


def run_section(section: Section, db: Any, clock: Clock, old: Mapping[str, Any],
                settings: Settings, dims: Dimensions) -> tuple[list[Family], dict[str, Any]]:
    """Run one section on a copy of its state, so a failure leaves the old state intact.

    Gauges are mapped through the shared slot tables here, replayed ones included; counters
    already were, when their rows were settled.
    """
    if not refresh_due(section, old, clock, settings):
        replayed = [Family.from_json(f) for f in old["families"]]
        return [capped(f, dims) if f.kind == GAUGE else f for f in replayed], dict(old)
    state = copy.deepcopy(dict(old))
    list_restored_zone(db, section.name, state)
    families = [capped(f, dims) if f.kind == GAUGE else f
                for f in section.compute(db, clock, state, settings, dims)]
    if section.refresh != "run":
        state.update(families=[f.to_json() for f in families], refreshed_at=clock.epoch,
                     config=config_key(settings))
    return families, state


@dataclasses.dataclass
class SectionOutcome:
    families: list[Family] | None  # None: skipped or failed
    state: dict[str, Any] | None
    seconds: float
    failed: bool = False


def first_count_pending(sections: Mapping[str, Any]) -> bool:
    """A section's first count continues in `_id` chunks over several runs."""
    return any(isinstance(section, dict) and "backfill" in section.get("stream", {})
               for section in sections.values())


def affordable(section: Section, clock: Clock) -> bool:
    """A slow section may refresh while a first count is pending: this run has read for it
    what makes its refresh cheap (the feedback gauge after the messages pass)."""
    return section.cheap_with is not None and section.cheap_with in clock.shared


def first_count_due(state: Mapping[str, Any], sections: Iterable[Section]) -> bool:
    """A counter section has not finished counting the stored documents (or never began)."""
    kept = state.get("sections", {})
    return any(section.counters and (kept.get(section.name) or {}).get(
        "stream", {}).get("horizon") is None for section in sections)


def collect(db: Any, clock: Clock, state: dict[str, Any], settings: Settings,
            sections: Iterable[Section] = SECTIONS) -> RunResult:
    """Run every section; a failing one is reported and skipped, a lost database ends all.

    While a first count is due that is one pass per collection, sections run two at a time
    (parallel.py); the result is the same as one after the other."""
    sections = list(sections)
    workers = WORKERS if first_count_due(state, sections) and passes_fit_side_by_side(
        db, settings.timeout, WORKERS) else 1
    clock = dataclasses.replace(clock, concurrency=workers)
    new_state = {**state, "version": STATE_VERSION,
                 "sections": dict(state.get("sections", {}))}
    dims = Dimensions(copy.deepcopy(state.get("dimensions", {})), settings.label_limit,
                      settings.label_ttl * 86400, clock.epoch)
    result = RunResult([], new_state, True, {}, {})
    outcomes: list[SectionOutcome | None] = [None] * len(sections)

    def sections_so_far(index: int) -> dict[str, Any]:
        """The state of every section: this run's for those before `index`, else the old."""
        kept = dict(state.get("sections", {}))
        for section, outcome in zip(sections[:index], outcomes, strict=False):
            if outcome is not None and outcome.state is not None:
                kept[section.name] = outcome.state
        return kept

    def task(turns: Turns, index: int) -> SectionOutcome:
        section = sections[index]
        old = state.get("sections", {}).get(section.name, {})
        if section.refresh == "slow":
            turns.wait_for_earlier(index)  # whether a first count is still pending
            if first_count_pending(sections_so_far(index)) and refresh_due(
                    section, old, clock, settings) and not affordable(section, clock):
                # A first count needs the run's budget; a timeout now would lose its progress.
                # Stored-now gauges due for a refresh wait, their last values (if any) are
                # not replayed; values still fresh are.
                return SectionOutcome(None, None, 0.0)
        started, waited = time.monotonic(), turns.waited[index]

        def seconds() -> float:
            """The section's own time: waiting for the sections before it is not its cost."""
            return time.monotonic() - started - (turns.waited[index] - waited)

        try:
            families, section_state = run_section(section, db, clock, old, settings,
                                                  InTurn(dims, turns, index))
        except Exception as exc:
            # One bad query or one document the code did not foresee must not cost the other
            # sections their numbers; a lost database ends the run instead.
            if is_fatal(exc):
                raise
            log.error("section %s failed: %s", section.name, describe_error(exc))
            outcome = SectionOutcome(None, None, seconds(), failed=True)
        else:
            outcome = SectionOutcome(families, section_state, seconds())
        outcomes[index] = outcome
        return outcome

    for section, outcome in zip(sections, run_in_order(
            [task] * len(sections), workers), strict=True):
        if isinstance(outcome, Failed):
            raise outcome.error
        result.errors[section.name] = 1 if outcome.failed else 0
        if outcome.state is not None:
            new_state["sections"][section.name] = outcome.state
        if outcome.families is not None:
            result.families.extend(outcome.families)
        elif outcome.failed and section.counters:
            # Its counters stay in the file at their last values, with its old watermark, so
            # the file can still stand in for the state (librechat_exporter_errors says why).
            result.families.extend(carried(new_state["sections"], COUNTED,
                                           settings.tenant_label, only=[section.name]))
        if outcome.families is not None or outcome.failed:  # skipped ones took no time
            result.durations[section.name] = outcome.seconds
    forget_retired(result.families, new_state["sections"], dims.expire())
    new_state["dimensions"] = dims.table
    tenants: list[str] = []
    if settings.tenant_label:
        try:
            tenants = known_tenants(db)
        except PyMongoError as exc:
            if is_fatal(exc):
                raise
            log.warning("cannot list tenants for explicit zeros: %s", describe_error(exc))
    explicit_zeros(result.families, dims, tenants)
    return result


def forget_retired(families: list[Family], sections: Mapping[str, Any],
                   retired: Mapping[str, set[str]]) -> None:
    """Values whose slot was freed: their series end now, and the state keeps nothing of them."""
    if not retired:
        return
    for family in families:
        for key in retired_keys(family.samples, family.spec.dim_positions(family.tenant),
                                retired):
            del family.samples[key]
    for section_state in sections.values():
        for name, totals in section_state.get("counters", {}).items():
            spec = CATALOGUE.get(name)
            if spec is None:
                continue
            keys = {tuple(json.loads(k)): k for k in totals}
            tenant = any(len(key) > len(spec.labels) for key in keys)
            for key in retired_keys(keys, spec.dim_positions(tenant), retired):
                del totals[keys[key]]


def known_tenants(db: Any) -> list[str]:
    """The tenants of the user accounts (a small collection with a tenantId index)."""
    return sorted({label_value(t) for t in db.users.distinct("tenantId") if t is not None})


def explicit_zeros(families: list[Family], dims: Dimensions, tenants: list[str]) -> None:
    """A 0 for every label set a family's declaration implies: every value its dimension holds,
    every closed value, every known tenant. So a missing series means a failed section, never
    "nothing happened", and a new series has a 0 before its first increment."""
    for family in families:
        for key in zero_keys(family.spec, family.labels, family.samples, dims, tenants):
            family.samples.setdefault(key, 0.0)


@contextlib.contextmanager
def job_lock(settings: Settings) -> Iterator[bool]:
    """Hold an exclusive lock for the run; yields False when another run holds it."""
    if settings.stdout:
        yield True
        return
    directory = os.path.dirname(os.path.abspath(settings.lock_file))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise LockUnavailable(f"cannot create {directory}: {exc.strerror}; "
                              f"{state_directory_fix(directory)}") from exc
    try:
        fd = os.open(settings.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LockUnavailable(f"cannot create the lock file {settings.lock_file}: "
                              f"{exc.strerror}; {state_directory_fix(directory)}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def check_output_dir(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise JobError(f"run failed (output directory): {directory} does not exist; "
                       f"{output_directory_fix(directory, missing=True)}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise JobError(f"run failed (output directory): {directory} is not writable by "
                       f"{output_directory_fix(directory, missing=False)}")


def collect_from_mongo(settings: Settings, clock: Clock,
                       settle: Callable[[Identity], dict[str, Any]]) -> RunResult:
    """Reach MongoDB, learn which deployment it is, let `settle` decide the state to count
    from (it may restore from the .prom, which needs the deployment), and collect."""
    client = checked_client(settings)
    try:
        db = client[settings.mongodb_database]
        # Inside pymongo.timeout() server selection waits for the whole remaining --timeout;
        # a first command of its own keeps an unreachable server to --connect-timeout.
        with pymongo.timeout(settings.connect_timeout):
            version = str(db.command("buildInfo").get("version", UNKNOWN))
        with pymongo.timeout(settings.timeout):
            require_librechat_database(client, db)
            identity = deployment_identity(db)
            state = settle(identity)
            result = collect(db, clock, state, settings)
            result.server_version = version
            result.state["identity"] = identity.to_json()
            return result
    finally:
        client.close()


def deployment_identity(db: Any) -> Identity:
    """The deployment: a fingerprint of the UUID MongoDB gave LibreChat's messages collection
    when it was made (shared by a replica set's members, new after a drop or a plain
    mongorestore; hashed, since no label value may look like an id), and the replica set's
    name. A user who may not list collections' details gets `unknown`."""
    deployment = UNKNOWN_DEPLOYMENT
    try:
        for info in db.list_collections(filter={"name": "messages"}):
            uuid = (info.get("info") or {}).get("uuid")
            if isinstance(uuid, Binary):
                uuid = uuid.as_uuid()
            if uuid is not None:
                deployment = hashlib.sha256(str(uuid).encode()).hexdigest()[:16]
    except OperationFailure:
        pass
    hello = db.command("hello")
    return Identity(deployment, str(hello.get("setName") or "none"), str(STATE_VERSION))


# A database "looks like LibreChat's" when it holds these two (LibreChat creates all its
# collections at start-up); the candidates listed in the error are capped.
LIBRECHAT_MARKERS = ("conversations", "messages")
CANDIDATES_CHECKED = 50
CANDIDATES_NAMED = 10
UNAUTHORIZED = 13


def require_librechat_database(client: Any, db: Any) -> None:
    """Fail the run on a database without any of LibreChat's collections: a mistyped name
    (`librechat` for `LibreChat`) would otherwise give up 1 and nothing but zeros."""
    try:
        present = db.list_collection_names(authorizedCollections=True)
    except OperationFailure as exc:
        if exc.code != UNAUTHORIZED:
            raise
        login = "requires authentication" in str((exc.details or {}).get("errmsg", ""))
        problem = (f"this user may not read database {db.name!r} "
                   f"({'the server wants a login' if login else 'not authorized'})")
        fix = ("check the user and its roles in MONGODB_URI (the read role on LibreChat's "
               "database is enough) and the database name")
    else:
        if set(present) & set(LIBRECHAT_COLLECTIONS):
            return
        problem = (f"database {db.name!r} holds none of LibreChat's collections (users, "
                   "conversations, messages, ...)")
        fix = "name LibreChat's database"
    candidates = librechat_databases(client, skip=db.name)
    if candidates is None:
        hint = "this user may not list the server's databases"
    elif candidates:
        hint = "databases on the server that look like LibreChat's: " + ", ".join(candidates)
    else:
        hint = "no database on the server looks like LibreChat's"
    raise JobError(f"{problem}; {hint}; {fix} (MONGODB_DATABASE, --mongodb-database or the "
                   "URI's path)")


def librechat_databases(client: Any, skip: str) -> list[str] | None:
    """The server's databases that hold LibreChat's markers, or None without listDatabases."""
    try:
        names = client.list_database_names()
    except OperationFailure:
        return None
    found: list[str] = []
    for name in [n for n in names if n not in (skip, "admin", "config", "local")][
            :CANDIDATES_CHECKED]:
        try:
            collections = client[name].list_collection_names(
                authorizedCollections=True, filter={"name": {"$in": list(LIBRECHAT_MARKERS)}})
        except OperationFailure:
            continue
        if set(LIBRECHAT_MARKERS) <= set(collections):
            found.append(name)
    return found[:CANDIDATES_NAMED]


def run_job(settings: Settings) -> int:
    started = time.monotonic()
    # A --stdout run keeps nothing for a next run, so its first count may use most of --timeout.
    share = 0.9 if settings.stdout else BACKFILL_SHARE
    clock = Clock(settings.now or datetime.now(UTC), settings.tz,
                  deadline=started + settings.timeout * share)
    if not settings.stdout:
        check_output_dir(settings.output)
    try:
        with job_lock(settings) as acquired:
            if not acquired:
                log.warning("another run holds %s; this one exits without touching anything",
                            settings.lock_file)
                return EXIT_LOCKED
            return locked_run(settings, clock, started)
    except LockUnavailable as exc:
        # Without a lock the run cannot be trusted with the state, but node_exporter must
        # stop serving the last numbers as if all were well.
        return write_failure(settings, clock, started, standing_in(settings) or {}, str(exc),
                             "state directory")


def locked_run(settings: Settings, clock: Clock, started: float) -> int:
    """Collect, then publish: stage the .prom, save the state, rename the .prom into place.

    Staging first means a full or failing output disk leaves the state as it was. The state
    is renamed before the .prom: after a crash between the two, the state is the newer and
    wins (continuity.py); the reverse order could leave a .prom whose counts the next run,
    from the older state, would have to count again.
    """
    if not settings.stdout:
        remove_stale_temps(settings.output)
        remove_stale_temps(settings.state_file)
    pending: str | None = None
    cause = "state file"  # what the log names as the failing part, step by step
    # What a failed run carries: the state read or restored (which it then saves with its
    # run counted), or without one the .prom standing in (not saved: the deployment it was
    # written for is not checked without MongoDB).
    counts: dict[str, Any] = {}
    savable = False
    try:
        state, status, detail = read_state(settings.state_file, readonly=settings.stdout)
        if status in ("first", LOST):
            counts = standing_in(settings) or {}
        else:
            counts, savable = state, True

        def settle(identity: Identity) -> dict[str, Any]:
            nonlocal counts, savable
            counts, _ = continued_state(settings, state, status, detail, identity)
            savable = True
            return counts

        cause = f"MongoDB {mongo_hosts(settings.mongodb_uri)}"
        result = collect_from_mongo(settings, clock, settle)
        signal.alarm(0)
        partial = any(result.errors.values())
        # The job's freshness: a run in which every section succeeded.
        last_success = counts.get("last_success") if partial else clock.epoch
        result.state["last_success"] = last_success
        result.state["server_version"] = result.server_version
        count_run(result.state, "partial" if partial else "ok")
        families = result.families + self_families(
            result, settings, section_names(), time.monotonic() - started, last_success,
            COUNTED)
        data = render_with_size(families)
        if not settings.stdout:
            cause = "output directory"
            pending = stage_output(settings.output, data)
            cause = "state directory"
            save_state(settings.state_file, result.state)
    except (PyMongoError, Interrupted, JobError) as exc:
        discard_file(pending)
        reason = describe_error(exc) if isinstance(exc, PyMongoError) else str(exc)
        if not counts and not settings.stdout:
            counts = standing_in(settings) or {}  # the state could not be read at all
        return write_failure(settings, clock, started, counts, reason, cause, savable)
    if pending:
        commit_file(pending, settings.output)
    else:
        write_output(settings, data)
    log.info("%s %d families in %.2f s%s", "printed" if settings.stdout else "wrote",
             len(families), time.monotonic() - started,
             " (some sections failed)" if partial else "")
    return EXIT_PARTIAL if partial else EXIT_OK


def section_names() -> list[str]:
    return [section.name for section in SECTIONS]


def write_failure(settings: Settings, clock: Clock, started: float,
                  counts: Mapping[str, Any], reason: str, cause: str,
                  savable: bool = False) -> int:
    """Up 0 with the self-metrics and the counters the run was given, at their last values,
    so that no stale stored-now number is served and the file can still stand in for the
    state. The run is counted as failed, continuing the larger of the state's and the last
    file's runs counter, in the file and, when `savable`, in the state (whose counts are
    otherwise unchanged). The log line names the failing part (MongoDB and its hosts, lock,
    state file or directory, output directory) before the reason."""
    signal.alarm(0)
    state = copy.deepcopy(dict(counts))
    written = textfile_runs(settings.output) if not settings.stdout else None
    state["runs"] = {r: max(v, (written or {}).get(r, 0.0)) for r, v in runs_of(state).items()}
    count_run(state, "failed")
    kept = "kept the state file"
    if savable and not settings.stdout:
        try:
            save_state(settings.state_file, state)
            kept = "kept the state file's counts"
        except JobError:
            pass  # the same trouble that failed the run, most likely; the file counts the run
    failed = RunResult([], state, False, {}, {})
    counters = carried(state.get("sections", {}), COUNTED, settings.tenant_label)
    # The same series as the last good file: its explicit zeros too (tenants as the counters
    # hold them; nothing is read).
    explicit_zeros(counters, Dimensions(state.get("dimensions", {}), settings.label_limit,
                                        settings.label_ttl * 86400, clock.epoch), [])
    families = counters + self_families(failed, settings, section_names(),
                                        time.monotonic() - started,
                                        state.get("last_success"), COUNTED)
    try:
        write_output(settings, render_with_size(families))
        wrote = "printed up=0" if settings.stdout else "wrote up=0"
    except JobError as exc:
        wrote = f"could not write up=0 either ({exc})"
    log.error("run failed (%s), %s and %s: %s", cause, wrote, kept, reason)
    return EXIT_FAILED
