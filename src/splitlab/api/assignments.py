"""Seed 000 assignments: ``/api/experiments/{key}/assignments``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from splitlab.api.deps import Reader, WorkspaceDep, Writer
from splitlab.api.experiments import ERRORS
from splitlab.assignment.schemas import AssignBody, BatchBody
from splitlab.assignment.service import Assigner, Assignment, AssignmentRequest, check_batch
from splitlab.runtime.hotpath import assign_on_hot_path, records_on_read

router = APIRouter(prefix="/api/experiments", tags=["assignments"])

#: The limits of ``assignment.schemas.UserId`` for a user id in the URL: longer ids could not be
#: stored as an exposure.
PathUserId = Annotated[str, Path(min_length=1, max_length=255)]


def get_assigner(request: Request) -> Assigner:
    assigner: Assigner = request.app.state.assigner
    return assigner


AssignerDep = Annotated[Assigner, Depends(get_assigner)]


class AssignmentRead(BaseModel):
    experiment_key: str
    user_id: str
    variant_key: str
    in_experiment: bool
    reason: str = Field(
        description="assigned, sticky, override, not_running, not_targeted, namespace or coverage"
    )
    is_override: bool
    assigned_at: datetime
    variant_config: dict[str, Any]
    bucket_version: int

    @classmethod
    def of(cls, assignment: Assignment) -> AssignmentRead:
        return cls(
            experiment_key=assignment.experiment_key,
            user_id=assignment.user_id,
            variant_key=assignment.variant_key,
            in_experiment=assignment.in_experiment,
            reason=assignment.reason.value,
            is_override=assignment.is_override,
            assigned_at=assignment.assigned_at,
            variant_config=assignment.variant_config,
            bucket_version=assignment.bucket_version,
        )


class AssignmentBatchRead(BaseModel):
    experiment_key: str
    assignments: list[AssignmentRead]


@router.post("/{key}/assignments", response_model=AssignmentRead, responses=ERRORS)
async def assign_user(
    request: Request, key: str, body: AssignBody, _: Writer, workspace: WorkspaceDep
) -> AssignmentRead:
    """Assign a user to a variant. Deterministic, sticky, and recorded once as an exposure."""
    assignment_request = AssignmentRequest(
        body.user_id, body.user_attributes, body.force_variant, body.context
    )
    (assignment,) = await assign_on_hot_path(
        request.app.state, workspace, key, [assignment_request]
    )
    return AssignmentRead.of(assignment)


@router.get("/{key}/assignments/{user_id:path}", response_model=AssignmentRead, responses=ERRORS)
async def get_assignment(
    request: Request, key: str, user_id: PathUserId, principal: Reader, workspace: WorkspaceDep
) -> AssignmentRead:
    """The user's assignment: their sticky variant, or a fresh evaluation on stored properties
    (recorded as their exposure; a readonly token records nothing)."""
    record = records_on_read(principal, request.scope)
    (assignment,) = await assign_on_hot_path(
        request.app.state, workspace, key, [AssignmentRequest(user_id)], record=record
    )
    return AssignmentRead.of(assignment)


@router.post("/{key}/assignments/batch", response_model=AssignmentBatchRead, responses=ERRORS)
async def assign_batch(
    request: Request, key: str, body: BatchBody, _: Writer, workspace: WorkspaceDep
) -> AssignmentBatchRead:
    """Assign up to 10,000 users to one experiment in one request."""
    requests = [AssignmentRequest(u.user_id, u.user_attributes) for u in body.users]
    check_batch(requests)
    results = await assign_on_hot_path(request.app.state, workspace, key, requests)
    key_out = results[0].experiment_key if results else key
    return AssignmentBatchRead(
        experiment_key=key_out, assignments=[AssignmentRead.of(a) for a in results]
    )
