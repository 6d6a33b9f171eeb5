"""Exposures from SDKs that assign locally: ``POST /api/v1/exposures/batch``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from splitlab.api.deps import SdkWriter, WorkspaceDep
from splitlab.api.v1.common import ERRORS
from splitlab.api.v1.events import batch_body
from splitlab.assignment import exposures as service
from splitlab.runtime.unit_of_work import SessionDep
from splitlab.storage.base import utcnow

router = APIRouter(prefix="/exposures", tags=["v1: exposures"])


class RejectedExposure(BaseModel):
    index: int
    error: str
    details: list[dict[str, Any]]


class ExposureBatchRead(BaseModel):
    received: int
    accepted: int = Field(description="Exposures newly stored: each user's first in the experiment")
    duplicates: int = Field(
        description="Exposures of users already exposed in the experiment (and bucket version): "
        "re-sent, or later ones, which never move a user"
    )
    rejected: list[RejectedExposure]


@router.post(
    "/batch",
    response_model=ExposureBatchRead,
    responses={**ERRORS, 413: ERRORS[422] | {"description": "More than 10,000 exposures or 5 MB"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": service.ExposureBatchIn.model_json_schema(
                        ref_template="#/components/schemas/{model}"
                    )
                }
            },
        }
    },
)
def record_exposures(
    request: Request,
    session: SessionDep,
    _: SdkWriter,
    workspace: WorkspaceDep,
    body: Annotated[bytes, Depends(batch_body)],
) -> ExposureBatchRead:
    """Record what SDKs showed users (up to 10,000 exposures, 5 MB), as GrowthBook's
    ``trackingCallback`` reports them; an ``sdk`` client key may call it.

    Each user's first exposure in an experiment (and bucket version) counts, exactly as for
    server-side assignment; re-sending is a no-op, reported as duplicates. Valid items are stored
    even when others are rejected; each rejected index comes back with its reason. An exposure
    whose variant differs from the server's decision for the same attributes is stored as shown
    and counted in the results' ``exposure_disagreements``. A 2xx means committed.
    """
    now = utcnow()
    result = service.record_batch(
        session, request.app.state.assigner, workspace, service.parse_batch(body, now), now=now
    )
    return ExposureBatchRead(
        received=result.received,
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[
            RejectedExposure(index=r.index, error=r.error, details=r.details)
            for r in result.rejected
        ],
    )
