"""Metric aggregation pushed down into SQL: per variant and metric, only sufficient statistics.

Two queries per experiment: exposed users per variant (an index-only count), and the rows of the
per-variant rollup ``variant_totals``, which ``events.totals`` keeps exact at write time from the
per-user totals of ``exposure_totals``. Each user's value per metric (conversion: 1 if any event
after first exposure, numeric: sum of values, count: number of events; users without events are
0) is summed per variant into ``n, Σx, Σx²``, plus the same metric over the pre-exposure window
and the cross-product, the inputs of CUPED. Reading them costs the same at any number of users
or events; the work is done, a batch at a time, when events and exposures are written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from splitlab.events.totals import ROLLUP_COLUMNS
from splitlab.metrics.model import MetricKind
from splitlab.storage.models import Exposure, Variant, VariantTotal


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    event_type: str
    kind: MetricKind


@dataclass(frozen=True, slots=True)
class MetricAggregate:
    """Sufficient statistics of one metric in one variant (x: after exposure, pre: before)."""

    n: int
    sum: float
    sum_sq: float
    pre_sum: float
    pre_sum_sq: float
    sum_cross: float


def _metric_sums(kind: MetricKind, sums: Sequence[float]) -> tuple[float, ...]:
    """``(Σx, Σx², Σp, Σp², Σxp)`` of one metric kind from its event type's rollup, in the
    order of ``totals.ROLLUP_COLUMNS``: five sums over event counts, five over value sums, and
    the users with any event after, before and both (1² = 1, so these are also Σx² and Σxp)."""
    if kind is MetricKind.COUNT:
        return tuple(sums[0:5])
    if kind is MetricKind.NUMERIC:
        return tuple(sums[5:10])
    converted, converted_before, both = sums[10:13]
    return (converted, converted, converted_before, converted_before, both)


def exposure_counts(session: Session, experiment_id: int, bucket_version: int) -> dict[int, int]:
    """Randomised exposures per variant id (forced overrides are not part of the experiment)."""
    rows = session.execute(
        select(Exposure.variant_id, func.count())
        .where(
            Exposure.experiment_id == experiment_id,
            Exposure.bucket_version == bucket_version,
            Exposure.is_override.is_(False),
        )
        .group_by(Exposure.variant_id)
    )
    return {variant_id: count for variant_id, count in rows}


def sufficient_statistics(
    session: Session,
    *,
    experiment_id: int,
    bucket_version: int,
    metrics: Sequence[MetricSpec],
    counts: Mapping[int, int] | None = None,
) -> dict[str, dict[str, MetricAggregate]]:
    """``{variant_key: {metric_name: MetricAggregate}}`` for every variant with exposures.

    Only randomised exposures count; users whose variant was forced by an override are excluded
    (a forced variant is the user's or a tester's choice, not randomisation: comparing such users
    would bias the lift, as GrowthBook also says). ``n`` counts every such exposure: an
    index-only scan, or ``counts`` when the caller has them already from ``exposure_counts``.
    The sums are ``variant_totals``' few rows per variant and event type, kept exact by every
    write; users without events add 0. Metrics on the same event type share its sums.
    """
    if counts is None:
        counts = exposure_counts(session, experiment_id, bucket_version)
    sums: dict[tuple[int, str], list[float]] = {}
    event_types = sorted({m.event_type for m in metrics})
    if counts and event_types:
        rows = session.execute(
            select(
                VariantTotal.variant_id,
                VariantTotal.event_type,
                *(getattr(VariantTotal, name) for name in ROLLUP_COLUMNS),
            ).where(
                VariantTotal.experiment_id == experiment_id,
                VariantTotal.bucket_version == bucket_version,
                VariantTotal.event_type.in_(event_types),
            )
        )
        for variant_id, event_type, *values in rows:
            sums[variant_id, event_type] = [float(v) for v in values]
    keys = {
        variant_id: key
        for variant_id, key in session.execute(
            select(Variant.id, Variant.key).where(Variant.experiment_id == experiment_id)
        )
    }
    none = [0.0] * len(ROLLUP_COLUMNS)
    return {
        keys[variant_id]: {
            metric.name: MetricAggregate(
                int(n),
                *_metric_sums(metric.kind, sums.get((variant_id, metric.event_type), none)),
            )
            for metric in metrics
        }
        for variant_id, n in counts.items()
    }
