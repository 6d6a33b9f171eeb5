"""Seed 001 data management: retention clean-up and storage statistics. Admin only."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from splitlab.analytics import data_management
from splitlab.api.deps import Admin, WorkspaceDep
from splitlab.api.v1.common import ERRORS
from splitlab.runtime.unit_of_work import SessionDep
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
    """Row counts, oldest and newest event, and the database's size on disk.

    A workspace-bound admin sees its own workspace (without the database size); an unbound admin
    the whole database.
    """
    bound = principal.workspace_id is not None
    result = data_management.storage_stats(session, workspace if bound else None)
    return StatsRead(
        workspace=workspace.key if bound else None,
        rows=result.rows,
        oldest_event=result.oldest_event,
        newest_event=result.newest_event,
        database_size_bytes=result.database_size,
        backend=result.backend,
    )
