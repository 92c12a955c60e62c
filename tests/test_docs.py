"""README.md and docs/: a README read in five minutes whose first section gives the two
fresh-machine commands (the demo, and .ci/run with what it does as root), links that lead
somewhere, and no metric name that the catalogue does not declare.

The commands themselves run elsewhere: the demo as written in tests/test_packaging.py, .ci/run
is CI; its last command is the README's test command (tests/test_install.py)."""

from __future__ import annotations

import re
from pathlib import Path

from librechat_metrics.catalogue import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# Written for another issue (21: one runbook entry per alert) on its own branch; linked from
# here already. The lead removes this once it is merged.
PENDING = {ROOT / "docs" / "runbook.md"}
# Names in backticks that are not metrics: the MongoDB user, the entry module.
NOT_METRICS = {"librechat_metrics", "librechat_textfile"}


def sections(text: str) -> dict[str, str]:
    """## sections by title (a "# comment" in a shell block is no heading)."""
    parts = re.split(r"(?m)^## (.+)\n", text)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_readme_is_short_and_starts_with_what_it_is() -> None:
    text = README.read_text()
    assert len(text.splitlines()) < 450
    intro = text[:text.index("\n## ")]
    assert "LibreChat" in intro and "node_exporter" in intro and "Prometheus" in intro
    assert re.search(r"(?m)^librechat_exporter_up 1\.0$", intro), "a sample of real output"
    first = next(iter(sections(text)))
    assert first == "Try it on a fresh machine"


def test_the_test_command_says_what_ci_run_does_as_root() -> None:
    """Where `.ci/run` is given, it says: as root, Debian 12, never production, and every
    package it apt-installs."""
    section = sections(README.read_text())["Try it on a fresh machine"]
    assert "```sh\n.ci/run\n```" in section
    flat = " ".join(section.split())
    assert "as root" in flat and "Debian 12" in flat and "never on a production host" in flat
    script = (ROOT / ".ci" / "run").read_text()
    install = re.search(r"apt-get install -y -qq --no-install-recommends \\\n\s*(.+?) >",
                        script)
    assert install
    for package in install.group(1).split():
        assert f"`{package}`" in flat, package


def test_the_flag_table_lists_every_flag_with_its_variable() -> None:
    from librechat_metrics.settings import OPTIONS

    table = sections(README.read_text())["Configuration"]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"(?m)^\| `(--[a-z-]+)` \| ([^|]*)\|",
                                                        table)}
    for option in OPTIONS:
        assert option.flag in rows, option.flag
        assert option.env is None or f"`{option.env}`" in rows[option.flag], option.flag
    assert {"--env-file", "--stdout", "--version"} <= set(rows)


def link_targets(path: Path) -> list[tuple[str, Path, str]]:
    """(link, file, anchor) of every relative Markdown link of `path`."""
    found = []
    for link in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        found.append((link, (path.parent / target).resolve() if target else path, anchor))
    return found


def slugs(path: Path) -> set[str]:
    """GitHub's anchors of a file's headings."""
    text = re.sub(r"(?ms)^```.*?^```", "", path.read_text())
    return {re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
            for title in re.findall(r"(?m)^#{1,6} (.+)$", text)}


def test_every_link_leads_somewhere() -> None:
    broken = []
    for path in [README, *DOCS]:
        for link, target, anchor in link_targets(path):
            if not target.exists():
                if target not in PENDING:
                    broken.append(f"{path.name}: {link}")
            elif anchor and anchor not in slugs(target):
                broken.append(f"{path.name}: {link} (no such heading)")
    assert broken == []


def test_docs_name_only_declared_families() -> None:
    """Outside docs/upgrading.md, which names the old names it maps, every librechat_ name is
    a family the job writes."""
    unknown = {}
    for path in [README, *DOCS]:
        if path.name == "upgrading.md":
            continue
        names = set(re.findall(r"\blibrechat_[a-z0-9_]+", path.read_text())) - NOT_METRICS
        missing = sorted(n for n in names if n not in CATALOGUE)
        if missing:
            unknown[path.name] = missing
    assert unknown == {}


def test_every_migration_note_is_kept() -> None:
    upgrading = (ROOT / "docs" / "upgrading.md").read_text()
    for title in ("Upgrading from 2.1.0 to 2.1.1", "Upgrading from 2.0.0 to 2.1.0",
                  "Migrating from 1.x to 2.0.0", "Coming from the original exporter"):
        assert f"\n## {title}\n" in upgrading, title
    assert "## How counting works" in (ROOT / "docs" / "counting.md").read_text()


def test_operating_names_the_grafana_version_the_dashboard_requires() -> None:
    import json

    dashboard = json.loads((ROOT / "dashboards" / "librechat.json").read_text())
    grafana = next(r["version"] for r in dashboard["__requires"] if r["id"] == "grafana")
    major_minor = ".".join(grafana.split(".")[:2])
    operating = (ROOT / "docs" / "operating.md").read_text()
    assert f"Grafana {major_minor} or newer" in operating
    assert "/etc/grafana/provisioning/dashboards/" in operating
    assert "${DS_PROMETHEUS}" in operating  # what a provisioned copy must replace
    rules = operating[operating.index("## Prometheus rules"):]
    assert rules.index("systemctl reload prometheus") < rules.index("curl -X POST")
