"""The ASGI application factory."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from splitlab import __version__
from splitlab.api import (
    assignments,
    docs,
    experiments,
    handlers,
    metrics,
    results,
    sdk,
    system,
    tracking,
    v1,
)
from splitlab.api.sdk import SdkCors
from splitlab.assignment.cache import RedisCache, connect_redis, install_invalidation
from splitlab.assignment.service import Assigner
from splitlab.bootstrap import bootstrap
from splitlab.config import Settings
from splitlab.dashboard import routes as dashboard
from splitlab.observability import AppMetrics, MetricsMiddleware, RequestPathCollector
from splitlab.runtime.committer import GroupCommitter
from splitlab.runtime.control import ControlCache
from splitlab.runtime.gates import Gates
from splitlab.runtime.guard import Guard
from splitlab.runtime.plane import ControlPlane
from splitlab.storage.engine import (
    FILL_SLOTS,
    READ_SLOTS,
    SESSION_SLOTS,
    SQLITE_READ_SLOTS,
    Database,
    make_probe_engine,
)

DESCRIPTION = """\
Splitlab is a self-hosted A/B testing platform. Every route except `/health`, `/metrics` and
these docs needs `Authorization: Bearer <token>`. Errors always have the shape
`{"error": "<message>", "code": "<machine_code>", "details": ...}`.

Three dialects share one domain: seed 000's key-addressed `/api/experiments/...`, seed 003's
workspace-scoped `/api/experiments?workspaceId=...`, and seed 001's `/api/v1/...`.
"""


#: Collection thresholds while serving. CPython's default collects the young generation every 700
#: new containers; a 10,000-event batch creates about 100,000 (a dict and a tuple or two per
#: event), so the default runs ~150 collections per batch and a few full ones, each walking every
#: object the process holds: 150-200 ms of a 560 ms batch in ``bench.events_batch_inprocess``.
GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    """Freeze what start-up left alive (modules, the app, caches: never garbage) out of the
    collector's view, and collect less often. Only reference cycles wait longer to be freed."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class SplitlabApp(FastAPI):
    """FastAPI with the front door (``runtime.guard``) and request metrics outside its own
    middleware stack: the hot routes the front door answers skip FastAPI's error, telemetry
    and body-limit layers (about a tenth of such a request's time); the front door answers
    its own errors in the one error shape."""

    _telemetry_enabled: bool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # FastAPI asks its native (OpenTelemetry) telemetry whether it is on for every request,
        # reading the environment each time (3 % of a hot request). Ask once; when it is off,
        # serve HTTP as Starlette does. When it is on, FastAPI's own path is kept.
        if scope["type"] == "http" and not self.root_path:
            if self._telemetry_enabled is None:
                self._telemetry_enabled = bool(self._native_telemetry.enabled())
            if not self._telemetry_enabled:
                scope["app"] = self
                if self.middleware_stack is None:
                    self.middleware_stack = self.build_middleware_stack()
                await self.middleware_stack(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, with the one error body (``Error``) and the item schemas of the
        batch bodies that routes read themselves (declared through ``openapi_extra``, ``$defs``
        inline) in ``components``, where their ``$ref`` points."""
        if self.openapi_schema is None:
            document = super().openapi()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["Error"] = handlers.ERROR_SCHEMA
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    content = operation.get("requestBody", {}).get("content", {})
                    body = content.get("application/json", {}).get("schema", {})
                    for name, schema in body.pop("$defs", {}).items():
                        schemas.setdefault(name, schema)
        return self.openapi_schema  # type: ignore[return-value]

    def build_middleware_stack(self) -> ASGIApp:
        guarded = Guard(super().build_middleware_stack())
        cors = SdkCors(guarded, origins=self.state.settings.sdk_cors_origin_list)
        return MetricsMiddleware(cors, metrics=self.state.metrics)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build an app from ``settings`` (read from the environment when omitted)."""
    settings = settings or Settings()
    if settings.database_url.startswith("sqlite") and settings.database_url.rstrip("/").endswith(
        (":memory:", "sqlite:")
    ):
        # Every process, pool and probe would open a database of its own.
        raise ValueError("Splitlab serves a SQLite file or PostgreSQL, not in-memory SQLite")
    db = Database(settings.database_url, echo=settings.sql_echo)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(bootstrap, db, settings)
        await run_in_threadpool(cache.start)
        committer.start()
        if settings.gc_tuning:
            tune_gc()
        yield
        await committer.stop()
        cache.stop()
        app.state.health_engine.dispose()
        db.dispose()
        if app.state.redis is not None:
            app.state.redis.close()

    app = SplitlabApp(
        title="Splitlab",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # docs.install: Swagger UI from this process, not a CDN
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.started_at = time.monotonic()
    app.state.metrics = AppMetrics(db)
    app.state.redis = connect_redis(settings)
    redis_cache = RedisCache(app.state.redis, settings.redis_prefix) if app.state.redis else None
    if redis_cache is not None:
        install_invalidation(db.sessionmaker, redis_cache)
    app.state.assigner = assigner = Assigner(redis_cache)
    # The request path (docs/request-path.md): gates in front of every pooled connection, the
    # control-plane cache, and the group committer of exposures.
    app.state.gates = gates = Gates(
        sessions=1 if db.backend == "sqlite" else SESSION_SLOTS,
        reads=SQLITE_READ_SLOTS if db.backend == "sqlite" else READ_SLOTS,
        fills=FILL_SLOTS,
    )
    app.state.cache = cache = ControlCache(make_probe_engine(db.url))
    app.state.health_engine = make_probe_engine(db.url)
    app.state.health_lock = asyncio.Lock()
    app.state.plane = ControlPlane(db, gates, cache, settings, assigner)
    app.state.committer = committer = GroupCommitter(
        db, assigner, write_gate=gates.session if db.backend == "sqlite" else None, cache=cache
    )

    handlers.install(app)
    app.include_router(system.router)
    app.include_router(experiments.router)
    app.include_router(assignments.router)
    app.include_router(tracking.router)
    app.include_router(results.router)
    app.include_router(metrics.router)
    app.include_router(v1.router)
    app.include_router(sdk.router)
    docs.install(app)
    dashboard.install(app, static=[docs.assets_mount()])
    app.state.metrics.registry.register(RequestPathCollector(app.state))
    return app
