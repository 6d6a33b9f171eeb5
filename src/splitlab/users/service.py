"""User use cases. Properties are free-form JSON; targeting (assignment) reads them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from splitlab.errors import Conflict, NotFound
from splitlab.storage.base import utcnow
from splitlab.storage.models import User, Workspace


class UserNotFound(NotFound):
    code = "user_not_found"

    def __init__(self) -> None:
        super().__init__("User not found")


def get_user(session: Session, workspace: Workspace, user_id: str) -> User:
    user = find_user(session, workspace, user_id)
    if user is None:
        raise UserNotFound()
    return user


def find_user(session: Session, workspace: Workspace, user_id: str) -> User | None:
    return session.scalars(
        select(User).where(User.workspace_id == workspace.id, User.user_id == user_id)
    ).one_or_none()


def create_user(
    session: Session,
    workspace: Workspace,
    *,
    user_id: str,
    email: str | None,
    name: str | None,
    properties: dict[str, Any],
) -> User:
    if find_user(session, workspace, user_id) is not None:
        raise Conflict("A user with this user_id already exists", code="duplicate_user")
    now = utcnow()
    user = User(
        workspace_id=workspace.id,
        user_id=user_id,
        email=email,
        name=name,
        properties=properties,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("A user with this user_id already exists", code="duplicate_user") from exc
    return user


def update_user(
    session: Session, workspace: Workspace, user_id: str, changes: dict[str, Any]
) -> User:
    """Replace the fields sent (``properties`` is replaced whole, as PUT means)."""
    user = get_user(session, workspace, user_id)
    for field in ("email", "name", "properties"):
        if field in changes:
            value = changes[field]
            setattr(user, field, {} if field == "properties" and value is None else value)
    user.updated_at = utcnow()
    session.flush()
    return user


def list_users(
    session: Session, workspace: Workspace, *, offset: int, limit: int
) -> tuple[list[User], int]:
    condition = User.workspace_id == workspace.id
    total = session.scalar(select(func.count()).select_from(User).where(condition)) or 0
    rows = session.scalars(
        select(User).where(condition).order_by(User.id).offset(offset).limit(limit)
    )
    return list(rows), total
