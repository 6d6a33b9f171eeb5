"""Event storage: bulk idempotent inserts and the aggregates pushed down into SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from pydantic_core import to_json
from sqlalchemy import CursorResult, column, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from splitlab.events import totals
from splitlab.storage.base import sqlite_time
from splitlab.storage.models import Event


class NewEvent(NamedTuple):
    """One event to insert; a missing ``timestamp`` means "when it was received"."""

    experiment_id: int | None
    event_id: str
    user_id: str
    event_type: str
    value: float | None
    properties: dict[str, Any]
    timestamp: datetime | None


#: Both statements take the batch as one JSON array of ``NewEvent`` rows (one bound parameter,
#: unpacked by the database in C) and insert what is new.
_COLUMN_NAMES = (
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
_COLUMNS = ", ".join(_COLUMN_NAMES)
#: PostgreSQL's insert, as a statement that also folds what it inserted (``totals``).
_PG_INSERT = totals.insert_and_fold_plan(
    postgresql.insert(Event)
    .from_select(
        _COLUMN_NAMES,
        text(
            """
            SELECT :workspace_id, (e->>0)::integer, e->>1, e->>2, e->>3,
                   (e->>4)::double precision, e->5,
                   COALESCE((e->>6)::timestamptz, :received_at), :received_at
            FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r(e)
            """
        ).columns(*map(column, _COLUMN_NAMES)),
    )
    .on_conflict_do_nothing(index_elements=["workspace_id", "event_id"])
)
# ``WHERE true`` tells SQLite's parser that ON CONFLICT belongs to the INSERT, not to a join.
_SQLITE_INSERT = text(
    f"""
    INSERT INTO events ({_COLUMNS})
    SELECT :workspace_id, json_extract(value, '$[0]'), json_extract(value, '$[1]'),
           json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'),
           json_extract(value, '$[5]'), COALESCE(json_extract(value, '$[6]'), :received_at),
           :received_at
    FROM json_each(:rows) WHERE true
    ON CONFLICT (workspace_id, event_id) DO NOTHING
    """
)
#: The largest event row id (SQLite: the last row of the rowid B-tree, one page read).
_LAST_EVENT_ID = select(func.max(Event.id))


_ZERO = timedelta(0)


def insert_events(
    session: Session, workspace_id: int, received_at: datetime, events: Sequence[NewEvent]
) -> int:
    """Insert events, skipping ``(workspace, event_id)`` pairs already stored; returns how many
    were new (the rest were duplicates).

    The new events are folded into the per-user totals analysis reads (``events.totals``),
    under the users' shared locks, in the same transaction: on PostgreSQL in the same statement
    as the insert, from the rows its ``RETURNING`` gives; on SQLite, whose writers are serial,
    as the rows above the largest id stored before the insert. Either way no row comes back.

    The batch travels as one JSON array that the database unpacks (``jsonb_array_elements`` on
    PostgreSQL, ``json_each`` on SQLite): no statement per row or per batch to compile, and no
    Python work per column. ``events.schemas`` has checked
    that every value is storable (finite numbers, no NUL, timezone-aware timestamps).
    """
    if not events:
        return 0
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # A naive time would be read in the session's time zone, so none may pass unnoticed.
        if any(e.timestamp is not None and e.timestamp.utcoffset() != _ZERO for e in events):
            raise TypeError("event timestamps must be timezone-aware UTC datetimes")
        rows: Any = events
        stamp: Any = received_at
    else:
        # SQLite compares timestamps as text, so they must be in its exact stored format.
        rows = [(*e[:6], None if e.timestamp is None else sqlite_time(e.timestamp)) for e in events]
        stamp = sqlite_time(received_at)
    # pydantic-core encodes the lot in Rust (datetimes as ISO 8601, which PostgreSQL parses).
    # Values are finite (``events.schemas``); a NaN would reach the database and fail loudly.
    params = {"workspace_id": workspace_id, "rows": to_json(rows).decode(), "received_at": stamp}
    totals.lock_users(session, {(workspace_id, e.user_id) for e in events}, shared=True)
    if postgres:
        # Core execution: given parameters, an ORM-enabled INSERT would take them for rows.
        inserted: int = session.connection().execute(_PG_INSERT, params).scalar_one()
        return inserted
    floor = session.scalar(_LAST_EVENT_ID) or 0
    inserted = cast(CursorResult[Any], session.execute(_SQLITE_INSERT, params)).rowcount
    if inserted:
        totals.fold_events_after(session, floor)
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
    their exposure (seed 000's per-variant metrics). An event without a value counts as 0, as
    it does in analysis (``events.totals``), so that min <= mean <= max always holds."""
    from splitlab.storage.models import Exposure

    value = func.coalesce(Event.value, 0.0)
    rows = session.execute(
        select(
            Event.event_type,
            func.count(Event.id),
            func.coalesce(func.sum(value), 0.0),
            func.min(value),
            func.max(value),
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
