"""Event inputs, validated where they enter."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from splitlab.storage.base import utcnow

#: Clients' clocks drift, but an event from more than a day ahead is a bug, not drift.
MAX_FUTURE = timedelta(days=1)


def check_timestamp(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a timezone (e.g. a trailing Z)")
    if value > utcnow() + MAX_FUTURE:
        raise ValueError("timestamp is more than a day in the future")
    return value


#: A client-supplied event time: timezone-aware and not more than a day ahead.
Timestamp = Annotated[datetime, AfterValidator(check_timestamp)]


class EventIn(BaseModel):
    """One event, shaped like seed 001's: a numeric ``properties.value`` is the event's value."""

    model_config = ConfigDict(extra="forbid")

    experiment_id: int | str | None = Field(
        default=None, description="Integer id or key of the experiment this event belongs to"
    )
    user_id: str = Field(min_length=1, max_length=255)
    event_type: str = Field(min_length=1, max_length=200)
    properties: dict[str, Any] = Field(default_factory=dict)
    value: float | None = Field(default=None, description="Overrides properties.value")
    event_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Client id for idempotency: re-sending the same event_id stores it once",
    )
    timestamp: Timestamp | None = Field(
        default=None, description="When it happened (default: when received); not > 1 day ahead"
    )

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value

    def numeric_value(self) -> float | None:
        if self.value is not None:
            return self.value
        raw = self.properties.get("value")
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return None
        return float(raw) if math.isfinite(raw) else None
