"""The Grafana dashboard and the alert rules, checked against the job's real output.

* promtool: ``check rules`` and ``test rules`` pass; every alert has a firing and a not-firing
  unit test; the weekly traffic in the unit tests is what ``tests/dash_weekly.py`` generates;
  only the database unreachable while users are active is critical (its own group); per-model
  rules have a share-of-traffic floor and never judge ``none``/``other``; every rule has a
  summary, a description with its value and a ``runbook_url`` whose anchor (GitHub's rules) is
  that alert's own heading of ``docs/runbook.md``, which says what to check first and then what
  to do; docs/operating.md's alert table names every rule with its severity, TUNE and
  firing time.
* Dashboard lint: importable JSON; the job-health row comes first; every stat panel is an
  instant query and shows a missing series as "No data" in a problem colour; every stat of
  LibreChat numbers carries the freshness guard (a run younger than ``$stale_after`` that
  reached MongoDB); every panel has a unit; rate windows of at least 5 minutes; agents by name,
  the agent-cost top 10 without ``other``; the finish reason panels say most LibreChat versions
  save none; no rate()/increase()/irate() over a gauge and no counter outside them (types read
  from the ``# TYPE`` lines of a real run of the job); every ``librechat_*`` metric the
  dashboard or the rules name is written by the job; legend labels exist on the metrics;
  ``$tenant`` and ``$model`` filter exactly the families that carry the label in a real run,
  and the panels ``$tenant`` cannot filter say so.
* End to end: real mongod with generated LibreChat data -> the job runs with ``--now`` 3, 2
  and 1 minutes ago (new traffic between runs), then in real time, writing librechat.prom -> a
  real node_exporter serves it -> a real Prometheus scrapes it every second and loads the rules
  while the job rewrites the file with more traffic. Prometheus holds what the job wrote, no
  stored document is missed and no counter resets; every panel query (template variables
  substituted, stat panels as the instant queries they are) parses and returns data, with every
  ``{{label}}`` of its legend on every series; one model picked, every model panel shows that
  model only; the series and size panels show the file's sample lines and bytes; the runway
  is the credits of LibreChat's balances over the spend rate; the finish reason panels show
  "not saved" on a LibreChat that saves none; every alert rule loads, evaluates without error,
  and names only series that exist. Then trouble is made for real (a burst of failed, cut-off
  and expensive answers; a denied admin action and scheduled runs failing; a file 10 minutes
  old; a broken .prom file beside it; a run that cannot reach MongoDB; runs stopped with the
  last file saying up 1; the file removed): the matching alerts go pending in Prometheus; with
  MongoDB gone the health row says DOWN, the stored-now stats No data and the range stats
  survive, until ``$stale_after`` passes; with the file frozen the health row says STALE and
  no LibreChat stat shows a number; once the file is gone every stat but node_exporter's own
  is No data.
* A second end-to-end test: a multi-tenant site (``--tenant-label``) and an empty LibreChat
  side by side. Selecting every tenant explicitly shows what All shows, one tenant fills every
  stat, and a healthy empty site fills every stat too (No data is reserved for trouble; the
  runway says "no balance records").
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import ObjectId
from prometheus_client.parser import text_string_to_metric_families
from pymongo.database import Database

from tests import dash_weekly, librechat_data
from tests.mongod import ExternalServer, Mongod
from tests.services import (
    NODE_EXPORTER_BINARY,
    PROMETHEUS_BINARY,
    PROMTOOL_BINARY,
    NodeExporter,
    Prometheus,
    free_port,
    require_binary,
)

ROOT = Path(__file__).resolve().parent.parent
JOB = ROOT / "librechat_textfile.py"
DASHBOARD = ROOT / "dashboards" / "librechat.json"
RULES = ROOT / "alerts" / "librechat.rules.yml"
RULES_TEST = ROOT / "alerts" / "librechat.rules.test.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
# The base every runbook_url starts with, stated at the top of the rules file; the admin
# replaces it with where the docs are published.
RUNBOOK_BASE = "https://runbooks.example.com/librechat-textfile"
OPERATING = ROOT / "docs" / "operating.md"
# The librechat-features group's unit tests (issue 22) have a file of their own.
RULES_TESTS = (RULES_TEST, ROOT / "alerts" / "librechat-features.rules.test.yml")

ROWS = ("Job health", "Activity", "Tokens & cost", "Quality", "Tools & agents", "Users & files",
        "Job details", "LibreChat 0.8 features")
# The first row, title -> the series its stat reads. Compact: one line of stats.
HEALTH_ROW = {
    "Job status": {"librechat_exporter_up", "librechat_exporter_run_timestamp_seconds"},
    "Since the last successful run": {"librechat_exporter_last_success_timestamp_seconds"},
    "Age of the .prom file": {"node_textfile_mtime_seconds"},
    "Textfile scrape error": {"node_textfile_scrape_error"},
    "First count": {"librechat_exporter_backfill_progress_ratio"},
    "Failing sections": {"librechat_exporter_errors"},
}
# The Job status stat: STALE (-1), DOWN (0), UP (1).
STALE, DOWN, UP = -1.0, 0.0, 1.0
# Severity critical is for an outage every user feels; everything else pages nobody.
CRITICAL = {"LibreChatDatabaseUnreachable"}
GROUPS = ("librechat-outage", "librechat-textfile-job", "librechat-usage", "librechat-features")
# What Grafana puts in for the built-in interval variables on a short range: every panel has a
# 5-minute minimum interval, so $__rate_interval is at least 5m.
GRAFANA_INTERVALS = {"__rate_interval": "5m", "__interval": "5m", "__range": "5m"}
# The business stats show a number only while the run recorded in the file is this recent
# and a run in that time reached MongoDB.
FRESH_GUARD = re.compile(
    r"\) and on \(\) \(time\(\) - max\(librechat_exporter_run_timestamp_seconds\{[^}]*\}\) "
    r"< \$stale_after and on \(\) max\(max_over_time\(librechat_exporter_up\{[^}]*\}"
    r"\[\$\{stale_after\}s\]\)\) == 1\)$")
MODEL_MATCHER = 'model=~"$model"'
SCRAPE_JOB = "node"
TENANTS = ["uni-a", "uni-b"]

# Units: Grafana's ids for seconds, bytes, USD, ratios and yes/no, or a count of something
# ("count:tokens/min" shows 12.3K tokens/min). "none" only for panels that show label values.
UNITS = {"s", "bytes", "currencyUSD", "percentunit", "bool_yes_no"}
COUNT_UNIT = re.compile(r"count:[a-z]+(/min|/h)?")
PROBLEM_COLOURS = {"red", "dark-red", "semi-dark-red", "orange", "dark-orange"}

METRIC_NAME = re.compile(r"\b((?:librechat|node)_[a-zA-Z0-9_:]*|up)\b(?!\s*\()")
STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
COUNTER_FUNCS = ("rate", "irate", "increase")
GAUGE_FUNCS = ("delta", "idelta", "deriv", "predict_linear")
RANGE_FUNC_ARG = re.compile(r"\b([a-z_]+)\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]")
LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
TEMPLATE_VARIABLE = re.compile(r"\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?")
TENANT_MATCHER = 'tenant=~"$tenant"'


# --------------------------------------------------------------------------------------------
# Reading the dashboard, the rules and the job's output


def load_dashboard() -> dict[str, Any]:
    with open(DASHBOARD, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, with the panels nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in all_panels(dashboard) if p.get("type") != "row"]


def stat_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in data_panels(dashboard) if p["type"] == "stat"]


def dashboard_targets(dashboard: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) for every query of every non-row panel."""
    return [(panel["title"], target) for panel in data_panels(dashboard)
            for target in panel.get("targets", [])]


def panel_metrics(panel: dict[str, Any]) -> set[str]:
    return set().union(*(metric_names(t["expr"]) for t in panel["targets"]))


def shown_metrics(panel: dict[str, Any]) -> set[str]:
    """What the panel shows, without the freshness guard of the business stats."""
    return set().union(*(metric_names(FRESH_GUARD.sub(")", t["expr"]))
                         for t in panel["targets"]))


def is_business(panel: dict[str, Any]) -> bool:
    """A panel of LibreChat numbers (written only by a successful run), not of the job's own
    health or of node_exporter."""
    return any(n.startswith("librechat_") and not n.startswith("librechat_exporter_")
               for n in panel_metrics(panel))


def alert_rules() -> list[tuple[str, str]]:
    """(alert name, expr) from the rules file, which writes every expr as a ``|`` block.

    A small reader for this file's layout (no YAML library in the test requirements);
    test_promtool_check_rules checks that it finds as many rules as promtool, and the end-to-end
    test compares it with what Prometheus loaded.
    """
    lines = RULES.read_text(encoding="utf-8").splitlines()
    rules: list[tuple[str, str]] = []
    name = ""
    i = 0
    while i < len(lines):
        alert = re.match(r"\s*- alert:\s*(\S+)\s*$", lines[i])
        if alert:
            name = alert.group(1)
        expr = re.match(r"(\s*)expr:\s*(.*?)\s*$", lines[i])
        i += 1
        if not expr:
            continue
        indent, rest = len(expr.group(1)), expr.group(2)
        if rest in ("|", "|-", ">", ">-"):
            body: list[str] = []
            while i < len(lines) and (not lines[i].strip()
                                      or len(lines[i]) - len(lines[i].lstrip()) > indent):
                body.append(lines[i].strip())
                i += 1
            rest = "\n".join(body).strip()
        rules.append((name, rest))
    return rules


def alert_blocks() -> dict[str, str]:
    """The text of each ``- alert:`` entry of the rules file, by alert name."""
    text = RULES.read_text(encoding="utf-8")
    parts = re.split(r"(?m)^\s*- alert:\s*", text)[1:]
    return {part.split()[0]: part for part in parts}


def severity(block: str) -> str:
    found = re.search(r"(?m)^\s+severity:\s*(\S+)\s*$", block)
    assert found, block[:200]
    return found.group(1)


def strip_strings(expr: str) -> str:
    """The expr with string literals emptied, so label values are never read as metrics."""
    return STRING_LITERAL.sub('""', expr)


def metric_names(expr: str) -> set[str]:
    """librechat_*, node_* and up series named in a PromQL expression."""
    return set(METRIC_NAME.findall(strip_strings(expr)))


def selectors(expr: str, name: str) -> list[str]:
    """The label matchers (the text between the braces) of every use of ``name``."""
    return [m.group(1) or "" for m in re.finditer(rf"\b{name}\b(?:\{{([^}}]*)\}})?", expr)]


def legend_labels(legend: str) -> set[str]:
    return set(LEGEND_LABEL.findall(legend or ""))


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana's $name / ${name} variables; an unknown variable is an error."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise AssertionError(f"unknown template variable ${name} in {expr!r}")
        return values[name]

    return TEMPLATE_VARIABLE.sub(one, expr)


def docs_section(title: str) -> str:
    text = OPERATING.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


class JobOutput:
    """One real run's text: declared type and label names of every family."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.types: dict[str, str] = dict(
            re.findall(r"(?m)^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$", text))
        self.labels: dict[str, set[str]] = {name: set() for name in self.types}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.labels.setdefault(sample.name, set()).update(sample.labels)


def job_environment() -> dict[str, str]:
    """The test's environment without settings that would redirect the job."""
    prefixes = ("LIBRECHAT_TEXTFILE_", "MONGODB_", "LOGGING_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def run_job(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run librechat_textfile.py (cwd: a directory without a .env file)."""
    return subprocess.run([sys.executable, str(JOB), *args], capture_output=True, text=True,
                          timeout=120, env=job_environment(), cwd=cwd, check=False)


def generated_database(client: pymongo.MongoClient[Any], seed: int) -> str:
    """A fresh database filled by the generator, laid out around the current time, plus one
    minute of traffic that has every kind of message (so every labelled family has samples)."""
    name = f"t_dashboard_alerts_{secrets.token_hex(4)}"
    librechat_data.generate(client[name],
                            librechat_data.GenOptions(seed=seed, now=datetime.now(UTC)))
    # Half a minute ago: a run leaves the documents of its own second to the next run.
    add_activity(client[name], random.Random(seed),
                 at=datetime.now(UTC) - timedelta(seconds=30))
    return name


def tenant_database(client: pymongo.MongoClient[Any], seed: int) -> str:
    """A multi-tenant LibreChat (the newest version the generator writes, every document of a
    tenant-aware collection carrying its user's tenantId)."""
    name = f"t_dashboard_tenants_{secrets.token_hex(4)}"
    librechat_data.generate(client[name], librechat_data.GenOptions(
        seed=seed, now=datetime.now(UTC), users=24, version=librechat_data.LATEST,
        tenants=TENANTS))
    return name


@pytest.fixture(scope="module")
def job_output(mongod: Mongod | ExternalServer, mongo_client: pymongo.MongoClient[Any],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobOutput]:
    """The job's --stdout over generated data: the ground truth for names, types, labels."""
    workdir = tmp_path_factory.mktemp("job-output")
    name = generated_database(mongo_client, seed=5)
    try:
        done = run_job(["--mongodb-uri", mongod.uri, "--mongodb-database", name, "--stdout",
                        "--state-file", str(workdir / "state.json")], cwd=workdir)
        assert done.returncode == 0, done.stderr
        yield JobOutput(done.stdout)
    finally:
        mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def tenant_output(mongod: Mongod | ExternalServer, mongo_client: pymongo.MongoClient[Any],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobOutput]:
    """The job's --stdout with --tenant-label over a multi-tenant database."""
    workdir = tmp_path_factory.mktemp("tenant-output")
    name = tenant_database(mongo_client, seed=7)
    try:
        done = run_job(["--mongodb-uri", mongod.uri, "--mongodb-database", name, "--stdout",
                        "--state-file", str(workdir / "state.json"),
                        "--tenant-label", "true"], cwd=workdir)
        assert done.returncode == 0, done.stderr
        yield JobOutput(done.stdout)
    finally:
        mongo_client.drop_database(name)


# --------------------------------------------------------------------------------------------
# promtool and the rules


def test_promtool_check_rules() -> None:
    promtool = require_binary(PROMTOOL_BINARY)
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"SUCCESS: (\d+) rules found", done.stdout)
    assert found, done.stdout
    assert int(found.group(1)) == len(alert_rules()), "the rule reader disagrees with promtool"


def test_promtool_test_rules() -> None:
    promtool = require_binary(PROMTOOL_BINARY)
    done = subprocess.run([promtool, "test", "rules", *map(str, RULES_TESTS)],
                          capture_output=True, text=True, timeout=180, check=False,
                          cwd=RULES_TEST.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(RULES_TESTS), done.stdout


def alert_test_cases() -> tuple[set[str], set[str]]:
    """(alerts with a firing case, alerts with a quiet case) in the rules' unit tests."""
    lines = [line for path in RULES_TESTS for line in path.read_text(encoding="utf-8").splitlines()]
    firing: set[str] = set()
    quiet: set[str] = set()
    for i, line in enumerate(lines):
        name = re.match(r"\s*alertname:\s*(\S+)\s*$", line)
        if not name:
            continue
        expected = next(rest for rest in lines[i + 1:] if "exp_alerts:" in rest)
        (quiet if expected.split("exp_alerts:", 1)[1].strip() == "[]" else firing).add(
            name.group(1))
    return firing, quiet


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    firing, quiet = alert_test_cases()
    alerts = {name for name, _ in alert_rules()}
    assert alerts - firing == set(), "alerts without a firing test case"
    assert alerts - quiet == set(), "alerts without a not-firing test case"
    assert (firing | quiet) - alerts == set(), "tests of alerts that do not exist"


def test_the_weekly_unit_test_traffic_is_the_generated_scenario() -> None:
    """The two weeks of office traffic in the unit tests are exactly what dash_weekly makes,
    and decode back to the series it describes (30 messages an hour in office hours; the
    frozen file repeats 10:00; MongoDB down leaves the run times going and nothing else)."""
    assert dash_weekly.yaml_block() in RULES_TEST.read_text(encoding="utf-8")
    stories = dash_weekly.scenarios()
    for name, series in stories.items():
        for metric, values in series.items():
            assert dash_weekly.decode(dash_weekly.encode(values)) == values, (name, metric)
    office = stories["office"]["librechat_messages_total"]
    monday, saturday = dash_weekly.MONDAY_2, dash_weekly.MONDAY_2 - 2 * dash_weekly.DAY
    hour = [office[monday + 10 * 60] - office[monday + 9 * 60],  # type: ignore[operator]
            office[monday + 13 * 60] - office[monday + 12 * 60],  # type: ignore[operator]
            office[saturday + 11 * 60] - office[saturday + 10 * 60]]  # type: ignore[operator]
    assert hour == [30.0, 0.0, 0.0], "office hour, lunch hour, Saturday"
    ten = dash_weekly.TUESDAY_2 + 10 * 60
    timer, down = stories["timer"], stories["dbdown"]
    for metric, values in timer.items():
        assert values[ten + 1:] == [values[ten]] * (len(values) - ten - 1), metric
    assert timer["librechat_exporter_up"][-1] == 1.0
    run = down["librechat_exporter_run_timestamp_seconds"]
    assert run[-1] == run[ten] + 60 * (len(run) - 1 - ten)  # type: ignore[operator]
    assert down["librechat_exporter_up"][ten + 1:] == [0.0] * (len(run) - ten - 1)
    assert down["librechat_messages_total"][ten + 1] == dash_weekly.STALE
    assert set(down["librechat_messages_total"][ten + 2:]) == {None}
    assert down["librechat_exporter_last_success_timestamp_seconds"][-1] == run[ten]


def test_every_alert_has_severity_summary_description_with_numbers() -> None:
    blocks = alert_blocks()
    assert set(blocks) == {name for name, _ in alert_rules()}
    for name, block in blocks.items():
        assert severity(block) in ("critical", "warning", "info"), name
        summary = re.search(r"(?m)^\s+summary:\s*(.+)$", block)
        description = re.search(r"(?ms)^\s+description: >-\n(.*?)^\s+runbook_url:", block)
        assert summary and description, name
        # The numbers: the expression's value, not only the labels.
        assert "$value" in summary.group(1) + description.group(1), name


def group_alerts() -> dict[str, list[str]]:
    """Rule group name -> its alert names, in file order."""
    text = RULES.read_text(encoding="utf-8")
    parts = re.split(r"(?m)^  - name:\s*(\S+)\s*$", text)[1:]
    return {parts[i]: re.findall(r"(?m)^\s*- alert:\s*(\S+)", parts[i + 1])
            for i in range(0, len(parts), 2)}


def test_only_an_outage_users_feel_is_critical() -> None:
    """The page is the database unreachable while users are active; the pipeline, traffic and
    per-model quality rules warn."""
    groups = group_alerts()
    assert tuple(groups) == GROUPS
    blocks = alert_blocks()
    assert {n for n, b in blocks.items() if severity(b) == "critical"} == CRITICAL
    assert set(groups["librechat-outage"]) == CRITICAL
    assert set(groups["librechat-textfile-job"]) >= {
        "LibreChatExporterDown", "LibreChatTextfileStale", "LibreChatExporterSectionErrors",
        "LibreChatExporterFlapping", "LibreChatFirstCountStuck", "LibreChatTextfileScrapeError"}
    assert set(groups["librechat-usage"]) >= {
        "LibreChatModelErrorRateHigh", "LibreChatUnfinishedResponsesHigh",
        "LibreChatActivityStopped"}
    assert set(groups["librechat-features"]) >= {
        "LibreChatAdminActionsDenied", "LibreChatScheduledRunsFailing"}
    for name in CRITICAL:
        # Long enough to ride out a failed run or two (one sample a minute).
        held = re.search(r"(?m)^\s+for:\s*(\d+)m\s*$", blocks[name])
        assert held and int(held.group(1)) >= 3, name


def test_per_model_rules_have_a_share_floor_and_skip_none_and_other() -> None:
    for name, expr in alert_rules():
        if "model" not in re.findall(r"by \(([^)]*)\)", expr)[0]:
            continue
        assert "group_left" in expr and ">= 0.05" in expr, f"{name}: no share-of-traffic floor"
        for matchers in selectors(expr, "librechat_[a-z_]+_total"):
            if matchers:
                assert 'model!~"none|other"' in matchers, f"{name}: judges none or other"


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and GitLab, Gitea) give a Markdown heading: the rendered text in
    lower case, punctuation other than - and _ removed, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text))


def runbook_anchors() -> dict[str, str]:
    """anchor -> heading text for every heading of docs/runbook.md (a repeated heading gets
    -1, -2, ... as GitHub numbers it; code blocks hold no headings)."""
    text = re.sub(r"(?ms)^```.*?^```", "", RUNBOOK.read_text(encoding="utf-8"))
    anchors: dict[str, str] = {}
    for heading in re.findall(r"(?m)^#{1,6}\s+(.+?)\s*#*\s*$", text):
        anchor, n = github_anchor(heading), 1
        while anchor in anchors:
            anchor, n = f"{github_anchor(heading)}-{n}", n + 1
        anchors[anchor] = heading
    return anchors


def test_github_anchor_follows_githubs_rules() -> None:
    assert github_anchor("LibreChatDatabaseUnreachable") == "librechatdatabaseunreachable"
    assert github_anchor("Upgrading from 2.1.0 to 2.1.1") == "upgrading-from-210-to-211"
    assert github_anchor("`--tenant-label` and the series") == "--tenant-label-and-the-series"
    assert github_anchor("Tokens & cost") == "tokens--cost"
    assert github_anchor("label_limit: the cap") == "label_limit-the-cap"


def test_every_rule_links_to_its_runbook_heading() -> None:
    """Every rule's runbook_url is the documented base, docs/runbook.md and an anchor that is a
    heading of that file, the heading of that very alert, which says what to check first and
    then what to do."""
    text = RULES.read_text(encoding="utf-8")
    assert RUNBOOK_BASE in text[:text.index("groups:")], "the base URL is not stated on top"
    assert RUNBOOK_BASE in RUNBOOK.read_text(encoding="utf-8")
    anchors = runbook_anchors()
    sections = re.split(r"(?m)^## ", RUNBOOK.read_text(encoding="utf-8"))
    for name, block in alert_blocks().items():
        url = re.search(r'(?m)^\s+runbook_url:\s*"([^"]+)"\s*$', block)
        assert url, f"{name}: no runbook_url"
        page, _, anchor = url.group(1).partition("#")
        assert page == f"{RUNBOOK_BASE}/docs/runbook.md", f"{name}: {url.group(1)}"
        assert anchors.get(anchor) == name, f"{name}: #{anchor} is no heading of its own"
        section = next(s for s in sections if s.startswith(name + "\n"))
        assert "**Check first:**" in section and "**Then:**" in section, name


def test_docs_list_every_alert_with_its_severity_and_tuning() -> None:
    """docs/operating.md's alert table: one row per rule, the rule's severity, TUNE where the
    rule marks a threshold to tune, and a measured firing time."""
    text = docs_section("Alerts")
    rows = {m.group(1): m.group(0) for m in
            re.finditer(r"(?m)^\| `(LibreChat\w+)` \|.*\|\s*$", text)}
    blocks = alert_blocks()
    assert set(rows) == set(blocks)
    for name, row in rows.items():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        assert severity(blocks[name]) in cells, f"{name}: {row}"
        assert ("TUNE" in row) == ("TUNE" in blocks[name]), f"{name}: TUNE marks differ"
        assert re.search(r"\d+ (min|h)\b", row), f"{name}: no firing time in {row}"


# --------------------------------------------------------------------------------------------
# Dashboard lint


def test_dashboard_is_importable() -> None:
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    inputs = [i for i in dashboard["__inputs"] if i["type"] == "datasource"]
    assert [i["pluginId"] for i in inputs] == ["prometheus"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["datasource"]["current"]["value"] == "${" + inputs[0]["name"] + "}"
    for name in ("job", "instance"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == "${datasource}"
        definition = variables[name]["definition"]
        assert re.fullmatch(r"label_values\(librechat_exporter_up(\{[^}]*\})?, " + name + r"\)",
                            definition), definition
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == list(ROWS)
    ids = [p["id"] for p in all_panels(dashboard)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in all_panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], f"{panel['title']}: no queries"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{panel['title']}: duplicate refIds"


def test_the_job_health_row_comes_first_and_is_compact() -> None:
    panels = load_dashboard()["panels"]
    assert panels[0]["type"] == "row" and panels[0]["title"] == "Job health"
    assert panels[0]["gridPos"]["y"] == 0
    first_row = []
    for panel in panels[1:]:
        if panel["type"] == "row":
            break
        first_row.append(panel)
    assert [p["title"] for p in first_row] == list(HEALTH_ROW)
    assert {p["type"] for p in first_row} == {"stat"}
    assert {p["gridPos"]["y"] for p in first_row} == {1}, "one line of stats"
    assert max(p["gridPos"]["h"] for p in first_row) <= 4
    for panel in first_row:
        assert panel_metrics(panel) == HEALTH_ROW[panel["title"]], panel["title"]
        assert panel["options"]["colorMode"] == "background", panel["title"]


def test_stat_panels_are_instant_queries() -> None:
    stats = stat_panels(load_dashboard())
    assert len(stats) >= 20
    for panel in stats:
        for target in panel["targets"]:
            assert target.get("instant") is True and target.get("range") is False, (
                f"{panel['title']} {target['refId']}: a range query would show the last value "
                "of the range after the series vanished")
        assert panel["options"]["graphMode"] == "none", panel["title"]
        assert panel["options"]["reduceOptions"]["calcs"] == ["lastNotNull"], panel["title"]


def test_a_stat_without_data_reads_as_a_problem() -> None:
    for panel in stat_panels(load_dashboard()):
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults.get("noValue") == "No data", panel["title"]
        nulls = [m["options"]["result"] for m in defaults.get("mappings", [])
                 if m["type"] == "special" and m["options"].get("match") == "null"]
        assert nulls and nulls[0].get("color") in PROBLEM_COLOURS, panel["title"]
        assert nulls[0].get("text") == "No data", panel["title"]


def test_every_panel_has_a_unit_and_a_stat_one_quantity() -> None:
    problems: list[str] = []
    for panel in data_panels(load_dashboard()):
        unit = panel["fieldConfig"]["defaults"].get("unit", "")
        names = shown_metrics(panel)
        if unit == "none":
            if not all(n.endswith("_info") for n in names):
                problems.append(f"{panel['title']}: unit none on numbers {sorted(names)}")
        elif unit not in UNITS and not COUNT_UNIT.fullmatch(unit):
            problems.append(f"{panel['title']}: unit {unit!r}")
        if panel["type"] == "stat":
            for override in panel["fieldConfig"].get("overrides", []):
                if any(p.get("id") == "unit" for p in override.get("properties", [])):
                    problems.append(f"{panel['title']}: a second unit in one stat")
    assert problems == []


def test_every_query_is_scoped_to_the_selected_job_and_instance() -> None:
    for title, target in dashboard_targets(load_dashboard()):
        expr = target["expr"]
        assert metric_names(expr), f"{title}: no metric in {expr!r}"
        for name in metric_names(expr):
            for matchers in selectors(expr, name):
                assert 'instance="$instance"' in matchers and 'job="$job"' in matchers, (
                    f"{title}: {name} is not filtered by $job and $instance in {expr!r}")


def test_tool_errors_are_split_like_tool_calls() -> None:
    """Every tool panel splits by MCP server as the call panels do: built-in tools by tool,
    MCP tools by server and tool."""
    for title, target in dashboard_targets(load_dashboard()):
        expr = target["expr"]
        if "librechat_tool_call" not in expr:
            continue
        for name in ("librechat_tool_calls_total", "librechat_tool_call_errors_total"):
            for matchers in selectors(expr, name):
                assert 'mcp_server="none"' in matchers or 'mcp_server!="none"' in matchers, (
                    f"{title}: {name} not split by MCP server")
        for group in re.findall(r"sum by \(([^)]*)\)", expr):
            if 'mcp_server!="none"' in expr and "tool" in group:
                assert "mcp_server" in group, f"{title}: MCP tools not by server"


AGENT_COUNTER = re.compile(r"\blibrechat_agent_\w+_total\b")
FINISH_REASON_FAMILY = "librechat_responses_by_finish_reason_total"


def test_agents_are_shown_by_name() -> None:
    """Every query of an agent counter joins librechat_agent_info for the name and shows it,
    keeping a deleted agent under its id with the name unknown."""
    problems: list[str] = []
    for title, target in dashboard_targets(load_dashboard()):
        expr = target["expr"]
        if not AGENT_COUNTER.search(expr):
            continue
        if "group_left (agent_name)" not in expr or "librechat_agent_info" not in expr:
            problems.append(f"{title}: agents by id only")
        if '"agent_name", "unknown"' not in expr:
            problems.append(f"{title}: an agent without an info series vanishes")
        if "{{agent_name}}" not in target.get("legendFormat", ""):
            problems.append(f"{title}: the legend does not show the agent's name")
    assert problems == []


def test_finish_reason_panels_say_most_versions_save_none() -> None:
    """The finish reason panels say that most LibreChat versions save no finish_reason (so
    their answers count as none) and point to docs/counting.md, which says which do."""
    panels = [p for p in data_panels(load_dashboard()) if FINISH_REASON_FAMILY in
              " ".join(t["expr"] for t in p["targets"])]
    assert len(panels) >= 2
    for panel in panels:
        description = panel.get("description", "")
        assert "do not save finish_reason" in description and "none" in description, (
            panel["title"])
        assert "docs/counting.md" in description, panel["title"]


# --------------------------------------------------------------------------------------------
# Metric names, types and labels against the job's real output


def all_exprs() -> list[tuple[str, str]]:
    """(where, expr) for every dashboard target and every alert rule."""
    exprs = [(f"panel {title!r}", t["expr"]) for title, t in dashboard_targets(load_dashboard())]
    exprs += [(f"alert {name}", expr) for name, expr in alert_rules()]
    return exprs


def test_every_librechat_metric_is_written_by_the_job(job_output: JobOutput) -> None:
    missing = {(where, name) for where, expr in all_exprs() for name in metric_names(expr)
               if name.startswith("librechat_") and name not in job_output.types}
    assert missing == set()


def test_counters_only_through_rate_and_gauges_never(job_output: JobOutput) -> None:
    types = job_output.types
    problems: list[str] = []
    for where, expr in all_exprs():
        bare = strip_strings(expr)
        for func, name in RANGE_FUNC_ARG.findall(bare):
            if func in COUNTER_FUNCS and name.startswith("librechat_") \
                    and types.get(name) != "counter":
                problems.append(f"{where}: {func}() over {types.get(name)} {name}")
            if func in COUNTER_FUNCS and not name.startswith("librechat_"):
                problems.append(f"{where}: {func}() over {name}, not a counter of the job")
            if func in GAUGE_FUNCS and types.get(name) == "counter":
                problems.append(f"{where}: {func}() over counter {name}")
        for match in re.finditer(r"\blibrechat_[a-zA-Z0-9_]*", bare):
            if types.get(match.group(0)) != "counter":
                continue
            before = bare[:match.start()]
            if not re.search(rf"\b({'|'.join(COUNTER_FUNCS)})\s*\(\s*$", before):
                problems.append(f"{where}: counter {match.group(0)} outside rate()/increase()")
    assert problems == []


def test_legend_labels_exist_on_the_metrics(job_output: JobOutput) -> None:
    """Static half of the legend check (the end-to-end test checks the query results)."""
    problems: list[str] = []
    for title, target in dashboard_targets(load_dashboard()):
        names = metric_names(target["expr"])
        if not names or not all(n.startswith("librechat_") for n in names):
            continue  # node_exporter's labels are checked end to end
        available = {"instance", "job"}.union(*(job_output.labels.get(n, set()) for n in names))
        # label_replace() adds a label the metrics lack (the name of a deleted agent).
        available |= set(re.findall(r'label_replace\([^"]*"([a-zA-Z_]+)"', target["expr"]))
        unknown = legend_labels(target.get("legendFormat", "")) - available
        if unknown:
            problems.append(f"{title}: legend uses {sorted(unknown)}, metrics have "
                            f"{sorted(available)}")
    assert problems == []


def test_tenant_variable_filters_exactly_the_tenant_families(tenant_output: JobOutput) -> None:
    """$tenant on every family that has a tenant label with --tenant-label (except the _info
    families, joined by id), and never on one that has none: that filter would empty the panel
    as soon as a tenant is picked."""
    dashboard = load_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    tenant = variables["tenant"]
    assert tenant["type"] == "query" and tenant["includeAll"] and tenant["multi"]
    assert tenant["allValue"] == ".*", "All must match series without a tenant label too"
    assert re.fullmatch(r'label_values\(librechat_\w+\{job="\$job",instance="\$instance"\}, '
                        r'tenant\)', tenant["definition"]), tenant["definition"]
    tenanted = {n for n, labels in tenant_output.labels.items() if "tenant" in labels}
    assert len(tenanted) >= 20, sorted(tenanted)
    problems: list[str] = []
    for title, target in dashboard_targets(dashboard):
        expr = target["expr"]
        for name in metric_names(expr):
            for matchers in selectors(expr, name):
                has = TENANT_MATCHER in matchers
                if name in tenanted and not has and not name.endswith("_info"):
                    problems.append(f"{title}: {name} has a tenant label but no $tenant filter")
                if name not in tenanted and has:
                    problems.append(f"{title}: {name} has no tenant label but a $tenant filter")
    assert problems == []


def test_model_variable_filters_exactly_the_model_families(job_output: JobOutput) -> None:
    """$model on every selector of a family with a model label (but the _info families,
    joined by id), never on one without: every panel that carries the label honours it."""
    variables = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    model = variables["model"]
    assert model["type"] == "query" and model["includeAll"] and model["multi"]
    assert model["allValue"] == ".*"
    assert model["definition"] == ('label_values(librechat_messages_per_model_total'
                                   '{job="$job",instance="$instance"}, model)')
    modelled = {n for n, labels in job_output.labels.items()
                if "model" in labels and not n.endswith("_info")}
    assert len(modelled) >= 15, sorted(modelled)
    problems: list[str] = []
    for title, target in dashboard_targets(load_dashboard()):
        expr = target["expr"]
        for name in metric_names(expr):
            for matchers in selectors(expr, name):
                has = MODEL_MATCHER in matchers
                if name in modelled and not has:
                    problems.append(f"{title}: {name} has a model label but no $model filter")
                if name not in modelled and has:
                    problems.append(f"{title}: {name} has no model label but a $model filter")
    assert problems == []


def test_panels_of_families_without_a_tenant_label_say_so(tenant_output: JobOutput) -> None:
    """A panel that $tenant cannot filter (the daily statistics, unique users, the spread over
    users, collection sizes) says so, instead of showing the whole site under a tenant."""
    whole = {n for n, labels in tenant_output.labels.items()
             if "tenant" not in labels and not n.startswith("librechat_exporter_")
             and not n.endswith("_info")}
    problems = [p["title"] for p in data_panels(load_dashboard())
                if panel_metrics(p) & whole and "no tenant label" not in p.get("description", "")]
    assert problems == []


def range_windows(expr: str) -> list[str]:
    return re.findall(r"\[([^\]]+)\]", strip_strings(expr))


def duration_seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    parts = re.fullmatch(r"((\d+)([smhdw]))+", text)
    assert parts, text
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhdw])", text))


def test_rate_windows_are_at_least_five_minutes() -> None:
    """Runs land every 60-65 s: a window shorter than 5 minutes aliases against them. Every
    $__rate_interval panel has a 5-minute minimum interval; every literal window is 5m+."""
    problems: list[str] = []
    for panel in data_panels(load_dashboard()):
        for target in panel["targets"]:
            for window in range_windows(target["expr"]):
                if window == "$__rate_interval":
                    if duration_seconds(panel.get("interval") or "0s") < 300:
                        problems.append(f"{panel['title']}: min interval {panel.get('interval')}")
                elif window not in ("$__range", "${stale_after}s") and \
                        duration_seconds(window) < 300:
                    problems.append(f"{panel['title']}: window [{window}]")
    assert problems == []


def test_business_stats_show_only_current_numbers() -> None:
    """Every stat of LibreChat numbers carries the same guard: a number only while the run
    recorded in the file is younger than $stale_after and a run in that time reached MongoDB
    (so a frozen file never shows a green number, and one failed run blanks nothing)."""
    dashboard = load_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["stale_after"]["type"] == "constant"
    assert variables["stale_after"]["query"] == "300"
    stats = [p for p in stat_panels(dashboard) if is_business(p)]
    assert len(stats) >= 20
    for panel in stats:
        for target in panel["targets"]:
            assert FRESH_GUARD.search(target["expr"]), f"{panel['title']} {target['refId']}"
            assert "librechat_exporter_" not in FRESH_GUARD.sub(")", target["expr"]), (
                f"{panel['title']}: a guard of its own (one failed run would blank it)")


def test_the_agent_cost_top_10_ranks_agents_not_other() -> None:
    panel = next(p for p in data_panels(load_dashboard())
                 if p["title"] == "Cost by agent in the selected range (top 10)")
    for target in panel["targets"]:
        matchers = selectors(target["expr"], "librechat_agent_cost_usd_total")
        assert matchers and all('agent_id!="other"' in m for m in matchers)


# --------------------------------------------------------------------------------------------
# End to end: mongod -> job -> node_exporter -> Prometheus


def _tool_call(rng: random.Random, name: str) -> dict[str, Any]:
    call_id = "call_" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                                for _ in range(24))
    return {"type": "tool_call", "tool_call": {
        "id": call_id, "name": name, "args": json.dumps({"query": "status"}),
        "output": "ok", "type": "tool_call", "progress": 1}}


def add_activity(db: Database[Any], rng: random.Random, at: datetime | None = None) -> None:
    """One more minute of LibreChat traffic at ``at`` (default: now), written as LibreChat
    does: a chat with tool calls (built-in, MCP, one failed), feedback, an error part, an
    unfinished answer and an error message; an agent's answer; their transactions; an upload;
    a sign-up."""
    ld = librechat_data
    at = at or datetime.now(UTC)
    user = db.users.find_one({"emailVerified": True, "role": "USER"})
    agent = db.agents.find_one({})
    assert user is not None and agent is not None, "the generator wrote no user or agent"
    uid = user["_id"]
    conv = ld.make_conversation(uid, at, endpoint="openAI", model="gpt-4o", rng=rng)
    cid = conv["conversationId"]
    messages: list[dict[str, Any]] = []

    def ask() -> dict[str, Any]:
        parent = messages[-1]["messageId"] if messages else ld.NO_PARENT
        msg = ld.make_message(uid, cid, at, by_user=True, rng=rng, parentMessageId=parent)
        messages.append(msg)
        return msg

    def answer(**over: Any) -> dict[str, Any]:
        over.setdefault("model", "gpt-4o")
        over.setdefault("endpoint", "openAI")
        msg = ld.make_message(uid, cid, at, by_user=False, rng=rng,
                              parentMessageId=messages[-1]["messageId"], **over)
        messages.append(msg)
        return msg

    ask()
    failed = _tool_call(rng, "file_search")
    failed["tool_call"]["output"] = "Error processing tool file_search: index not ready"
    answer(content=[_tool_call(rng, "web_search"), _tool_call(rng, "search_mcp_brave"), failed,
                    {"type": "text", "text": "Here is what I found."}],
           feedback={"rating": "thumbsDown", "tag": "inaccurate", "_id": ObjectId()})
    ask()
    answer(content=[{"type": "text", "text": "Partial"},
                    {"type": "error", "error": "429 rate limit exceeded"}], tokenCount=0)
    ask()
    answer(unfinished=True)
    ask()
    answer(model=None, endpoint=None, error=True, content=ld.MISSING, tokenCount=ld.MISSING,
           text='{"type":"no_system_messages","info":"error"}')
    conv["messages"] = [m["_id"] for m in messages]
    agent_conv = ld.make_conversation(uid, at, endpoint="agents", model=None, rng=rng,
                                      agent_id=agent["id"])
    agent_question = ld.make_message(uid, agent_conv["conversationId"], at, by_user=True,
                                     endpoint="agents", rng=rng)
    agent_answer = ld.make_message(uid, agent_conv["conversationId"], at, by_user=False,
                                   model=agent["id"], endpoint="agents", rng=rng,
                                   parentMessageId=agent_question["messageId"],
                                   content=[_tool_call(rng, "get_issue_mcp_github"),
                                            {"type": "text", "text": "Done."}])
    agent_conv["messages"] = [agent_question["_id"], agent_answer["_id"]]
    db.conversations.insert_many([conv, agent_conv])
    db.messages.insert_many([*messages, agent_question, agent_answer])
    txns = []
    for model, prompt, completion in (("gpt-4o", 900, 300), (agent["model"], 1500, 400)):
        txns.append(ld.make_transaction(uid, at, "prompt", model, -prompt, rng=rng,
                                        conversationId=cid))
        txns.append(ld.make_transaction(uid, at, "completion", model, -completion, rng=rng,
                                        conversationId=cid))
    txns.append(ld.make_structured_prompt(uid, at, "claude-sonnet-4-20250514", 200, 100, 1200,
                                          rng=rng, conversationId=cid))
    db.transactions.insert_many(txns)
    db.files.insert_one(ld.make_file(uid, at, rng=rng, conversationId=cid))
    db.users.insert_one(ld.make_user(rng, at, provider="google"))


def add_trouble(db: Database[Any], rng: random.Random, answers: int = 25) -> None:
    """A burst that the usage alerts are about, at the current time: ``answers`` gpt-4o
    answers with an error part, as many cut off (unfinished), and one completion of 6M tokens
    (60 USD at gpt-4o's 10 USD per 1M)."""
    ld = librechat_data
    at = datetime.now(UTC)
    user = db.users.find_one({"emailVerified": True, "role": "USER"})
    assert user is not None
    uid = user["_id"]
    conv = ld.make_conversation(uid, at, endpoint="openAI", model="gpt-4o", rng=rng)
    cid = conv["conversationId"]
    replies = [ld.make_message(uid, cid, at, by_user=False, model="gpt-4o", rng=rng,
                               content=[{"type": "error", "error": "502 bad gateway"}],
                               tokenCount=0) for _ in range(answers)]
    replies += [ld.make_message(uid, cid, at, by_user=False, model="gpt-4o", rng=rng,
                                unfinished=True) for _ in range(answers)]
    conv["messages"] = [m["_id"] for m in replies]
    db.conversations.insert_one(conv)
    db.messages.insert_many(replies)
    db.transactions.insert_one(ld.make_transaction(uid, at, "completion", "gpt-4o", -6_000_000,
                                                   rng=rng, conversationId=cid))


def add_feature_trouble(db: Database[Any], rng: random.Random, failures: int = 5) -> None:
    """What the librechat-features alerts are about, at the current time, as LibreChat 0.8
    writes it: a regular user's grant denied in the admin audit log (continuing the platform
    chain) and ``failures`` scheduled agent runs settling now in error."""
    ld = librechat_data
    at = datetime.now(UTC)
    user = db.users.find_one({"emailVerified": True, "role": "USER"})
    assert user is not None
    chain = list(db.auditlogs.find({"chainKey": "__platform__"}).sort("seq", -1).limit(1))
    db.auditlogs.insert_one(ld.make_audit_entry(
        chain, at, "grant.assigned", {"type": "user", "id": str(user["_id"]),
                                      "name": user["name"]},
        {"type": "role", "id": "ADMIN", "name": "ADMIN"}, outcome="denied", rng=rng))
    schedule = db.schedules.find_one({"enabled": True})
    assert schedule is not None, "the generator wrote no enabled schedule"
    # settledAt is the moment LibreChat settles the run: now, after its duration.
    db.scheduleruns.insert_many([ld.make_schedule_run(
        schedule, at - timedelta(milliseconds=4000 + i), "error", duration_ms=4000 + i, rng=rng)
        for i in range(failures)])


def grafana_values(instance: str, tenant: str = ".*", model: str = ".*",
                   stale_after: int = 300) -> dict[str, str]:
    """Template variables as Grafana substitutes them (All is the regex .*; stale_after is
    the dashboard's constant, 300 s, which a test shortens to see a frozen file in seconds)."""
    return {**GRAFANA_INTERVALS, "instance": instance, "job": SCRAPE_JOB,
            "datasource": "prometheus", "tenant": tenant, "model": model,
            "stale_after": str(stale_after)}


@pytest.mark.timeout(300)
def test_dashboard_and_alerts_on_real_prometheus(
        mongod: Mongod | ExternalServer, mongo_client: pymongo.MongoClient[Any],
        tmp_path: Path) -> None:
    require_binary(NODE_EXPORTER_BINARY)
    require_binary(PROMETHEUS_BINARY)
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    output = textfile_dir / "librechat.prom"
    name = generated_database(mongo_client, seed=23)
    db = mongo_client[name]
    rng = random.Random(24)
    job_args = ["--mongodb-uri", mongod.uri, "--mongodb-database", name,
                "--output", str(output), "--state-file", str(tmp_path / "state" / "state.json")]

    def job_run(*extra: str) -> None:
        done = run_job([*job_args, *extra], cwd=tmp_path)
        assert done.returncode == 0, done.stderr

    try:
        # History first: runs pretending to be 3, 2 and 1 minutes ago, with traffic between.
        started = datetime.now(UTC)
        for minutes_ago in (3, 2, 1):
            at = started - timedelta(minutes=minutes_ago)
            add_activity(db, rng, at=at - timedelta(seconds=20))
            job_run("--now", at.isoformat())
        job_run()
        with NodeExporter(textfile_dir) as node, \
                Prometheus([node.address], job=SCRAPE_JOB, rule_files=[RULES]) as prom:
            values = grafana_values(node.address)
            scraped = node.scrape()
            assert re.search(r"(?m)^node_textfile_scrape_error 0$", scraped), scraped[:2000]
            assert re.search(r"(?m)^librechat_exporter_up 1$", scraped)
            prom.wait_for(f'librechat_exporter_up{{instance="{node.address}"}}')
            for _ in range(3):  # the job rewrites the file while Prometheus scrapes it
                time.sleep(2.0)
                add_activity(db, rng)
                job_run()
            # Documents of the current second are left to the next run: one more, later.
            time.sleep(1.5)
            job_run()
            # What the last run wrote is what Prometheus holds, and every stored document was
            # counted exactly once by the simulated and real-time runs (nothing was deleted).
            written = output.read_text(encoding="utf-8")
            for counter, collection in (("librechat_messages_total", db.messages),
                                        ("librechat_conversations_total", db.conversations)):
                line = re.search(rf"(?m)^{counter} (\S+)$", written)
                assert line, f"{counter} missing from {output}"
                value = float(line.group(1))
                assert value == collection.count_documents({}), counter
                prom.wait_for(f"{counter} == {value!r}", timeout=15)
            # No counter went down while the job rewrote the file (Prometheus would read a reset).
            counters = prom.query('count by (__name__) ({__name__=~"librechat_.+_total"})')
            names = [r["metric"]["__name__"] for r in counters["data"]["result"]]
            assert len(names) >= 10, names
            assert [n for n in names if prom.series_count(f"resets({n}[10m]) > 0")] == []
            # Enough samples after the last rewrite for rate() over 1m to see it.
            prom.wait_for("count_over_time(librechat_exporter_up[1m]) >= 8")
            check_panels(prom, values)
            check_health_row(prom, values)
            check_answers_panels(prom, values)
            check_rules(prom, scraped=node.scrape())

            check_model_filter(prom, node.address, "gpt-4o")
            check_file_panels(prom, values, output)
            check_runway(prom, values, db)

            # Trouble: every alert that can fire within seconds must match the real series.
            time.sleep(1.5)  # the burst must not share a second with the last run
            add_trouble(db, rng)
            add_feature_trouble(db, rng)
            time.sleep(1.5)
            job_run()
            for alert in ("LibreChatModelErrorRateHigh", "LibreChatUnfinishedResponsesHigh",
                          "LibreChatDailyCostHigh", "LibreChatAdminActionsDenied",
                          "LibreChatScheduledRunsFailing"):
                wait_for_alert(prom, alert)
            past = time.time() - 600
            os.utime(output, (past, past))  # node_exporter serves a file 10 minutes old
            wait_for_alert(prom, "LibreChatTextfileStale")
            age = stat_values(prom, values, "Age of the .prom file")
            assert age and min(age) >= 590, f"a 10-minute-old file reads {age} s"
            broken = textfile_dir / "broken.prom"
            broken.write_text("broken{label=\"x\" 1\n")
            wait_for_alert(prom, "LibreChatTextfileScrapeError")
            assert stat_values(prom, values, "Textfile scrape error") == [1.0]
            broken.unlink()

            business = {p["title"] for p in stat_panels(load_dashboard()) if is_business(p)}
            ranged = {p["title"] for p in stat_panels(load_dashboard()) if is_business(p)
                      and any("[$__range]))" in t["expr"] and "increase(" in t["expr"]
                              for t in p["targets"])}
            assert len(ranged) >= 6, ranged
            # MongoDB gone, with users active: a failed run. The page and the warning go
            # pending; the health row says DOWN; the stored-now and 5-minute stats say No data
            # at once; the range stats survive (the failed run carries the counters).
            down = run_job([*job_args[2:], "--mongodb-uri",
                            f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
                            # --timeout too: a run waits for MongoDB for the whole
                            # --timeout, whatever --connect-timeout says.
                            "--connect-timeout", "1", "--timeout", "2"], cwd=tmp_path)
            assert down.returncode != 0, down.stderr
            wait_for_alert(prom, "LibreChatExporterDown")
            wait_for_alert(prom, "LibreChatDatabaseUnreachable")
            assert prom.series_count(dict(alert_rules())["LibreChatExporterSectionErrors"]) == 0
            wait_for_stat(prom, values, "Job status", DOWN)
            in_file = set(JobOutput(output.read_text(encoding="utf-8")).types)
            carried = {p["title"] for p in stat_panels(load_dashboard())
                       if p["title"] in business and shown_metrics(p) <= in_file}
            assert ranged <= carried, ranged - carried
            wait_until_stats_empty(prom, values, business - carried)
            assert [t for t in blank_stats(prom, values) if t.split(" / ")[0] in carried] == []
            assert stat_values(prom, values, "Since the last successful run")
            # Still failing after $stale_after (shortened to 15 s): the range stats go too.
            quick = grafana_values(node.address, stale_after=15)
            time.sleep(15)
            wait_until_stats_empty(prom, quick, ranged)
            # MongoDB is back: a good run fills every stat again.
            job_run()
            wait_for_stat(prom, values, "Job status", UP)
            assert blank_stats(prom, values) == []
            # The timer stops: node_exporter keeps serving the last file, which says up 1.
            # After $stale_after the health row says STALE and no LibreChat stat shows a number.
            time.sleep(15)
            wait_for_stat(prom, quick, "Job status", STALE)
            wait_until_stats_empty(prom, quick, business)
            assert stat_values(prom, values, "Job status") == [UP], "fresh within 300 s"
            assert re.search(r"(?m)^librechat_exporter_up 1\.0$", output.read_text())

            output.unlink()
            wait_for_alert(prom, "LibreChatTextfileMissing")
            # The file is gone: every stat but node_exporter's own scrape error is No data.
            gone = {p["title"] for p in stat_panels(load_dashboard())} - {
                "Textfile scrape error"}
            wait_until_stats_empty(prom, values, gone)
            assert stat_values(prom, values, "Textfile scrape error") == [0.0]
    finally:
        mongo_client.drop_database(name)


def wait_for_alert(prom: Prometheus, alert: str, timeout: float = 20.0) -> None:
    """Block until the alert's expression returns series and Prometheus holds the alert
    (pending: every rule waits ``for`` a while before it fires)."""
    expr = dict(alert_rules())[alert]
    prom.wait_for(expr, timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = {a["labels"]["alertname"] for a in prom.api("alerts")["data"]["alerts"]}
        if alert in active:
            return
        time.sleep(0.25)
    raise AssertionError(f"{alert}: the expression returns data but Prometheus holds no alert")


def panel_results(prom: Prometheus, panel: dict[str, Any],
                  values: dict[str, str]) -> list[dict[str, Any]]:
    """The series of every query of the panel, evaluated now as an instant query."""
    series: list[dict[str, Any]] = []
    for target in panel["targets"]:
        answer = prom.query(substitute(target["expr"], values))
        assert answer.get("status") == "success", f"{panel['title']}: {answer.get('error')}"
        series += answer["data"]["result"]
    return series


def stat_values(prom: Prometheus, values: dict[str, str], title: str) -> list[float]:
    """What the stat panel ``title`` would show now (every series' value)."""
    panel = next(p for p in stat_panels(load_dashboard()) if p["title"] == title)
    return [float(s["value"][1]) for s in panel_results(prom, panel, values)]


def wait_until_stats_empty(prom: Prometheus, values: dict[str, str], titles: set[str],
                           timeout: float = 15.0) -> None:
    """Every stat in ``titles`` returns no series (Grafana shows its red No data), within a
    few scrapes (Prometheus marks vanished series stale at the next scrape)."""
    assert titles
    panels = [p for p in stat_panels(load_dashboard()) if p["title"] in titles]
    assert {p["title"] for p in panels} == titles
    deadline = time.monotonic() + timeout
    while True:
        showing = {p["title"]: panel_results(prom, p, values)[:1] for p in panels}
        showing = {t: s for t, s in showing.items() if s}
        if not showing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert showing == {}, f"stats that still show a number: {showing}"


def wait_for_stat(prom: Prometheus, values: dict[str, str], title: str, value: float,
                  timeout: float = 15.0) -> None:
    """Block until the stat ``title`` shows exactly ``value`` (one series)."""
    deadline = time.monotonic() + timeout
    while stat_values(prom, values, title) != [value]:
        if time.monotonic() > deadline:
            raise AssertionError(f"{title} shows {stat_values(prom, values, title)}, not {value}")
        time.sleep(0.25)


def panel_values_at(prom: Prometheus, panel: dict[str, Any], values: dict[str, str],
                    at: float) -> list[float]:
    """The value of every query of the panel at one instant (one series each)."""
    shown = []
    for target in panel["targets"]:
        result = prom.query(substitute(target["expr"], values), at=at)["data"]["result"]
        assert len(result) == 1, f"{panel['title']} {target['refId']}: {result}"
        shown.append(float(result[0]["value"][1]))
    return shown


def check_model_filter(prom: Prometheus, instance: str, model: str) -> None:
    """One model picked: every query of a family with a model label returns data, and only
    for that model."""
    picked = grafana_values(instance, model=model)
    problems: list[str] = []
    for panel in data_panels(load_dashboard()):
        for target in panel["targets"]:
            if MODEL_MATCHER not in target["expr"]:
                continue
            result = prom.query(substitute(target["expr"], picked))["data"]["result"]
            models = {s["metric"]["model"] for s in result if "model" in s["metric"]}
            if not result:
                problems.append(f"{panel['title']} {target['refId']}: no data for {model}")
            if models - {model}:
                problems.append(f"{panel['title']} {target['refId']}: shows {models}")
    assert problems == []


def check_file_panels(prom: Prometheus, values: dict[str, str], output: Path) -> None:
    """The series and size panels show the file node_exporter serves: its sample lines and
    its bytes, and Prometheus holds as many librechat_* series."""
    text = output.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    size = output.stat().st_size
    prom.wait_for(f'librechat_exporter_output_bytes{{instance="{values["instance"]}"}} == {size}')
    panels = {p["title"]: p for p in data_panels(load_dashboard())}
    at = time.time()
    assert panel_values_at(prom, panels["Series in librechat.prom"], values, at) == [len(lines)]
    assert panel_values_at(prom, panels["Size of librechat.prom"], values, at) == [size]
    held = prom.query(f'count({{__name__=~"librechat_.+",instance="{values["instance"]}"}})',
                      at=at)["data"]["result"]
    assert float(held[0]["value"][1]) == len(lines)
    runs = panel_results(prom, panels["Runs per hour by result"], values)
    assert {s["metric"]["result"] for s in runs} == {"ok", "partial", "failed"}


def check_runway(prom: Prometheus, values: dict[str, str], db: Database[Any]) -> None:
    """The runway is the credits held (summed from LibreChat's balances) divided by the USD
    spent per second over the range, the last 24 hours and the last 7 days."""
    credits = sum(float(b.get("tokenCredits") or 0) for b in db.balances.find({})) / 1e6
    assert credits > 0
    panel = next(p for p in data_panels(load_dashboard()) if p["title"].startswith(
        "Balance runway"))
    at = time.time()
    shown = panel_values_at(prom, panel, values, at)
    for runway, window in zip(shown, ("5m", "1d", "7d"), strict=True):
        spend = prom.query(f'sum(rate(librechat_context_cost_usd_total{{instance='
                           f'"{values["instance"]}"}}[{window}]))', at=at)["data"]["result"]
        rate = float(spend[0]["value"][1])
        assert rate > 0, window
        assert runway == pytest.approx(min(credits / rate, 315360000), rel=1e-9), window


def check_health_row(prom: Prometheus, values: dict[str, str]) -> None:
    """The first row of a healthy job: UP, fresh, no scrape error, counted, no failing
    section."""
    assert stat_values(prom, values, "Job status") == [UP]
    assert 0 <= stat_values(prom, values, "Since the last successful run")[0] < 120
    assert 0 <= stat_values(prom, values, "Age of the .prom file")[0] < 120
    assert stat_values(prom, values, "Textfile scrape error") == [0.0]
    assert stat_values(prom, values, "First count") == [1.0]
    assert stat_values(prom, values, "Failing sections") == [0.0]


def check_panels(prom: Prometheus, values: dict[str, str]) -> None:
    """Every panel query parses, returns data, and its legend labels are on every series; a
    stat panel, evaluated as the instant query it is, shows a number."""
    problems: list[str] = []
    panels = data_panels(load_dashboard())
    assert sum(len(p["targets"]) for p in panels) >= 30
    for panel in panels:
        title = panel["title"]
        for target in panel["targets"]:
            expr = substitute(target["expr"], values)
            answer = prom.query(expr)
            if answer.get("status") != "success":
                problems.append(f"{title}: {answer.get('error')} in {expr}")
                continue
            result = answer["data"]["result"]
            if not result:
                problems.append(f"{title}: no data for {expr}")
                continue
            for label in legend_labels(target.get("legendFormat", "")):
                lacking = [s["metric"] for s in result if label not in s["metric"]]
                if lacking:
                    problems.append(f"{title}: legend label {label!r} missing on {lacking[:2]}")
            if panel["type"] == "stat":
                shown = [float(s["value"][1]) for s in result]
                if not all(math.isfinite(v) for v in shown):
                    problems.append(f"{title}: stat shows {shown} for {expr}")
    assert problems == [], "\n".join(problems)


def check_answers_panels(prom: Prometheus, values: dict[str, str]) -> None:
    """The panels of the answers no exporter gives read right on the generated LibreChat
    (0.8.7, which saves no finish_reason): the cut-off share is not a reassuring 0 % but
    'finish_reason not saved' for every model; the stored-now figures are as old as their
    last refresh; the top agents are at most ten, by name."""
    panels = {p["title"]: p for p in data_panels(load_dashboard())}
    shares = panel_results(prom, panels["Cut-off and filtered share by model"], values)
    assert {s["metric"]["finish_reason"] for s in shares} == {"finish_reason not saved"}
    # 1 where a model answered within the rate interval, NaN (0 / 0) where it did not.
    assert all(float(s["value"][1]) == 1.0 or math.isnan(float(s["value"][1]))
               for s in shares), shares
    answers = panel_results(prom, panels["Answers by finish reason in the selected range"],
                            values)
    assert {s["metric"]["finish_reason"] for s in answers} == {"none"}
    ages = stat_values(prom, values, "Age of the stored-now figures")
    sections = panel_results(prom, panels["Age of the stored-now figures by section"], values)
    assert len(ages) == 1 and len(sections) >= 7, sections
    # The first run (three minutes before now) read them; the default --slow-interval is 900 s.
    assert 0 <= ages[0] < 900 + 120, ages
    assert all(float(s["value"][1]) <= ages[0] + 5 for s in sections), (ages, sections)
    agents = panel_results(prom, panels["Cost by agent in the selected range (top 10)"], values)
    assert 1 <= len(agents) <= 10
    assert "unknown" not in {s["metric"]["agent_name"] for s in agents}, agents
    assert "other" not in {s["metric"]["agent_id"] for s in agents}, agents


def check_rules(prom: Prometheus, scraped: str) -> None:
    """Prometheus loaded every alert, evaluates it without error, and every series an alert
    names exists; the node_exporter metrics the dashboard names exist too."""
    expected = dict(alert_rules())
    deadline = time.monotonic() + 20
    while True:
        groups = prom.api("rules", type="alert")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        evaluated = all(not r.get("lastEvaluation", "").startswith("0001") for r in rules)
        if evaluated or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {r["name"] for r in rules} == set(expected)
    problems: list[str] = []
    for rule in rules:
        if rule["health"] != "ok":
            problems.append(f"{rule['name']}: health {rule['health']}: {rule.get('lastError')}")
        if rule["labels"].get("severity") not in ("critical", "warning", "info"):
            problems.append(f"{rule['name']}: no severity label")
        if not {"summary", "description", "runbook_url"} <= set(rule["annotations"]):
            problems.append(f"{rule['name']}: summary, description or runbook_url missing")
        answer = prom.query(rule["query"])
        if answer.get("status") != "success":
            problems.append(f"{rule['name']}: {answer.get('error')}")
        for name in metric_names(expected[rule["name"]]):
            if prom.series_count(f'count({{__name__="{name}"}})') == 0:
                problems.append(f"{rule['name']}: no series {name}")
    node_metrics = {n for _, e in all_exprs() for n in metric_names(e) if n.startswith("node_")}
    for name in node_metrics:
        if not re.search(rf"(?m)^{name}[{{ ]", scraped):
            problems.append(f"node_exporter does not export {name}")
    assert problems == [], "\n".join(problems)


def blank_stats(prom: Prometheus, values: dict[str, str]) -> list[str]:
    """``panel title / refId`` of every stat query that returns nothing now."""
    return [f"{p['title']} / {t['refId']}" for p in stat_panels(load_dashboard())
            for t in p["targets"] if not prom.series_count(substitute(t["expr"], values))]


def panels_with_data(prom: Prometheus, values: dict[str, str]) -> dict[str, bool]:
    """``panel title / refId`` -> whether that query returns a series now."""
    return {f"{p['title']} / {t['refId']}":
            bool(prom.series_count(substitute(t["expr"], values)))
            for p in data_panels(load_dashboard()) for t in p["targets"]}


@pytest.mark.timeout(240)
def test_tenants_and_an_empty_site_on_real_prometheus(
        mongod: Mongod | ExternalServer, mongo_client: pymongo.MongoClient[Any],
        tmp_path: Path) -> None:
    """A multi-tenant site and an empty LibreChat, each behind its own node_exporter, scraped
    by one Prometheus: the $tenant filter never empties a panel, and No data never shows on a
    healthy site, not even on one without a single document."""
    require_binary(NODE_EXPORTER_BINARY)
    require_binary(PROMETHEUS_BINARY)
    tenants = tenant_database(mongo_client, seed=31)
    empty = f"t_dashboard_empty_{secrets.token_hex(4)}"
    dirs = {site: tmp_path / site for site in ("tenants", "empty")}
    try:
        # An empty LibreChat still has its collections: LibreChat creates them at start-up.
        librechat_data.ensure_indexes(mongo_client[empty])
        for site, database, extra in (("tenants", tenants, ["--tenant-label", "true"]),
                                      ("empty", empty, [])):
            dirs[site].mkdir()
            for _ in range(2):  # counters need two samples; the file is rewritten in between
                done = run_job(["--mongodb-uri", mongod.uri, "--mongodb-database", database,
                                "--output", str(dirs[site] / "librechat.prom"),
                                "--state-file", str(dirs[site] / "state.json"), *extra],
                               cwd=tmp_path)
                assert done.returncode == 0, done.stderr
        with NodeExporter(dirs["tenants"]) as tenant_node, \
                NodeExporter(dirs["empty"]) as empty_node, \
                Prometheus([tenant_node.address, empty_node.address],
                           job=SCRAPE_JOB) as prom:
            prom.wait_for("count_over_time(librechat_exporter_up[1m]) >= 4", at_least=2)
            every = grafana_values(tenant_node.address)
            # Picking every tenant shows what All shows, panel by panel.
            written = (dirs["tenants"] / "librechat.prom").read_text(encoding="utf-8")
            every_tenant = sorted(set(re.findall(r'tenant="([^"]*)"', written)))
            assert set(TENANTS) <= set(every_tenant), every_tenant
            picked = grafana_values(tenant_node.address, "(" + "|".join(every_tenant) + ")")
            assert panels_with_data(prom, picked) == panels_with_data(prom, every)
            # One tenant: every stat shows a number, and the job's own rows are unaffected.
            one = grafana_values(tenant_node.address, TENANTS[0])
            assert blank_stats(prom, one) == [], f"stats with No data for tenant {TENANTS[0]}"
            check_health_row(prom, one)
            # The empty site: healthy, so no stat may read No data (the colour of trouble),
            # and the families that are legitimately empty read 0 where a panel sums them.
            nothing = grafana_values(empty_node.address)
            check_health_row(prom, nothing)
            assert blank_stats(prom, nothing) == [], "stats with No data on a healthy empty site"
            # Without balance records the runway says so (-1: "no balance records").
            runway = next(p["title"] for p in stat_panels(load_dashboard())
                          if p["title"].startswith("Balance runway"))
            assert stat_values(prom, nothing, runway) == [-1.0] * 3
            for title in ("Errors in the last 5 minutes by model",
                          "Built-in tool call errors per hour",
                          "MCP tool call errors per hour by server and tool"):
                panel = next(p for p in data_panels(load_dashboard()) if p["title"] == title)
                shown = [float(s["value"][1]) for s in panel_results(prom, panel, nothing)]
                assert shown == [0.0], f"{title}: {shown}"
    finally:
        mongo_client.drop_database(tenants)
        mongo_client.drop_database(empty)
