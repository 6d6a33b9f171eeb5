"""Event inputs, validated where they enter.

Everything an event carries must be storable as-is on every backend: PostgreSQL's text and JSONB
reject NUL characters, unpaired surrogates and non-finite numbers, so those are rejected here (a
4xx, or one rejected event of a batch), never discovered by the database (a failed batch).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple, Required

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
    with_config,
)
from typing_extensions import TypedDict

from splitlab.storage.base import MAX_INT, utcnow

#: Clients' clocks drift, but an event from more than a day ahead is a bug, not drift.
MAX_FUTURE = timedelta(days=1)
#: Properties may nest this deep (objects and lists); deeper is almost surely a bug.
MAX_DEPTH = 32
#: Largest id a database integer column holds on every backend (PostgreSQL ``integer``).
MAX_ID = MAX_INT


def check_timestamp(value: datetime, info: ValidationInfo) -> datetime:
    """Timezone-aware, representable in UTC (returned in UTC), at most a day ahead of now
    (``context["now"]`` when the caller validates many events at once, else the clock)."""
    if value.tzinfo is None:
        raise ValueError("timestamp needs a timezone (e.g. a trailing Z)")
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range") from None
    now = info.context.get("now") if isinstance(info.context, dict) else None
    if value > (now or utcnow()) + MAX_FUTURE:
        raise ValueError("timestamp is more than a day in the future")
    return value


def storable(text: str) -> bool:
    """Whether every backend can store the text: no NUL, valid Unicode (no lone surrogates)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_properties(value: dict[str, Any]) -> dict[str, Any]:
    """JSON that every backend stores as sent: finite numbers, no NUL, at most 32 levels deep."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"properties may nest at most {MAX_DEPTH} levels")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in items:
            # Inline fast path (this runs for every property of every event): ASCII without NUL.
            if key.__class__ is str and ("\x00" in key or not key.isascii()) and not storable(key):
                raise ValueError("property names may not contain NUL or unpaired surrogates")
            kind = item.__class__
            if kind is str:
                if ("\x00" in item or not item.isascii()) and not storable(item):
                    raise ValueError("property values may not contain NUL or unpaired surrogates")
            elif kind is float:
                if not math.isfinite(item):
                    raise ValueError("property values must be finite numbers")
            elif kind is dict or kind is list:
                pending.append((item, depth + 1))
    return value


#: A client-supplied event time: timezone-aware and not more than a day ahead (kept in UTC).
Timestamp = Annotated[datetime, AfterValidator(check_timestamp)]
#: Text stored in a database column: no NUL characters (PostgreSQL rejects them); unpaired
#: surrogates fail pydantic's own string check. A pattern, so it is checked in pydantic-core.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]
#: An experiment's integer id (never a boolean) or its key.
ExperimentRef = (
    Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
    | Annotated[Text, Field(min_length=1, max_length=200)]
)


def numeric_value(value: float | None, properties: dict[str, Any]) -> float | None:
    """An event's value: ``value``, else a numeric (non-boolean) ``properties.value``, else None.
    OverflowError for an integer too large for a float (``EventIn`` rejects those)."""
    if value is not None:
        return value
    raw = properties.get("value")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw)


class CheckedEvent(NamedTuple):
    """An event that passed every check, ready to be stored (timestamp in UTC, or None)."""

    experiment_ref: int | str | None
    event_id: str | None
    user_id: str
    event_type: str
    value: float | None
    properties: dict[str, Any]
    timestamp: datetime | None


class EventIn(BaseModel):
    """One event, shaped like seed 001's: a numeric ``properties.value`` is the event's value."""

    model_config = ConfigDict(extra="forbid")

    experiment_id: ExperimentRef | None = Field(
        default=None, description="Integer id or key of the experiment this event belongs to"
    )
    user_id: Text = Field(min_length=1, max_length=255)
    event_type: Text = Field(min_length=1, max_length=200)
    properties: Annotated[dict[str, Any], AfterValidator(check_properties)] = Field(
        default_factory=dict,
        description="Free-form JSON (finite numbers, no NUL characters, at most 32 levels deep)",
    )
    value: float | None = Field(default=None, description="Overrides properties.value")
    event_id: Text | None = Field(
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

    @model_validator(mode="after")
    def _value_fits_a_float(self) -> EventIn:
        raw = self.properties.get("value")
        if self.value is None and isinstance(raw, int) and not isinstance(raw, bool):
            try:
                float(raw)
            except OverflowError:
                raise ValueError("properties.value is too large for a number") from None
        return self

    def checked(self) -> CheckedEvent:
        return CheckedEvent(
            self.experiment_id,
            self.event_id,
            self.user_id,
            self.event_type,
            self.numeric_value(),
            self.properties,
            self.timestamp,
        )

    def numeric_value(self) -> float | None:
        return numeric_value(self.value, self.properties)


# --- The batch fast path ----------------------------------------------------------------------
#
# Validating 10,000 ``EventIn`` models costs more than storing them: a model per event and four
# Python validators per event. A batch of good events (the usual case) is instead validated
# straight from the request bytes by pydantic-core into plain dicts, with every constraint that
# can be declared (lengths, the no-NUL pattern, strict ids, aware datetimes) checked in Rust, and
# what cannot be declared (finite numbers, nesting depth, the future limit) checked in one tight
# loop. Anything it does not accept, for whatever reason, goes the slow way, ``EventIn`` per
# event, which alone decides what is rejected and why: the fast path may only say "all good".


@with_config(ConfigDict(extra="forbid"))
class _FastEvent(TypedDict, total=False):
    experiment_id: ExperimentRef | None
    user_id: Required[Annotated[Text, Field(min_length=1, max_length=255)]]
    event_type: Required[Annotated[Text, Field(min_length=1, max_length=200)]]
    properties: dict[str, Any]
    value: Annotated[float, Field(allow_inf_nan=False)] | None
    event_id: Annotated[Text, Field(min_length=1, max_length=100)] | None
    timestamp: AwareDatetime | None


class _FastBatch(TypedDict):
    events: list[_FastEvent]


_FAST_BATCH = TypeAdapter(_FastBatch)


def fast_batch(body: bytes, now: datetime, *, max_events: int) -> list[CheckedEvent] | None:
    """Every event of a ``{"events": [...]}`` body, checked as ``EventIn`` would accept it; None
    when the body or any event needs a closer look (the caller then validates event by event).

    JSON strings cannot hold a NUL but through the ``\\u0000`` escape, nor an unpaired surrogate
    that pydantic-core would accept, so one scan of the bytes stands in for checking every
    string of every property.
    """
    if b"\\u0000" in body:
        return None
    try:
        events = _FAST_BATCH.validate_json(body)["events"]
    except ValidationError:
        return None
    if len(events) > max_events:
        return None
    latest = now + MAX_FUTURE
    checked: list[CheckedEvent] = []
    append = checked.append
    for event in events:
        properties = event.get("properties")
        if properties is None:
            properties = {}
        try:
            check_properties(properties)
            value = numeric_value(event.get("value"), properties)
        except (ValueError, OverflowError):
            return None
        timestamp = event.get("timestamp")
        if timestamp is not None:
            try:
                timestamp = timestamp.astimezone(UTC)
            except OverflowError:
                return None
            if timestamp > latest:
                return None
        append(
            CheckedEvent(
                event.get("experiment_id"),
                event.get("event_id"),
                event["user_id"],
                event["event_type"],
                value,
                properties,
                timestamp,
            )
        )
    return checked
