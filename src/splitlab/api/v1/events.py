"""Seed 001 events: one at a time, or in batches of up to 10,000 (5 MB)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from splitlab.api.deps import SdkWriter, WorkspaceDep, Writer
from splitlab.api.v1.common import ERRORS
from splitlab.errors import PayloadTooLarge
from splitlab.events import service
from splitlab.events.schemas import EventIn
from splitlab.runtime.unit_of_work import SessionDep
from splitlab.storage.models import Event

router = APIRouter(prefix="/events", tags=["v1: events"])


class EventRead(BaseModel):
    id: int
    event_id: str
    experiment_id: int | None
    user_id: str
    event_type: str
    value: float | None
    properties: dict[str, Any]
    timestamp: datetime
    received_at: datetime
    duplicate: bool = Field(description="True when this event_id was already stored")

    @classmethod
    def of(cls, event: Event, *, duplicate: bool) -> EventRead:
        return cls(
            id=event.id,
            event_id=event.event_id,
            experiment_id=event.experiment_id,
            user_id=event.user_id,
            event_type=event.event_type,
            value=event.value,
            properties=event.properties or {},
            timestamp=event.timestamp,
            received_at=event.received_at,
            duplicate=duplicate,
        )


class Rejected(BaseModel):
    index: int
    error: str
    details: list[dict[str, Any]]


class EventBatchRead(BaseModel):
    received: int
    accepted: int = Field(description="Newly stored events")
    duplicates: int = Field(description="Events whose event_id was already stored (or repeated)")
    rejected: list[Rejected]
    event_ids: list[str | None] = Field(description="The id of each event, None where rejected")


class BatchBody(BaseModel):
    events: list[EventIn]


async def batch_body(request: Request) -> bytes:
    """The raw request body, size-checked before anything parses it: refused from its
    ``Content-Length`` when it declares one, else as soon as what has arrived passes the limit
    (a chunked upload without a length is never buffered beyond 5 MB)."""
    length = request.headers.get("content-length")
    if (
        length is not None
        and length.isascii()
        and length.isdigit()
        and int(length) > service.MAX_BATCH_BYTES
    ):
        raise PayloadTooLarge("A batch may be at most 5 MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > service.MAX_BATCH_BYTES:
            raise PayloadTooLarge("A batch may be at most 5 MB")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/", status_code=status.HTTP_201_CREATED, response_model=EventRead, responses=ERRORS)
def record_event(
    body: EventIn, session: SessionDep, _: Writer, workspace: WorkspaceDep
) -> EventRead:
    """Record one event. Re-sending an ``event_id`` returns the stored event, flagged duplicate.

    Not for ``sdk`` keys: the stored event it answers could be another user's. They send events
    through ``/batch``, which answers ids and counts only."""
    event, new = service.record_event(session, workspace, body)
    return EventRead.of(event, duplicate=not new)


@router.post(
    "/batch",
    response_model=EventBatchRead,
    responses={**ERRORS, 413: ERRORS[422] | {"description": "More than 10,000 events or 5 MB"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": BatchBody.model_json_schema(
                        ref_template="#/components/schemas/{model}"
                    )
                }
            },
        }
    },
)
def record_batch(
    session: SessionDep,
    _: SdkWriter,
    workspace: WorkspaceDep,
    body: Annotated[bytes, Depends(batch_body)],
) -> EventBatchRead:
    """Store every valid event of the batch; list each rejected one by index with its reason.

    A 2xx means the accepted events are committed.
    """
    result = service.record_batch_body(session, workspace, body)
    return EventBatchRead(
        received=result.received,
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[
            Rejected(index=r.index, error=r.error, details=r.details) for r in result.rejected
        ],
        event_ids=result.event_ids,
    )
