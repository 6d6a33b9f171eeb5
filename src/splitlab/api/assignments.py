"""Seed 000 assignments: ``/api/experiments/{key}/assignments``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from splitlab.api.deps import Reader, SessionDep, WorkspaceDep, Writer
from splitlab.api.experiments import ERRORS
from splitlab.assignment.service import MAX_BATCH, Assigner, Assignment, AssignmentRequest
from splitlab.auth.tokens import Scope

router = APIRouter(prefix="/api/experiments", tags=["assignments"])

UserId = Annotated[str, Field(min_length=1, max_length=255)]
#: The same limits for a user id in the URL: longer ids could not be stored as an exposure.
PathUserId = Annotated[str, Path(min_length=1, max_length=255)]


def get_assigner(request: Request) -> Assigner:
    assigner: Assigner = request.app.state.assigner
    return assigner


AssignerDep = Annotated[Assigner, Depends(get_assigner)]


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    user_attributes: dict[str, Any] = Field(
        default_factory=dict, description="Targeting attributes; they win over stored properties"
    )
    force_variant: str | None = Field(
        default=None, description="Force this variant (when the experiment allows overrides)"
    )
    context: dict[str, Any] = Field(default_factory=dict, description="Stored with the exposure")


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


class BatchUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    user_attributes: dict[str, Any] = Field(default_factory=dict)


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[BatchUser] = Field(min_length=1, max_length=MAX_BATCH)


class BatchRead(BaseModel):
    experiment_key: str
    assignments: list[AssignmentRead]


@router.post("/{key}/assignments", response_model=AssignmentRead, responses=ERRORS)
def assign_user(
    key: str,
    body: AssignBody,
    session: SessionDep,
    _: Writer,
    workspace: WorkspaceDep,
    assigner: AssignerDep,
) -> AssignmentRead:
    """Assign a user to a variant. Deterministic, sticky, and recorded once as an exposure."""
    request = AssignmentRequest(
        body.user_id, body.user_attributes, body.force_variant, body.context
    )
    return AssignmentRead.of(assigner.assign(session, workspace, key, request))


@router.get("/{key}/assignments/{user_id:path}", response_model=AssignmentRead, responses=ERRORS)
def get_assignment(
    key: str,
    user_id: PathUserId,
    session: SessionDep,
    principal: Reader,
    workspace: WorkspaceDep,
    assigner: AssignerDep,
) -> AssignmentRead:
    """The user's assignment: their sticky variant, or a fresh evaluation on stored properties
    (recorded as their exposure; a readonly token records nothing)."""
    request = AssignmentRequest(user_id)
    record = principal.can(Scope.EXPERIMENT)
    return AssignmentRead.of(assigner.assign(session, workspace, key, request, record=record))


@router.post("/{key}/assignments/batch", response_model=BatchRead, responses=ERRORS)
def assign_batch(
    key: str,
    body: BatchBody,
    session: SessionDep,
    _: Writer,
    workspace: WorkspaceDep,
    assigner: AssignerDep,
) -> BatchRead:
    """Assign up to 10,000 users to one experiment in one request."""
    requests = [AssignmentRequest(u.user_id, u.user_attributes) for u in body.users]
    results = assigner.assign_many(session, workspace, key, requests)
    key_out = results[0].experiment_key if results else key
    return BatchRead(experiment_key=key_out, assignments=[AssignmentRead.of(a) for a in results])
