"""Metric aggregation pushed down into SQL: per variant and metric, only sufficient statistics.

One query per experiment. The inner level turns each exposed user's events into one value per
metric (conversion: 1 if any event after first exposure, numeric: sum of values, count: number of
events; users without events are 0); the outer level sums those values per variant into
``n, Σx, Σx²`` — plus the same metric over a pre-exposure window and the cross-product, the
inputs of CUPED. Cost depends on the number of exposures and matching events, never on Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import DateTime

from splitlab.metrics.model import MetricKind
from splitlab.storage.models import Event, Exposure, Variant

DEFAULT_PRE_WINDOW = timedelta(days=14)


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


class _shift_days(FunctionElement[Any]):
    """``timestamp - N days`` in each backend's own date arithmetic."""

    type = DateTime()
    inherit_cache = True


@compiles(_shift_days, "postgresql")
def _shift_pg(element: _shift_days, compiler: Any, **kw: Any) -> str:
    column, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} - make_interval(days => {days}))"


@compiles(_shift_days, "sqlite")
def _shift_sqlite(element: _shift_days, compiler: Any, **kw: Any) -> str:
    column, days = list(element.clauses)
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text; strftime keeps a comparable format.
    return (
        f"strftime('%Y-%m-%d %H:%M:%f', {compiler.process(column, **kw)}, "
        f"'-' || {compiler.process(days, **kw)} || ' days')"
    )


def _user_value(kind: MetricKind, in_window: ColumnElement[bool]) -> ColumnElement[Any]:
    if kind is MetricKind.NUMERIC:
        return func.coalesce(
            func.sum(case((in_window, func.coalesce(Event.value, 0.0)), else_=0.0)), 0.0
        )
    count = func.coalesce(func.sum(case((in_window, 1), else_=0)), 0)
    if kind is MetricKind.COUNT:
        return count
    return case((count > 0, 1), else_=0)


def sufficient_statistics(
    session: Session,
    *,
    workspace_id: int,
    experiment_id: int,
    bucket_version: int,
    metrics: Sequence[MetricSpec],
    pre_window: timedelta = DEFAULT_PRE_WINDOW,
) -> dict[str, dict[str, MetricAggregate]]:
    """``{variant_key: {metric_name: MetricAggregate}}`` for every variant with exposures.

    Only randomised exposures count; users whose variant was forced by an override are excluded.
    """
    exposures = (
        select(Exposure.id, Exposure.user_id, Exposure.variant_id, Exposure.exposed_at)
        .where(
            Exposure.experiment_id == experiment_id,
            Exposure.bucket_version == bucket_version,
            # A forced variant is the user's or a tester's choice, not randomisation: comparing
            # such users would bias the lift, so they are left out (as GrowthBook does).
            Exposure.is_override.is_(False),
        )
        .subquery("x")
    )
    window_start = _shift_days(exposures.c.exposed_at, literal(max(pre_window.days, 0)))
    event_types = sorted({m.event_type for m in metrics})
    join = exposures.outerjoin(
        Event,
        and_(
            Event.workspace_id == workspace_id,
            Event.user_id == exposures.c.user_id,
            Event.event_type.in_(event_types) if event_types else literal(False),
            or_(Event.experiment_id.is_(None), Event.experiment_id == experiment_id),
            Event.timestamp >= window_start,
        ),
    )
    per_user_columns: list[Any] = [exposures.c.variant_id]
    for index, metric in enumerate(metrics):
        same_type = Event.event_type == metric.event_type
        after = and_(same_type, Event.timestamp >= exposures.c.exposed_at)
        before = and_(same_type, Event.timestamp < exposures.c.exposed_at)
        per_user_columns.append(_user_value(metric.kind, after).label(f"x{index}"))
        per_user_columns.append(_user_value(metric.kind, before).label(f"p{index}"))
    per_user = (
        select(*per_user_columns)
        .select_from(join)
        # One exposure per user here (unique on experiment, bucket version, user), so its
        # integer id identifies the user's group: sorting it is cheaper than sorting user_id
        # text (median 13.4 -> 7.7 s at 1M users on PostgreSQL; no change on SQLite; see
        # bench/RESULTS.md).
        .group_by(exposures.c.variant_id, exposures.c.id)
        .subquery("u")
    )
    totals: list[Any] = [per_user.c.variant_id, func.count().label("n")]
    for index in range(len(metrics)):
        x, p = per_user.c[f"x{index}"], per_user.c[f"p{index}"]
        totals += [
            func.sum(x),
            func.sum(x * x),
            func.sum(p),
            func.sum(p * p),
            func.sum(x * p),
        ]
    rows = session.execute(select(*totals).group_by(per_user.c.variant_id)).all()
    keys = {
        variant_id: key
        for variant_id, key in session.execute(
            select(Variant.id, Variant.key).where(Variant.experiment_id == experiment_id)
        )
    }
    result: dict[str, dict[str, MetricAggregate]] = {}
    for row in rows:
        variant_id, n, *sums = row
        per_metric: dict[str, MetricAggregate] = {}
        for index, metric in enumerate(metrics):
            s = [float(v or 0) for v in sums[index * 5 : index * 5 + 5]]
            per_metric[metric.name] = MetricAggregate(int(n), s[0], s[1], s[2], s[3], s[4])
        result[keys[variant_id]] = per_metric
    return result
