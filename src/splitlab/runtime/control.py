"""The control plane, cached in every API process: tokens, workspaces, experiment configs.

The hot path (assignment, evaluation, the SDK payload, ingestion) resolves who is calling, in
which workspace, under which experiment config, from memory. Three things keep it true:

- **The generation row.** Database triggers move ``control_generation.value`` in the same
  transaction as any change to tokens, workspaces, experiments or variants, whoever makes it
  (migration 0007). A poller thread reads that one row every ``POLL_INTERVAL`` seconds over a
  connection of its own and drops every cache when it has moved.
- **Local commits.** A commit in this process that touched those tables drops the caches at
  once (``LocalChanges``), without waiting for the poll.
- **A staleness bound.** The caches answer only while the last successful poll is younger than
  ``MAX_STALENESS``. If the database stops answering the poller, every lookup goes to the
  database again (and gets its 503), so no process can serve a revoked token for long.

So a change is visible to every process within ``POLL_INTERVAL`` plus one poll's time, and never
later than ``MAX_STALENESS`` (2 s). A fill that started before a change cannot land after it:
each fill carries the cache's epoch and is dropped if a clear happened meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, make_transient_to_detached

from splitlab.auth.service import LAST_USED_GRANULARITY, Principal
from splitlab.auth.tokens import Scope
from splitlab.storage.base import utcnow
from splitlab.storage.models import ApiToken, ControlGeneration, Experiment, Variant, Workspace

log = logging.getLogger("splitlab.runtime")

#: How often each process reads the generation row.
POLL_INTERVAL = 0.5
#: The caches answer only while the last successful poll is at most this old.
MAX_STALENESS = 2.0
#: Entries per cache before it is emptied (a bound on memory, not a policy).
MAX_ENTRIES = 50_000
#: Cached "no such thing" answers (unknown tokens, keys), bounded apart.
MAX_ABSENT = 10_000

_WATCHED = (ApiToken, Workspace, Experiment, Variant)
#: ApiToken columns that are usage, not configuration (they move no generation).
_USAGE_ONLY = {"last_used_at"}


class LocalChanges:
    """A process-wide counter moved by every local commit that changed a cached table."""

    value = 0
    _lock = threading.Lock()

    @classmethod
    def bump(cls) -> None:
        with cls._lock:
            cls.value += 1


_FLAG = "splitlab.control_changed"


def _touches_watched(session: Session) -> bool:
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, _WATCHED):
            return True
    for obj in session.dirty:
        if not isinstance(obj, _WATCHED) or not session.is_modified(obj):
            continue
        if isinstance(obj, ApiToken):
            from sqlalchemy import inspect

            changed = {a.key for a in inspect(obj).attrs if a.history.has_changes()}
            if changed <= _USAGE_ONLY | {"updated_at"}:
                continue
        return True
    return False


@event.listens_for(Session, "before_flush")
def _note_changes(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    if _touches_watched(session):
        session.info[_FLAG] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(state: ORMExecuteState) -> None:
    writes = state.is_update or state.is_delete or state.is_insert
    mapper = state.bind_mapper
    if writes and mapper is not None and mapper.class_ in _WATCHED:
        state.session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        LocalChanges.bump()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)


@dataclass(frozen=True, slots=True)
class TokenEntry:
    principal: Principal
    is_active: bool
    is_demo: bool
    expires_at: datetime | None
    last_used_at: datetime | None

    def principal_if_valid(self, *, demo: bool) -> Principal | None:
        if not self.is_active or (self.is_demo and not demo):
            return None
        if self.expires_at is not None and self.expires_at <= utcnow():
            return None
        return self.principal


def token_entry(token: ApiToken) -> TokenEntry:
    return TokenEntry(
        principal=Principal(
            token_id=token.id,
            name=token.name,
            scope=Scope(token.scope),
            workspace_id=token.workspace_id,
        ),
        is_active=token.is_active,
        is_demo=token.is_demo,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
    )


def detached_workspace(workspace: Workspace) -> Workspace:
    """A copy of a workspace row that no session owns, shared read-only by requests."""
    copy = Workspace(
        id=workspace.id, key=workspace.key, name=workspace.name, created_at=workspace.created_at
    )
    make_transient_to_detached(copy)
    return copy


_MISSING = object()


class ControlCache:
    """Tokens by secret digest, workspaces by key and id, anything else by a caller's key."""

    def __init__(self, probe: Engine, *, poll_interval: float = POLL_INTERVAL) -> None:
        self.probe = probe
        self.poll_interval = poll_interval
        self.generation: int | None = None
        self.last_poll = float("-inf")
        self.epoch = 0
        self._local_seen = LocalChanges.value
        self._entries: dict[Any, Any] = {}
        self._absent: dict[Any, None] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._usage: dict[int, datetime] = {}
        self.polls = 0
        self.failed_polls = 0

    # -- reading -------------------------------------------------------------------------

    @property
    def fresh(self) -> bool:
        """Whether a cached answer may be given (the poller saw the database recently)."""
        if LocalChanges.value != self._local_seen:
            self.clear(local=True)
        return time.monotonic() - self.last_poll <= MAX_STALENESS

    def get(self, key: Any) -> Any:
        """The cached value, or ``_MISSING`` (also while the cache is not fresh)."""
        if not self.fresh:
            return _MISSING
        found = self._entries.get(key, _MISSING)
        if found is _MISSING and key in self._absent:
            return None
        return found

    def put(self, key: Any, value: Any, epoch: int) -> None:
        """Keep ``value`` unless the caches were cleared since ``epoch`` was read. Answers that
        something does not exist (an unknown token, anyone can send many) are kept apart and
        bounded on their own, so that they never push out what does exist."""
        with self._lock:
            if epoch != self.epoch:
                return
            entries = self._absent if value is None else self._entries
            if len(entries) >= (MAX_ABSENT if value is None else MAX_ENTRIES):
                entries.clear()
            entries[key] = value

    def lookup(self, key: Any, load: Callable[[], Any]) -> Any:
        """Synchronous get-or-load (``load`` runs in the caller's thread)."""
        found = self.get(key)
        if found is not _MISSING:
            return found
        epoch = self.epoch
        value = load()
        self.put(key, value, epoch)
        return value

    def clear(self, *, local: bool = False) -> None:
        with self._lock:
            self.epoch += 1
            self._entries.clear()
            self._absent.clear()
            if local:
                self._local_seen = LocalChanges.value

    # -- token usage -----------------------------------------------------------------------

    def note_use(self, entry: TokenEntry) -> None:
        """Remember that a token was used; written by the poller at most once a minute each."""
        now = utcnow()
        last = self._usage.get(entry.principal.token_id) or entry.last_used_at
        if last is None or now - last >= LAST_USED_GRANULARITY:
            with self._lock:
                self._usage[entry.principal.token_id] = now

    def flush_usage(self, session: Session) -> None:
        """Write noted usage (``last_used_at``) in ``session``, whose commit keeps it."""
        with self._lock:
            pending, self._usage = self._usage, {}
        connection = session.connection()
        for token_id, at in pending.items():
            connection.execute(
                update(ApiToken)
                .where(ApiToken.id == token_id)
                .values(last_used_at=at, updated_at=ApiToken.updated_at)
            )

    def noted_use(self, token_id: int) -> datetime | None:
        return self._usage.get(token_id)

    @property
    def usage_pending(self) -> bool:
        return bool(self._usage)

    # -- polling ---------------------------------------------------------------------------

    def poll_once(self) -> None:
        started = time.monotonic()
        with self.probe.connect() as connection:
            value = connection.execute(
                select(ControlGeneration.value).where(ControlGeneration.id == 1)
            ).scalar()
            connection.rollback()
        self.polls += 1
        if value is None or value != self.generation:
            self.clear()
            self.generation = value
        self.last_poll = started

    def start(self) -> None:
        """Poll once now (so the caches work from the first request), then in a thread."""
        try:
            self.poll_once()
        except Exception as exc:  # the database may be down at start: keep serving
            log.warning("control cache: first poll failed (%s)", exc)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="splitlab-control-poll", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.poll_once()
            except Exception as exc:
                self.failed_polls += 1
                log.warning("control cache: poll failed (%s); serving from the database", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.probe.dispose()


MISSING = _MISSING
