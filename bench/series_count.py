"""How many series one tenant and one model add to librechat.prom, measured from a real run.

    python3 bench/series_count.py [--tenants 4] [--models 60] [--label-limit 50]

Starts a throw-away mongod (tests/mongod.py), generates a multi-tenant LibreChat 0.8.7
(tests/librechat_data.py, 8 users per tenant), adds for every tenant one answer and its two
transactions for each of ``--models`` extra models (so that the model table is full: 50 slots
and 'other'), runs the job once with ``--tenant-label true`` and prints the file's sample
lines (the series Prometheus stores), those of one tenant and those of one model. The other
open labels (endpoints, tools, agents, file sources, ...) hold the values the generator makes.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import librechat_data as ld  # noqa: E402
from tests.mongod import Mongod  # noqa: E402


def add_models(db: pymongo.database.Database, tenants: list[str], models: int,
               now: datetime) -> None:
    """One answer and its prompt and completion transactions per tenant and extra model."""
    rng = random.Random(7)
    at = now - timedelta(hours=2)
    messages, transactions = [], []
    for tenant in tenants:
        user = db.users.find_one({"tenantId": tenant})
        assert user is not None
        for i in range(models):
            model = f"custom-model-{i:02d}"
            answer = ld.make_message(user["_id"], f"bench-{tenant}-{i}", at, by_user=False,
                                     model=model, rng=rng)
            answer["tenantId"] = tenant
            messages.append(answer)
            for kind, amount in (("prompt", -100 - i), ("completion", -10 - i)):
                txn = ld.make_transaction(user["_id"], at, kind, model, amount, rng=rng)
                txn["tenantId"] = tenant
                transactions.append(txn)
    db.messages.insert_many(messages)
    db.transactions.insert_many(transactions)


def sample_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--models", type=int, default=60)
    parser.add_argument("--label-limit", type=int, default=50)
    args = parser.parse_args()
    tenants = [f"tenant-{i:02d}" for i in range(args.tenants)]
    now = datetime.now(UTC).replace(microsecond=0)
    with Mongod() as server, tempfile.TemporaryDirectory() as tmp:
        client: pymongo.MongoClient = pymongo.MongoClient(server.uri)
        db = client["LibreChat"]
        ld.generate(db, ld.GenOptions(seed=3, now=now, users=8 * args.tenants, version="0.8.7",
                                      tenants=tenants))
        add_models(db, tenants, args.models, now)
        output = Path(tmp) / "librechat.prom"
        subprocess.run([sys.executable, str(ROOT / "librechat_textfile.py"),
                        "--mongodb-uri", server.uri, "--mongodb-database", "LibreChat",
                        "--output", str(output), "--state-file", str(Path(tmp) / "state.json"),
                        "--tenant-label", "true", "--label-limit", str(args.label_limit),
                        "--now", now.isoformat(), "--env-file", "/nonexistent"],
                       check=True)
        lines = sample_lines(output.read_text())
    one_tenant = [line for line in lines if f'tenant="{tenants[0]}"' in line]
    one_model = [line for line in lines if 'model="custom-model-00"' in line]
    untenanted = [line for line in lines if 'tenant="' not in line]
    print(f"series in the file: {len(lines)} ({len(untenanted)} without a tenant label), "
          f"{args.tenants} tenants, --label-limit {args.label_limit}")
    print(f"series of tenant {tenants[0]}: {len(one_tenant)}")
    print(f"series of model custom-model-00: {len(one_model)} "
          f"({len(one_model) / args.tenants:.0f} per tenant)")
    families = Counter(re.match(r"[a-z_0-9]+", line).group(0)  # type: ignore[union-attr]
                       for line in one_tenant)
    for name, count in families.most_common(8):
        print(f"  {count:5d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
