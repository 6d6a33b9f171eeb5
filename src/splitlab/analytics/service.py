"""Read-side analytics of one workspace: counts, per-variant figures, daily reports.

Every query is scoped to the caller's workspace; nothing here counts another tenant's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, distinct, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from splitlab.metrics.model import MetricKind
from splitlab.storage.base import utcnow
from splitlab.storage.models import (
    ApiToken,
    Event,
    Experiment,
    Exposure,
    Metric,
    User,
    Variant,
    Workspace,
)


class _utc_day(FunctionElement[str]):
    """The UTC calendar day of a timestamp, as ``YYYY-MM-DD`` text on every backend."""

    type = String()
    inherit_cache = True


@compiles(_utc_day, "postgresql")
def _utc_day_pg(element: _utc_day, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(_utc_day, "sqlite")
def _utc_day_sqlite(element: _utc_day, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"date({column})"  # stored as UTC text already


def _day(column: Any) -> Any:
    return _utc_day(column)


def experiments_overview(session: Session, workspace: Workspace) -> list[dict[str, Any]]:
    exposures = (
        select(Exposure.experiment_id, func.count().label("n"))
        .where(Exposure.workspace_id == workspace.id)
        .group_by(Exposure.experiment_id)
        .subquery()
    )
    events = (
        select(Event.experiment_id, func.count().label("n"))
        .where(Event.workspace_id == workspace.id, Event.experiment_id.is_not(None))
        .group_by(Event.experiment_id)
        .subquery()
    )
    variants = (
        select(Variant.experiment_id, func.count().label("n"))
        .group_by(Variant.experiment_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Experiment,
            func.coalesce(variants.c.n, 0),
            func.coalesce(exposures.c.n, 0),
            func.coalesce(events.c.n, 0),
        )
        .outerjoin(variants, variants.c.experiment_id == Experiment.id)
        .outerjoin(exposures, exposures.c.experiment_id == Experiment.id)
        .outerjoin(events, events.c.experiment_id == Experiment.id)
        .where(Experiment.workspace_id == workspace.id)
        .order_by(Experiment.id)
    )
    return [
        {
            "id": experiment.id,
            "key": experiment.key,
            "name": experiment.name,
            "status": experiment.status,
            "variants": variant_count,
            "exposures": exposure_count,
            "events": event_count,
            "start_date": experiment.start_date,
            "end_date": experiment.end_date,
            "winning_variant": experiment.winning_variant,
        }
        for experiment, variant_count, exposure_count, event_count in rows
    ]


def _attributed_events() -> Any:
    """Events joined to the exposure they count for: same user, after exposure, same scope."""
    return and_(
        Event.workspace_id == Exposure.workspace_id,
        Event.user_id == Exposure.user_id,
        Event.timestamp >= Exposure.exposed_at,
        or_(Event.experiment_id.is_(None), Event.experiment_id == Exposure.experiment_id),
    )


def _conversion_types(session: Session, workspace: Workspace) -> dict[int, set[str]]:
    """Per experiment, the event types that count as conversions (its conversion metrics)."""
    rows = session.execute(
        select(Metric.experiment_id, Metric.event_type)
        .join(Experiment, Experiment.id == Metric.experiment_id)
        .where(Experiment.workspace_id == workspace.id, Metric.kind == MetricKind.CONVERSION.value)
    )
    found: dict[int, set[str]] = {}
    for experiment_id, event_type in rows:
        found.setdefault(experiment_id, set()).add(event_type)
    return found


def variants_overview(session: Session, workspace: Workspace) -> list[dict[str, Any]]:
    exposures = (
        select(Exposure.variant_id, func.count().label("users"))
        .where(Exposure.workspace_id == workspace.id)
        .group_by(Exposure.variant_id)
        .subquery()
    )
    events = (
        select(
            Exposure.variant_id,
            func.count(Event.id).label("events"),
            func.coalesce(func.sum(Event.value), 0.0).label("value_sum"),
        )
        .join(Event, _attributed_events())
        .where(Exposure.workspace_id == workspace.id)
        .group_by(Exposure.variant_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Variant,
            Experiment.key,
            func.coalesce(exposures.c.users, 0),
            func.coalesce(events.c.events, 0),
            func.coalesce(events.c.value_sum, 0.0),
        )
        .join(Experiment, Experiment.id == Variant.experiment_id)
        .outerjoin(exposures, exposures.c.variant_id == Variant.id)
        .outerjoin(events, events.c.variant_id == Variant.id)
        .where(Experiment.workspace_id == workspace.id)
        .order_by(Experiment.id, Variant.position)
    )
    return [
        {
            "id": variant.id,
            "experiment_id": variant.experiment_id,
            "experiment_key": experiment_key,
            "key": variant.key,
            "name": variant.name,
            "allocation_pct": variant.allocation,
            "is_control": variant.is_control,
            "users": users,
            "events": event_count,
            "value_sum": float(value_sum),
        }
        for variant, experiment_key, users, event_count, value_sum in rows
    ]


def assignments_overview(session: Session, workspace: Workspace) -> dict[str, Any]:
    scope = Exposure.workspace_id == workspace.id
    total = session.scalar(select(func.count()).select_from(Exposure).where(scope)) or 0
    overrides = (
        session.scalar(
            select(func.count()).select_from(Exposure).where(scope, Exposure.is_override.is_(True))
        )
        or 0
    )
    users = session.scalar(select(func.count(distinct(Exposure.user_id))).where(scope)) or 0
    per_day = session.execute(
        select(_day(Exposure.exposed_at).label("day"), func.count())
        .where(scope, Exposure.exposed_at >= utcnow() - timedelta(days=30))
        .group_by("day")
        .order_by("day")
    )
    by_variant = session.execute(
        select(Experiment.key, Variant.key, func.count())
        .select_from(Exposure)
        .join(Variant, Variant.id == Exposure.variant_id)
        .join(Experiment, Experiment.id == Exposure.experiment_id)
        .where(scope)
        .group_by(Experiment.key, Variant.key)
        .order_by(Experiment.key, Variant.key)
    )
    return {
        "total_assignments": total,
        "unique_users": users,
        "overrides": overrides,
        "by_experiment": [
            {"experiment_key": e, "variant_key": v, "assignments": n} for e, v, n in by_variant
        ],
        "last_30_days": [{"day": day, "assignments": n} for day, n in per_day],
    }


def events_page(
    session: Session, workspace: Workspace, *, limit: int, offset: int, event_type: str | None
) -> dict[str, Any]:
    conditions = [Event.workspace_id == workspace.id]
    if event_type:
        conditions.append(Event.event_type == event_type)
    total = session.scalar(select(func.count()).select_from(Event).where(*conditions)) or 0
    rows = session.scalars(
        select(Event)
        .where(*conditions)
        .order_by(Event.timestamp.desc(), Event.id.desc())
        .offset(offset)
        .limit(limit)
    )
    by_type = session.execute(
        select(Event.event_type, func.count())
        .where(Event.workspace_id == workspace.id)
        .group_by(Event.event_type)
        .order_by(func.count().desc())
    )
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "by_type": {t: n for t, n in by_type},
        "events": list(rows),
    }


def users_overview(session: Session, workspace: Workspace) -> dict[str, Any]:
    scope = User.workspace_id == workspace.id
    registered = session.scalar(select(func.count()).select_from(User).where(scope)) or 0
    recent = (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(scope, User.created_at >= utcnow() - timedelta(days=7))
        )
        or 0
    )
    exposed = (
        session.scalar(
            select(func.count(distinct(Exposure.user_id))).where(
                Exposure.workspace_id == workspace.id
            )
        )
        or 0
    )
    active = (
        session.scalar(
            select(func.count(distinct(Event.user_id))).where(Event.workspace_id == workspace.id)
        )
        or 0
    )
    return {
        "registered_users": registered,
        "new_users_last_7_days": recent,
        "exposed_users": exposed,
        "users_with_events": active,
    }


@dataclass(frozen=True, slots=True)
class ReportRow:
    experiment_id: int
    experiment_key: str
    variant_key: str
    day: date | str
    exposures: int
    events: int
    conversions: int
    value_sum: float


def daily_reports(
    session: Session, workspace: Workspace, *, experiment_id: int | None = None, days: int = 90
) -> list[ReportRow]:
    """Per experiment, variant and day: new exposures, attributed events, conversions, values."""
    since = utcnow() - timedelta(days=days)
    conversion_types = _conversion_types(session, workspace)
    exposure_scope = [Exposure.workspace_id == workspace.id, Exposure.exposed_at >= since]
    if experiment_id is not None:
        exposure_scope.append(Exposure.experiment_id == experiment_id)
    exposure_rows = session.execute(
        select(Exposure.experiment_id, Exposure.variant_id, _day(Exposure.exposed_at), func.count())
        .where(*exposure_scope)
        .group_by(Exposure.experiment_id, Exposure.variant_id, _day(Exposure.exposed_at))
    )
    event_scope = [Exposure.workspace_id == workspace.id, Event.timestamp >= since]
    if experiment_id is not None:
        event_scope.append(Exposure.experiment_id == experiment_id)
    event_rows = session.execute(
        select(
            Exposure.experiment_id,
            Exposure.variant_id,
            _day(Event.timestamp),
            Event.event_type,
            func.count(Event.id),
            func.coalesce(func.sum(Event.value), 0.0),
        )
        .join(Event, _attributed_events())
        .where(*event_scope)
        .group_by(
            Exposure.experiment_id, Exposure.variant_id, _day(Event.timestamp), Event.event_type
        )
    )
    cells: dict[tuple[int, int, str], list[float]] = {}
    for exp_id, var_id, day, count in exposure_rows:
        cells.setdefault((exp_id, var_id, str(day)), [0, 0, 0, 0.0])[0] += count
    for exp_id, var_id, day, event_type, count, value_sum in event_rows:
        cell = cells.setdefault((exp_id, var_id, str(day)), [0, 0, 0, 0.0])
        cell[1] += count
        cell[3] += float(value_sum)
        if event_type == "conversion" or event_type in conversion_types.get(exp_id, set()):
            cell[2] += count
    names = {
        variant_id: (experiment_key, variant_key)
        for variant_id, experiment_key, variant_key in session.execute(
            select(Variant.id, Experiment.key, Variant.key)
            .join(Experiment, Experiment.id == Variant.experiment_id)
            .where(Experiment.workspace_id == workspace.id)
        )
    }
    return [
        ReportRow(
            exp_id, names[var_id][0], names[var_id][1], day, int(c[0]), int(c[1]), int(c[2]), c[3]
        )
        for (exp_id, var_id, day), c in sorted(
            cells.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])
        )
    ]


def record_counts(session: Session, workspace: Workspace) -> dict[str, Any]:
    def count(model: Any, *conditions: Any) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0

    statuses = dict(
        session.execute(
            select(Experiment.status, func.count())
            .where(Experiment.workspace_id == workspace.id)
            .group_by(Experiment.status)
        ).all()
    )
    return {
        "experiments": count(Experiment, Experiment.workspace_id == workspace.id),
        "experiments_by_status": statuses,
        "variants": count(
            Variant,
            Variant.experiment_id.in_(
                select(Experiment.id).where(Experiment.workspace_id == workspace.id)
            ),
        ),
        "metrics": count(
            Metric,
            Metric.experiment_id.in_(
                select(Experiment.id).where(Experiment.workspace_id == workspace.id)
            ),
        ),
        "users": count(User, User.workspace_id == workspace.id),
        "assignments": count(Exposure, Exposure.workspace_id == workspace.id),
        "events": count(Event, Event.workspace_id == workspace.id),
        # Tokens that can act here: bound to this workspace, or bound to none.
        "api_tokens": count(
            ApiToken, (ApiToken.workspace_id == workspace.id) | ApiToken.workspace_id.is_(None)
        ),
    }


def event_time_range(
    session: Session, workspace: Workspace
) -> tuple[datetime | None, datetime | None]:
    row = session.execute(
        select(func.min(Event.timestamp), func.max(Event.timestamp)).where(
            Event.workspace_id == workspace.id
        )
    ).one()
    return row[0], row[1]
