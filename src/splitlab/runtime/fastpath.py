"""The hot routes, answered straight from the front door.

FastAPI's per-request machinery (matching ~100 routes, solving a dependency tree, validating
headers and query parameters one by one, validating the returned model again) costs several
times what an assignment itself costs: profiled under load, 70 % of the event loop's time for a
new user's assignment. The routes that carry traffic are therefore also served here, as plain
ASGI handlers over the same body models, the same services and the same answers:

- ``POST /api/experiments/{key}/assignments`` and ``…/assignments/batch``,
  ``GET /api/experiments/{key}/assignments/{user_id}``;
- ``POST /api/v1/assignments/``, ``POST /api/v1/assignments/batch``,
  ``GET /api/v1/assignments/experiments/{id}/assignment/{user_id}``;
- ``POST /api/v1/evaluate``.

Only the happy path is served here. Anything else (a body that does not validate, another
content type, an unexpected query parameter, a path that is not exactly one of these) is handed
to the FastAPI route unchanged, body included, so every error keeps the exact answer it had.
Domain errors (unknown experiment, missing scope, a refused override) are rendered in the one
error shape, as the app's handler does. The FastAPI routes stay: they document the API and serve
whatever the fast path hands over; ``tests/api/test_fast_path.py`` checks both answer alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from starlette.types import ASGIApp, Receive, Scope, Send

from splitlab.assignment import schemas
from splitlab.assignment.service import Assignment, AssignmentRequest, check_batch
from splitlab.auth.service import Principal
from splitlab.auth.tokens import Scope as TokenScope
from splitlab.errors import AppError, PermissionDenied
from splitlab.runtime.hotpath import assign_on_hot_path, assign_pairs, records_on_read
from splitlab.runtime.plane import ControlPlane
from splitlab.storage.errors import unexpected_answer
from splitlab.storage.models import Workspace

log = logging.getLogger("splitlab.runtime")

Handler = Callable[["Call"], Awaitable[tuple[int, Any]]]


class _Fallback(Exception):
    """Not a request the fast path answers: the FastAPI route will."""


@dataclass
class Call:
    """One request on the fast path."""

    scope: Scope
    params: dict[str, str]
    body: bytes
    principal: Principal
    plane: ControlPlane

    @property
    def state(self) -> Any:
        return self.scope["app"].state

    def parse(self, model: type[BaseModel]) -> Any:
        if self.body and not is_json(self.scope, when_absent=False):
            raise _Fallback
        try:
            return model.model_validate_json(self.body)
        except ValidationError:
            raise _Fallback from None

    def require(self, needed: TokenScope) -> None:
        if not self.principal.can(needed):
            raise PermissionDenied(f"This action needs a token with '{needed.value}' scope")

    async def workspace(self) -> Workspace:
        """As ``api.deps.get_workspace`` reads it: the last ``?workspace=`` (blank counts as
        none), else the first ``X-Splitlab-Workspace`` header."""
        raw = self.scope.get("query_string", b"").decode("latin-1")
        query = dict(parse_qsl(raw, keep_blank_values=True))
        header = None
        for name, value in self.scope.get("headers", ()):
            if name == b"x-splitlab-workspace":
                header = value.decode("latin-1")
                break
        return await self.plane.workspace(self.principal, query.get("workspace") or header)


def is_json(scope: Scope, *, when_absent: bool) -> bool:
    """Whether the request's ``Content-Type`` is a JSON media type (``application/json`` or
    ``application/*+json``); ``when_absent`` answers for a request without one."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return bool(
                media == b"application/json"
                or (media.startswith(b"application/") and media.endswith(b"+json"))
            )
    return when_absent


def _assignment(a: Assignment) -> dict[str, Any]:
    """``AssignmentRead.of(a)``, as the JSON FastAPI renders it."""
    return {
        "experiment_key": a.experiment_key,
        "user_id": a.user_id,
        "variant_key": a.variant_key,
        "in_experiment": a.in_experiment,
        "reason": a.reason.value,
        "is_override": a.is_override,
        "assigned_at": a.assigned_at,
        "variant_config": a.variant_config,
        "bucket_version": a.bucket_version,
    }


def _assignment_v1(a: Assignment) -> dict[str, Any]:
    return {**_assignment(a), "experiment_id": a.experiment_id}


async def _assign(call: Call) -> tuple[int, Any]:
    body = call.parse(schemas.AssignBody)
    call.require(TokenScope.EXPERIMENT)
    request = AssignmentRequest(
        body.user_id, body.user_attributes, body.force_variant, body.context
    )
    workspace = await call.workspace()
    (a,) = await assign_on_hot_path(call.state, workspace, call.params["key"], [request])
    return 200, _assignment(a)


async def _assign_batch(call: Call) -> tuple[int, Any]:
    body = call.parse(schemas.BatchBody)
    call.require(TokenScope.EXPERIMENT)
    requests = [AssignmentRequest(u.user_id, u.user_attributes) for u in body.users]
    check_batch(requests)
    workspace = await call.workspace()
    results = await assign_on_hot_path(call.state, workspace, call.params["key"], requests)
    key = results[0].experiment_key if results else call.params["key"]
    return 200, {"experiment_key": key, "assignments": [_assignment(a) for a in results]}


def _path_user_id(call: Call) -> str:
    user_id = call.params["user_id"]
    if not 1 <= len(user_id) <= 255:
        raise _Fallback
    return user_id


async def _get_assignment(call: Call, *, v1_shape: bool, ref: str) -> tuple[int, Any]:
    call.require(TokenScope.READONLY)
    user_id = _path_user_id(call)
    workspace = await call.workspace()
    record = records_on_read(call.principal, call.scope)
    (a,) = await assign_on_hot_path(
        call.state, workspace, call.params[ref], [AssignmentRequest(user_id)], record=record
    )
    return 200, (_assignment_v1(a) if v1_shape else _assignment(a))


async def _v1_create(call: Call) -> tuple[int, Any]:
    body = call.parse(schemas.AssignmentCreate)
    call.require(TokenScope.EXPERIMENT)
    request = AssignmentRequest(body.user_id, body.attributes, body.force_variant, body.context)
    workspace = await call.workspace()
    (a,) = await assign_on_hot_path(call.state, workspace, str(body.experiment_id), [request])
    return (201 if a.in_experiment else 200), _assignment_v1(a)


async def _v1_batch(call: Call) -> tuple[int, Any]:
    body = call.parse(schemas.BatchCreate)
    call.require(TokenScope.EXPERIMENT)
    requests = [AssignmentRequest(u, {}, None, body.context) for u in body.user_ids]
    check_batch(requests)
    workspace = await call.workspace()
    results = await assign_on_hot_path(call.state, workspace, str(body.experiment_id), requests)
    return 200, [_assignment_v1(a) for a in results]


async def _evaluate(call: Call) -> tuple[int, Any]:
    body = call.parse(schemas.EvaluateBody)
    call.require(TokenScope.EXPERIMENT)
    workspace = await call.workspace()
    plain = AssignmentRequest(body.user_id, body.attributes, None, body.context)
    configs = await call.plane.running(workspace)
    results = await assign_pairs(call.state, [(c, plain) for c in configs])
    return 200, {
        "user_id": body.user_id,
        "assignments": {a.experiment_key: _assignment_v1(a) for a in results},
    }


async def _v1_get(call: Call) -> tuple[int, Any]:
    return await _get_assignment(call, v1_shape=True, ref="experiment_id")


async def _seed000_get(call: Call) -> tuple[int, Any]:
    return await _get_assignment(call, v1_shape=False, ref="key")


_SEGMENT = r"[^/]+"
#: (method, path pattern (on the decoded path, as Starlette matches), handler, FastAPI's route)
_ROUTES: list[tuple[str, str, Handler, str]] = [
    ("POST", rf"/api/experiments/(?P<key>{_SEGMENT})/assignments/batch", _assign_batch,
     "/api/experiments/{key}/assignments/batch"),
    ("POST", rf"/api/experiments/(?P<key>{_SEGMENT})/assignments", _assign,
     "/api/experiments/{key}/assignments"),
    ("GET", rf"/api/experiments/(?P<key>{_SEGMENT})/assignments/(?P<user_id>.+)", _seed000_get,
     "/api/experiments/{key}/assignments/{user_id:path}"),
    ("POST", r"/api/v1/assignments/", _v1_create, "/api/v1/assignments/"),
    ("POST", r"/api/v1/assignments/batch", _v1_batch, "/api/v1/assignments/batch"),
    ("GET", rf"/api/v1/assignments/experiments/(?P<experiment_id>{_SEGMENT})/assignment/"
     r"(?P<user_id>.+)", _v1_get,
     "/api/v1/assignments/experiments/{experiment_id}/assignment/{user_id:path}"),
    ("POST", r"/api/v1/evaluate", _evaluate, "/api/v1/evaluate"),
]  # fmt: skip
_COMPILED = [(m, re.compile(p + r"\Z"), h, t) for m, p, h, t in _ROUTES]
#: Query parameters the hot routes take; any other is left to FastAPI (to answer as before).
_QUERY = {"workspace"}


@dataclass(frozen=True)
class RouteLabel:
    """What ``MetricsMiddleware`` reads from ``scope["route"]``: the route's full template."""

    path: str


class FastPath:
    """Matches the hot routes and answers them, labelled for metrics by their templates."""

    def __init__(self) -> None:
        self._routes = [(m, p, h, RouteLabel(t)) for m, p, h, t in _COMPILED]

    def match(self, scope: Scope) -> tuple[Handler, dict[str, str], Any] | None:
        method = scope["method"]
        path = scope["path"]
        if not path.startswith("/api/"):
            return None
        query = scope.get("query_string", b"")
        if query and any(k not in _QUERY for k, _ in parse_qsl(query.decode("latin-1"), True)):
            return None
        for route_method, pattern, handler, route in self._routes:
            if route_method == method and (found := pattern.match(path)):
                return handler, found.groupdict(), route
        return None

    async def serve(
        self,
        scope: Scope,
        body: bytes,
        send: Send,
        matched: tuple[Handler, dict[str, str], Any],
        app: ASGIApp,
        replay: Receive,
    ) -> None:
        """Answer a matched request whose whole ``body`` the front door has read; anything
        the fast path does not answer goes to ``app`` with the body replayed."""
        handler, params, route = matched
        call = Call(scope, params, body, scope["state"]["principal"], scope["app"].state.plane)
        try:
            status, content = await handler(call)
        except _Fallback:
            await app(scope, replay, send)
            return
        except Exception as exc:
            if isinstance(exc, AppError):
                error = exc
            else:
                log.exception("unexpected error on %s %s", scope["method"], scope["path"])
                error = unexpected_answer(exc)
            scope["route"] = route
            await _send_json(send, error.status_code, error.to_body(), error.headers)
            return
        scope["route"] = route
        await _send_json(send, status, content, None)


async def _send_json(send: Send, status: int, content: Any, headers: dict[str, str] | None) -> None:
    body = to_json(content)
    raw_headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
