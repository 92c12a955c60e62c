"""Read the job's Prometheus text exposition into plain dictionaries for comparisons."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

LabelKey = tuple[tuple[str, str], ...]
"""A sample's label set: (name, value) pairs sorted by name."""

Samples = dict[str, dict[LabelKey, float]]
"""sample name (``librechat_messages_total``) -> label set -> value."""


def label_key(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """(samples by sample name, declared type by sample-name base).

    Every family the text declares is in the type map, even one without samples; a counter
    ``librechat_x_total`` is keyed by its full name ``librechat_x_total``.
    """
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        types[name] = family.type
        for sample in family.samples:
            bucket = samples.setdefault(sample.name, {})
            key = label_key(dict(sample.labels))
            if key in bucket:
                raise AssertionError(f"duplicate sample {sample.name}{dict(key)}")
            bucket[key] = float(sample.value)
    return samples, types


def parse_file(path: str) -> tuple[Samples, dict[str, str]]:
    with open(path, encoding="utf-8") as handle:
        return parse(handle.read())
