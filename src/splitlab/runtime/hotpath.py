"""Assignments on the hot path: the config from the control cache, then the group committer.

Shared by the FastAPI assignment routes (``api.assignments``, ``api.v1.assignments``) and the
front door's fast path (``runtime.fastpath``), which answer the same requests alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from splitlab.assignment.config import AssignmentConfig
from splitlab.assignment.service import Assigner, Assignment, AssignmentRequest
from splitlab.auth.service import Principal
from splitlab.auth.tokens import Scope
from splitlab.runtime.committer import GroupCommitter
from splitlab.runtime.gates import Gates
from splitlab.runtime.plane import ControlPlane
from splitlab.storage.engine import Database
from splitlab.storage.models import Workspace

#: Set by the front door in the scope of a HEAD request, which it serves as its GET.
HEAD_REQUEST = "splitlab.head"


def records_on_read(principal: Principal, scope: Mapping[str, Any]) -> bool:
    """Whether a read of a user's assignment records it as their exposure: for a caller who may
    write (a readonly token records nothing), and never for a HEAD (a safe method)."""
    return principal.can(Scope.EXPERIMENT) and not scope.get(HEAD_REQUEST, False)


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
