"""Seed 001 data management: retention clean-up and storage statistics. Admin only."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from splitlab.analytics import data_management
from splitlab.analytics.service import event_time_range
from splitlab.api.deps import Admin, SessionDep, WorkspaceDep
from splitlab.api.v1.common import ERRORS
from splitlab.storage.models import ApiToken, Event, Experiment, Exposure, User
from splitlab.workspaces import service as workspaces

router = APIRouter(prefix="/data-management", tags=["v1: data management"])


class CleanupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retention_days: int = Field(ge=1, le=36500, description="Keep this many days of data")
    cleanup_events: bool = True
    cleanup_assignments: bool = False
    cleanup_outbox: bool = True


class CleanupRead(BaseModel):
    retention_days: int
    cutoff: datetime
    deleted: dict[str, int]
    batches: int
    protected: str = Field(
        default="events and assignments of draft, running and paused experiments are kept"
    )


class StatsRead(BaseModel):
    workspace: str | None
    rows: dict[str, int]
    oldest_event: datetime | None
    newest_event: datetime | None
    database_size_bytes: int | None
    backend: str


@router.post("/cleanup", response_model=CleanupRead, responses=ERRORS)
def cleanup(
    body: CleanupBody, session: SessionDep, principal: Admin, workspace: WorkspaceDep
) -> CleanupRead:
    """Delete old data in bounded batches and report what was deleted.

    An unbound admin cleans every workspace; a workspace-bound admin only its own.
    """
    scope = [workspace] if principal.workspace_id is not None else workspaces.list_all(session)
    result = data_management.cleanup(
        session,
        scope,
        retention_days=body.retention_days,
        events=body.cleanup_events,
        assignments=body.cleanup_assignments,
        outbox=body.cleanup_outbox,
    )
    return CleanupRead(
        retention_days=body.retention_days,
        cutoff=result.cutoff,
        deleted={
            "events": result.events,
            "assignments": result.assignments,
            "outbox": result.outbox,
        },
        batches=result.batches,
    )


@router.get("/stats", response_model=StatsRead, responses=ERRORS)
def stats(session: SessionDep, principal: Admin, workspace: WorkspaceDep) -> StatsRead:
    """Row counts, oldest and newest event, and the database's size on disk."""
    bound = principal.workspace_id is not None
    count = data_management.count_rows
    if bound:
        in_ws = workspace.id
        rows = {
            "experiments": count(session, Experiment, Experiment.workspace_id == in_ws),
            "users": count(session, User, User.workspace_id == in_ws),
            "assignments": count(session, Exposure, Exposure.workspace_id == in_ws),
            "events": count(session, Event, Event.workspace_id == in_ws),
            "api_tokens": count(session, ApiToken, ApiToken.workspace_id == in_ws),
        }
        oldest, newest = event_time_range(session, workspace)
    else:
        rows = {
            "experiments": count(session, Experiment),
            "users": count(session, User),
            "assignments": count(session, Exposure),
            "events": count(session, Event),
            "api_tokens": count(session, ApiToken),
        }
        oldest, newest = data_management.event_range(session)
    return StatsRead(
        workspace=workspace.key if bound else None,
        rows=rows,
        oldest_event=oldest,
        newest_event=newest,
        database_size_bytes=None if bound else data_management.database_size(session),
        backend=session.get_bind().dialect.name,
    )
