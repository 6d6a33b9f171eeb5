"""Metric vocabulary."""

from __future__ import annotations

from enum import StrEnum


class MetricKind(StrEnum):
    """How a user's events become their value: any event (0/1), sum of values, or event count."""

    CONVERSION = "conversion"
    NUMERIC = "numeric"
    COUNT = "count"


class MetricRole(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    GUARDRAIL = "guardrail"


#: Seed 000's ``metric_type`` words (and common synonyms) → metric kind.
KIND_WORDS: dict[str, MetricKind] = {
    "conversion": MetricKind.CONVERSION,
    "binary": MetricKind.CONVERSION,
    "binomial": MetricKind.CONVERSION,
    "boolean": MetricKind.CONVERSION,
    "numeric": MetricKind.NUMERIC,
    "continuous": MetricKind.NUMERIC,
    "revenue": MetricKind.NUMERIC,
    "sum": MetricKind.NUMERIC,
    "value": MetricKind.NUMERIC,
    "count": MetricKind.COUNT,
}
