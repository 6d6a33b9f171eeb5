"""Seed 001 assignments, per-page evaluation and the GrowthBook SDK payload."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from splitlab.api.assignments import AssignmentRead, PathUserId
from splitlab.api.deps import Reader, SdkReader, WorkspaceDep, Writer, get_plane
from splitlab.api.sdk import payload_response
from splitlab.api.v1.common import ERRORS, Limit, Skip, set_total
from splitlab.assignment import service
from splitlab.assignment.schemas import AssignmentCreate, BatchCreate, EvaluateBody
from splitlab.assignment.service import AssignmentRequest, check_batch
from splitlab.runtime.hotpath import assign_on_hot_path, assign_pairs, records_on_read
from splitlab.runtime.unit_of_work import SessionDep

router = APIRouter(tags=["v1: assignments"])


class AssignmentReadV1(AssignmentRead):
    experiment_id: int


class ExposureRead(BaseModel):
    id: int
    experiment_id: int
    experiment_key: str
    user_id: str
    variant_key: str
    is_override: bool
    bucket_version: int
    context: dict[str, Any]
    assigned_at: datetime


class Evaluation(BaseModel):
    user_id: str
    assignments: dict[str, AssignmentReadV1] = Field(description="By experiment key")


def _v1(assignment: service.Assignment) -> AssignmentReadV1:
    return AssignmentReadV1(
        **AssignmentRead.of(assignment).model_dump(), experiment_id=assignment.experiment_id
    )


@router.get(
    "/assignments/experiments/{experiment_id}/assignment/{user_id:path}",
    response_model=AssignmentReadV1,
    responses=ERRORS,
)
async def get_user_assignment(
    request: Request,
    experiment_id: str,
    user_id: PathUserId,
    principal: Reader,
    workspace: WorkspaceDep,
) -> AssignmentReadV1:
    """The user's variant: sticky if assigned before, else evaluated and its exposure recorded.
    A readonly token records nothing: it gets the stored variant, or the one the user would get."""
    record = records_on_read(principal, request.scope)
    (assignment,) = await assign_on_hot_path(
        request.app.state, workspace, experiment_id, [AssignmentRequest(user_id)], record=record
    )
    return _v1(assignment)


@router.post(
    "/assignments/",
    status_code=status.HTTP_201_CREATED,
    response_model=AssignmentReadV1,
    responses={
        **ERRORS,
        200: {
            "description": "Not in the experiment: what the user is served; nothing recorded",
            "model": AssignmentReadV1,
        },
    },
)
async def create_assignment(
    request: Request,
    response: Response,
    body: AssignmentCreate,
    _: Writer,
    workspace: WorkspaceDep,
) -> AssignmentReadV1:
    """Assign a user with request context (stored with the exposure and usable in targeting).

    201 when the user is in the experiment (their exposure is recorded, now or before); 200
    when they are not (not targeted, outside the coverage, the experiment not running): the
    answer then names what they are served, and nothing was recorded."""
    assignment_request = AssignmentRequest(
        body.user_id, body.attributes, body.force_variant, body.context
    )
    (assignment,) = await assign_on_hot_path(
        request.app.state, workspace, str(body.experiment_id), [assignment_request]
    )
    if not assignment.in_experiment:
        response.status_code = status.HTTP_200_OK
    return _v1(assignment)


@router.post("/assignments/batch", response_model=list[AssignmentReadV1], responses=ERRORS)
async def create_assignments(
    request: Request, body: BatchCreate, _: Writer, workspace: WorkspaceDep
) -> list[AssignmentReadV1]:
    """Assign up to 10,000 users to one experiment."""
    requests = [AssignmentRequest(u, {}, None, body.context) for u in body.user_ids]
    check_batch(requests)
    results = await assign_on_hot_path(
        request.app.state, workspace, str(body.experiment_id), requests
    )
    return [_v1(a) for a in results]


@router.get("/assignments/", response_model=list[ExposureRead], responses=ERRORS)
def list_assignments(
    response: Response,
    session: SessionDep,
    _: Reader,
    workspace: WorkspaceDep,
    skip: Skip = 0,
    limit: Limit = 100,
    experiment_id: Annotated[str | None, Query(description="Integer id or key")] = None,
    user_id: Annotated[str | None, Query()] = None,
) -> list[ExposureRead]:
    """Recorded assignments (exposures), oldest first; the total is in ``X-Total-Count``."""
    rows, total = service.list_assignments(
        session,
        workspace,
        experiment_ref=experiment_id or None,
        user_id=user_id,
        offset=skip,
        limit=limit,
    )
    set_total(response, total)
    return [
        ExposureRead(
            id=exposure.id,
            experiment_id=exposure.experiment_id,
            experiment_key=experiment_key,
            user_id=exposure.user_id,
            variant_key=variant_key,
            is_override=exposure.is_override,
            bucket_version=exposure.bucket_version,
            context=exposure.context or {},
            assigned_at=exposure.exposed_at,
        )
        for exposure, experiment_key, variant_key in rows
    ]


@router.post("/evaluate", response_model=Evaluation, responses=ERRORS)
async def evaluate(
    request: Request, body: EvaluateBody, _: Writer, workspace: WorkspaceDep
) -> Evaluation:
    """Every running experiment of the workspace for one user: one call per page view."""
    plain = AssignmentRequest(body.user_id, body.attributes, None, body.context)
    configs = await get_plane(request).running(workspace)
    assignments = await assign_pairs(request.app.state, [(config, plain) for config in configs])
    return Evaluation(
        user_id=body.user_id, assignments={a.experiment_key: _v1(a) for a in assignments}
    )


@router.get("/sdk", responses=ERRORS, response_class=Response)
async def sdk(request: Request, _: SdkReader, workspace: WorkspaceDep) -> Response:
    """The workspace's GrowthBook SDK payload (``{"features": …}``), as at
    ``/api/features/{clientKey}`` but with the token in the ``Authorization`` header.

    Each running, paused or completed experiment is a feature named by its key whose value is
    the variant key, and ``<key>:config`` one valued by the variant's config; evaluate them
    locally with any GrowthBook SDK using the attribute ``id`` = your user id. Sent with an
    ``ETag``; ``If-None-Match`` with it answers ``304``.
    """
    return await payload_response(request, workspace)
