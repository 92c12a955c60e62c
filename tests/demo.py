#!/usr/bin/env python3
"""Show the job's real output without a LibreChat: a throw-away mongod, generated data, --stdout.

    python3 tests/demo.py [--users 40] [--days 40] [--timezone Europe/Berlin] [--seed 1]

Starts a real mongod (the test-only binary from requirements-dev.txt) on a free loopback port
with a temporary data directory, writes a LibreChat deployment of `--users` users over `--days`
days as LibreChat stores it, runs `librechat_textfile.py --stdout` against it, prints the
metrics, and removes everything again.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.librechat_data import GenOptions, generate  # noqa: E402
from tests.mongod import Mongod  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timezone", default="UTC")
    args = parser.parse_args(argv)
    import pymongo

    with Mongod() as server, tempfile.TemporaryDirectory() as tmp:
        client: pymongo.MongoClient = pymongo.MongoClient(server.uri, tz_aware=True)
        summary = generate(client["LibreChat"], GenOptions(
            seed=args.seed, now=datetime.now(UTC), days=args.days, users=args.users))
        client.close()
        print(f"# generated: {summary.counts}", file=sys.stderr)
        return subprocess.run(
            [sys.executable, str(ROOT / "librechat_textfile.py"), "--stdout",
             "--mongodb-uri", server.uri, "--mongodb-database", "LibreChat",
             "--state-file", str(Path(tmp) / "state.json"), "--timezone", args.timezone],
            check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
