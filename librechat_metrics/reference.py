"""docs/metrics.md, generated: `python -m librechat_metrics.reference > docs/metrics.md`.

Every family as catalogue.py declares it (name, type, labels, HELP, the release that first
wrote it), under the section of the registry that computes it. A section computes the families
its compute function names, directly or through the package's functions it calls: found in
their code objects, so a new family needs nothing but its declaration and the section code
that fills it. The job's own metrics come from sections/job.py's `self_families` (and
`render_with_size`, the file's own size).

A module of the package rather than a script in tests/: an installed copy prints the reference
of the version installed, and nothing here runs during a job (the job never imports it).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from types import CodeType, FunctionType
from typing import Any

from . import catalogue as cat
from .sections.job import render_with_size, self_families
from .sections.registry import SECTIONS

JOB = "job"
COMMAND = "python -m librechat_metrics.reference > docs/metrics.md"


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    """A function's code and the code of everything defined inside it (closures, lambdas)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_objects(const)


def _ours(value: Any, home: str) -> bool:
    module = getattr(value, "__module__", "") or ""
    return module.startswith("librechat_metrics") or module == home


def _package_functions(value: Any, home: str) -> list[FunctionType]:
    """The functions behind a global name, if the package's (or the root's module's): a
    function, or a class's methods."""
    if isinstance(value, FunctionType):
        return [value] if _ours(value, home) else []
    if isinstance(value, type) and _ours(value, home):
        methods = [getattr(m, "__func__", m) for m in vars(value).values()]
        return [m for m in methods if isinstance(m, FunctionType)]
    return []


def _specs_in(value: Any) -> list[cat.Spec]:
    """Declarations a global holds: one, or a tuple of them (`MESSAGE_COUNTERS`)."""
    if isinstance(value, cat.Spec):
        return [value]
    if isinstance(value, (tuple, list)):
        return [item for item in value if isinstance(item, cat.Spec)]
    return []


def families_named_by(root: Callable[..., Any]) -> set[str]:
    """The families `root` and the package functions it reaches name (`cat.X`, or a module
    constant holding declarations)."""
    found: set[str] = set()
    seen: set[FunctionType] = set()
    todo = [root] if isinstance(root, FunctionType) else []
    home = getattr(root, "__module__", "")
    while todo:
        function = todo.pop()
        if function in seen:
            continue
        seen.add(function)
        for code in _code_objects(function.__code__):
            for name in code.co_names:
                declared = getattr(cat, name, None)
                if isinstance(declared, cat.Spec):  # `cat.NAME`
                    found.add(declared.name)
                value = function.__globals__.get(name)
                found.update(spec.name for spec in _specs_in(value))
                todo.extend(_package_functions(value, home))
    return found


def sections_of_families() -> dict[str, list[str]]:
    """{family: [sections that compute it]}, sections in run order, the job's metrics last."""
    roots = [(section.name, families_named_by(section.compute)) for section in SECTIONS]
    # The file's own size is added where it is rendered (render_with_size), after the others.
    roots.append((JOB, families_named_by(self_families) | families_named_by(render_with_size)))
    return {name: [section for section, names in roots if name in names]
            for name in cat.CATALOGUE}


def _labels(spec: cat.Spec) -> str:
    closed = dict(spec.closed)
    open_ended = {label for group, _ in spec.dims for label in group}
    cells = []
    for label in spec.labels:
        if label in closed:
            cells.append(f"`{label}`: {', '.join(closed[label])}")
        elif label in open_ended:
            cells.append(f"`{label}`\\*")
        else:
            cells.append(f"`{label}`")
    if spec.tenanted:
        cells.append("(`tenant`)")
    return ", ".join(cells) or "none"


def _cell(text: str) -> str:
    return (text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", " "))


def _summary(function: Callable[..., Any]) -> str:
    """The first paragraph of a compute function's docstring, on one line."""
    doc = inspect.getdoc(function) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _section_headings() -> list[tuple[str, str]]:
    headings = []
    for section in SECTIONS:
        when = ("Stored now, refreshed every `--slow-interval`" if section.refresh == "slow"
                else "Every run")
        headings.append((section.name, f"{_summary(section.compute)} *{when}.*"))
    headings.append((JOB, f"{_summary(self_families)} *Every run, failed ones included.*"))
    return headings


def reference() -> str:
    """The whole of docs/metrics.md."""
    where = sections_of_families()
    unplaced = sorted(name for name, sections in where.items() if len(sections) != 1)
    if unplaced:
        raise SystemExit("families computed by no section or by more than one (their code must "
                         "name their declaration, cat.NAME): "
                         + ", ".join(f"{n} {where[n]}" for n in unplaced))
    lines = [
        "# Metrics reference",
        "",
        f"<!-- Generated from librechat_metrics/catalogue.py by `{COMMAND}`;",
        "     edit the catalogue, not this file. tests/test_catalogue.py checks it. -->",
        "",
        f"Every family the job writes ({len(cat.CATALOGUE)}), under the section that computes "
        "it: its name is the `section` label of `librechat_exporter_errors` and "
        "`librechat_exporter_section_duration_seconds`, and a failed section's families are "
        "left out of the file (`job` is the job itself). *Since* is the release that first "
        "wrote the family under this name; CHANGELOG.md says what changed since.",
        "",
        "Labels: `name`\\* is open-ended, one of at most `--label-limit` values shared by every "
        "family of its dimension, the rest summed into `other`; `name`: a, b lists every value "
        "of a closed label, each written (0 where nothing happened); (`tenant`) is added with "
        "`--tenant-label`, open-ended too (at most `--label-limit` tenants, the rest in "
        "`other`). How values are made and counted: [counting.md](counting.md).",
        "",
    ]
    for section, heading in _section_headings():
        specs = [spec for spec in cat.CATALOGUE.values() if where[spec.name] == [section]]
        lines += [f"## {section}", "", heading, "",
                  "| name | type | labels | since | HELP |", "|---|---|---|---|---|"]
        lines += [f"| `{spec.name}` | {spec.kind} | {_labels(spec)} | {spec.since} | "
                  f"{_cell(spec.help)} |" for spec in specs]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(reference())
