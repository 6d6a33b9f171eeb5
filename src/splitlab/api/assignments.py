"""Seed 000 assignments: ``/api/experiments/{key}/assignments``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from splitlab.api.deps import Reader, WorkspaceDep, Writer
from splitlab.api.experiments import ERRORS
from splitlab.assignment.config import AssignmentConfig
from splitlab.assignment.service import (
    MAX_BATCH,
    Assigner,
    Assignment,
    AssignmentRequest,
    check_batch,
)
from splitlab.auth.tokens import Scope
from splitlab.runtime.committer import GroupCommitter
from splitlab.runtime.gates import Gates
from splitlab.runtime.plane import ControlPlane
from splitlab.storage.engine import Database
from splitlab.storage.models import Workspace

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


class AssignmentBatchRead(BaseModel):
    experiment_key: str
    assignments: list[AssignmentRead]


async def assign_on_hot_path(
    state: State,
    workspace: Workspace,
    ref: str | int,
    assignment_requests: list[AssignmentRequest],
    *,
    record: bool = True,
) -> list[Assignment]:
    """Assign users to one experiment on the hot path: the config from the control cache,
    then the group committer (``record``) or one read-only lookup."""
    plane: ControlPlane = state.plane
    config = await plane.config(workspace, ref)
    return await assign_pairs(state, [(config, r) for r in assignment_requests], record=record)


async def assign_pairs(
    state: State,
    pairs: list[tuple[AssignmentConfig, AssignmentRequest]],
    *,
    record: bool = True,
) -> list[Assignment]:
    """Assign ``pairs`` (with ``state``: the app's): recorded through the group committer, or
    (``record=False``) looked up on a read-only connection."""
    assigner: Assigner = state.assigner
    for config, assignment_request in pairs:
        if assignment_request.force_variant is not None:
            assigner.check_forced(config, assignment_request.force_variant)
    if record:
        committer: GroupCommitter = state.committer
        return await committer.assign(pairs)
    gates: Gates = state.gates
    db: Database = state.db

    def read() -> list[Assignment]:
        with db.session_scope(readonly=True) as session:
            return assigner.assign_pairs(session, pairs, record=False)

    async with gates.read.slot():
        return await run_in_threadpool(read)


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
    record = principal.can(Scope.EXPERIMENT)
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
