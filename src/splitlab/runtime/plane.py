"""Async resolution of the caller, the workspace and experiment configs, from the cache.

Everything here is awaited in the event loop. A cache hit costs no thread and no connection; a
miss takes a ``fill`` slot (``runtime.gates``) and reads the database in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from splitlab.assignment import repository as assignment_repository
from splitlab.assignment.config import AssignmentConfig
from splitlab.assignment.sdk import rendered_payload
from splitlab.assignment.service import Assigner
from splitlab.auth.service import Principal, anonymous
from splitlab.auth.tokens import hash_secret
from splitlab.config import Settings
from splitlab.errors import NotFound, Unauthenticated, Unavailable
from splitlab.experiments.errors import ExperimentNotFound
from splitlab.runtime.control import (
    MISSING,
    ControlCache,
    TokenEntry,
    detached_workspace,
    token_entry,
)
from splitlab.runtime.gates import Gates
from splitlab.storage.engine import Database
from splitlab.storage.models import ApiToken, Workspace
from splitlab.workspaces import service as workspaces

T = TypeVar("T")


def takes_anonymous(path: str) -> bool:
    """Anonymous access covers the API documents that predate authentication: seed 000's and
    seed 003's ``/api/experiments`` routes. Seed 001's ``/api/v1/...`` documents a bearer
    token on every endpoint, and always needs one."""
    return path == "/api/experiments" or path.startswith("/api/experiments/")


def bearer(authorization: str | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header (None when there is none)."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthenticated("Authorization header must be 'Bearer <token>'")
    return credentials.strip()


class ControlPlane:
    """One per app: the cache, the gates that bound its misses, and the loaders."""

    def __init__(
        self,
        db: Database,
        gates: Gates,
        cache: ControlCache,
        settings: Settings,
        assigner: Assigner,
    ) -> None:
        self.db = db
        self.gates = gates
        self.cache = cache
        self.settings = settings
        self.assigner = assigner
        #: Who a request without a token is, when the server accepts those.
        self.anonymous = anonymous(settings.anonymous_scope)
        self._pending: dict[Any, asyncio.Future[Any]] = {}

    async def _cached(self, key: Any, load: Callable[[Session], T]) -> T:
        found = self.cache.get(key)
        if found is not MISSING:
            return found  # type: ignore[no-any-return]
        # Single flight: concurrent misses of one key (every request right after the caches
        # were emptied) share one lookup instead of queueing one each at the fill gate.
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            epoch = self.cache.epoch
            async with self.gates.fill.slot():
                value = await run_in_threadpool(self._load, load)
            self.cache.put(key, value, epoch)
            future.set_result(value)
            return value
        except BaseException as exc:
            # Waiters share the failure; a cancelled filler (its client went away) is a
            # failure for them to retry, not a cancellation of their own requests.
            shared = (
                Unavailable("A lookup was interrupted; retry")
                if isinstance(exc, asyncio.CancelledError)
                else exc
            )
            future.set_exception(shared)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._pending[key]

    def _load(self, load: Callable[[Session], T]) -> T:
        with self.db.session_scope(readonly=True) as session:
            return load(session)

    # -- who is calling ----------------------------------------------------------------------

    async def principal(self, authorization: str | None, *, path: str = "") -> Principal:
        """The principal of a bearer header; every failure is the same 401. Without a header,
        the anonymous principal where the server allows one and ``path`` takes it."""
        secret = bearer(authorization)
        if not secret:
            if authorization is None and self.anonymous is not None and takes_anonymous(path):
                return self.anonymous
            raise Unauthenticated("Missing bearer token")
        digest = hash_secret(secret)
        entry: TokenEntry | None = await self._cached(("token", digest), _token_loader(digest))
        principal = entry.principal_if_valid(demo=self.settings.demo) if entry else None
        if entry is None or principal is None:
            raise Unauthenticated("Invalid, revoked or expired token")
        self.cache.note_use(entry)
        return principal

    # -- where -------------------------------------------------------------------------------

    async def workspace(self, principal: Principal, requested: str | None) -> Workspace:
        """``workspaces.for_caller``, from the cache: a bound token acts in its own only."""
        if principal.workspace_id is not None:
            workspace_id = principal.workspace_id
            found = await self._cached(("ws_id", workspace_id), _workspace_by_id(workspace_id))
            return workspaces.own(found, requested)
        key = requested or self.settings.default_workspace
        found = await self._cached(("ws_key", key), _workspace_by_key(key))
        if found is None:
            raise NotFound("Workspace not found", code="workspace_not_found")
        return found

    # -- under which config ------------------------------------------------------------------

    async def config(self, workspace: Workspace, ref: str | int) -> AssignmentConfig:
        ref = str(ref)
        workspace_id = workspace.id
        assigner = self.assigner

        def load(session: Session) -> AssignmentConfig | None:
            row = assignment_repository.experiment_version(session, workspace_id, ref)
            return None if row is None else assigner._config_at(session, *row)

        config: AssignmentConfig | None = await self._cached(("cfg", workspace_id, ref), load)
        if config is None:
            raise ExperimentNotFound()
        return config

    async def running(self, workspace: Workspace) -> list[AssignmentConfig]:
        workspace_id = workspace.id
        assigner = self.assigner

        def load(session: Session) -> list[AssignmentConfig]:
            return [
                assigner._config_at(session, experiment_id, updated_at)
                for experiment_id, updated_at in assignment_repository.running_experiment_versions(
                    session, workspace_id
                )
            ]

        configs: list[AssignmentConfig] = await self._cached(("running", workspace_id), load)
        return configs

    async def payload(self, workspace: Workspace) -> tuple[bytes, str]:
        """The workspace's SDK payload, rendered, and its ``ETag``: built once per change of
        the control plane (``runtime.control``), so serving it, or a ``304``, costs no
        database round trip and no rendering."""
        workspace_id = workspace.id
        assigner = self.assigner

        def load(session: Session) -> tuple[bytes, str]:
            return rendered_payload(
                [
                    assigner._config_at(session, experiment_id, updated_at)
                    for experiment_id, updated_at in assignment_repository.experiment_versions_in(
                        session, workspace_id, assignment_repository.PUBLISHED_STATUSES
                    )
                ]
            )

        rendered: tuple[bytes, str] = await self._cached(("payload", workspace_id), load)
        return rendered


def _token_loader(digest: str) -> Callable[[Session], TokenEntry | None]:
    def load(session: Session) -> TokenEntry | None:
        token = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).one_or_none()
        return token_entry(token) if token is not None else None

    return load


def _workspace_by_id(workspace_id: int) -> Callable[[Session], Workspace | None]:
    def load(session: Session) -> Workspace | None:
        found = workspaces.get_by_id(session, workspace_id)
        return detached_workspace(found) if found is not None else None

    return load


def _workspace_by_key(key: str) -> Callable[[Session], Workspace | None]:
    def load(session: Session) -> Workspace | None:
        found = workspaces.get_by_key(session, key)
        return detached_workspace(found) if found is not None else None

    return load
