"""The opt-in tenant label: each tenant's series equal the oracle over that tenant's documents;
tenants are capped by --label-limit and age by --label-ttl like any open label."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

import librechat_textfile as lt
from tests import oracle
from tests.librechat_data import LATEST, GenOptions, generate, make_message
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


# ---------------------------------------------------------------------------------------------
# The tenant label is capped like a model: --label-limit tenants, the rest summed into 'other'

THREE = ["uni-a", "uni-b", "uni-c"]
# Families with no other open label: a tenant's value is that tenant's oracle value.
PLAIN = ("librechat_messages_total", "librechat_error_messages_total",
         "librechat_conversations_total", "librechat_input_tokens_total",
         "librechat_output_tokens_total", "librechat_registered_users_total",
         "librechat_uploaded_files_total", "librechat_balances", "librechat_sessions_active")


def tenants_of(samples: Samples) -> dict[str, set[str]]:
    """family -> the tenant label values it writes."""
    return {name: {dict(key)["tenant"] for key in series if "tenant" in dict(key)}
            for name, series in samples.items()}


def oracle_total(snap: oracle.Snapshot, tenants: list[str], family: str) -> float:
    """The oracle's value of a family without labels over the documents of these tenants."""
    return sum(oracle.compute(tenant_snapshot(snap, t), oracle.Config(now=NOW)).samples[
        family].get((), 0.0) for t in tenants)


@pytest.fixture
def three_tenants(db: Database[Any]) -> Database[Any]:
    generate(db, GenOptions(seed=23, now=NOW, users=30, version="0.8.7", tenants=THREE))
    return db


def test_tenants_beyond_the_label_limit_are_summed_into_other(
        uri: str, three_tenants: Database[Any], tmp_path: Path) -> None:
    """With --label-limit 2 the two tenants with the most counted messages keep their series
    in every tenanted family; the third is summed into tenant 'other', which equals the oracle
    over its documents; nothing is lost against the untenanted file."""
    db = three_tenants
    snap = oracle.Snapshot.read(db)
    volume = {t: oracle_total(snap, [t], "librechat_messages_total") for t in THREE}
    ranked = sorted(THREE, key=lambda t: (-volume[t], t))
    kept, folded = set(ranked[:2]), ranked[2:]
    assert len(set(volume.values())) == 3, f"the generated volumes tie: {volume}"
    samples = run(uri, db, tmp_path / "capped", "--tenant-label", "true", "--label-limit", "2")
    written = {name: values for name, values in tenants_of(samples).items() if values}
    assert len(written) >= 20
    for name, values in written.items():
        assert values <= kept | {"other"}, f"{name} writes tenants {values}"
    for name in PLAIN:
        for tenant in kept:
            assert samples[name][(("tenant", tenant),)] == pytest.approx(
                oracle_total(snap, [tenant], name)), (name, tenant)
        assert samples[name][(("tenant", "other"),)] == pytest.approx(
            oracle_total(snap, folded, name)), name
    plain = run(uri, db, tmp_path / "plain", "--label-limit", "2")
    for name in (*PLAIN, "librechat_cost_usd_total", "librechat_users", "librechat_files"):
        assert sum(samples[name].values()) == pytest.approx(sum(plain[name].values())), name


def test_a_silent_tenant_leaves_after_the_label_ttl(uri: str, three_tenants: Database[Any],
                                                    tmp_path: Path) -> None:
    """A tenant no run has counted anything of for --label-ttl days frees its slot: its series
    end; the tenants still counting keep theirs; one that comes back takes a slot anew."""
    db = three_tenants
    workdir = tmp_path / "job"
    workdir.mkdir()
    args = ["--tenant-label", "true", "--label-ttl", "1"]

    def job(now: datetime) -> Samples:
        code = lt.main(["--mongodb-uri", uri, "--mongodb-database", db.name,
                        "--output", str(workdir / "librechat.prom"),
                        "--state-file", str(workdir / "state.json"),
                        "--env-file", "/nonexistent", "--now", now.isoformat(), *args])
        assert code == lt.EXIT_OK
        return parse((workdir / "librechat.prom").read_text())[0]

    first = job(NOW)
    assert {"uni-a", "uni-b", "uni-c"} <= tenants_of(first)["librechat_messages_total"]
    # Two days on, uni-a and uni-b send messages every day, uni-c nothing.
    for day in (1, 2):
        for tenant in ("uni-a", "uni-b"):
            tenant_message(db, tenant, NOW + timedelta(days=day))
        later = job(NOW + timedelta(days=day, minutes=1))
    families = {name: values for name, values in tenants_of(later).items() if values}
    assert all("uni-c" not in values for values in families.values()), families
    assert {"uni-a", "uni-b"} <= families["librechat_messages_total"]
    # uni-c comes back: a new series from its new messages only.
    tenant_message(db, "uni-c", NOW + timedelta(days=3))
    back = job(NOW + timedelta(days=3, minutes=1))
    assert back["librechat_messages_total"][(("tenant", "uni-c"),)] == 1


def tenant_message(db: Database[Any], tenant: str, at: datetime) -> None:
    """One question of a user of that tenant, as LibreChat 0.8.7 saves it."""
    user = db.users.find_one({"tenantId": tenant})
    assert user is not None
    message = make_message(user["_id"], f"conv-{tenant}-{at.timestamp():.0f}", at, by_user=True,
                           rng=random.Random(f"{tenant} {at.isoformat()}"))
    message["tenantId"] = tenant
    db.messages.insert_one(message)


def test_totals_of_tenants_beyond_the_cap_fold_into_other_on_upgrade(
        uri: str, three_tenants: Database[Any], tmp_path: Path) -> None:
    """A state of 2.1.1 (no tenant slots, every tenant's totals) with more tenants than
    --label-limit: the first run keeps the biggest tenants' series and sums the others into
    'other'; no total is lost or counted twice."""
    db = three_tenants
    workdir = tmp_path / "job"
    before = run(uri, db, workdir, "--tenant-label", "true")
    state_path = workdir / "state.json"
    state = json.loads(state_path.read_text())
    state["dimensions"].pop("tenant")  # what 2.1.1 kept: no slot table for tenants
    state_path.write_text(json.dumps(state))
    snap = oracle.Snapshot.read(db)
    volume = {t: oracle_total(snap, [t], "librechat_messages_total") for t in THREE}
    ranked = sorted(THREE, key=lambda t: (-volume[t], t))
    code = lt.main(["--mongodb-uri", uri, "--mongodb-database", db.name,
                    "--output", str(workdir / "librechat.prom"), "--state-file", str(state_path),
                    "--env-file", "/nonexistent", "--now", (NOW + timedelta(minutes=1)).isoformat(),
                    "--tenant-label", "true", "--label-limit", "2"])
    assert code == lt.EXIT_OK
    after = parse((workdir / "librechat.prom").read_text())[0]
    for name in PLAIN:
        assert set(tenants_of(after)[name]) <= set(ranked[:2]) | {"other"}, name
        assert sum(after[name].values()) == pytest.approx(sum(before[name].values())), name
        assert after[name][(("tenant", "other"),)] == pytest.approx(
            before[name][(("tenant", ranked[2]),)]), name
