"""Group commit of assignments: concurrent requests' exposures share one transaction.

A request that may record exposures (``assign``, ``evaluate``, a batch, an experiment token's
GET) hands its ``(config, request)`` pairs to the committer and awaits the answer. The committer
takes every job queued while the previous transaction ran, runs them as one unit of work
(``Assigner.assign_pairs``: one sticky lookup, one properties lookup and one insert per
experiment, whatever the number of requests), commits, and only then answers each request. So a
2xx still means committed, and a thousand concurrent new users cost a handful of transactions,
not a thousand.

- The committer is one asyncio task per process; its database work runs in one thread of its
  own (never the request thread pool) on a connection of its own. On SQLite it takes the
  ``session`` gate's one slot for each transaction, so route writes and group commits queue in
  order (FIFO) for the one writer instead of spinning in SQLite's busy handler.
- If a grouped transaction fails, each job is retried alone, so one bad request never fails
  the others; a job that fails alone gets its own error.
- The queue is bounded (``MAX_QUEUED`` jobs): past it, ``503`` with ``Retry-After`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from splitlab.assignment import repository
from splitlab.assignment.config import AssignmentConfig
from splitlab.assignment.service import Assigner, Assignment, AssignmentRequest
from splitlab.errors import AppError, Unavailable
from splitlab.experiments.errors import ExperimentNotFound
from splitlab.storage.engine import Database

if TYPE_CHECKING:
    from splitlab.runtime.control import ControlCache
    from splitlab.runtime.gates import Gate

log = logging.getLogger("splitlab.runtime")

#: Jobs waiting for the committer before new ones are refused with 503.
MAX_QUEUED = 4096
#: A job not taken into a transaction after this long is dropped and answered 503.
QUEUE_TIMEOUT = 5.0
#: A job in a transaction is answered 503 if that transaction has not ended after this long.
ANSWER_TIMEOUT = 30.0
#: The committer's thread keeps running transactions back to back for at most this long (on
#: SQLite it holds the writer meanwhile; route writes wait at most this long for it) ...
LEASE_SECONDS = 0.02
#: ... and waits this long for a next job before it hands the writer back.
LINGER_SECONDS = 0.002
#: Pairs (a user in an experiment) in one grouped transaction, at most.
MAX_PAIRS_PER_COMMIT = 20_000


@dataclass(eq=False)
class _Job:
    pairs: Sequence[tuple[AssignmentConfig, AssignmentRequest]]
    future: asyncio.Future[list[Assignment]] = field(repr=False)
    #: Taken into a transaction: from then on the request waits for its outcome.
    started: bool = False
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class GroupCommitter:
    """Batches assignment jobs into transactions; one per process, started by the app."""

    def __init__(
        self,
        db: Database,
        assigner: Assigner,
        *,
        write_gate: Gate | None,
        cache: ControlCache | None = None,
    ) -> None:
        self.db = db
        self.assigner = assigner
        self.write_gate = write_gate
        self.cache = cache
        self._queue: list[_Job] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._usage_written = 0.0
        self._lock = threading.Lock()
        self._arrived = threading.Event()
        #: Counters for ``/metrics`` and tests.
        self.transactions = 0
        self.jobs = 0

    # -- requests -----------------------------------------------------------------------

    async def assign(
        self, pairs: Sequence[tuple[AssignmentConfig, AssignmentRequest]]
    ) -> list[Assignment]:
        """Assign and record ``pairs``; returns once the transaction holding them committed."""
        if not pairs:
            return []
        if self._task is None:
            self.start()
        if len(self._queue) >= MAX_QUEUED:
            raise Unavailable("Too many assignments in flight; retry later")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Assignment]] = loop.create_future()
        job = _Job(pairs, future)
        self._queue.append(job)
        self._arrived.set()
        assert self._wake is not None
        self._wake.set()
        # Deadlines as timers, not ``wait_for`` (a task per request on the hot path).
        timer = loop.call_later(QUEUE_TIMEOUT, self._overdue, job, loop)
        try:
            return await asyncio.shield(future)
        finally:
            timer.cancel()
            if job.timer is not None:
                job.timer.cancel()

    def _overdue(self, job: _Job, loop: asyncio.AbstractEventLoop) -> None:
        if job.future.done():
            return
        with self._lock:
            if not job.started:
                # Never reached a transaction: nothing of it will be written.
                self._queue.remove(job)
                job.future.set_exception(Unavailable("Too many assignments waiting; retry later"))
                return
        job.timer = loop.call_later(ANSWER_TIMEOUT, self._hung, job)

    @staticmethod
    def _hung(job: _Job) -> None:
        if not job.future.done():
            # The database is hung: say so rather than hold the caller. Whether the exposure
            # commits later or not, a retry gets the same (sticky) answer.
            job.future.set_exception(Unavailable("The database is not answering; retry later"))

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="splitlab-committer")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-committer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        self._stopping = True
        assert self._wake is not None
        self._wake.set()
        await self._task
        self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    _stopping = False

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                except TimeoutError:
                    await self._write_usage(loop)
                    continue
            try:
                if self.write_gate is not None:
                    # SQLite's one writer, ahead of route writes: a group's transaction is
                    # short and answers many requests.
                    async with self.write_gate.slot(timeout=3600, priority=True):
                        await loop.run_in_executor(self._executor, self._drain, loop)
                else:
                    await loop.run_in_executor(self._executor, self._drain, loop)
            except Exception as exc:  # never hang a request: whatever is queued is answered
                log.exception("group committer failed")
                with self._lock:
                    jobs, self._queue = self._queue, []
                self._deliver(jobs, [exc] * len(jobs))

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """In the committer's thread: run transactions back to back while jobs keep coming,
        for up to ``LEASE_SECONDS`` (then the event loop gets the writer back for a moment).
        Jobs are taken when a transaction starts (all that queued meanwhile: the group);
        from then on they wait for its outcome, delivered to the loop in one callback."""
        leased_until = time.monotonic() + LEASE_SECONDS
        while time.monotonic() < leased_until:
            jobs = self._take()
            if not jobs:
                # A request being parsed right now would otherwise wait for a loop round trip.
                self._arrived.clear()
                if self._queue or self._arrived.wait(LINGER_SECONDS):
                    continue
                return
            outcomes = self._commit(jobs)
            loop.call_soon_threadsafe(self._deliver, jobs, outcomes)

    @staticmethod
    def _deliver(jobs: list[_Job], outcomes: Sequence[list[Assignment] | BaseException]) -> None:
        for job, outcome in zip(jobs, outcomes, strict=True):
            if job.future.done():
                continue
            if isinstance(outcome, BaseException):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)

    def _take(self) -> list[_Job]:
        taken: list[_Job] = []
        pairs = 0
        with self._lock:
            while self._queue and (
                not taken or pairs + len(self._queue[0].pairs) <= MAX_PAIRS_PER_COMMIT
            ):
                job = self._queue.pop(0)
                job.started = True
                taken.append(job)
                pairs += len(job.pairs)
        return taken

    async def _write_usage(self, loop: asyncio.AbstractEventLoop) -> None:
        """Token ``last_used_at`` noted by the cache, written when the committer is idle."""
        if self.cache is None or not self.cache.usage_pending:
            return
        try:
            if self.write_gate is not None:
                async with self.write_gate.slot(priority=True):
                    await loop.run_in_executor(self._executor, self._usage_only)
            else:
                await loop.run_in_executor(self._executor, self._usage_only)
        except Exception as exc:
            log.warning("could not write token usage (%s)", exc)

    def _usage_only(self) -> None:
        assert self.cache is not None
        with self.db.session_scope() as session:
            self.cache.flush_usage(session)

    # -- the committer's thread ---------------------------------------------------------

    def _commit(self, jobs: list[_Job]) -> list[list[Assignment] | BaseException]:
        """Run ``jobs`` as one transaction. If it fails because of what one of them holds (a
        domain error, bad data), each is retried alone so that the others still go through;
        an outage fails them all at once (a retry each would only add waiting)."""
        try:
            return list(self._transaction(jobs))
        except Exception as exc:
            if len(jobs) == 1 or not _one_jobs_fault(exc):
                return [exc] * len(jobs)
            log.info("group commit of %d jobs failed (%s); retrying each alone", len(jobs), exc)
        outcomes: list[list[Assignment] | BaseException] = []
        for job in jobs:
            if job.future.done():  # answered meanwhile (a deadline): nothing to write
                outcomes.append(Unavailable("Not written; retry later"))
                continue
            try:
                outcomes.extend(self._transaction([job]))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def _current(
        self, session: Session, pairs: list[tuple[AssignmentConfig, AssignmentRequest]]
    ) -> list[tuple[AssignmentConfig, AssignmentRequest]]:
        """``pairs`` under their experiments' configs as this transaction sees them.

        A request resolved its config from the cache, which may trail a change by up to
        2 s; one lookup of the group's experiments' versions makes the exposures exact (a
        paused experiment records nothing, a new bucket version is the one written)."""
        versions = repository.experiment_versions(
            session, sorted({config.experiment_id for config, _ in pairs})
        )
        current: dict[int, AssignmentConfig] = {}
        for config, _ in pairs:
            if config.experiment_id in current:
                continue
            updated_at = versions.get(config.experiment_id)
            if updated_at is None:
                raise ExperimentNotFound()
            if config.version == f"{config.experiment_id}:{updated_at.isoformat()}":
                current[config.experiment_id] = config
            else:
                current[config.experiment_id] = self.assigner._config_at(
                    session, config.experiment_id, updated_at
                )
        return [(current[config.experiment_id], request) for config, request in pairs]

    def _transaction(self, jobs: list[_Job]) -> list[list[Assignment]]:
        pairs = [pair for job in jobs for pair in job.pairs]
        with self.db.session_scope() as session:
            pairs = self._current(session, pairs)
            answers = self.assigner.assign_pairs(session, pairs)
            if self.cache is not None and self.cache.usage_pending:
                now = time.monotonic()
                if now - self._usage_written >= 1.0:
                    self._usage_written = now
                    self.cache.flush_usage(session)
        self.transactions += 1
        self.jobs += len(jobs)
        outcomes = []
        start = 0
        for job in jobs:
            outcomes.append(answers[start : start + len(job.pairs)])
            start += len(job.pairs)
        return outcomes


def _one_jobs_fault(exc: Exception) -> bool:
    """Whether a failed group may owe its failure to one job (so the rest can succeed)."""
    return isinstance(exc, AppError | IntegrityError | DataError | ValueError | TypeError)
