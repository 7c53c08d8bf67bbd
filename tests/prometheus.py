"""Reading scraped metrics in tests: the Prometheus parser's samples, by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

__all__ = ("moved", "samples")


def samples(text: str) -> dict[str, float]:
    """Every sample of ``text`` (the exposition format) as ``name{label=value,...}`` -> value,
    read by ``prometheus_client``'s parser."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def moved(before: dict[str, float], after: dict[str, float], name: str) -> float:
    """How much the sample ``name`` grew from ``before`` to ``after`` (0 where missing)."""
    return after.get(name, 0) - before.get(name, 0)
