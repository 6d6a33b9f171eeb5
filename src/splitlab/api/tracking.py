"""Seed 000 metric tracking: ``/api/experiments/{key}/metrics``."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from splitlab.api.deps import Reader, WorkspaceDep, Writer
from splitlab.api.experiments import ERRORS
from splitlab.events import service
from splitlab.events.schemas import Text, Timestamp
from splitlab.runtime.unit_of_work import SessionDep

router = APIRouter(prefix="/api/experiments", tags=["metrics"])


class TrackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Text = Field(min_length=1, max_length=255)
    variant_key: Text = Field(min_length=1, max_length=100)
    metric_name: Text = Field(min_length=1, max_length=200)
    value: float = Field(allow_inf_nan=False)
    metric_type: Text | None = Field(
        default=None,
        description="numeric, conversion or count; default: the metric's defined kind, "
        "or numeric for a new metric",
    )
    event_id: Text | None = Field(default=None, min_length=1, max_length=100)
    timestamp: Timestamp | None = None


class TrackRead(BaseModel):
    experiment_key: str
    user_id: str
    variant_key: str
    metric_name: str
    value: float
    metric_type: str
    event_id: str
    timestamp: datetime
    duplicate: bool


class ValueSummaryRead(BaseModel):
    """Seed 000's summary of a metric's tracked values, and the per-user mean the results use.

    ``mean`` averages the values that were tracked (users without one do not count);
    ``mean_per_user`` averages over every exposed user of the variant, 0 for those without a
    value: the number the results compare (``GET /api/experiments/{key}/results``)."""

    count: int = Field(description="Tracked values")
    sum: float
    mean: float | None = Field(description="Over the tracked values only")
    min: float | None
    max: float | None
    mean_per_user: float | None = Field(
        description="Over every exposed user of the variant (0 without a value): what the "
        "results compare"
    )


class VariantMetricsRead(BaseModel):
    variant_key: str
    user_count: int
    metrics: dict[str, ValueSummaryRead]


@router.post(
    "/{key}/metrics",
    status_code=status.HTTP_201_CREATED,
    response_model=TrackRead,
    responses=ERRORS,
)
def track_metric(
    key: str, body: TrackBody, session: SessionDep, _: Writer, workspace: WorkspaceDep
) -> TrackRead:
    """Track a metric value for a user of the experiment (409 if it is not their variant)."""
    experiment_key, event, new, kind = service.track_metric(
        session,
        workspace,
        key,
        user_id=body.user_id,
        variant_key=body.variant_key,
        metric_name=body.metric_name,
        value=body.value,
        metric_type=body.metric_type,
        event_id=body.event_id,
        timestamp=body.timestamp,
    )
    return TrackRead(
        experiment_key=experiment_key,
        user_id=event.user_id,
        variant_key=body.variant_key,
        metric_name=body.metric_name,
        value=event.value if event.value is not None else body.value,
        metric_type=body.metric_type or kind,
        event_id=event.event_id,
        timestamp=event.timestamp,
        duplicate=not new,
    )


@router.get("/{key}/metrics/{variant_key}", response_model=VariantMetricsRead, responses=ERRORS)
def variant_metrics(
    key: str, variant_key: str, session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> VariantMetricsRead:
    """Exposed users of a variant and, per metric, count/sum/mean/min/max of tracked values."""
    _experiment, users, summary = service.variant_metrics(session, workspace, key, variant_key)
    return VariantMetricsRead(
        variant_key=variant_key,
        user_count=users,
        metrics={
            name: ValueSummaryRead(
                count=s.count,
                sum=s.sum,
                mean=s.mean,
                min=s.min,
                max=s.max,
                mean_per_user=s.sum / users if users else None,
            )
            for name, s in summary.items()
        },
    )
