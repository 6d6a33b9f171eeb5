"""Metric aggregation pushed down into SQL: per variant and metric, only sufficient statistics.

Two queries per experiment: exposed users per variant, and one pass over the per-user rollup
``exposure_totals`` (kept exact at write time by ``events.totals``) that turns each user's counts
and sums into one value per metric (conversion: 1 if any event after first exposure, numeric: sum
of values, count: number of events; users without events are 0) and sums those per variant into
``n, Σx, Σx²`` — plus the same metric over the pre-exposure window and the cross-product, the
inputs of CUPED. The cost grows with exposed users, not with their events, and never in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Float, and_, cast, func, select
from sqlalchemy.orm import Session

from splitlab.metrics.model import MetricKind
from splitlab.storage.models import Exposure, ExposureTotal, Variant


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


#: Per variant and event type, over the users' rows of ``exposure_totals`` (c: count of events,
#: s: value sum; post: after exposure, pre: the window before): Σ, Σ² and the cross-product of
#: counts and of sums, and for conversions how many users have any event (1² = 1, so these are
#: also Σx² and Σxp). Floats, so PostgreSQL sums in float8 rather than slow ``numeric``.
_T = ExposureTotal
_POST_C, _PRE_C = cast(_T.post_count, Float), cast(_T.pre_count, Float)
_TYPE_SUMS = (
    func.sum(_POST_C),
    func.sum(_POST_C * _POST_C),
    func.sum(_PRE_C),
    func.sum(_PRE_C * _PRE_C),
    func.sum(_POST_C * _PRE_C),
    func.sum(_T.post_sum),
    func.sum(_T.post_sum * _T.post_sum),
    func.sum(_T.pre_sum),
    func.sum(_T.pre_sum * _T.pre_sum),
    func.sum(_T.post_sum * _T.pre_sum),
    func.count().filter(_T.post_count > 0),
    func.count().filter(_T.pre_count > 0),
    func.count().filter(and_(_T.post_count > 0, _T.pre_count > 0)),
)


def _metric_sums(kind: MetricKind, sums: Sequence[float]) -> tuple[float, ...]:
    """``(Σx, Σx², Σp, Σp², Σxp)`` of one metric kind from its event type's ``_TYPE_SUMS``."""
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
    The sums read ``exposure_totals`` alone, one row per user and event type, where users
    without events have no row and so add 0. Metrics on the same event type share its sums.
    """
    if counts is None:
        counts = exposure_counts(session, experiment_id, bucket_version)
    sums: dict[tuple[int, str], list[float]] = {}
    event_types = sorted({m.event_type for m in metrics})
    if counts and event_types:
        rows = session.execute(
            select(_T.variant_id, _T.event_type, *_TYPE_SUMS)
            .where(
                _T.experiment_id == experiment_id,
                _T.bucket_version == bucket_version,
                _T.event_type.in_(event_types),
            )
            .group_by(_T.variant_id, _T.event_type)
        )
        for variant_id, event_type, *values in rows:
            sums[variant_id, event_type] = [float(v or 0) for v in values]
    keys = {
        variant_id: key
        for variant_id, key in session.execute(
            select(Variant.id, Variant.key).where(Variant.experiment_id == experiment_id)
        )
    }
    none = [0.0] * len(_TYPE_SUMS)
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
