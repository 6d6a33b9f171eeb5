"""Retention clean-up and storage statistics (seed 001's /api/v1/data-management)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, text
from sqlalchemy.orm import Session

from splitlab.events import totals
from splitlab.experiments.model import ExperimentStatus
from splitlab.storage.base import utcnow
from splitlab.storage.models import ApiToken, Event, Experiment, Exposure, User, Workspace

BATCH_SIZE = 5_000
#: Data of these experiments is never deleted: they may still be analysed.
PROTECTED = (
    ExperimentStatus.DRAFT.value,
    ExperimentStatus.RUNNING.value,
    ExperimentStatus.PAUSED.value,
)


@dataclass(frozen=True, slots=True)
class CleanupResult:
    cutoff: datetime
    events: int
    assignments: int
    outbox: int
    batches: int


def _deletable_events(workspace_ids: list[int], cutoff: datetime) -> Any:
    live = select(Experiment.id).where(Experiment.status.in_(PROTECTED))
    # An event without an experiment still feeds the analysis of every live experiment its user
    # is exposed to, so it is protected too; an event tagged with an experiment counts for that
    # experiment alone (``events.totals``), so only its own status matters.
    exposed_in_live = exists().where(
        Exposure.workspace_id == Event.workspace_id,
        Exposure.user_id == Event.user_id,
        Exposure.experiment_id.in_(live),
    )
    return select(Event.id).where(
        Event.workspace_id.in_(workspace_ids),
        Event.timestamp < cutoff,
        or_(
            Event.experiment_id.is_not(None) & Event.experiment_id.not_in(live),
            Event.experiment_id.is_(None) & ~exposed_in_live,
        ),
    )


def _deletable_exposures(workspace_ids: list[int], cutoff: datetime) -> Any:
    finished = select(Experiment.id).where(Experiment.status.not_in(PROTECTED))
    return select(Exposure.id).where(
        Exposure.workspace_id.in_(workspace_ids),
        Exposure.exposed_at < cutoff,
        Exposure.experiment_id.in_(finished),
    )


def _users_of(session: Session, model: Any, ids: list[int]) -> list[tuple[int, str]]:
    """The ``(workspace_id, user_id)`` of these events or exposures (by row id)."""
    users = select(model.workspace_id, model.user_id).where(model.id.in_(ids)).distinct()
    return [(workspace_id, user_id) for workspace_id, user_id in session.execute(users)]


def cleanup(
    session: Session,
    workspaces: list[Workspace],
    *,
    retention_days: int,
    events: bool,
    assignments: bool,
    outbox: bool,
) -> CleanupResult:
    """Delete data older than ``retention_days`` in bounded batches of 5,000 rows.

    Each batch is a unit of work of its own, committed with the totals and rollup it changes:
    no statement grows with the table, and no lock is held for the whole clean-up (on SQLite,
    one transaction would hold the only write lock, and stop ingestion, until the end). A
    clean-up that fails part-way keeps the batches already committed, each consistent; running
    it again carries on. Events and exposures of draft, running or paused experiments are never
    deleted. Splitlab writes events straight to the database (there is no outbox table), so
    ``cleanup_outbox`` has nothing to remove and reports 0.
    """
    cutoff = utcnow() - timedelta(days=retention_days)
    ids = [w.id for w in workspaces]
    counts = {"events": 0, "assignments": 0}
    batches = 0
    plan: list[tuple[str, Any, Any]] = []
    if events:
        plan.append(("events", Event, _deletable_events(ids, cutoff)))
    if assignments:
        plan.append(("assignments", Exposure, _deletable_exposures(ids, cutoff)))
    for name, model, candidates in plan:
        while True:
            batch = list(session.scalars(candidates.limit(BATCH_SIZE)))
            if not batch:
                break
            # Keep the per-user totals and the per-variant rollup of finished experiments exact.
            if model is Event:
                totals.lock_users(session, _users_of(session, Event, batch), shared=True)
                totals.fold_events(session, batch, sign=-1)
            else:
                totals.lock_users(session, _users_of(session, Exposure, batch), shared=False)
                totals.unroll_exposures(session, batch)
            session.execute(delete(model).where(model.id.in_(batch)))
            session.commit()
            counts[name] += len(batch)
            batches += 1
    return CleanupResult(cutoff, counts["events"], counts["assignments"], 0, batches)


def database_size(session: Session) -> int | None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return int(session.scalar(text("SELECT pg_database_size(current_database())")) or 0)
    if dialect == "sqlite":
        pages = session.scalar(text("PRAGMA page_count")) or 0
        size = session.scalar(text("PRAGMA page_size")) or 0
        return int(pages) * int(size)
    return None


def count_rows(session: Session, model: Any, *conditions: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def event_range(
    session: Session, workspace: Workspace | None = None
) -> tuple[datetime | None, datetime | None]:
    query = select(func.min(Event.timestamp), func.max(Event.timestamp))
    if workspace is not None:
        query = query.where(Event.workspace_id == workspace.id)
    row = session.execute(query).one()
    return row[0], row[1]


@dataclass(frozen=True, slots=True)
class StorageStats:
    rows: dict[str, int]
    oldest_event: datetime | None
    newest_event: datetime | None
    database_size: int | None
    backend: str


def storage_stats(session: Session, workspace: Workspace | None) -> StorageStats:
    """Row counts and event time range of one workspace, or of the whole database (``None``,
    which also reports the database's size on disk)."""
    models: dict[str, Any] = {
        "experiments": Experiment,
        "users": User,
        "assignments": Exposure,
        "events": Event,
        "api_tokens": ApiToken,
    }
    rows = {
        name: count_rows(
            session, model, *([model.workspace_id == workspace.id] if workspace else [])
        )
        for name, model in models.items()
    }
    oldest, newest = event_range(session, workspace)
    return StorageStats(
        rows=rows,
        oldest_event=oldest,
        newest_event=newest,
        database_size=None if workspace else database_size(session),
        backend=session.get_bind().dialect.name,
    )
