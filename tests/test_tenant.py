"""The opt-in tenant label: each tenant's series equal the oracle over that tenant's documents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

import librechat_textfile as lt
from tests import oracle
from tests.librechat_data import LATEST, GenOptions, generate
from tests.promparse import Samples, parse

NOW = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
TENANTS = ["uni-a", "uni-b"]
# Families with no tenant label by design: the daily statistics, and counts that are not per
# tenant (bans live in LibreChat's Keyv store, which has no tenantId).
UNTENANTED = {
    "librechat_unique_users_yesterday", "librechat_unique_users_per_day_average",
    "librechat_unique_users_per_day_stddev", "librechat_messages_per_user_per_day_average",
    "librechat_messages_per_user_per_day_stddev", "librechat_messages_per_model_yesterday",
    "librechat_messages_per_model_per_day_average",
    "librechat_messages_per_model_per_day_stddev", "librechat_collection_documents",
    "librechat_token_source_info", "librechat_bans_active", "librechat_agent_info",
    "librechat_messages_sent_per_user_yesterday", "librechat_cost_usd_per_user_yesterday",
    "librechat_cost_share_of_top_users_yesterday", "librechat_spending_users_yesterday",
    "librechat_daily_unique_users", "librechat_weekly_unique_users",
    "librechat_monthly_unique_users", "librechat_unique_users", "librechat_churned_users",
}


def run(uri: str, db: Database[Any], workdir: Path, *extra: str) -> Samples:
    workdir.mkdir()
    code = lt.main(["--mongodb-uri", uri, "--mongodb-database", db.name,
                    "--output", str(workdir / "librechat.prom"),
                    "--state-file", str(workdir / "state.json"), "--env-file", "/nonexistent",
                    "--now", NOW.isoformat(), *extra])
    assert code == lt.EXIT_OK
    samples, _ = parse((workdir / "librechat.prom").read_text())
    return samples


def of_tenant(samples: Samples, tenant: str) -> Samples:
    """The samples of one tenant, with the tenant label taken off."""
    out: Samples = {}
    for name, series in samples.items():
        for key, value in series.items():
            labels = dict(key)
            if labels.pop("tenant", None) == tenant:
                out.setdefault(name, {})[tuple(sorted(labels.items()))] = value
    return out


def tenant_snapshot(snap: oracle.Snapshot, tenant: str) -> oracle.Snapshot:
    docs = {name: [d for d in rows if d.get("tenantId") == tenant or name == "logs"]
            for name, rows in snap.docs.items()}
    return oracle.Snapshot(docs, snap.counts, snap.present)


@pytest.fixture
def tenant_db(db: Database[Any]) -> Database[Any]:
    generate(db, GenOptions(seed=21, now=NOW, users=24, version=LATEST, tenants=TENANTS))
    assert set(db.messages.distinct("tenantId")) == set(TENANTS)
    return db


def test_each_tenant_matches_the_oracle_over_its_documents(uri: str, tenant_db: Database[Any],
                                                          tmp_path: Path) -> None:
    samples = run(uri, tenant_db, tmp_path / "job", "--tenant-label", "true")
    snap = oracle.Snapshot.read(tenant_db)
    families = [f for f, *_ in oracle.FAMILIES if f not in UNTENANTED]
    for tenant in TENANTS:
        expected = oracle.compute(tenant_snapshot(snap, tenant), oracle.Config(now=NOW))
        mine = of_tenant(samples, tenant)
        # Zeros cross every tenant with every value a dimension holds (README, "Label
        # dimensions"); a tenant's own oracle knows only its values, so its zeros are checked
        # on their own: each extra sample the job writes for this tenant is a 0.
        extra = {name: {k for k in rows if k not in expected.samples.get(name, {})}
                 for name, rows in mine.items()}
        assert all(mine[n][k] == 0 for n, keys in extra.items() for k in keys)
        mine = {n: {k: v for k, v in rows.items() if k not in extra[n]} for n, rows in mine.items()}
        problems = oracle.compare(mine, expected, families)
        assert not problems, f"tenant {tenant}:\n" + "\n".join(problems)
        assert mine["librechat_messages_total"][()] > 0


def test_tenant_series_add_up_to_the_untenanted_file(uri: str, tenant_db: Database[Any],
                                                     tmp_path: Path) -> None:
    plain = run(uri, tenant_db, tmp_path / "plain")
    tenanted = run(uri, tenant_db, tmp_path / "tenanted", "--tenant-label", "true")
    for name in ("librechat_messages_total", "librechat_input_tokens_total",
                 "librechat_cost_usd_total", "librechat_files", "librechat_users"):
        assert sum(tenanted[name].values()) == pytest.approx(sum(plain[name].values()))
        assert all(("tenant", t) in {kv for key in tenanted[name] for kv in key}
                   for t in TENANTS), name


def test_documents_without_tenant_id_are_tenant_unknown(uri: str, db: Database[Any],
                                                       tmp_path: Path) -> None:
    # A single-tenant LibreChat (or one before 0.8.5) has no tenantId at all.
    generate(db, GenOptions(seed=22, now=NOW, users=6, version="0.8.3"))
    samples = run(uri, db, tmp_path / "job", "--tenant-label", "true")
    assert set(samples["librechat_messages_total"]) == {(("tenant", "none"),)}
