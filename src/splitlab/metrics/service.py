"""Metric definitions per experiment: declared, or inferred from what is tracked."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from splitlab.assignment.cache import mark_changed
from splitlab.errors import Conflict, NotFound
from splitlab.metrics.model import MetricKind, MetricRole
from splitlab.storage.base import utcnow
from splitlab.storage.models import Experiment, Metric


def list_metrics(session: Session, experiment_id: int) -> list[Metric]:
    return list(
        session.scalars(
            select(Metric)
            .where(Metric.experiment_id == experiment_id)
            .order_by(Metric.position, Metric.id)
        )
    )


def find_metric(session: Session, experiment_id: int, name: str) -> Metric | None:
    return session.scalars(
        select(Metric).where(Metric.experiment_id == experiment_id, Metric.name == name)
    ).one_or_none()


def define_metric(
    session: Session,
    experiment: Experiment,
    *,
    name: str,
    kind: MetricKind,
    event_type: str | None = None,
    role: MetricRole | None = None,
    higher_is_better: bool = True,
) -> Metric:
    """Add a metric; the first one of an experiment is primary unless a role says otherwise.

    The experiment's row is locked first, so that two first metrics defined at the same time
    (two tracked names, on PostgreSQL) are numbered one after the other: one primary, not two.
    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: new exposures of the experiment check their
    foreign key with ``FOR KEY SHARE`` on this row, under their users' advisory locks, which a
    tracked metric takes after this one; the stronger lock would deadlock the two.
    """
    lock = select(Experiment.id).where(Experiment.id == experiment.id)
    session.execute(lock.with_for_update(key_share=True))
    if find_metric(session, experiment.id, name) is not None:
        raise Conflict(f"Metric '{name}' is already defined", code="duplicate_metric")
    count = session.scalar(select(func.count()).where(Metric.experiment_id == experiment.id)) or 0
    if role is None:
        role = MetricRole.PRIMARY if count == 0 else MetricRole.SECONDARY
    if role is MetricRole.PRIMARY:
        for existing in list_metrics(session, experiment.id):
            if existing.role == MetricRole.PRIMARY.value:
                existing.role = MetricRole.SECONDARY.value
    metric = Metric(
        experiment_id=experiment.id,
        name=name,
        event_type=event_type or name,
        kind=kind.value,
        role=role.value,
        higher_is_better=higher_is_better,
        position=count,
        created_at=utcnow(),
    )
    session.add(metric)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Metric '{name}' is already defined", code="duplicate_metric") from exc
    mark_changed(session, experiment.workspace_id, experiment.key, experiment.id)
    return metric


def ensure_metric(
    session: Session, experiment: Experiment, *, name: str, kind: MetricKind
) -> Metric:
    """The metric called ``name``, inferred from a tracked value's ``metric_type`` if new."""
    existing = find_metric(session, experiment.id, name)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            return define_metric(session, experiment, name=name, kind=kind)
    except Conflict:
        # A concurrent request defined it first; theirs stands.
        found = find_metric(session, experiment.id, name)
        if found is None:
            raise
        return found


def delete_metric(session: Session, experiment: Experiment, name: str) -> None:
    metric = find_metric(session, experiment.id, name)
    if metric is None:
        raise NotFound(f"Metric '{name}' not found", code="metric_not_found")
    session.delete(metric)
    session.flush()
