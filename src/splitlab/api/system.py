"""Operational endpoints: ``/health`` and ``/metrics`` (public unless configured otherwise)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from splitlab import __version__
from splitlab.api.deps import get_database, get_principal, get_settings
from splitlab.observability import AppMetrics

router = APIRouter(tags=["system"])


@router.get("/health", summary="Liveness and database health, version and uptime")
def health(request: Request) -> JSONResponse:
    db = get_database(request)
    started = time.perf_counter()
    database: dict[str, Any] = {"backend": db.backend}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database |= {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1e3, 2)}
    except Exception as exc:  # health reports any failure; it must not raise
        database |= {"status": "error", "error": type(exc).__name__}
    healthy = database["status"] == "ok"
    body = {
        "status": "ok" if healthy else "error",
        "version": __version__,
        "uptime_seconds": round(time.monotonic() - request.app.state.started_at, 3),
        "database": database,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    if not get_settings(request).metrics_public:
        with get_database(request).session_scope() as session:
            get_principal(request, session, request.headers.get("Authorization"))
    app_metrics: AppMetrics = request.app.state.metrics
    return Response(generate_latest(app_metrics.registry), media_type=CONTENT_TYPE_LATEST)
