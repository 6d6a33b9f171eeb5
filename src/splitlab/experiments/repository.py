"""Every query of the experiment domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from splitlab.storage.base import as_id
from splitlab.storage.models import Event, Experiment, Exposure, LifecycleEvent, Variant

SORTABLE: dict[str, Any] = {
    "createdAt": Experiment.created_at,
    "created_at": Experiment.created_at,
    "updatedAt": Experiment.updated_at,
    "updated_at": Experiment.updated_at,
    "name": Experiment.name,
    "key": Experiment.key,
    "status": Experiment.status,
    "startDate": Experiment.start_date,
    "start_date": Experiment.start_date,
    "endDate": Experiment.end_date,
    "end_date": Experiment.end_date,
    "id": Experiment.id,
}


def _with_variants() -> Any:
    return select(Experiment).options(selectinload(Experiment.variants))


def get(session: Session, workspace_id: int, ref: str | int) -> Experiment | None:
    """By key first, then by integer id: routes accept either."""
    if isinstance(ref, str):
        if "\x00" in ref:
            return None  # PostgreSQL text cannot hold NUL, so no key has one
        found: Experiment | None = session.scalars(
            _with_variants().where(Experiment.workspace_id == workspace_id, Experiment.key == ref)
        ).one_or_none()
        if found is not None:
            return found
    experiment_id = as_id(ref)
    if experiment_id is None:
        return None
    by_id: Experiment | None = session.scalars(
        _with_variants().where(
            Experiment.workspace_id == workspace_id, Experiment.id == experiment_id
        )
    ).one_or_none()
    return by_id


def get_for_update(session: Session, experiment_id: int) -> Experiment:
    """Re-read one experiment with a row lock (PostgreSQL) so concurrent transitions serialise."""
    experiment: Experiment = session.scalars(
        _with_variants()
        .where(Experiment.id == experiment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return experiment


def key_taken(
    session: Session, workspace_id: int, key: str, *, exclude_id: int | None = None
) -> bool:
    query = select(Experiment.id).where(
        Experiment.workspace_id == workspace_id, Experiment.key == key
    )
    if exclude_id is not None:
        query = query.where(Experiment.id != exclude_id)
    return session.scalars(query).first() is not None


def name_taken(
    session: Session, workspace_id: int, name: str, *, exclude_id: int | None = None
) -> bool:
    query = select(Experiment.id).where(
        Experiment.workspace_id == workspace_id, Experiment.name == name
    )
    if exclude_id is not None:
        query = query.where(Experiment.id != exclude_id)
    return session.scalars(query).first() is not None


def list_page(
    session: Session,
    *,
    workspace_ids: Sequence[int] | None,
    statuses: Sequence[str] | None,
    search: str | None = None,
    offset: int,
    limit: int,
    sort_by: str = "createdAt",
    descending: bool = True,
) -> tuple[list[Experiment], int]:
    conditions: list[ColumnElement[bool]] = []
    if workspace_ids is not None:
        conditions.append(Experiment.workspace_id.in_(workspace_ids))
    if statuses:
        conditions.append(Experiment.status.in_(statuses))
    if search:
        pattern = f"%{search.lower()}%"
        conditions.append(
            func.lower(Experiment.name).like(pattern) | func.lower(Experiment.key).like(pattern)
        )
    total = session.scalar(select(func.count()).select_from(Experiment).where(*conditions)) or 0
    column = SORTABLE[sort_by]
    order = column.desc() if descending else column.asc()
    tiebreak = Experiment.id.desc() if descending else Experiment.id.asc()
    rows = session.scalars(
        _with_variants().where(*conditions).order_by(order, tiebreak).offset(offset).limit(limit)
    )
    return list(rows), total


def add_lifecycle_event(session: Session, event: LifecycleEvent) -> None:
    session.add(event)


def lifecycle_events(session: Session, experiment_id: int) -> list[LifecycleEvent]:
    return list(
        session.scalars(
            select(LifecycleEvent)
            .where(LifecycleEvent.experiment_id == experiment_id)
            .order_by(LifecycleEvent.created_at, LifecycleEvent.id)
        )
    )


def count_by_status(session: Session, workspace_ids: Sequence[int] | None) -> dict[str, int]:
    query = select(Experiment.status, func.count()).group_by(Experiment.status)
    if workspace_ids is not None:
        query = query.where(Experiment.workspace_id.in_(workspace_ids))
    return {status: count for status, count in session.execute(query)}


def count_exposures(session: Session, workspace_ids: Sequence[int] | None) -> int:
    query = select(func.count()).select_from(Exposure)
    if workspace_ids is not None:
        query = query.where(Exposure.workspace_id.in_(workspace_ids))
    return session.scalar(query) or 0


def count_distinct_exposed_users(session: Session, workspace_ids: Sequence[int] | None) -> int:
    inner = select(Exposure.workspace_id, Exposure.user_id).distinct()
    if workspace_ids is not None:
        inner = inner.where(Exposure.workspace_id.in_(workspace_ids))
    return session.scalar(select(func.count()).select_from(inner.subquery())) or 0


def count_experiment_events(session: Session, workspace_ids: Sequence[int] | None) -> int:
    query = select(func.count()).select_from(Event).where(Event.experiment_id.is_not(None))
    if workspace_ids is not None:
        query = query.where(Event.workspace_id.in_(workspace_ids))
    return session.scalar(query) or 0


def delete_variants(session: Session, experiment: Experiment) -> None:
    for variant in list(experiment.variants):
        session.delete(variant)
    session.flush()


def variant_by_key(experiment: Experiment, key: str) -> Variant | None:
    return next((v for v in experiment.variants if v.key == key), None)


def workspace_id_of(session: Session, experiment_id: int) -> int | None:
    if as_id(experiment_id) is None:
        return None
    return session.scalar(select(Experiment.workspace_id).where(Experiment.id == experiment_id))
