"""Operational endpoints: ``/health`` and ``/metrics`` (public unless configured otherwise)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool

from splitlab import __version__
from splitlab.api.deps import get_principal
from splitlab.auth.tokens import Scope
from splitlab.errors import AppError, PermissionDenied
from splitlab.observability import AppMetrics
from splitlab.runtime.gates import Gates
from splitlab.runtime.unit_of_work import get_database, get_settings

log = logging.getLogger("splitlab.api")

router = APIRouter(tags=["system"])


#: ``/health`` waits at most this long for its own connection's answer.
HEALTH_TIMEOUT = 2.0


def _probe(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@router.get("/health", summary="Liveness and database health, version and uptime")
async def health(request: Request) -> JSONResponse:
    """Answers under any load: the probe has a connection of its own (never the request
    pool's), one probe runs at a time, and each gives up after ``HEALTH_TIMEOUT``."""
    db = get_database(request)
    state = request.app.state
    started = time.perf_counter()
    database: dict[str, Any] = {"backend": db.backend}
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            async with state.health_lock:
                # abandon_on_cancel: past the timeout the answer goes out while the probe's
                # thread may still hang on a dead database (it holds only its own connection).
                await anyio.to_thread.run_sync(_probe, state.health_engine, abandon_on_cancel=True)
        database |= {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1e3, 2)}
    except Exception as exc:  # health reports any failure; it must not raise
        database |= {"status": "error", "error": type(exc).__name__}
    healthy = database["status"] == "ok"
    body: dict[str, Any] = {
        "status": "ok" if healthy else "error",
        "version": __version__,
        "uptime_seconds": round(time.monotonic() - state.started_at, 3),
        "database": database,
    }
    redis_cache = state.assigner.redis
    if redis_cache is not None:
        # Not a round trip: the circuit breaker's view (Redis is optional, never an outage).
        body["redis"] = {"status": "ok" if redis_cache.available else "bypassed"}
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Request, latency and request-path metrics; experiments by status (a figure across every
    workspace) only for an unbound token that may read."""
    principal = None
    if not get_settings(request).metrics_public:
        principal = await get_principal(request)
        if not principal.can(Scope.READONLY):  # an sdk key is public: it reads no metrics
            raise PermissionDenied("This action needs a token with 'readonly' scope")
    elif request.headers.get("Authorization"):
        # Public: a token only adds figures; a bad one, or a database down (a token not in
        # the cache is then looked up, and fails), adds none.
        try:
            principal = await get_principal(request)
        except Exception as exc:
            if not isinstance(exc, AppError):
                log.warning("metrics: could not resolve the token: %s", exc)
    app_metrics: AppMetrics = request.app.state.metrics
    business = (
        principal is not None and principal.workspace_id is None and principal.can(Scope.READONLY)
    )
    gates: Gates = request.app.state.gates
    parts = [generate_latest(app_metrics.registry)]  # in memory: served even without a database
    if business:
        try:
            async with gates.read.slot():
                parts.append(await run_in_threadpool(generate_latest, app_metrics.business))
        except Exception as exc:  # the database is down or saturated: the rest still answers
            log.warning("experiment metrics unavailable: %s", exc)
    return Response(b"".join(parts), media_type=CONTENT_TYPE_LATEST)
