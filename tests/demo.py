#!/usr/bin/env python3
"""Show the job's real output without a LibreChat: a throw-away mongod, generated data, --stdout.

    python3 tests/demo.py [--users 40] [--days 40] [--timezone Europe/Berlin] [--seed 1]
    python3 tests/demo.py --keep     # leave the mongod running; print the command to try
    python3 tests/demo.py --stop     # stop the kept mongod and delete its data

Starts a real mongod (the test-only binary from requirements-dev.txt) on a free loopback port
with a temporary data directory, writes a LibreChat deployment of `--users` users over `--days`
days as LibreChat stores it, runs `librechat_textfile.py --stdout` against it, prints the
metrics, and removes everything again.

With --keep the mongod stays up (in KEEP_DIR, one at a time) with the generated data, and the
demo prints the exact job command to run against it instead of running it; --stop ends that
mongod by its pid and removes KEEP_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.librechat_data import GenOptions, generate  # noqa: E402
from tests.mongod import Mongod, MongodError, find_mongod_binary, free_port  # noqa: E402

KEEP_DIR = Path(tempfile.gettempdir()) / "librechat-textfile-demo"
STOP_TIMEOUT_S = 15.0


def _generate(uri: str, args: argparse.Namespace) -> None:
    import pymongo

    client: pymongo.MongoClient = pymongo.MongoClient(uri, tz_aware=True)
    try:
        summary = generate(client["LibreChat"], GenOptions(
            seed=args.seed, now=datetime.now(UTC), days=args.days, users=args.users))
    finally:
        client.close()
    print(f"# generated: {summary.counts}", file=sys.stderr)


def job_command() -> list[str]:
    """How to start the job from here: the installed command beside this Python, else the
    entry module of the checkout (both as short as the current directory allows)."""
    installed = Path(sys.executable).with_name("librechat-textfile")
    if installed.is_file() and os.access(installed, os.X_OK):
        return [_short(installed)]
    return [_short(Path(sys.executable)), _short(ROOT / "librechat_textfile.py", command=False)]


def _short(path: Path, command: bool = True) -> str:
    try:
        relative = str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
    return relative if "/" in relative or not command else f"./{relative}"


def _kept() -> dict | None:
    try:
        return json.loads((KEEP_DIR / "demo.json").read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """True while `pid` is the mongod the demo kept (its command line names KEEP_DIR)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(KEEP_DIR).encode() in cmdline


def _print_try(uri: str) -> None:
    command = shlex.join([*job_command(), "--stdout", "--mongodb-uri", uri])
    demo = _short(Path(__file__).resolve(), command=False)
    stop = shlex.join([_short(Path(sys.executable)), demo, "--stop"])
    print(f"mongod with generated LibreChat data is running at {uri}\n"
          f"try the job against it:\n\n  {command}\n\nstop it and delete its data:\n\n"
          f"  {stop}")


def keep(args: argparse.Namespace) -> int:
    info = _kept()
    if info and _alive(info["pid"]):
        print(f"a kept demo mongod already runs (pid {info['pid']}); stop it first:",
              file=sys.stderr)
        _print_try(info["uri"])
        return 1
    shutil.rmtree(KEEP_DIR, ignore_errors=True)
    (KEEP_DIR / "db").mkdir(parents=True)
    port = free_port()
    # --fork: mongod detaches (its own session) once it accepts connections, so it outlives
    # this process and the terminal's Ctrl-C.
    proc = subprocess.run(
        [find_mongod_binary(), "--dbpath", str(KEEP_DIR / "db"), "--port", str(port),
         "--bind_ip", "127.0.0.1", "--nounixsocket", "--wiredTigerCacheSizeGB", "0.25",
         "--setParameter", "diagnosticDataCollectionEnabled=false",
         "--setParameter", "ttlMonitorEnabled=false",
         "--fork", "--logpath", str(KEEP_DIR / "mongod.log"),
         "--pidfilepath", str(KEEP_DIR / "mongod.pid")],
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"mongod did not start:\n{proc.stdout}{proc.stderr}", file=sys.stderr)
        shutil.rmtree(KEEP_DIR, ignore_errors=True)
        return 1
    pid = int((KEEP_DIR / "mongod.pid").read_text().split()[0])
    uri = f"mongodb://127.0.0.1:{port}/LibreChat"
    (KEEP_DIR / "demo.json").write_text(json.dumps({"pid": pid, "uri": uri}))
    try:
        _generate(uri, args)
    except BaseException:
        stop()
        raise
    _print_try(uri)
    return 0


def stop() -> int:
    info = _kept()
    if info is None:
        print(f"no kept demo mongod ({KEEP_DIR} has none)", file=sys.stderr)
        shutil.rmtree(KEEP_DIR, ignore_errors=True)
        return 0
    pid = info["pid"]
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(KEEP_DIR, ignore_errors=True)
    print(f"stopped the demo mongod (pid {pid}) and deleted {KEEP_DIR}")
    return 0


def once(args: argparse.Namespace) -> int:
    with Mongod() as server, tempfile.TemporaryDirectory() as tmp:
        _generate(server.uri, args)
        return subprocess.run(
            [sys.executable, str(ROOT / "librechat_textfile.py"), "--stdout",
             "--mongodb-uri", server.uri, "--mongodb-database", "LibreChat",
             "--state-file", str(Path(tmp) / "state.json"), "--timezone", args.timezone],
            check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timezone", default="UTC")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--keep", action="store_true",
                        help=f"leave the mongod running with its data (in {KEEP_DIR}) and "
                             "print the command to try against it")
    action.add_argument("--stop", action="store_true",
                        help="stop the mongod a --keep left running and delete its data")
    args = parser.parse_args(argv)
    try:
        if args.stop:
            return stop()
        return keep(args) if args.keep else once(args)
    except MongodError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
