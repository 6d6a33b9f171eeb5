"""Finding and creating workspaces."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from splitlab.errors import NotFound, ValidationFailed
from splitlab.storage.models import Workspace

WORKSPACE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


def get_by_key(session: Session, key: str) -> Workspace | None:
    return session.scalars(select(Workspace).where(Workspace.key == key)).one_or_none()


def get_by_id(session: Session, workspace_id: int) -> Workspace | None:
    return session.get(Workspace, workspace_id)


def require(session: Session, key: str) -> Workspace:
    workspace = get_by_key(session, key)
    if workspace is None:
        raise NotFound("Workspace not found", code="workspace_not_found")
    return workspace


def ensure(session: Session, key: str, name: str | None = None) -> Workspace:
    """The workspace called ``key``, created on first use (seed 003 clients name theirs freely)."""
    workspace = get_by_key(session, key)
    if workspace is not None:
        return workspace
    if not WORKSPACE_KEY.match(key):
        raise ValidationFailed(
            "workspaceId may contain letters, digits, '_', '.', ':' and '-' (at most 100)",
            details=[
                {"loc": ["workspaceId"], "msg": "invalid workspace id", "type": "value_error"}
            ],
        )
    workspace = Workspace(key=key, name=name or key)
    session.add(workspace)
    session.flush()
    return workspace


def own(found: Workspace | None, requested: str | None) -> Workspace:
    """A bound caller's workspace, ``found`` by its id: naming any other is a 404, never a
    sign that the other exists."""
    if found is None or (requested is not None and requested != found.key):
        raise NotFound("Workspace not found", code="workspace_not_found")
    return found


def for_caller(
    session: Session,
    *,
    bound_to: int | None,
    requested: str | None,
    default: str,
    create: bool = False,
) -> Workspace:
    """The workspace a call acts in: a caller bound to a workspace only ever its own; an
    unbound one the workspace it names, or ``default``; with ``create`` (seed 003's clients,
    which name theirs freely) made on first use."""
    if bound_to is not None:
        return own(get_by_id(session, bound_to), requested)
    key = requested or default
    return ensure(session, key) if create else require(session, key)


def list_all(session: Session) -> list[Workspace]:
    return list(session.scalars(select(Workspace).order_by(Workspace.id)))
