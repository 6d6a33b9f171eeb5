"""Background batchers: queue events and exposures in memory, send them by size and by time.

Events go to ``POST /api/v1/events/batch``; exposures (what a local evaluator showed users) to
``POST /api/v1/exposures/batch``. Each kind has its own queue, bounded by ``max_queue``, and goes
in batches of at most ``max_batch`` (and 10,000 items, 5 MB a request); one sender serves both.

Items get their id (``event_id``, ``exposure_id``) and ``timestamp`` and are encoded when queued
(an item that is not JSON fails in the caller), so a batch that fails is re-sent as the very
same items and the server stores each once: nothing is lost and nothing doubled (the server
counts a user's first exposure per experiment only). A batch is kept queued and retried with
backoff while the server is unreachable, answers 5xx, or refuses the token (401, 403: a token
can be fixed or restored) or asks to slow down (408, 429). Items the server refuses for what
they are (a 4xx on the batch, or an item listed as rejected) are not retried: they are counted
in ``stats`` (events) or ``exposure_stats`` and handed to ``on_error`` (exposures are the dicts
with an ``exposure_id``). ``close()`` flushes what is left and raises if items are still unsent
when its time runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from splitlab.client import _calls
from splitlab.client._http import NO_RETRIES, Call, dumps
from splitlab.client.errors import APIError, SplitlabError
from splitlab.client.errors import ValidationError as EventRejected
from splitlab.client.models import EventBatchResult, ExposureBatchResult

if TYPE_CHECKING:
    from splitlab.client.aio import AsyncSplitlab
    from splitlab.client.sync import Splitlab

Json = dict[str, Any]
ErrorHandler = Callable[[APIError, list[Json]], None]

_log = logging.getLogger(__name__)

#: Waits between attempts to send a batch the server could not take.
_RESEND_BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Answers that say "not now" rather than "not these items": keep the items and retry.
_KEEP_STATUSES = frozenset({401, 403, 408, 429})


@dataclass
class BatcherStats:
    queued: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    resends: int = 0
    #: Items not queued because the queue was full (``offer_exposure`` only; ``add`` waits).
    dropped: int = 0
    last_error: Exception | None = field(default=None, repr=False)


BatchResult = EventBatchResult | ExposureBatchResult


@dataclass(frozen=True, slots=True)
class _Kind:
    """What is batched, and where it goes: events or exposures."""

    noun: str
    identity: Callable[[Mapping[str, Any]], Json]
    id_field: str
    calls: Callable[[Iterable[bytes]], Iterator[tuple[int, Call[Any]]]]
    code: str


_EVENTS = _Kind("events", _calls.with_identity, "event_id", _calls.batch_calls, "invalid_event")
_EXPOSURES = _Kind(
    "exposures",
    _calls.exposure_with_identity,
    "exposure_id",
    _calls.exposure_batch_calls,
    "invalid_exposure",
)


def _keep(exc: Exception, kind: _Kind) -> bool:
    """Whether a failed send should be retried later (True) or its items refused (False)."""
    if isinstance(exc, APIError):
        if exc.status == 403 and kind is _EXPOSURES:
            # A token that may not write exposures (a readonly one, which a local evaluator
            # used to need) never will: refuse them (``on_error``) rather than retry until
            # ``close`` gives up.
            return False
        return exc.status >= 500 or exc.status in _KEEP_STATUSES
    return True  # transport errors, and anything unexpected: the ids make a resend safe


@dataclass
class _Outcome:
    """What one send achieved: answers per chunk, and the items still to send."""

    answers: list[tuple[list[bytes], BatchResult | APIError]] = field(default_factory=list)
    unsent: list[bytes] = field(default_factory=list)
    error: Exception | None = None


class _Queue:
    """One kind's queue: what waits, when to send it, and what an answer means."""

    def __init__(self, kind: _Kind, max_batch: int, flush_interval: float, max_queue: int) -> None:
        self.kind = kind
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.pending: deque[bytes] = deque()
        self.in_flight = 0
        self.oldest_at = 0.0
        self.answered = 0  # items settled (stored, duplicate or refused), in queue order
        self.flush_target = 0
        self.failures = 0
        self.retry_at = 0.0
        self.stats = BatcherStats()

    def push(self, item: Mapping[str, Any]) -> tuple[str, bool]:
        """Queue ``item``; its id, and whether the sender must be woken (its next batch is due
        sooner: the first item queued, or a full batch)."""
        filled = self.kind.identity(item)
        encoded = dumps(filled)  # raises here, in the caller, for an item JSON cannot carry
        if not self.pending:
            self.oldest_at = time.monotonic()
        self.pending.append(encoded)
        self.stats.queued += 1
        size = len(self.pending)
        return str(filled[self.kind.id_field]), size == 1 or size >= self.max_batch

    def full(self) -> bool:
        return len(self.pending) >= self.max_queue

    def unsent(self) -> int:
        return len(self.pending) + self.in_flight

    def request_flush(self) -> int:
        self.flush_target = self.stats.queued
        return self.flush_target

    def wait_time(self, closed: bool) -> float | None:
        """0 when a batch should go now; else how long to wait (None: until woken)."""
        if not self.pending:
            return None
        now = time.monotonic()
        if now < self.retry_at:
            return self.retry_at - now
        if len(self.pending) >= self.max_batch or self.answered < self.flush_target:
            return 0.0
        if closed:
            return 0.0
        return max(0.0, self.oldest_at + self.flush_interval - now)

    def take(self) -> list[bytes]:
        batch = [self.pending.popleft() for _ in range(min(self.max_batch, len(self.pending)))]
        self.in_flight = len(batch)
        return batch

    def settle(self, outcome: _Outcome) -> list[tuple[APIError, list[Json]]]:
        """Apply a send's outcome; the refused items to report (outside the lock)."""
        reports: list[tuple[APIError, list[Json]]] = []
        for chunk, answer in outcome.answers:
            self.answered += len(chunk)
            self.stats.batches += 1
            if isinstance(answer, APIError):
                self.stats.rejected += len(chunk)
                reports.append((answer, [json.loads(e) for e in chunk]))
                continue
            self.stats.accepted += answer.accepted
            self.stats.duplicates += answer.duplicates
            self.stats.rejected += len(answer.rejected)
            for r in answer.rejected:
                error = EventRejected(422, r.error, self.kind.code, r.details)
                reports.append((error, [json.loads(chunk[r.index])]))
        self.in_flight = 0
        if outcome.unsent:
            self.pending.extendleft(reversed(outcome.unsent))
            self.stats.resends += 1
            self.stats.last_error = outcome.error
            delay = _RESEND_BACKOFF[min(self.failures, len(_RESEND_BACKOFF) - 1)]
            self.failures += 1
            self.retry_at = time.monotonic() + delay
        else:
            self.failures = 0
        return reports

    def done(self, give_up_at: float | None) -> bool:
        """Once closed: nothing left, or out of time to retry."""
        if not self.pending:
            return True
        return give_up_at is not None and self.retry_at > give_up_at


class _Buffer:
    """What both batchers share: the event and exposure queues, which batch goes next, and
    what to do with refused items."""

    def __init__(
        self, max_batch: int, flush_interval: float, max_queue: int, on_error: ErrorHandler | None
    ) -> None:
        if not 1 <= max_batch <= _calls.MAX_BATCH_EVENTS:
            raise ValueError(f"max_batch must be within 1..{_calls.MAX_BATCH_EVENTS}")
        if max_queue < max_batch:
            raise ValueError("max_queue must be at least max_batch")
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.on_error = on_error
        self.events = _Queue(_EVENTS, max_batch, flush_interval, max_queue)
        self.exposures = _Queue(_EXPOSURES, max_batch, flush_interval, max_queue)
        self.queues = (self.events, self.exposures)
        self.closed = False
        self.give_up_at: float | None = None

    def push(self, queue: _Queue, item: Mapping[str, Any]) -> tuple[str, bool]:
        if self.closed:
            raise SplitlabError("the batcher is closed")
        return queue.push(item)

    def unsent(self) -> int:
        return sum(q.unsent() for q in self.queues)

    def request_flush(self) -> tuple[int, ...]:
        return tuple(q.request_flush() for q in self.queues)

    def flushed(self, targets: tuple[int, ...]) -> bool:
        return all(q.answered >= t for q, t in zip(self.queues, targets, strict=True))

    def next(self) -> tuple[_Queue | None, float | None]:
        """The queue whose batch goes now (the longest waiting), else how long to wait
        (None: until woken)."""
        ready: _Queue | None = None
        wait: float | None = None
        for queue in self.queues:
            time_left = queue.wait_time(self.closed)
            if time_left is None:
                continue
            if time_left <= 0:
                if ready is None or queue.oldest_at < ready.oldest_at:
                    ready = queue
            elif wait is None or time_left < wait:
                wait = time_left
        return ready, wait

    def report(self, reports: list[tuple[APIError, list[Json]]]) -> None:
        if self.on_error is None:
            return
        for error, items in reports:
            try:
                self.on_error(error, items)
            except Exception:  # a failing callback must not stop the sender
                _log.exception("the batcher's on_error callback failed")

    def close(self, timeout: float) -> None:
        self.closed = True
        self.give_up_at = time.monotonic() + timeout

    def stopped(self) -> bool:
        """Whether the sender is done: closed with nothing left, or out of time to retry."""
        return self.closed and all(q.done(self.give_up_at) for q in self.queues)

    def unsent_error(self) -> SplitlabError:
        left = [q for q in self.queues if q.unsent()]
        what = " and ".join(f"{q.unsent()} {q.kind.noun}" for q in left)
        cause = next((q.stats.last_error for q in left if q.stats.last_error), None)
        reason = f" (last error: {cause})" if cause else ""
        return SplitlabError(f"{what} could not be sent{reason}")


def _record(
    outcome: _Outcome, kind: _Kind, chunk: list[bytes], answer: BatchResult | Exception
) -> bool:
    """Add one chunk's answer to ``outcome``; False when the rest must wait for a retry."""
    if isinstance(answer, EventBatchResult | ExposureBatchResult):
        outcome.answers.append((chunk, answer))
        return True
    if isinstance(answer, APIError) and not _keep(answer, kind):
        outcome.answers.append((chunk, answer))
        return True
    if not isinstance(answer, SplitlabError):
        _log.warning("sending %s failed unexpectedly; they stay queued: %r", kind.noun, answer)
    outcome.error = answer
    return False


def _chunks(kind: _Kind, batch: list[bytes]) -> list[tuple[list[bytes], Call[Any]]]:
    chunks, offset = [], 0
    for count, call in kind.calls(batch):
        chunks.append((batch[offset : offset + count], call))
        offset += count
    return chunks


class EventBatcher:
    """Queue events and exposures and send them from a background thread (see the module
    docstring).

    A batch goes when ``max_batch`` items of a kind are queued or the oldest has waited
    ``flush_interval`` seconds. When ``max_queue`` events (or exposures) wait unsent, ``track``
    (``add_exposure``) blocks and ``offer_exposure`` drops the exposure.
    """

    def __init__(
        self,
        client: Splitlab,
        *,
        max_batch: int = 1000,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self._client = client
        self._buffer = _Buffer(max_batch, flush_interval, max_queue, on_error)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="splitlab-batcher", daemon=True)
        self._thread.start()

    @property
    def stats(self) -> BatcherStats:
        """The events' counters."""
        return self._buffer.events.stats

    @property
    def exposure_stats(self) -> BatcherStats:
        """The exposures' counters."""
        return self._buffer.exposures.stats

    @property
    def pending(self) -> int:
        """Events and exposures queued or in flight, not yet answered by the server."""
        with self._cond:
            return self._buffer.unsent()

    def track(self, user_id: str, event_type: str, **fields: Unpack[_calls.EventFields]) -> str:
        """Queue one event; returns its ``event_id``."""
        return self.add(_calls.event_body(user_id, event_type, **fields))

    def add(self, event: Mapping[str, Any]) -> str:
        """Queue a seed-001 event (an ``event_id`` and ``timestamp`` are added when missing)."""
        return self._add(self._buffer.events, event)

    def expose(
        self,
        experiment_key: str,
        user_id: str,
        variant_key: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        exposure_id: str | None = None,
    ) -> str:
        """Queue the exposure of a user to a variant shown now (or at ``timestamp``); returns
        its ``exposure_id``. The server counts each user's first exposure in an experiment."""
        body = _calls.exposure_body(
            experiment_key, user_id, variant_key, attributes, timestamp, exposure_id
        )
        return self.add_exposure(body)

    def add_exposure(self, exposure: Mapping[str, Any]) -> str:
        """Queue an exposure as ``POST /api/v1/exposures/batch`` takes it (an ``exposure_id``
        and ``timestamp`` are added when missing); waits while the queue is full."""
        return self._add(self._buffer.exposures, exposure)

    def offer_exposure(self, exposure: Mapping[str, Any]) -> str | None:
        """:meth:`add_exposure` without waiting: None (counted in ``exposure_stats.dropped``)
        when ``max_queue`` exposures already wait unsent."""
        queue = self._buffer.exposures
        with self._cond:
            if queue.full() and not self._buffer.closed:
                queue.stats.dropped += 1
                return None
            exposure_id, wake = self._buffer.push(queue, exposure)
            if wake:
                self._cond.notify_all()
        return exposure_id

    def _add(self, queue: _Queue, item: Mapping[str, Any]) -> str:
        with self._cond:
            self._cond.wait_for(lambda: not queue.full() or self._buffer.closed)
            item_id, wake = self._buffer.push(queue, item)
            if wake:
                self._cond.notify_all()
        return item_id

    def flush(self, timeout: float | None = None) -> bool:
        """Send what is queued now; True once the server has answered for all of it (stored,
        duplicate, or refused: see ``stats``, ``exposure_stats`` and ``on_error``)."""
        with self._cond:
            targets = self._buffer.request_flush()
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._buffer.flushed(targets), timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Flush, then stop. Raises if items are still unsent after ``timeout`` seconds."""
        with self._cond:
            self._buffer.close(timeout)
            self._cond.notify_all()
        self._thread.join(timeout + self._client.timeout + 1)
        with self._cond:
            if self._buffer.unsent():
                raise self._buffer.unsent_error()

    def __enter__(self) -> EventBatcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        buffer = self._buffer
        while True:
            with self._cond:
                if buffer.stopped():
                    self._cond.notify_all()
                    return
                queue, wait = buffer.next()
                if queue is None:
                    self._cond.wait(wait)
                    continue
                batch = queue.take()
                self._cond.notify_all()
            outcome = self._send(queue.kind, batch)
            with self._cond:
                reports = queue.settle(outcome)
                self._cond.notify_all()
            buffer.report(reports)

    def _send(self, kind: _Kind, batch: list[bytes]) -> _Outcome:
        outcome = _Outcome()
        chunks = _chunks(kind, batch)
        for i, (chunk, call) in enumerate(chunks):
            try:
                answer: BatchResult | Exception = self._client.send(call, NO_RETRIES)
            except Exception as exc:  # classified by _record; nothing may kill the sender
                answer = exc
            if not _record(outcome, kind, chunk, answer):
                outcome.unsent = [e for c, _ in chunks[i:] for e in c]
                break
        return outcome


class AsyncEventBatcher:
    """The asyncio twin of :class:`EventBatcher`: a background task on the running loop. Its
    methods, ``offer_exposure`` included, are for the loop's own thread."""

    def __init__(
        self,
        client: AsyncSplitlab,
        *,
        max_batch: int = 1000,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self._client = client
        self._buffer = _Buffer(max_batch, flush_interval, max_queue, on_error)
        self._cond = asyncio.Condition()
        self._wake = asyncio.Event()  # the sender sleeps on this: set whenever a batch may be due
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def stats(self) -> BatcherStats:
        """The events' counters."""
        return self._buffer.events.stats

    @property
    def exposure_stats(self) -> BatcherStats:
        """The exposures' counters."""
        return self._buffer.exposures.stats

    @property
    def pending(self) -> int:
        """Events and exposures queued or in flight, not yet answered by the server."""
        return self._buffer.unsent()

    async def track(
        self, user_id: str, event_type: str, **fields: Unpack[_calls.EventFields]
    ) -> str:
        return await self.add(_calls.event_body(user_id, event_type, **fields))

    async def add(self, event: Mapping[str, Any]) -> str:
        return await self._add(self._buffer.events, event)

    async def expose(
        self,
        experiment_key: str,
        user_id: str,
        variant_key: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        exposure_id: str | None = None,
    ) -> str:
        body = _calls.exposure_body(
            experiment_key, user_id, variant_key, attributes, timestamp, exposure_id
        )
        return await self.add_exposure(body)

    async def add_exposure(self, exposure: Mapping[str, Any]) -> str:
        return await self._add(self._buffer.exposures, exposure)

    def offer_exposure(self, exposure: Mapping[str, Any]) -> str | None:
        """Queue an exposure without waiting (callable from synchronous code on the loop's
        thread): None, counted in ``exposure_stats.dropped``, when the queue is full."""
        queue = self._buffer.exposures
        if queue.full() and not self._buffer.closed:
            queue.stats.dropped += 1
            return None
        # No lock needed: nothing else runs on the loop until this returns.
        exposure_id, wake = self._buffer.push(queue, exposure)
        if wake:
            self._wake.set()
        return exposure_id

    async def _add(self, queue: _Queue, item: Mapping[str, Any]) -> str:
        async with self._cond:
            await self._cond.wait_for(lambda: not queue.full() or self._buffer.closed)
            item_id, wake = self._buffer.push(queue, item)
            if wake:
                self._wake.set()
        return item_id

    async def flush(self, timeout: float | None = None) -> bool:
        async with self._cond:
            targets = self._buffer.request_flush()
            self._wake.set()
            try:
                await asyncio.wait_for(
                    self._cond.wait_for(lambda: self._buffer.flushed(targets)), timeout
                )
            except TimeoutError:
                return False
            return True

    async def close(self, timeout: float = 30.0) -> None:
        async with self._cond:
            self._buffer.close(timeout)
            self._cond.notify_all()
            self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout + self._client.timeout + 1)
        if self._buffer.unsent():
            raise self._buffer.unsent_error()

    async def __aenter__(self) -> AsyncEventBatcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(self) -> None:
        buffer = self._buffer
        while True:
            async with self._cond:
                if buffer.stopped():
                    self._cond.notify_all()
                    return
                queue, wait = buffer.next()
                if queue is None:
                    self._wake.clear()  # under the lock: whatever changes next sets it again
                else:
                    batch = queue.take()
                    self._cond.notify_all()
            if queue is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            outcome = await self._send(queue.kind, batch)
            async with self._cond:
                reports = queue.settle(outcome)
                self._cond.notify_all()
            buffer.report(reports)

    async def _send(self, kind: _Kind, batch: list[bytes]) -> _Outcome:
        outcome = _Outcome()
        chunks = _chunks(kind, batch)
        for i, (chunk, call) in enumerate(chunks):
            try:
                answer: BatchResult | Exception = await self._client.send(call, NO_RETRIES)
            except Exception as exc:  # classified by _record; nothing may kill the sender
                answer = exc
            if not _record(outcome, kind, chunk, answer):
                outcome.unsent = [e for c, _ in chunks[i:] for e in c]
                break
        return outcome
