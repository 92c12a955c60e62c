"""Atomic rewrites: a real node_exporter, scraped in a tight loop over HTTP, never sees a
partial or missing librechat.prom while the job rewrites it hundreds of times.

Between runs a new message is inserted, so every rewrite changes the file; the scrapes also
show the messages counter never going down.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

import librechat_textfile as lt
from tests.fault_report import Recorder, recorder, run_in_process
from tests.librechat_data import GenOptions, generate, make_message
from tests.services import NodeExporter, http_get, require_binary

REWRITES = int(os.environ.get("ATOMICITY_REWRITES", "250"))
SCRAPE_ERROR = re.compile(r"^node_textfile_scrape_error (\S+)$", re.M)
UP = re.compile(r"^librechat_exporter_up (\S+)$", re.M)
MESSAGES = re.compile(r"^librechat_messages_total (\S+)$", re.M)


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Recorder:
    return recorder(request.config)


class Scraper(threading.Thread):
    """GET /metrics as fast as node_exporter answers, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.scrapes = 0
        self.errors: list[str] = []  # scrape_error 1, or no scrape_error line at all
        self.missing_up: list[str] = []
        self.messages: list[float] = []
        self.http_failures = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status, body = http_get(self.url, timeout=5)
            except OSError:
                self.http_failures += 1
                continue
            if status != 200:
                self.http_failures += 1
                continue
            self.scrapes += 1
            flag = SCRAPE_ERROR.search(body)
            if flag is None or flag.group(1) != "0":
                self.errors.append(body[-500:])
            if not UP.search(body):
                self.missing_up.append(body[-500:])
            count = MESSAGES.search(body)
            if count:
                self.messages.append(float(count.group(1)))


def in_place_control(url: str, path: Path, writes: int = 20) -> list[bool]:
    """The harness can see a torn file: rewrite it in place (open 'w', two writes), as a naive
    writer would, and scrape each time while only the first half is written (cut inside a
    labelled sample, so the half is never a valid file by chance). Returns, per write,
    whether that scrape reported scrape_error 1."""
    data = path.read_bytes()
    cut = data.index(b'{', len(data) // 2) + 1
    caught = []
    for _ in range(writes):
        with open(path, "wb") as handle:
            handle.write(data[:cut])
            handle.flush()
            status, body = http_get(f"{url}/metrics", timeout=5)
            flag = SCRAPE_ERROR.search(body)
            caught.append(status == 200 and flag is not None and flag.group(1) == "1")
            handle.write(data[cut:])
    path.write_bytes(data)
    return caught


def test_node_exporter_never_sees_a_partial_file(db: Database[Any], mongod: Any,
                                                 tmp_path: Path, reliability: Recorder) -> None:
    require_binary("prometheus-node-exporter")
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    generate(db, GenOptions(seed=81, users=4, days=3))
    user = str(db.users.find_one({})["_id"])
    argv = ["--mongodb-uri", mongod.uri, "--mongodb-database", db.name,
            "--output", str(textfile / "librechat.prom"),
            "--state-file", str(tmp_path / "state" / "state.json"),
            "--timeout", "20", "--connect-timeout", "5", "--env-file", "/nonexistent"]
    first = run_in_process(argv)
    assert first.returncode == lt.EXIT_OK, first.stderr
    codes: list[int] = []
    versions: set[bytes] = set()
    with NodeExporter(textfile) as exporter:
        scraper = Scraper(f"{exporter.url}/metrics")
        scraper.start()
        started = time.monotonic()
        try:
            for i in range(REWRITES):
                db.messages.insert_one(make_message(
                    user, "0a7e5b1c-1d2e-4f3a-8b4c-5d6e7f8a9b0c", datetime.now(UTC),
                    by_user=i % 2 == 0, model=None if i % 2 == 0 else "gpt-4o", rng=10_000 + i))
                codes.append(run_in_process(argv).returncode)
                versions.add((textfile / "librechat.prom").read_bytes())
        finally:
            elapsed = time.monotonic() - started
            time.sleep(0.2)
            scraper.stop.set()
            scraper.join(timeout=10)
        control = in_place_control(exporter.url, textfile / "librechat.prom")
    assert all(control), f"control: {control.count(False)} of {len(control)} half-written " \
        "files were not reported by node_exporter"
    assert codes == [lt.EXIT_OK] * REWRITES
    assert sorted(os.listdir(textfile)) == ["librechat.prom"], "temp files left behind"
    assert scraper.scrapes >= REWRITES, "the scraper was too slow to race the writer"
    assert scraper.errors == [], f"{len(scraper.errors)} scrapes with scrape_error 1"
    assert scraper.missing_up == [], f"{len(scraper.missing_up)} scrapes without up"
    assert scraper.http_failures == 0
    assert len(versions) == REWRITES, "a run did not rewrite the file with new values"
    assert scraper.messages == sorted(scraper.messages), "messages_total went down"
    distinct = len(set(scraper.messages))
    # A message is counted once its _id second has passed, so the counter steps once a second.
    assert max(scraper.messages) - min(scraper.messages) >= REWRITES // 2
    reliability.record(
        "node_exporter scraped in a tight loop while the job rewrites the file",
        f"{REWRITES} rewrites in {elapsed:.1f} s, {scraper.scrapes} scrapes, "
        f"{len(scraper.errors)} with scrape_error 1, {len(scraper.missing_up)} without "
        f"librechat_exporter_up; {distinct} distinct messages_total values served, never "
        f"decreasing. Control, in-place writes scraped half-written: {sum(control)} of "
        f"{len(control)} with scrape_error 1", exit_code=codes,
        file_state=f"{len(scraper.errors)} scrape errors",
        cases=f"{REWRITES} rewrites, {scraper.scrapes} scrapes")
