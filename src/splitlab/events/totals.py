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
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, Session, aliased
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.expression import Executable, FunctionElement, Insert
from sqlalchemy.types import DateTime

from splitlab.storage.models import Event, Exposure, ExposureTotal, VariantTotal

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


#: A batch's per-exposure deltas on SQLite, staged so the fold computes them once.
_SQLITE_DELTA = Table(
    "fold_delta",
    MetaData(),
    Column("exposure_id", Integer, primary_key=True),
    Column("event_type", String, primary_key=True),
    Column("experiment_id", Integer),
    Column("bucket_version", Integer),
    Column("variant_id", Integer),
    Column("post_count", Integer),
    Column("post_sum", Float),
    Column("pre_count", Integer),
    Column("pre_sum", Float),
    prefixes=["TEMPORARY"],
)
_CREATE_SQLITE_DELTA = CreateTable(_SQLITE_DELTA, if_not_exists=True)


@cache
def _sqlite_delta_ddl() -> str:
    """``CREATE TEMPORARY TABLE IF NOT EXISTS fold_delta``, compiled once (DDL is not cached
    by SQLAlchemy, and every SQLite fold runs it)."""
    return str(_CREATE_SQLITE_DELTA.compile(dialect=sqlite.dialect()))


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


#: ``variant_totals``' sums, in the order ``contributions`` gives one user's share of them.
ROLLUP_COLUMNS = (
    "count_post",
    "count_post_sq",
    "count_pre",
    "count_pre_sq",
    "count_cross",
    "value_post",
    "value_post_sq",
    "value_pre",
    "value_pre_sq",
    "value_cross",
    "users_post",
    "users_pre",
    "users_both",
)
_TOTALS = ("post_count", "post_sum", "pre_count", "pre_sum")
_KEYS = ("experiment_id", "bucket_version", "variant_id", "event_type")


def contributions(
    post_count: Any, post_sum: Any, pre_count: Any, pre_sum: Any
) -> list[ColumnElement[Any]]:
    """One user's share of each of ``ROLLUP_COLUMNS``, from their ``exposure_totals`` row."""
    after, before = post_count > 0, pre_count > 0
    return [
        post_count,
        post_count * post_count,
        pre_count,
        pre_count * pre_count,
        post_count * pre_count,
        post_sum,
        post_sum * post_sum,
        pre_sum,
        pre_sum * pre_sum,
        post_sum * pre_sum,
        case((after, 1), else_=0),
        case((before, 1), else_=0),
        case((and_(after, before), 1), else_=0),
    ]


def _insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _add_to_rollup(dialect: str, rows: Select[*tuple[Any, ...]]) -> Any:
    """``INSERT … ON CONFLICT`` adding ``rows`` (the keys, then ``ROLLUP_COLUMNS``) to
    ``variant_totals``, taking its rows in key order so that writers never deadlock."""
    statement = _insert(dialect)(VariantTotal).from_select([*_KEYS, *ROLLUP_COLUMNS], rows)
    added = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=list(_KEYS),
        set_={name: getattr(VariantTotal, name) + getattr(added, name) for name in ROLLUP_COLUMNS},
    )


def _rollup_delta(keys: list[Any], new: list[Any], old: list[Any]) -> Select[*tuple[Any, ...]]:
    """Per variant and event type, what changing these users' totals from ``old`` to ``new``
    adds to each sum of the rollup."""
    return (
        select(
            *keys,
            *(
                func.sum(after - before)
                for after, before in zip(contributions(*new), contributions(*old), strict=True)
            ),
        )
        .group_by(*keys)
        .order_by(*keys)
    )


_TOTALS_COLUMNS = ["exposure_id", "event_type", *_KEYS[:3], *_TOTALS]


def _upsert_totals(dialect: str, deltas: Any) -> Any:
    """``INSERT … ON CONFLICT`` adding per-exposure ``deltas`` to ``exposure_totals``, in key
    order, so that two writers of the same users take their row locks in the same order."""
    c = deltas.c
    statement = _insert(dialect)(ExposureTotal).from_select(
        _TOTALS_COLUMNS,
        select(*(c[name] for name in _TOTALS_COLUMNS)).order_by(c.exposure_id, c.event_type),
    )
    return statement.on_conflict_do_update(
        index_elements=["exposure_id", "event_type"],
        set_={
            name: getattr(ExposureTotal, name) + getattr(statement.excluded, name)
            for name in _TOTALS
        },
    )


#: What a fold starts from: stored events by row id, new exposures by row id, or one experiment;
#: on SQLite also the events above a row id (those its one writer has just inserted).
_FoldBy = Literal["events", "exposures", "experiment", "events_after"]


def _fold(session: Session, by: _FoldBy, key: int | list[int], sign: int = 1) -> None:
    """Add (or with ``sign=-1`` subtract) the events selected by ``by`` and ``key`` to their
    exposures' totals, and what that changes to their variants' rollup."""
    dialect = session.get_bind().dialect.name
    if by == "experiment":
        params: dict[str, Any] = {"experiment_id": key}
    elif by == "events_after":
        params = {"floor": key}
    else:
        assert isinstance(key, list)
        params = {"ids": _ids_param(dialect, key)}
    # Core execution on the session's connection: given parameters, an ORM-enabled INSERT
    # would take them for rows of a bulk insert.
    connection = session.connection()
    if dialect == "postgresql":
        (statement,) = _fold_plan(dialect, by, sign)
        connection.execute(statement, params)
        return
    stage, *rest = _fold_plan(dialect, by, sign)
    connection.exec_driver_sql(_sqlite_delta_ddl())
    if connection.execute(stage, params).rowcount:
        for statement in rest:
            connection.execute(statement)


@cache
def _fold_plan(dialect: str, by: _FoldBy, sign: int) -> tuple[Executable, ...]:
    """The statements of a fold, built once per kind (SQLAlchemy then caches their SQL).

    The rollup needs each changed user's totals before and after. On PostgreSQL one statement
    does both: the upsert's ``RETURNING`` gives the new totals (after any concurrent writer of
    the same row, whose lock it waited for), and old = new - delta. On SQLite, whose writers
    are serial, the old totals are read first. Rows are upserted in key order, so that two
    writers of the same users take their row locks in the same order.
    """
    if by == "experiment":
        where = Exposure.experiment_id == bindparam("experiment_id")
    elif by == "events_after":
        where = Event.id > bindparam("floor")
    else:
        where = _ids_in(Event.id if by == "events" else Exposure.id, dialect)
    delta = _delta(Event, Event, where, sign)
    if dialect == "postgresql":
        return (_add_to_rollup(dialect, _pg_rollup_delta(delta)),)
    # SQLite: the deltas are computed once into a temporary table (the connection's own), then
    # read twice: with the old totals for the rollup, then by the upsert; and emptied. A new
    # exposure of a user without events stages nothing, and the fold ends there.
    stage = insert(_SQLITE_DELTA).from_select(_TOTALS_COLUMNS, select(delta))
    staged = _SQLITE_DELTA.c
    before = aliased(ExposureTotal)
    old = [func.coalesce(getattr(before, name), 0) for name in _TOTALS]
    changes = (
        select(
            *(staged[name] for name in _KEYS),
            *(o + staged[name] for o, name in zip(old, _TOTALS, strict=True)),
            *old,
        )
        .join_from(
            _SQLITE_DELTA,
            before,
            and_(before.exposure_id == staged.exposure_id, before.event_type == staged.event_type),
            isouter=True,
        )
        .subquery()
    )
    values = list(changes.c)
    return (
        stage,
        _add_to_rollup(dialect, _rollup_delta(values[:4], values[4:8], values[8:])),
        _upsert_totals(dialect, _SQLITE_DELTA),
        delete(_SQLITE_DELTA),
    )


def _delta(events: Any, source: Any, where: ColumnElement[bool], sign: int) -> Any:
    """Per exposure and event type, what the events of ``source`` (the events table, or the
    rows an insert returns: ``events`` gives their columns) add to each total; a CTE."""
    post = events.timestamp >= Exposure.exposed_at
    value = func.coalesce(events.value, 0.0) * sign
    one = literal(sign)
    return (
        select(
            Exposure.id.label("exposure_id"),
            events.event_type.label("event_type"),
            Exposure.experiment_id.label("experiment_id"),
            Exposure.bucket_version.label("bucket_version"),
            Exposure.variant_id.label("variant_id"),
            func.sum(case((post, one), else_=0)).label("post_count"),
            func.sum(case((post, value), else_=0.0)).label("post_sum"),
            func.sum(case((post, 0), else_=one)).label("pre_count"),
            func.sum(case((post, 0.0), else_=value)).label("pre_sum"),
        )
        .select_from(source)
        .join(
            Exposure,
            and_(
                Exposure.workspace_id == events.workspace_id,
                Exposure.user_id == events.user_id,
                Exposure.is_override.is_(False),
                or_(
                    events.experiment_id.is_(None),
                    events.experiment_id == Exposure.experiment_id,
                ),
                events.timestamp >= _shift_days(Exposure.exposed_at, literal(PRE_WINDOW.days)),
            ),
        )
        .where(where)
        .group_by(
            Exposure.id,
            events.event_type,
            Exposure.experiment_id,
            Exposure.bucket_version,
            Exposure.variant_id,
        )
    ).cte("delta")


def _pg_rollup_delta(delta: Any) -> Select[*tuple[Any, ...]]:
    """PostgreSQL: upsert ``delta`` into ``exposure_totals`` and, from the new totals its
    ``RETURNING`` gives (old = new - delta), what that changes to the variants' rollup."""
    upsert = _upsert_totals("postgresql", delta)
    ids = ("exposure_id", "event_type", *_KEYS[:3])
    up = upsert.returning(*(getattr(ExposureTotal, name) for name in (*ids, *_TOTALS))).cte("up")
    # Each changed row's new totals (from ``up``) and delta (from ``delta``), paired by
    # grouping their union on the row's key rather than by a join: the planner cannot
    # estimate either CTE, and a nested loop over a batch's rows would be quadratic.
    none_added = [literal(0).label(f"added_{name}") for name in _TOTALS]
    none_new = [literal(0).label(name) for name in _TOTALS]
    added_cols = [delta.c[name].label(f"added_{name}") for name in _TOTALS]
    both = union_all(
        select(*(up.c[name] for name in (*ids, *_TOTALS)), *none_added),
        select(*(delta.c[name] for name in ids), *none_new, *added_cols),
    ).subquery()
    new = [both.c[name] for name in _TOTALS]
    deltas = [both.c[f"added_{name}"] for name in _TOTALS]
    changes = (
        select(
            *(both.c[name] for name in _KEYS),
            *(func.sum(column) for column in new),
            *(func.sum(n) - func.sum(d) for n, d in zip(new, deltas, strict=True)),
        )
        .group_by(both.c.exposure_id, *(both.c[name] for name in _KEYS))
        .subquery()
    )
    values = list(changes.c)
    return _rollup_delta(values[:4], values[4:8], values[8:])


def insert_and_fold_plan(insert_events: Insert) -> Select[int]:
    """PostgreSQL: one statement that runs ``insert_events`` (an ``INSERT … ON CONFLICT DO
    NOTHING`` into events), folds the rows it inserted, straight from its ``RETURNING``, into
    their exposures' totals and the rollup, and answers how many rows it inserted.

    Folding in the same statement saves reading the new events back by id, and sending their
    ids to the client and back. The caller takes the users' shared locks first, as for any
    fold. Build it once per insert statement (SQLAlchemy then caches its SQL).
    """
    ins = insert_events.returning(
        Event.workspace_id,
        Event.experiment_id,
        Event.user_id,
        Event.event_type,
        Event.value,
        Event.timestamp,
    ).cte("ins")
    delta = _delta(ins.c, ins, true(), 1)
    rollup = _add_to_rollup("postgresql", _pg_rollup_delta(delta)).cte("rollup")
    return select(func.count()).select_from(ins).add_cte(rollup)


def _rollup_of(where: ColumnElement[bool], sign: int = 1) -> Select[*tuple[Any, ...]]:
    """The rollup sums of the ``exposure_totals`` rows matching ``where`` (negated: -1)."""
    t = ExposureTotal
    keys = [t.experiment_id, t.bucket_version, t.variant_id, t.event_type]
    shares = contributions(t.post_count, t.post_sum, t.pre_count, t.pre_sum)
    return (
        select(*keys, *(func.sum(share) * sign for share in shares))
        .where(where)
        .group_by(*keys)
        .order_by(*keys)
    )


def refresh_rollup(session: Session, experiment_id: int) -> None:
    """Recompute an experiment's ``variant_totals`` from its ``exposure_totals``."""
    session.execute(delete(VariantTotal).where(VariantTotal.experiment_id == experiment_id))
    rows = _rollup_of(ExposureTotal.experiment_id == experiment_id)
    session.execute(_add_to_rollup(session.get_bind().dialect.name, rows))


def unroll_exposures(session: Session, exposure_ids: list[int]) -> None:
    """Take exposures (by row id) out of the analysis: their totals leave their variants'
    rollup, and their ``exposure_totals`` rows are deleted. For exposures about to be deleted
    or turned into overrides; the caller holds their users' exclusive locks."""
    if not exposure_ids:
        return
    dialect = session.get_bind().dialect.name
    where = _ids_in(ExposureTotal.exposure_id, dialect)
    params = {"ids": _ids_param(dialect, exposure_ids)}
    connection = session.connection()
    connection.execute(_add_to_rollup(dialect, _rollup_of(where, sign=-1)), params)
    connection.execute(delete(ExposureTotal).where(where), params)


def _ids_in(column: QueryableAttribute[int], dialect: str) -> ColumnElement[bool]:
    """``column IN :ids``, one bound parameter: an array, or a JSON text on SQLite."""
    if dialect == "postgresql":
        return column == any_(bindparam("ids", type_=postgresql.ARRAY(BigInteger)))
    members = func.json_each(bindparam("ids", type_=String)).table_valued("value")
    return column.in_(select(members.c.value))


def _ids_param(dialect: str, ids: list[int]) -> Any:
    """The value of ``_ids_in``'s parameter."""
    return ids if dialect == "postgresql" else json.dumps(ids)


def fold_events(session: Session, event_ids: list[int], *, sign: int = 1) -> None:
    """Fold stored events (by row id) into the totals of the exposures they count for."""
    if event_ids:
        _fold(session, "events", event_ids, sign)


def fold_events_after(session: Session, floor: int) -> None:
    """SQLite: fold the events whose row ids are above ``floor``, the largest before this
    transaction's insert. Its writers are serial and new row ids are above every stored one, so
    those are exactly the events it inserted, with no list of ids to send back and forth."""
    if session.get_bind().dialect.name != "sqlite":
        raise RuntimeError("row ids tell new events apart only on SQLite, whose writers are serial")
    _fold(session, "events_after", floor)


def fold_exposures(session: Session, exposure_ids: list[int]) -> None:
    """Fold the events already stored into the totals of new exposures (by row id)."""
    if exposure_ids:
        _fold(session, "exposures", exposure_ids)


def rebuild(session: Session, experiment_id: int) -> None:
    """Recompute an experiment's totals and rollup from its exposures and the raw events."""
    session.execute(delete(ExposureTotal).where(ExposureTotal.experiment_id == experiment_id))
    session.execute(delete(VariantTotal).where(VariantTotal.experiment_id == experiment_id))
    _fold(session, "experiment", experiment_id)
