"""The interactive API docs at ``/api/v1/docs``: Swagger UI, served by Splitlab itself.

FastAPI's own page loads Swagger UI from a CDN (a blank page behind a firewall) and starts it
with an inline script. This page loads everything from this process, under ``/static/swagger-ui/``
(the app's one mount of plain files, outside ``/api/``: no token), and starts Swagger UI from a
file (``static/swagger-ui-init.js``).

Swagger UI's files are those the ``fastapi-offline`` package ships: ``swagger-ui-dist`` 5.x, byte
for byte (the OpenAPI document is 3.1, which Swagger UI 4 cannot render). Only its files are used:
its ``FastAPIOffline`` factory would replace the app's class, and its page has an inline script.
Each asset URL carries its content's hash (``?v=``), so a browser may keep the file for a year; a
new file is a new URL.
"""

from __future__ import annotations

import hashlib
import html
import os
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

#: Where the page is, and where its files are: ``MOUNT`` within the app's ``/static`` mount.
DOCS_PATH = "/api/v1/docs"
MOUNT = "/swagger-ui"
ASSETS_PATH = f"/static{MOUNT}"
#: An asset asked for with ``?v=`` (its hash) never changes: cached for a year.
IMMUTABLE = "public, max-age=31536000, immutable"

PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" href="{icon}" type="image/svg+xml">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""


class VersionedFiles(StaticFiles):
    """Static files; one asked for with a version (``?v=``) is cached for a year."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if any(part.startswith(b"v=") for part in scope.get("query_string", b"").split(b"&")):
            response.headers["Cache-Control"] = IMMUTABLE
        return response


#: Splitlab's start-up script, then Swagger UI's files (``swagger-ui-bundle.js``,
#: ``swagger-ui.css``) from the ``fastapi_offline`` package.
ASSETS = VersionedFiles(
    directory=Path(__file__).parent / "static", packages=[("fastapi_offline", "static")]
)


def assets_mount() -> Mount:
    """The Swagger UI files, for the app's ``/static`` mount (``/static/swagger-ui/...``)."""
    return Mount(MOUNT, app=ASSETS)


@lru_cache(maxsize=16)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def asset_url(name: str, root_path: str = "") -> str:
    """``/static/swagger-ui/<name>?v=<hash of its content>``."""
    full_path, stat = ASSETS.lookup_path(name)
    if stat is None:
        raise FileNotFoundError(f"Swagger UI has no file {name!r}")
    version = _digest(full_path, stat.st_mtime_ns, stat.st_size)
    return f"{root_path}{ASSETS_PATH}/{name}?v={version}"


async def swagger_ui(request: Request) -> HTMLResponse:
    """The docs page: no inline script, nothing from another origin."""
    root = request.scope.get("root_path", "").rstrip("/")
    page = PAGE.format(
        title=html.escape(f"{request.app.title} - Swagger UI"),
        css=html.escape(asset_url("swagger-ui.css", root)),
        icon=html.escape(f"{root}/static/favicon.svg"),
        openapi=html.escape(f"{root}{request.app.openapi_url}"),
        bundle=html.escape(asset_url("swagger-ui-bundle.js", root)),
        init=html.escape(asset_url("swagger-ui-init.js", root)),
    )
    return HTMLResponse(page)


def install(app: FastAPI) -> None:
    """Serve the page at ``/api/v1/docs`` (its files: ``assets_mount``), in place of FastAPI's
    own (``docs_url=None``)."""
    app.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
