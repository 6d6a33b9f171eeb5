"""The front door, before any route runs: admission, the caller's token, the body's size.

A pure ASGI middleware, in this order:

1. **Admission.** At most ``max_in_flight`` requests are handled at once; past that the answer
   is an immediate ``503`` with ``Retry-After`` (the connection stays usable). ``/health`` is
   always let in.
2. **Authentication before the body.** On ``/api/...`` (not the API docs) the bearer token is
   resolved from the control cache before a byte of the body is read. Without a valid token the
   answer is ``401`` and the body is never read or parsed. The principal is handed to the route
   in ``scope["state"]``.
3. **Size and time limits while the body streams in.** ``Content-Length`` over the route's
   limit is refused at once; a body without one is counted as it arrives and refused as soon as
   it passes the limit (batches: 5 MB, anything else: 1 MB): ``413``. The whole body is read
   here, within ``BODY_DEADLINE`` (else ``408``), before any route runs, so no route holds a
   database slot while a slow client trickles its body in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from splitlab.errors import (
    AppError,
    BadRequest,
    InternalError,
    PayloadTooLarge,
    RequestTimeout,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from splitlab.runtime.fastpath import FastPath, is_json
from splitlab.runtime.hotpath import HEAD_REQUEST
from splitlab.runtime.plane import ControlPlane
from splitlab.runtime.screen import screen, suspicious

log = logging.getLogger("splitlab.runtime")

#: Bodies of routes whose path ends in ``/batch``.
BATCH_BODY_LIMIT = 5 * 1024 * 1024
#: Bodies of every other route.
DEFAULT_BODY_LIMIT = 1024 * 1024
#: Requests handled at once by one process before new ones get 503.
MAX_IN_FLIGHT = 1024
#: Hot-route bodies up to this size are screened whole too (a few microseconds): what only a
#: parse can see, such as a duplicate key (``{"user_id": "a", "user_id": "b"}``), is refused.
SCREEN_WHOLE = 4096
#: A request body must have arrived whole this long after its headers, or 408.
BODY_DEADLINE = 30.0

_PUBLIC_API = ("/api/v1/docs", "/api/v1/openapi.json", "/api/features/")


#: The batch routes (exactly these paths; ``{key}`` is one path segment).
_BATCH_ROUTES = re.compile(
    r"/api/v1/events/batch|/api/v1/exposures/batch|/api/v1/assignments/batch"
    r"|/api/experiments/[^/]+/assignments/batch"
)


#: Batches that validate each item on its own (a bad item is rejected by index, the rest
#: stored): the front door does not refuse them whole.
_PER_ITEM_BATCHES = re.compile(r"/api/v1/events/batch|/api/v1/exposures/batch")


def _seed003(path: str, body: bytes) -> bool:
    """A seed 003 request, whose invalid requests are 400s: its spelling of the collection
    (``/api/experiments``, no slash), or a body naming ``workspaceId`` sent to seed 000's
    (``api.experiments``)."""
    return path == "/api/experiments" or (path == "/api/experiments/" and b'"workspaceId"' in body)


def body_limit(path: str) -> int:
    return BATCH_BODY_LIMIT if _BATCH_ROUTES.fullmatch(path) else DEFAULT_BODY_LIMIT


def needs_token(path: str) -> bool:
    """Every ``/api/`` route but the docs, and the SDK payload (its client key is in its path,
    where GrowthBook SDKs put it, and is checked by the route before anything else)."""
    return path.startswith("/api/") and not path.startswith(_PUBLIC_API)


async def send_error(send: Send, error: AppError, *, close: bool = False) -> None:
    """Answer ``error`` in the one error shape; ``close``: a body was refused before it was
    read, so end the connection rather than receive (and discard) the rest of it."""
    body = json.dumps(error.to_body(), separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    headers += [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app: ASGIApp, *, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.refused = 0
        self._fast: FastPath | None = None
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._overdue: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            # Every GET answers HEAD too (RFC 9110 §9.3.2): the same status and headers, no body,
            # and nothing a GET may record (``runtime.hotpath.records_on_read``). In place, so
            # that the route label reaches the metrics middleware; the method is put back after.
            scope["method"], scope[HEAD_REQUEST], send = "GET", True, _without_body(send)
        try:
            await self._admit(scope, receive, send)
        finally:
            if head:
                scope["method"] = "HEAD"

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if self.in_flight >= self.max_in_flight and path != "/health":
            self.refused += 1
            await send_error(send, Unavailable("The server is busy; retry later"))
            return
        self.in_flight += 1
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._handle(scope, receive, tracked_send, path)
        except Exception:
            # Outside FastAPI's own error layer: answer in the one error shape all the same.
            log.exception("unexpected error on %s %s", scope.get("method"), path)
            if not started:
                await send_error(send, InternalError("Internal server error"))
        finally:
            self.in_flight -= 1

    async def _handle(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        limit = body_limit(path)
        declared = _content_length(scope)
        has_body = bool(declared) or _header(scope, b"transfer-encoding") is not None
        if needs_token(path):
            plane: ControlPlane = scope["app"].state.plane
            try:
                principal = await plane.principal(_header(scope, b"authorization"), path=path)
            except AppError as error:
                # A refused caller's body is never read: close rather than drain it.
                await send_error(send, error, close=has_body and error.status_code < 500)
                return
            except Exception as exc:
                # Only the database can fail here (a cache miss): the caller may retry.
                log.warning("could not resolve a token: %s", exc)
                await send_error(send, Unavailable("The database is unavailable; retry later"))
                return
            scope.setdefault("state", {})["principal"] = principal
        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            # No text column can hold a NUL (PostgreSQL refuses it outright): not a name of
            # anything, nor a filter on anything.
            await send_error(send, _NUL_IN_URL, close=has_body)
            return
        if has_body and path.startswith("/api/") and not is_json(scope, when_absent=True):
            # Every API route takes JSON; another format was parsed by some routes anyway.
            await send_error(send, _NOT_JSON, close=True)
            return
        if declared is not None and declared > limit:
            await send_error(send, _too_large(limit), close=True)
            return
        body = b""
        if has_body:
            # The whole body, bounded in size and time, before any route runs: no route ever
            # reads a slow body while it holds a database slot. The deadline is kept by a
            # watchdog sweeping once a second (``asyncio.timeout`` per request cost 6 % of a
            # hot request's time; a body almost always arrives with its headers).
            task = asyncio.current_task()
            assert task is not None
            self._reading[task] = time.monotonic() + BODY_DEADLINE
            if self._watchdog is None:
                self._watchdog = asyncio.get_running_loop().create_task(self._sweep())
            try:
                read = await _read_limited(receive, limit)
            except asyncio.CancelledError:
                if task not in self._overdue:
                    raise
                self._overdue.discard(task)
                task.uncancel()
                await send_error(send, RequestTimeout(_SLOW_BODY), close=True)
                return
            finally:
                self._reading.pop(task, None)
            if read is None:
                await send_error(send, _too_large(limit), close=True)
                return
            if not isinstance(read, bytes):
                return  # the client went away
            body = read
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        fast = self.fast_path(scope) if needs_token(path) else None
        matched = fast.match(scope) if fast is not None else None
        if body and is_json(scope, when_absent=True) and not _PER_ITEM_BATCHES.fullmatch(path):
            # Hostile JSON (runtime.screen): every management body parsed strictly; the hot
            # routes' and assignment batches' when small, or when a tell-tale byte sequence
            # is there.
            # (A body without a Content-Type is taken for JSON: screened whole wherever it goes.)
            hot = matched is not None or limit == BATCH_BODY_LIMIT
            typed = is_json(scope, when_absent=False)
            whole = not (hot and typed) or len(body) <= SCREEN_WHOLE or suspicious(body)
            refusal = screen(body) if whole else None
            if refusal is not None:
                if _seed003(path, body):
                    # Seed 003 answers every invalid request with 400.
                    refusal = BadRequest(
                        refusal.message, code=refusal.code, details=refusal.details
                    )
                await send_error(send, refusal)
                return
        if fast is not None and matched is not None:
            await fast.serve(scope, body, send, matched, self.app, replay)
            return
        await self.app(scope, replay, send)

    async def _sweep(self) -> None:
        """Cancel the body reads past their deadline (see ``_handle``), once a second."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for task, deadline in list(self._reading.items()):
                if now > deadline and task not in self._overdue:
                    self._overdue.add(task)
                    task.cancel()

    def fast_path(self, scope: Scope) -> FastPath | None:
        """The app's fast path (``runtime.fastpath``), unless settings turn it off."""
        app = scope["app"]
        if not app.state.settings.fast_path:
            return None
        if self._fast is None:
            self._fast = FastPath()
        return self._fast


async def _read_limited(receive: Receive, limit: int) -> bytes | bool | None:
    """The body, or None once it passes ``limit`` (the rest is never read), or False if the
    client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


_SLOW_BODY = "The request body did not arrive in time"
_NOT_JSON = UnsupportedMediaType("Request bodies are JSON: send Content-Type: application/json")
_NUL_IN_URL = ValidationFailed(
    "Invalid request: the URL may not contain NUL characters (%00)",
    details=[{"loc": ["url"], "msg": "NUL character", "type": "value_error"}],
)


def _too_large(limit: int) -> PayloadTooLarge:
    if limit == BATCH_BODY_LIMIT:
        return PayloadTooLarge("A batch may be at most 5 MB")
    return PayloadTooLarge(f"A request body may be at most {limit // (1024 * 1024)} MB")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _content_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    if raw is not None and raw.isascii() and raw.isdigit():
        return int(raw)
    return None


def _without_body(send: Send) -> Send:
    async def head_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return head_send


def principal_of_scope(scope: dict[str, Any]) -> Any:
    return scope.get("state", {}).get("principal")
