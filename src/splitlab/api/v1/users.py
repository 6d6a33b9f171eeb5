"""Seed 001 users: the client's ``user_id``, email, name and free-form ``properties``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from splitlab.api.deps import Reader, WorkspaceDep, Writer
from splitlab.api.schemas import JsonObject
from splitlab.api.v1.common import ERRORS, Limit, Skip, set_total
from splitlab.runtime.unit_of_work import SessionDep
from splitlab.storage.models import User
from splitlab.users import service

router = APIRouter(prefix="/users", tags=["v1: users"])

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=255)
    email: str | None = Field(default=None, max_length=320, pattern=EMAIL)
    name: str | None = Field(default=None, max_length=255)
    properties: JsonObject = Field(default_factory=dict)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320, pattern=EMAIL)
    name: str | None = Field(default=None, max_length=255)
    properties: JsonObject | None = None


class UserRead(BaseModel):
    id: int
    user_id: str
    email: str | None
    name: str | None
    properties: dict[str, Any]
    workspace: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User, workspace_key: str) -> UserRead:
        return cls(
            id=user.id,
            user_id=user.user_id,
            email=user.email,
            name=user.name,
            properties=user.properties or {},
            workspace=workspace_key,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


@router.post("/", status_code=status.HTTP_201_CREATED, response_model=UserRead, responses=ERRORS)
def create_user(
    body: UserCreate, session: SessionDep, _: Writer, workspace: WorkspaceDep
) -> UserRead:
    """Register a user; ``user_id`` is unique within the workspace (409 otherwise)."""
    user = service.create_user(
        session,
        workspace,
        user_id=body.user_id,
        email=body.email,
        name=body.name,
        properties=body.properties,
    )
    return UserRead.of(user, workspace.key)


@router.get("/", response_model=list[UserRead], responses=ERRORS)
def list_users(
    response: Response,
    session: SessionDep,
    _: Reader,
    workspace: WorkspaceDep,
    skip: Skip = 0,
    limit: Limit = 100,
) -> list[UserRead]:
    """Users of the workspace, oldest first; the total is in ``X-Total-Count``."""
    users, total = service.list_users(session, workspace, offset=skip, limit=limit)
    set_total(response, total)
    return [UserRead.of(u, workspace.key) for u in users]


@router.get("/{user_id:path}", response_model=UserRead, responses=ERRORS)
def get_user(user_id: str, session: SessionDep, _: Reader, workspace: WorkspaceDep) -> UserRead:
    return UserRead.of(service.get_user(session, workspace, user_id), workspace.key)


@router.put("/{user_id:path}", response_model=UserRead, responses=ERRORS)
def update_user(
    user_id: str, body: UserUpdate, session: SessionDep, _: Writer, workspace: WorkspaceDep
) -> UserRead:
    """Replace the fields sent; ``properties`` is replaced as a whole."""
    changes = {field: getattr(body, field) for field in body.model_fields_set}
    return UserRead.of(service.update_user(session, workspace, user_id, changes), workspace.key)
