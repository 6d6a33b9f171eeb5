"""Route dependencies of the API: the caller, and the workspace it acts in.

The request's unit of work (``SessionDep``), which the dashboard's routes take too, is
``runtime.unit_of_work``'s.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from splitlab.auth.service import Principal
from splitlab.auth.tokens import Scope
from splitlab.config import Settings
from splitlab.errors import PermissionDenied
from splitlab.runtime.plane import ControlPlane
from splitlab.storage.models import Workspace
from splitlab.workspaces import service as workspaces

#: Declares the Bearer scheme in the OpenAPI document, so Swagger UI offers "Authorize". Parsing
#: stays ours (``runtime.plane.bearer``): every failure must be the same 401, never the scheme's
#: own 403.
bearer_scheme = HTTPBearer(auto_error=False, description="An API token: `Bearer <token>`")


def get_plane(request: Request) -> ControlPlane:
    plane: ControlPlane = request.app.state.plane
    return plane


async def get_principal(
    request: Request,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None,
) -> Principal:
    """The caller, as the front door (``runtime.guard``) resolved it, or from the cache."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        principal = await get_plane(request).principal(request.headers.get("Authorization"))
        request.state.principal = principal
    return principal


def require(scope: Scope, *, sdk: bool = False) -> object:
    """A token of ``scope`` or higher; with ``sdk``, an ``sdk`` key too (the SDK routes)."""

    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not (principal.can(scope) or (sdk and principal.can(Scope.SDK))):
            raise PermissionDenied(f"This action needs a token with '{scope.value}' scope")
        return principal

    dependency.__name__ = f"require_{scope.value}" + ("_or_sdk" if sdk else "")
    return Depends(dependency)


#: Any valid token (GET routes).
Reader = Annotated[Principal, require(Scope.READONLY)]
#: ``experiment`` or ``admin`` scope (routes that write experiments, users, assignments, events).
Writer = Annotated[Principal, require(Scope.EXPERIMENT)]
#: What the SDK routes take: a reader (the payload) or a writer (exposures, events), or an
#: ``sdk`` client key.
SdkReader = Annotated[Principal, require(Scope.READONLY, sdk=True)]
SdkWriter = Annotated[Principal, require(Scope.EXPERIMENT, sdk=True)]
#: ``admin`` scope (tokens, data management).
Admin = Annotated[Principal, require(Scope.ADMIN)]


def workspace_for(
    session: Session, settings: Settings, principal: Principal, requested: str | None
) -> Workspace:
    """The workspace a call acts in (``workspaces.for_caller``): the caller's own if bound."""
    return workspaces.for_caller(
        session,
        bound_to=principal.workspace_id,
        requested=requested,
        default=settings.default_workspace,
    )


async def get_workspace(
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
    workspace_header: Annotated[
        str | None,
        Header(
            alias="X-Splitlab-Workspace",
            description="Workspace key to act in (unbound tokens; default: the default workspace)",
        ),
    ] = None,
    workspace_query: Annotated[
        str | None,
        Query(alias="workspace", description="Workspace key (alternative to the header)"),
    ] = None,
) -> Workspace:
    return await get_plane(request).workspace(principal, workspace_query or workspace_header)


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
