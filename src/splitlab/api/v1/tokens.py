"""Seed 001 API-token management. Admin only; the secret is shown once, at creation."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.orm import Session

from splitlab.api.deps import Admin, workspace_for
from splitlab.api.v1.common import ERRORS, Limit, Skip, set_total
from splitlab.auth import service
from splitlab.auth.tokens import Scope
from splitlab.runtime.unit_of_work import SessionDep, get_settings
from splitlab.storage.base import utcnow
from splitlab.storage.models import ApiToken
from splitlab.workspaces import service as workspaces

router = APIRouter(prefix="/api-tokens", tags=["v1: api tokens"])


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    scope: Scope = Field(
        default=Scope.READONLY,
        description="admin, experiment or readonly (least privilege), or sdk: a GrowthBook "
        "client key bound to one workspace, safe in a web page, that reads the SDK payload and "
        "sends exposures and events only",
    )
    workspace: str | None = Field(default=None, description="Bind the token to this workspace")
    # Aware only: a naive timestamp is ambiguous, and comparing it with "now" used to crash (500).
    expires_at: AwareDatetime | None = None
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _one_expiry(self) -> TokenCreate:
        if self.expires_at is not None and self.expires_in_days is not None:
            raise ValueError("give expires_at or expires_in_days, not both")
        return self


class TokenUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    is_active: bool | None = None

    @field_validator("name", "is_active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only on fields the client sent: an explicit null must not pass for "leave it
        # alone" (description, by contrast, may be cleared with null).
        if value is None:
            raise ValueError("cannot be null")
        return value


class TokenRead(BaseModel):
    id: int
    name: str
    description: str | None
    scope: Scope
    prefix: str = Field(description="The first characters of the secret, to recognise it")
    workspace: str | None
    is_active: bool
    expires_at: datetime | None
    last_used_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class TokenCreated(TokenRead):
    token: str = Field(description="The secret. Shown only in this response: store it now.")


def _read(session: Session, token: ApiToken, request: Request | None = None) -> TokenRead:
    workspace = workspaces.get_by_id(session, token.workspace_id) if token.workspace_id else None
    last_used_at = token.last_used_at
    if request is not None:
        # Usage this process noted and has not written yet (``runtime.control``).
        noted = request.app.state.cache.noted_use(token.id)
        if noted is not None and (last_used_at is None or noted > last_used_at):
            last_used_at = noted
    return TokenRead(
        id=token.id,
        name=token.name,
        description=token.description,
        scope=Scope(token.scope),
        prefix=token.prefix,
        workspace=workspace.key if workspace else None,
        is_active=token.is_active,
        expires_at=token.expires_at,
        last_used_at=last_used_at,
        created_by=token.created_by,
        created_at=token.created_at,
        updated_at=token.updated_at,
    )


@router.post(
    "/", status_code=status.HTTP_201_CREATED, response_model=TokenCreated, responses=ERRORS
)
def create_token(
    body: TokenCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Admin,
) -> TokenCreated:
    """Issue a token. A workspace-bound admin can only issue tokens bound to its workspace.

    The answer holds the secret: ``Cache-Control: no-store`` keeps it out of every cache."""
    response.headers["Cache-Control"] = "no-store"
    workspace = None
    # An sdk key is always bound: to the workspace named, else the caller's or the default.
    if body.workspace is not None or principal.workspace_id is not None or body.scope is Scope.SDK:
        workspace = workspace_for(session, get_settings(request), principal, body.workspace)
    expires_at = body.expires_at
    if expires_at is None and body.expires_in_days is not None:
        expires_at = utcnow() + timedelta(days=body.expires_in_days)
    issued = service.create_token(
        session,
        name=body.name,
        scope=body.scope,
        description=body.description,
        workspace=workspace,
        expires_at=expires_at,
        issuer=principal,
    )
    return TokenCreated(**_read(session, issued.token).model_dump(), token=issued.secret)


@router.get("/", response_model=list[TokenRead], responses=ERRORS)
def list_tokens(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Admin,
    skip: Skip = 0,
    limit: Limit = 100,
) -> list[TokenRead]:
    """Tokens (prefixes only, never secrets); the total is in ``X-Total-Count``."""
    tokens, total = service.list_tokens(session, principal, offset=skip, limit=limit)
    set_total(response, total)
    return [_read(session, t, request) for t in tokens]


@router.get("/{token_id}", response_model=TokenRead, responses=ERRORS)
def get_token(token_id: int, request: Request, session: SessionDep, principal: Admin) -> TokenRead:
    return _read(session, service.get_token(session, principal, token_id), request)


@router.put("/{token_id}", response_model=TokenRead, responses=ERRORS)
def update_token(
    token_id: int, body: TokenUpdate, session: SessionDep, principal: Admin
) -> TokenRead:
    """Rename, describe, or (de)activate a token; every server process refuses a deactivated
    token within 2 s."""
    token = service.update_token(
        session,
        principal,
        token_id,
        name=body.name,
        description=body.description,
        is_active=body.is_active,
        fields=set(body.model_fields_set),
    )
    return _read(session, token)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
def delete_token(token_id: int, session: SessionDep, principal: Admin) -> Response:
    """Delete a token for good."""
    service.delete_token(session, principal, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
