"""Event storage: bulk idempotent inserts and the aggregates pushed down into SQL."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from splitlab.storage.models import Event

_UNNEST_INSERT = text(
    """
    INSERT INTO events (workspace_id, experiment_id, event_id, user_id, event_type, value,
                        properties, timestamp, received_at)
    SELECT * FROM unnest(
        CAST(:workspace_id AS integer[]), CAST(:experiment_id AS integer[]),
        CAST(:event_id AS varchar[]), CAST(:user_id AS varchar[]), CAST(:event_type AS varchar[]),
        CAST(:value AS double precision[]), CAST(:properties AS jsonb[]),
        CAST(:timestamp AS timestamptz[]), CAST(:received_at AS timestamptz[]))
    ON CONFLICT (workspace_id, event_id) DO NOTHING
    RETURNING event_id
    """
)
_COLUMNS = (
    "workspace_id",
    "experiment_id",
    "event_id",
    "user_id",
    "event_type",
    "value",
    "properties",
    "timestamp",
    "received_at",
)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert events, skipping ``(workspace, event_id)`` pairs already stored.

    Returns the event ids actually inserted (``RETURNING``), so the caller can tell new events
    from duplicates without another query. PostgreSQL gets the whole batch as one statement over
    arrays (``unnest``); elsewhere one prepared statement runs over all rows (executemany), never
    a statement compiled per batch.
    """
    if not rows:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in _COLUMNS}
        columns["properties"] = [json.dumps(value) for value in columns["properties"]]
        return set(session.scalars(_UNNEST_INSERT, columns))
    table = Event.__table__
    assert isinstance(table, Table)
    statement = (
        sqlite.insert(table)
        .on_conflict_do_nothing(index_elements=["workspace_id", "event_id"])
        .returning(table.c.event_id)
    )
    return set(session.connection().execute(statement, rows).scalars())


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
