"""The written file as node_exporter and promtool see it: it parses, lints clean, is served."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

import librechat_textfile as lt
from tests.fault_report import refusing_port
from tests.librechat_data import GenOptions, ensure_indexes, generate
from tests.promparse import parse
from tests.services import NodeExporter, require_binary

NOW = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)


def run_job(db: Database[Any], uri: str, out_dir: Path, *extra: str) -> int:
    return lt.main(["--mongodb-uri", uri, "--mongodb-database", db.name,
                    "--output", str(out_dir / "librechat.prom"),
                    "--state-file", str(out_dir.parent / "state" / "state.json"),
                    "--now", NOW.isoformat(), "--env-file", "/nonexistent", *extra])


def families_in(text: str) -> set[str]:
    """Families with at least one sample (node_exporter drops a family that has none)."""
    typed = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    sampled = {line.split("{")[0].split()[0] for line in text.splitlines()
               if line and not line.startswith("#")}
    return typed & sampled


def promtool_check(path: Path) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool")
    with open(path, "rb") as handle:
        return subprocess.run([promtool, "check", "metrics"], stdin=handle,
                              capture_output=True, text=True, check=False)


@pytest.mark.parametrize("empty", [False, True], ids=["generated", "empty-database"])
def test_node_exporter_serves_every_family(db: Database[Any], mongod: Any, tmp_path: Path,
                                          empty: bool) -> None:
    if not empty:
        generate(db, GenOptions(seed=7, now=NOW, users=25, version="0.8.7"))
    else:  # a LibreChat that has just started: its collections and indexes, no documents
        ensure_indexes(db)
    out = tmp_path / "textfile"
    out.mkdir()
    assert run_job(db, mongod.uri, out) == lt.EXIT_OK
    path = out / "librechat.prom"
    written = path.read_text()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    check = promtool_check(path)
    assert check.returncode == 0, check.stderr
    with NodeExporter(out) as exporter:
        served = exporter.scrape()
    assert "node_textfile_scrape_error 0" in served
    assert f'node_textfile_mtime_seconds{{file="{path}"}}' in served
    assert families_in(written) <= families_in(served)
    samples, _ = parse(written)
    assert samples["librechat_exporter_up"][()] == 1.0
    messages = samples["librechat_messages_total"][()]
    assert (messages == 0.0) if empty else (messages > 100)


def test_every_compat_family_is_written_with_its_type(db: Database[Any], mongod: Any,
                                                      tmp_path: Path) -> None:
    generate(db, GenOptions(seed=3, now=NOW, users=10))
    out = tmp_path / "textfile"
    out.mkdir()
    assert run_job(db, mongod.uri, out) == lt.EXIT_OK
    _, types = parse((out / "librechat.prom").read_text())
    compat = {
        "librechat_messages_total": "counter", "librechat_error_messages_total": "counter",
        "librechat_input_tokens_total": "counter", "librechat_output_tokens_total": "counter",
        "librechat_conversations_total": "counter",
        "librechat_messages_per_model_total": "counter",
        "librechat_errors_per_model_total": "counter",
        "librechat_input_tokens_per_model_total": "counter",
        "librechat_output_tokens_per_model_total": "counter",
        "librechat_active_users": "gauge", "librechat_active_conversations": "gauge",
        "librechat_uploaded_files_total": "counter",
        "librechat_registered_users_total": "counter",
        "librechat_daily_unique_users": "gauge", "librechat_weekly_unique_users": "gauge",
        "librechat_monthly_unique_users": "gauge", "librechat_messages_5m": "gauge",
        "librechat_messages_per_model_5m": "gauge", "librechat_input_tokens_5m": "gauge",
        "librechat_output_tokens_5m": "gauge", "librechat_model_input_tokens_5m": "gauge",
        "librechat_model_output_tokens_5m": "gauge", "librechat_error_messages_5m": "gauge",
        "librechat_errors_per_model_5m": "gauge",
    }
    assert {name: types.get(name) for name in compat} == compat


def test_unreachable_mongodb_writes_up_0_and_keeps_state(db: Database[Any], mongod: Any,
                                                         tmp_path: Path) -> None:
    generate(db, GenOptions(seed=5, now=NOW, users=5))
    out = tmp_path / "textfile"
    out.mkdir()
    assert run_job(db, mongod.uri, out) == lt.EXIT_OK
    first_text = (out / "librechat.prom").read_text()
    succeeded = parse(first_text)[0]["librechat_exporter_last_success_timestamp_seconds"][()]
    state = tmp_path / "state" / "state.json"
    before = state.read_bytes()
    with refusing_port() as port:
        dead = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        assert run_job(db, dead, out, "--connect-timeout", "1", "--timeout", "3") == \
            lt.EXIT_FAILED
    kept, now = json.loads(before), json.loads(state.read_bytes())
    assert now.pop("runs") == {**kept.pop("runs"), "failed": 1.0}  # counted, nothing else
    assert now == kept
    samples, types = parse((out / "librechat.prom").read_text())
    assert samples["librechat_exporter_up"][()] == 0.0
    # The last success is still the first run's.
    assert samples["librechat_exporter_last_success_timestamp_seconds"][()] == succeeded
    # The counters at their last values, no stored-now gauge.
    first = parse(first_text)[0]
    assert {n for n in types if not n.startswith("librechat_exporter_")} == {
        n for n, t in parse(first_text)[1].items()
        if t == "counter" and not n.startswith("librechat_exporter_")} | {
        "librechat_token_source_info"}
    for name, rows in samples.items():
        if not name.startswith("librechat_exporter_"):
            assert rows == first[name], name
    assert promtool_check(out / "librechat.prom").returncode == 0


def test_stdout_prints_what_the_file_would_hold(db: Database[Any], mongod: Any,
                                                tmp_path: Path,
                                                capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    generate(db, GenOptions(seed=9, now=NOW, users=8))
    out = tmp_path / "textfile"
    out.mkdir()
    assert run_job(db, mongod.uri, out, "--stdout") == lt.EXIT_OK
    printed = capsysbinary.readouterr().out.decode()
    assert not (out / "librechat.prom").exists()
    assert not (tmp_path / "state" / "state.json").exists()
    assert run_job(db, mongod.uri, out) == lt.EXIT_OK
    written = (out / "librechat.prom").read_text()

    def business(text: str) -> dict[tuple[str, Any], float]:
        samples, _ = parse(text)
        return {(name, key): value for name, series in samples.items()
                if not name.startswith("librechat_exporter_") for key, value in series.items()}

    # Sums of floats may come back from MongoDB in another order: equal to rounding.
    assert business(printed) == pytest.approx(business(written), rel=1e-12)
    assert business(written)[("librechat_messages_total", ())] > 0


def test_second_run_a_minute_later_counts_only_new_documents(db: Database[Any], mongod: Any,
                                                             tmp_path: Path) -> None:
    from tests.librechat_data import make_message

    generate(db, GenOptions(seed=11, now=NOW, users=6))
    out = tmp_path / "textfile"
    out.mkdir()
    assert run_job(db, mongod.uri, out) == lt.EXIT_OK
    first, _ = parse((out / "librechat.prom").read_text())
    user = db.users.find_one({})["_id"]
    new = [make_message(str(user), "7f1c2b9e-3c1a-4a7e-9a51-0e7d5f2c1a11",
                        NOW + timedelta(seconds=10 + i), by_user=True, rng=i) for i in range(3)]
    db.messages.insert_many(new)
    later = NOW + timedelta(seconds=60)
    assert lt.main(["--mongodb-uri", mongod.uri, "--mongodb-database", db.name,
                    "--output", str(out / "librechat.prom"),
                    "--state-file", str(tmp_path / "state" / "state.json"),
                    "--now", later.isoformat(), "--env-file", "/nonexistent"]) == lt.EXIT_OK
    second, _ = parse((out / "librechat.prom").read_text())
    assert second["librechat_messages_total"][()] == first["librechat_messages_total"][()] + 3


def test_fractional_run_times_count_a_document_once(db: Database[Any], mongod: Any,
                                                    tmp_path: Path) -> None:
    # A document in the same second as a fractional horizon was counted twice (found by the
    # Prometheus end-to-end test with real clocks).
    from tests.librechat_data import ensure_indexes, make_message

    start = datetime(2026, 11, 2, 12, 0, 0, tzinfo=UTC)
    ensure_indexes(db)
    db.messages.insert_one(make_message("0" * 24, "c1", start + timedelta(milliseconds=200),
                                        by_user=True, rng=1))
    out = tmp_path / "textfile"
    out.mkdir()
    totals = []
    for offset in (300.5, 360.5, 420.5, 480.9):
        assert lt.main(["--mongodb-uri", mongod.uri, "--mongodb-database", db.name,
                        "--output", str(out / "librechat.prom"),
                        "--state-file", str(tmp_path / "state.json"), "--env-file", "/x",
                        "--now", (start + timedelta(seconds=offset)).isoformat()]) == 0
        samples, _ = parse((out / "librechat.prom").read_text())
        totals.append(samples["librechat_messages_total"][()])
    assert totals == [1.0, 1.0, 1.0, 1.0]
