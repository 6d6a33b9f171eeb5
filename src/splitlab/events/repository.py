"""Event storage: bulk idempotent inserts and the aggregates pushed down into SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from splitlab.storage.models import Event


def insert_events(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert events, skipping ``(workspace, event_id)`` pairs already stored.

    Returns the event ids actually inserted (``RETURNING`` on both backends), so the caller can
    tell new events from duplicates without another query.
    """
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted: set[str] = set()
    # Chunks keep each statement under SQLite's bound-parameter limit (32766 / 10 columns).
    for start in range(0, len(rows), 2000):
        statement = (
            insert(Event)
            .values(rows[start : start + 2000])
            .on_conflict_do_nothing(index_elements=["workspace_id", "event_id"])
            .returning(Event.event_id)
        )
        inserted.update(session.scalars(statement))
    return inserted


def get_events(session: Session, workspace_id: int, event_ids: list[str]) -> list[Event]:
    return list(
        session.scalars(
            select(Event).where(Event.workspace_id == workspace_id, Event.event_id.in_(event_ids))
        )
    )


def count_events(session: Session, workspace_id: int | None = None) -> int:
    query = select(func.count()).select_from(Event)
    if workspace_id is not None:
        query = query.where(Event.workspace_id == workspace_id)
    return session.scalar(query) or 0


def variant_metric_summary(
    session: Session, *, workspace_id: int, experiment_id: int, bucket_version: int, variant_id: int
) -> list[tuple[str, int, float, float | None, float | None]]:
    """Per event type: count, sum, min, max of the values users of one variant tracked after
    their exposure (seed 000's per-variant metrics)."""
    from splitlab.storage.models import Exposure

    rows = session.execute(
        select(
            Event.event_type,
            func.count(Event.id),
            func.coalesce(func.sum(Event.value), 0.0),
            func.min(Event.value),
            func.max(Event.value),
        )
        .join(
            Exposure,
            (Exposure.user_id == Event.user_id)
            & (Exposure.experiment_id == experiment_id)
            & (Exposure.bucket_version == bucket_version)
            & (Exposure.variant_id == variant_id),
        )
        .where(
            Event.workspace_id == workspace_id,
            (Event.experiment_id.is_(None)) | (Event.experiment_id == experiment_id),
            Event.timestamp >= Exposure.exposed_at,
        )
        .group_by(Event.event_type)
        .order_by(Event.event_type)
    )
    return [(t, int(c), float(s or 0.0), mn, mx) for t, c, s, mn, mx in rows]


def exposed_users(
    session: Session, experiment_id: int, bucket_version: int, variant_id: int
) -> int:
    from splitlab.storage.models import Exposure

    return (
        session.scalar(
            select(func.count())
            .select_from(Exposure)
            .where(
                Exposure.experiment_id == experiment_id,
                Exposure.bucket_version == bucket_version,
                Exposure.variant_id == variant_id,
            )
        )
        or 0
    )
