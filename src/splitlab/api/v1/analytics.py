"""Seed 001 analytics: experiments, variants, assignments, events, users, reports, summary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import text

from splitlab.analytics import service
from splitlab.api.deps import Reader, WorkspaceDep
from splitlab.api.v1.common import ERRORS
from splitlab.api.v1.events import EventRead
from splitlab.events.schemas import Text
from splitlab.experiments import service as experiments
from splitlab.runtime.unit_of_work import SessionDep
from splitlab.storage.base import MAX_ID

router = APIRouter(prefix="/analytics", tags=["v1: analytics"])


class ExperimentFigures(BaseModel):
    id: int
    key: str
    name: str
    status: str
    variants: int
    exposures: int
    events: int
    start_date: datetime | None
    end_date: datetime | None
    winning_variant: str | None


class VariantFigures(BaseModel):
    id: int
    experiment_id: int
    experiment_key: str
    key: str
    name: str
    allocation_pct: float
    is_control: bool
    users: int
    events: int
    value_sum: float


class EventsPage(BaseModel):
    total: int
    limit: int
    offset: int
    by_type: dict[str, int]
    events: list[EventRead]


class ReportRead(BaseModel):
    experiment_id: int
    experiment_key: str
    variant_key: str
    day: str
    exposures: int
    events: int
    conversions: int
    value_sum: float


@router.get("/experiments", response_model=list[ExperimentFigures], responses=ERRORS)
def experiments_analytics(
    session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> list[ExperimentFigures]:
    """Every experiment with its variant, exposure and event counts."""
    return [ExperimentFigures(**row) for row in service.experiments_overview(session, workspace)]


@router.get("/variants", response_model=list[VariantFigures], responses=ERRORS)
def variants_analytics(
    session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> list[VariantFigures]:
    """Every variant with its exposed users, attributed events and value sum."""
    return [VariantFigures(**row) for row in service.variants_overview(session, workspace)]


@router.get("/assignments", responses=ERRORS)
def assignments_analytics(
    session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Assignment totals, overrides, per experiment and variant, and per day (30 days)."""
    return service.assignments_overview(session, workspace)


@router.get("/events", response_model=EventsPage, responses=ERRORS)
def events_analytics(
    session: SessionDep,
    _: Reader,
    workspace: WorkspaceDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    event_type: Annotated[Text | None, Query(max_length=200)] = None,
) -> EventsPage:
    """The newest events (paged with limit/offset) and counts by event type."""
    page = service.events_page(
        session, workspace, limit=limit, offset=offset, event_type=event_type
    )
    return EventsPage(
        total=page["total"],
        limit=limit,
        offset=offset,
        by_type=page["by_type"],
        events=[EventRead.of(e, duplicate=False) for e in page["events"]],
    )


@router.get("/users", responses=ERRORS)
def users_analytics(session: SessionDep, _: Reader, workspace: WorkspaceDep) -> dict[str, int]:
    """Registered, new, exposed and active users."""
    return service.users_overview(session, workspace)


@router.get("/reports", response_model=list[ReportRead], responses=ERRORS)
def reports(
    session: SessionDep,
    _: Reader,
    workspace: WorkspaceDep,
    experiment_id: Annotated[
        Text | None, Query(max_length=200, description="Integer id or key")
    ] = None,
    days: Annotated[int, Query(ge=1, le=3650)] = 90,
) -> list[ReportRead]:
    """Per experiment, variant and day: exposures, events, conversions and value sums."""
    experiment = (
        experiments.get_experiment(session, workspace, experiment_id) if experiment_id else None
    )
    rows = service.daily_reports(
        session, workspace, experiment_id=experiment.id if experiment else None, days=days
    )
    return [
        ReportRead(
            experiment_id=r.experiment_id,
            experiment_key=r.experiment_key,
            variant_key=r.variant_key,
            day=str(r.day),
            exposures=r.exposures,
            events=r.events,
            conversions=r.conversions,
            value_sum=r.value_sum,
        )
        for r in rows
    ]


@router.get("/summary", responses=ERRORS)
def summary(
    request: Request, session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Counts of every kind of record in the workspace and the health of each service."""
    services: dict[str, Any] = {}
    try:
        session.execute(text("SELECT 1"))
        services["database"] = {"status": "ok", "backend": session.get_bind().dialect.name}
    except Exception as exc:  # a summary reports failures, it does not raise them
        services["database"] = {"status": "error", "error": type(exc).__name__}
    client = request.app.state.redis
    if client is None:
        services["redis"] = {"status": "not_configured"}
    else:
        try:
            client.ping()
            services["redis"] = {"status": "ok"}
        except Exception as exc:  # same: report, don't raise
            services["redis"] = {"status": "error", "error": type(exc).__name__}
    oldest, newest = service.event_time_range(session, workspace)
    return {
        "workspace": workspace.key,
        "counts": service.record_counts(session, workspace),
        "events": {"oldest": oldest, "newest": newest},
        "services": services,
    }
