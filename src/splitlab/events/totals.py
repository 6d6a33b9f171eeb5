"""Per-user rollups kept exact at write time, so analysis never rescans raw events.

``exposure_totals`` holds, per randomised exposure and event type, the count and value sum of the
user's events after exposure and in the pre-exposure window. Both sides of the join keep it:

- storing events folds them into the totals of every exposure they count for;
- storing an exposure folds in the user's events already stored (events may arrive first, or
  carry timestamps from before the exposure);
- deleting events (retention clean-up) folds them out again first.

Each fold is one ``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE`` adding to what is there:
no Python per event. A fold that both sides could miss (an event and an exposure of the same user
committed concurrently, neither seeing the other's uncommitted row) is ruled out by locks: on
PostgreSQL, event writers take a shared and exposure writers an exclusive transaction-level
advisory lock on the user's hash bucket; on SQLite, every write transaction is already serial
(``BEGIN IMMEDIATE``). ``rebuild`` recomputes an experiment's totals from the raw rows.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    any_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import DateTime

from splitlab.storage.models import Event, Exposure, ExposureTotal

#: Events this long before an exposure are its pre-exposure window (the CUPED covariate).
PRE_WINDOW = timedelta(days=14)

#: Users hash into this many advisory-lock buckets per workspace (PostgreSQL). A 10,000-event
#: batch takes at most this many shared locks, well inside PostgreSQL's default lock table.
LOCK_BUCKETS = 256
_LOCK_CLASS = 0x53504C54  # "SPLT": the advisory-lock namespace of these buckets


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


def lock_users(session: Session, users: Iterable[tuple[int, str]], *, shared: bool) -> None:
    """Serialise folds of these ``(workspace_id, user_id)``'s events (``shared``) against their
    new exposures (exclusive) until the transaction ends.

    Buckets are taken in sorted order in one statement, so two writers never deadlock on them.
    A no-op on SQLite, whose write transactions never overlap.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    buckets = sorted({zlib.crc32(f"{w}:{u}".encode()) % LOCK_BUCKETS for w, u in users})
    if not buckets:
        return
    lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    session.execute(
        text(
            f"SELECT {lock}(:lock_class, b) FROM "
            "(SELECT b FROM unnest(CAST(:buckets AS integer[])) AS u(b) ORDER BY b) AS s"
        ),
        {"lock_class": _LOCK_CLASS, "buckets": buckets},
    )


def _fold(session: Session, where: ColumnElement[bool], sign: int = 1) -> None:
    """Add (or with ``sign=-1`` subtract) the events matching ``where`` to their exposures."""
    post = Event.timestamp >= Exposure.exposed_at
    value = func.coalesce(Event.value, 0.0) * sign
    one = literal(sign)
    rows = (
        select(
            Exposure.id,
            Event.event_type,
            Exposure.experiment_id,
            Exposure.bucket_version,
            Exposure.variant_id,
            func.sum(case((post, one), else_=0)),
            func.sum(case((post, value), else_=0.0)),
            func.sum(case((post, 0), else_=one)),
            func.sum(case((post, 0.0), else_=value)),
        )
        .select_from(Event)
        .join(
            Exposure,
            and_(
                Exposure.workspace_id == Event.workspace_id,
                Exposure.user_id == Event.user_id,
                Exposure.is_override.is_(False),
                or_(Event.experiment_id.is_(None), Event.experiment_id == Exposure.experiment_id),
                Event.timestamp >= _shift_days(Exposure.exposed_at, literal(PRE_WINDOW.days)),
            ),
        )
        .where(where)
        .group_by(
            Exposure.id,
            Event.event_type,
            Exposure.experiment_id,
            Exposure.bucket_version,
            Exposure.variant_id,
        )
    )
    columns = [
        "exposure_id",
        "event_type",
        "experiment_id",
        "bucket_version",
        "variant_id",
        "post_count",
        "post_sum",
        "pre_count",
        "pre_sum",
    ]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(ExposureTotal).from_select(columns, rows)
    added = statement.excluded
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["exposure_id", "event_type"],
            set_={
                name: getattr(ExposureTotal, name) + getattr(added, name)
                for name in ("post_count", "post_sum", "pre_count", "pre_sum")
            },
        )
    )


def _ids_in(
    column: QueryableAttribute[int], session: Session, ids: list[int]
) -> ColumnElement[bool]:
    """``column IN ids`` as one bound parameter (an array, or a JSON text on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(ids, postgresql.ARRAY(BigInteger)))
    members = func.json_each(json.dumps(ids)).table_valued("value")
    return column.in_(select(members.c.value))


def fold_events(session: Session, event_ids: list[int], *, sign: int = 1) -> None:
    """Fold stored events (by row id) into the totals of the exposures they count for."""
    if event_ids:
        _fold(session, _ids_in(Event.id, session, event_ids), sign)


def fold_exposures(session: Session, exposure_ids: list[int]) -> None:
    """Fold the events already stored into the totals of new exposures (by row id)."""
    if exposure_ids:
        _fold(session, _ids_in(Exposure.id, session, exposure_ids))


def rebuild(session: Session, experiment_id: int) -> None:
    """Recompute an experiment's totals from its exposures and the raw events."""
    session.execute(delete(ExposureTotal).where(ExposureTotal.experiment_id == experiment_id))
    _fold(session, Exposure.experiment_id == experiment_id)
