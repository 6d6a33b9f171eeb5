"""Where GrowthBook SDKs look for their payload: ``GET /api/features/{clientKey}``.

The client key is an API token in the path, as GrowthBook SDKs send it (no header): an ``sdk``
key (``auth.tokens.Scope.SDK``, bound to one workspace and safe in a web page), and no other
kind (a URL ends up in logs; other tokens read the same payload at ``/api/v1/sdk``). The answer
is the workspace's payload (``assignment.sdk``) with an ``ETag``; a request whose
``If-None-Match`` names it gets ``304 Not Modified``. Both come from the control-plane
cache, so neither makes a database round trip. CORS headers are added by ``SdkCors``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from splitlab.api.deps import get_plane
from splitlab.api.handlers import error_responses
from splitlab.assignment.sdk import etag_matches
from splitlab.auth.tokens import Scope as TokenScope
from splitlab.errors import PermissionDenied
from splitlab.storage.models import Workspace

router = APIRouter(tags=["sdk"])

ERRORS = error_responses(
    {
        401: "Unknown, revoked or expired client key",
        403: "Not an sdk client key",
        404: "The key's workspace is gone",
        422: "Request validation failed",
    }
)

#: Paths an SDK calls from a browser: the payload, exposures and events (in batches).
SDK_PATHS = (
    "/api/features/",
    "/api/v1/sdk",
    "/api/v1/exposures/batch",
    "/api/v1/events/batch",
)
#: SDK payloads are read with the client key in the path, not in a header.
FEATURES_PREFIX = "/api/features/"


async def payload_response(request: Request, workspace: Workspace) -> Response:
    body, etag = await get_plane(request).payload(workspace)
    # ``no-cache``: a browser or proxy may keep it but must revalidate, which the ETag makes a
    # body-less 304 whenever nothing changed.
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/api/features/{client_key}",
    responses={
        **ERRORS,
        200: {"description": 'The GrowthBook SDK payload: `{"features": {…}}`'},
        304: {"description": "Not modified since the `ETag` sent in `If-None-Match`"},
    },
    response_class=Response,
)
async def features(client_key: str, request: Request) -> Response:
    """The workspace's GrowthBook SDK payload, where every GrowthBook SDK fetches it
    (``{apiHost}/api/features/{clientKey}``).

    ``clientKey`` is an ``sdk`` token (other tokens get 403: read ``/api/v1/sdk`` with them).
    Each running, paused or completed experiment is a feature valued by variant key, and
    ``<key>:config`` one valued by the variant's config; evaluate them with the attribute
    ``id`` = your user id and send what each SDK reports through its tracking callback to
    ``POST /api/v1/exposures/batch``.
    """
    plane = get_plane(request)
    principal = await plane.principal(f"Bearer {client_key}")
    if not principal.can(TokenScope.SDK):
        # A key in a URL ends up in access logs and browser histories: only a key made to be
        # public belongs there. Other tokens read the payload at /api/v1/sdk, in a header.
        raise PermissionDenied(
            "Only an sdk client key goes in this URL (splitlab token create --scope sdk); "
            "other tokens read the payload at /api/v1/sdk"
        )
    workspace = await plane.workspace(principal, None)
    return await payload_response(request, workspace)


class SdkCors:
    """CORS (Starlette's ``CORSMiddleware``) on the routes a browser SDK calls, answering
    preflights before anything asks for a token; every other route is left without CORS, so
    browsers keep refusing cross-origin calls to the management API."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "Cache-Control"],
            expose_headers=["ETag"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_sdk_path(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def is_sdk_path(path: str) -> bool:
    return path.startswith(FEATURES_PREFIX) or path in SDK_PATHS
