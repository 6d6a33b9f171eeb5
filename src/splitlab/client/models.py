"""What the client returns: typed, read-only views of the server's JSON.

They ignore fields they do not know, so an older client keeps working against a newer server.
Results reuse the server's own results document (``splitlab.analysis.schemas``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from splitlab.analysis.schemas import ExperimentResults, MetricResult

__all__ = [
    "Assignment",
    "Event",
    "EventBatchResult",
    "EventsPage",
    "Experiment",
    "ExperimentResults",
    "ExposureBatchResult",
    "LifecycleEvent",
    "Metric",
    "MetricResult",
    "RejectedEvent",
    "Report",
    "SampleSize",
    "TrackedMetric",
    "User",
    "Variant",
]


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Variant(_Read):
    key: str
    name: str
    allocation: float
    is_control: bool
    config: dict[str, Any] = Field(default_factory=dict)


class Experiment(_Read):
    id: int
    key: str
    name: str
    description: str | None = None
    hypothesis: str | None = None
    status: str
    workspace: str
    variants: list[Variant]
    targeting: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    start_date: datetime | None = None
    end_date: datetime | None = None
    winning_variant: str | None = None
    conclusion_notes: str | None = None
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def control(self) -> Variant:
        return next(v for v in self.variants if v.is_control)


class Metric(_Read):
    id: int
    name: str
    event_type: str
    kind: str = Field(description="conversion, numeric or count")
    role: str = Field(description="primary, secondary or guardrail")
    higher_is_better: bool


class LifecycleEvent(_Read):
    id: int
    action: str
    from_status: str | None
    to_status: str | None
    actor: str | None
    changes: dict[str, Any]
    notes: str | None
    created_at: datetime


class User(_Read):
    id: int
    user_id: str
    email: str | None = None
    name: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    workspace: str
    created_at: datetime
    updated_at: datetime


class Assignment(_Read):
    experiment_key: str
    experiment_id: int | None = None
    user_id: str
    variant_key: str = Field(description="The variant to show (the control when not in it)")
    in_experiment: bool
    reason: str
    is_override: bool
    assigned_at: datetime
    variant_config: dict[str, Any] = Field(default_factory=dict)
    bucket_version: int = 0


class Event(_Read):
    id: int
    event_id: str
    experiment_id: int | None
    user_id: str
    event_type: str
    value: float | None
    properties: dict[str, Any]
    timestamp: datetime
    received_at: datetime
    duplicate: bool


class RejectedEvent(_Read):
    index: int
    error: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class EventBatchResult(_Read):
    received: int
    accepted: int = Field(description="Newly stored events")
    duplicates: int = Field(description="Events already stored under the same event_id")
    rejected: list[RejectedEvent]
    event_ids: list[str | None]

    def __add__(self, other: EventBatchResult) -> EventBatchResult:
        """The result of two consecutive chunks, ``other``'s indexes shifted after ``self``'s."""
        shifted = [r.model_copy(update={"index": r.index + self.received}) for r in other.rejected]
        return EventBatchResult(
            received=self.received + other.received,
            accepted=self.accepted + other.accepted,
            duplicates=self.duplicates + other.duplicates,
            rejected=[*self.rejected, *shifted],
            event_ids=[*self.event_ids, *other.event_ids],
        )


class ExposureBatchResult(_Read):
    """The answer to ``POST /api/v1/exposures/batch`` (``rejected`` indexes the request)."""

    received: int
    accepted: int = Field(description="Exposures newly stored: each user's first in the experiment")
    duplicates: int = Field(
        description="Exposures of users already exposed in the experiment (and bucket version)"
    )
    rejected: list[RejectedEvent]


class EventsPage(_Read):
    total: int
    limit: int
    offset: int
    by_type: dict[str, int]
    events: list[Event]


class TrackedMetric(_Read):
    experiment_key: str
    user_id: str
    variant_key: str
    metric_name: str
    value: float
    metric_type: str
    event_id: str
    timestamp: datetime
    duplicate: bool


class Report(_Read):
    experiment_id: int
    experiment_key: str
    variant_key: str
    day: str
    exposures: int
    events: int
    conversions: int
    value_sum: float


class SampleSize(_Read):
    users_per_variant: list[int]
    total_users: int
    absolute_effect: float
    alpha_per_comparison: float
    power: float
    days_needed: int | None = None
