"""The catalogue: every family declared once, listed in the README as declared, filled by code
that names its declaration (never a string), and rendered as declared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from librechat_metrics import catalogue as cat
from librechat_metrics.families import Family

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "librechat_metrics"
README = ROOT / "README.md"


def readme_families() -> dict[str, tuple[str, tuple[str, ...]]]:
    """{name: (type, labels)} from the metric tables of README.md's "Metrics" section."""
    text = README.read_text()
    section = text[text.index("\n## Metrics"):text.index("\n## How counting works")]
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or "`librechat_" not in cells[0]:
            continue
        names = re.findall(r"`([a-z_0-9]+)`", cells[0])
        kind = cells[1].split()[0]
        labels = tuple(label.strip() for label in cells[2].split(",") if label.strip())
        first = names[0]
        for name in names:
            # "`x_average` / `_stddev`": a suffix replaces the first name's last word.
            full = first.rsplit("_", 1)[0] + name if name.startswith("_") else name
            assert full not in found, f"{full} is listed twice in the README"
            found[full] = (kind, labels)
    return found


def test_readme_tables_list_exactly_the_catalogue() -> None:
    declared = {spec.name: (spec.kind, spec.labels) for spec in cat.CATALOGUE.values()}
    listed = readme_families()
    assert sorted(set(declared) - set(listed)) == [], "declared but not in the README"
    assert sorted(set(listed) - set(declared)) == [], "in the README but not declared"
    differing = {name: (listed[name], declared[name]) for name in declared
                 if listed[name] != declared[name]}
    assert differing == {}, "README (type, labels) vs catalogue"


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
