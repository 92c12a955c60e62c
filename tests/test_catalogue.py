"""The catalogue: every family declared once, documented in docs/metrics.md as declared (the
file is generated from it), filled by code that names its declaration (never a string), each by
the one section the reference names, and rendered as declared."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo.database import Database

from librechat_metrics import catalogue as cat
from librechat_metrics.clock import Clock
from librechat_metrics.families import Family
from librechat_metrics.reference import (
    COMMAND,
    families_named_by,
    reference,
    sections_of_families,
)
from librechat_metrics.run import collect
from librechat_metrics.sections.registry import SECTIONS
from librechat_metrics.settings import Settings
from tests.fault_report import job_argv, run_job
from tests.librechat_data import GenOptions, generate
from tests.promparse import parse

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "librechat_metrics"
REFERENCE = ROOT / "docs" / "metrics.md"


Row = tuple[str, str, tuple[str, ...], dict[str, tuple[str, ...]], tuple[str, ...], bool, str,
            str]


def reference_families() -> dict[str, Row]:
    """{name: (section, type, labels, closed values, open-ended labels, tenant, since, HELP)}
    read back from docs/metrics.md's tables, plainly: the `## section` above each row, and the
    row's cells as the file's legend explains them."""
    found: dict[str, Row] = {}
    section = ""
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) != 5 or not cells[0].startswith("`librechat_"):
            continue
        name, labels_cell = cells[0].strip("`"), cells[2]
        tenant = labels_cell.endswith("(`tenant`)")
        labels_cell = labels_cell.removesuffix("(`tenant`)").rstrip(", ")
        labels, closed, open_ended = [], {}, []
        for label, star, values in re.findall(r"`([a-z_]+)`(\\\*)?(?:: ([^`]+?))?(?:, (?=`)|$)",
                                              labels_cell):
            labels.append(label)
            if star:
                open_ended.append(label)
            if values:
                closed[label] = tuple(v.strip() for v in values.split(","))
        help_text = cells[4].replace("\\|", "|").replace("&lt;", "<").replace("&gt;", ">")
        assert name not in found, f"{name} is listed twice in docs/metrics.md"
        found[name] = (section, cells[1], tuple(labels), closed, tuple(open_ended), tenant,
                       cells[3], help_text)
    return found


def test_reference_is_what_the_catalogue_generates() -> None:
    assert REFERENCE.read_text() == reference(), (
        f"docs/metrics.md is not what the catalogue generates; run `{COMMAND}`")


def test_reference_lists_every_family_as_declared() -> None:
    listed = reference_families()
    assert sorted(set(cat.CATALOGUE) - set(listed)) == [], "declared but not in docs/metrics.md"
    assert sorted(set(listed) - set(cat.CATALOGUE)) == [], "listed but not declared"
    for name, spec in cat.CATALOGUE.items():
        _section, kind, labels, closed, open_ended, tenant, since, help_text = listed[name]
        assert (kind, labels, since, help_text) == (spec.kind, spec.labels, spec.since,
                                                    spec.help), name
        assert closed == dict(spec.closed), name
        assert set(open_ended) == {label for group, _ in spec.dims for label in group}, name
        assert tenant == spec.tenanted, name


GAUGES = (cat.USERS, cat.FILES)


class Reader:
    def families(self) -> list[Family]:
        return [Family.of(cat.AGENTS)]


def helper() -> list[Family]:
    return [Family.of(cat.SESSIONS_ACTIVE), *Reader().families()]


def test_attribution_follows_constants_calls_and_methods() -> None:
    """What a compute function names, as families_named_by finds it: a declaration, a module
    constant of declarations, a function it calls and the methods of a class it uses."""
    def compute() -> list[Family]:
        return [Family.of(spec) for spec in GAUGES] + helper()

    assert families_named_by(compute) == {"librechat_users", "librechat_files",
                                          "librechat_sessions_active", "librechat_agents"}


def test_every_family_is_computed_by_one_section() -> None:
    where = sections_of_families()
    assert {name: s for name, s in where.items() if len(s) != 1} == {}
    listed = reference_families()
    assert {name: listed[name][0] for name in where} == {n: s[0] for n, s in where.items()}
    # The counters a section keeps (restore.py needs them) are among the families it computes.
    for section in SECTIONS:
        for spec in section.counters:
            assert where[spec.name] == [section.name], spec.name


def test_since_is_a_release_the_changelog_names() -> None:
    releases = set(re.findall(r"(?m)^## (\d+\.\d+\.\d+)$", (ROOT / "CHANGELOG.md").read_text()))
    assert {spec.since for spec in cat.CATALOGUE.values()} <= releases
    # 2.0.0 lists its new families and its renames; every other family is from 1.0.0.
    changelog = (ROOT / "CHANGELOG.md").read_text()
    v2 = changelog[changelog.index("\n## 2.0.0\n"):changelog.index("\n## 1.0.0\n")]
    renames = [row.split("|")[1:3] for row in v2[v2.index("### Renamed"):].splitlines()
               if row.startswith("| `librechat_")]
    renamed = {re.findall(r"`([a-z0-9_]+)", after)[0] for before, after in renames} - {
        re.findall(r"`([a-z0-9_]+)", before)[0] for before, after in renames}
    new = set(re.findall(r"`(librechat_[a-z0-9_]+)", v2[v2.index("### New families"):]
                         .split("\n### ")[0]))
    assert {n for n, spec in cat.CATALOGUE.items() if spec.since == "2.0.0"} == renamed | new


def test_the_sections_write_the_families_the_reference_gives_them(
        db: Database[Any], uri: str, tmp_path: Path) -> None:
    """Each section run on its own against a generated LibreChat writes exactly the families
    docs/metrics.md puts under it; a run of the job writes every family it puts under job."""
    now = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    generate(db, GenOptions(seed=71, users=12, days=35, now=now))
    settings = Settings(mongodb_database=db.name, stdout=True)
    listed = reference_families()
    for section in SECTIONS:
        clock = Clock(now, ZoneInfo("UTC"), deadline=time.monotonic() + 60)
        result = collect(db, clock, {}, settings, sections=[section])
        assert result.errors == {section.name: 0}
        written = {family.name for family in result.families}
        expected = {name for name, row in listed.items() if row[0] == section.name}
        assert written == expected, section.name
    # The job's own metrics: a whole run of the job, as cron starts it.
    run = run_job(job_argv(uri, tmp_path, database=db.name, timeout=30, connect_timeout=5))
    assert run.returncode == 0, run.stderr
    samples, _ = parse((tmp_path / "librechat.prom").read_text())
    job = {name for name, row in listed.items() if row[0] == "job"}
    assert {name for name in samples if name in job} == job


def package_sources() -> dict[Path, str]:
    return {path: path.read_text() for path in PACKAGE.rglob("*.py")}


def test_each_name_is_written_once_in_the_package() -> None:
    # Grep a name, land on its declaration: no other module spells it, none builds it.
    sources = package_sources()
    for name in cat.CATALOGUE:
        places = [path.relative_to(ROOT).as_posix() for path, text in sources.items()
                  if f'"{name}"' in text]
        assert places == ["librechat_metrics/catalogue.py"], (name, places)
        assert sources[PACKAGE / "catalogue.py"].count(f'"{name}"') == 1, name


def test_no_metric_name_is_built_at_run_time() -> None:
    for path, text in package_sources().items():
        # An f-string that starts like a metric name and has a placeholder in the name.
        assert not re.search(r"""f["']librechat_[a-z0-9_]*\{""", text), path
        assert not re.search(r"""["']librechat_[a-z0-9_]*["']\s*[+%]""", text), path


def test_every_declaration_is_filled_by_some_section() -> None:
    constants = {spec.name: const for const, spec in vars(cat).items()
                 if isinstance(spec, cat.Spec)}
    assert set(constants) == set(cat.CATALOGUE), "every spec is a module constant"
    others = "\n".join(text for path, text in package_sources().items()
                       if path.name != "catalogue.py")
    unused = [const for const in constants.values()
              if not re.search(rf"\bcat\.{const}\b", others)]
    assert unused == []


def test_a_label_name_not_declared_is_refused() -> None:
    family = Family.of(cat.MESSAGES_PER_MODEL_TOTAL)
    with pytest.raises(KeyError, match="librechat_messages_per_model_total"):
        family.inc(1, modle="gpt-4o")
    with pytest.raises(KeyError):
        family.inc(1)  # a missing label is refused too
    family.inc(2, model="gpt-4o", tenant="ignored while the tenant label is off")
    assert family.samples == {("gpt-4o",): 2.0}


def test_the_tenant_label_follows_the_declaration() -> None:
    assert cat.MESSAGES_PER_MODEL_TOTAL.labelnames(True) == ("model", "tenant")
    assert cat.UNIQUE_USERS_YESTERDAY.labelnames(True) == ()
    family = Family.of(cat.MESSAGES_PER_MODEL_TOTAL, tenant=True)
    family.inc(1, model="m", tenant="t1")
    assert family.samples == {("m", "t1"): 1.0}


def test_open_ended_labels_share_dimensions_and_closed_ones_are_listed() -> None:
    assert cat.TOOL_CALLS_TOTAL.dims == ((("tool", "mcp_server"), cat.TOOL),)
    assert cat.TOOL_CALL_ERRORS_TOTAL.dims == cat.TOOL_CALLS_TOTAL.dims
    assert cat.ENDPOINT_MESSAGES_TOTAL.dims == ((("endpoint",), cat.ENDPOINT),)
    assert dict(cat.ENDPOINT_MESSAGES_TOTAL.closed) == {"role": ("user", "assistant")}
    assert dict(cat.TOKENS_TOTAL.closed)["kind"] == (
        "uncached_prompt", "cache_read", "cache_write", "completion")
    assert cat.EXPORTER_ERRORS.dims == ()
    # Every family with a model label shares the one model dimension.
    by_model = [s for s in cat.CATALOGUE.values() if "model" in s.labels
                and s is not cat.AGENT_INFO]
    assert by_model and all(((("model",), cat.MODEL)) in s.dims for s in by_model)
