"""Background event batchers: queue events in memory, send them by size and by time.

Events get their ``event_id`` and ``timestamp`` when queued, so a batch that fails (server down,
restarting, 5xx) is re-sent as the very same events and the server stores each once: nothing is
lost and nothing doubled. Events the server refuses (a 4xx) are not retried; they are counted in
``stats`` and handed to ``on_error``. ``close()`` flushes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from splitlab.client import _calls
from splitlab.client.errors import APIError, ServerError, SplitlabError, TransportError
from splitlab.client.errors import ValidationError as EventRejected
from splitlab.client.models import EventBatchResult

if TYPE_CHECKING:
    from splitlab.client.aio import AsyncSplitlab
    from splitlab.client.sync import Splitlab

Json = dict[str, Any]
ErrorHandler = Callable[[APIError, list[Json]], None]

#: Waits between attempts to send a batch the server could not take (after the client's retries).
_RESEND_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass
class BatcherStats:
    queued: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    resends: int = 0


class _Buffer:
    """What both batchers share: the queue, when to send, and what an answer means."""

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
        self.pending: deque[Json] = deque()
        self.in_flight = 0
        self.oldest_at = 0.0
        self.flushing = False
        self.closed = False
        self.failures = 0
        self.retry_at = 0.0
        self.give_up_at: float | None = None
        self.stats = BatcherStats()

    def push(self, event: Json) -> str:
        if self.closed:
            raise SplitlabError("the batcher is closed")
        if not self.pending:
            self.oldest_at = time.monotonic()
        self.pending.append(event)
        self.stats.queued += 1
        return str(event["event_id"])

    def full(self) -> bool:
        return len(self.pending) >= self.max_queue

    def idle(self) -> bool:
        return not self.pending and self.in_flight == 0

    def wait_time(self) -> float | None:
        """0 when a batch should go now; else how long to wait (None: until woken)."""
        if not self.pending:
            return None
        now = time.monotonic()
        if now < self.retry_at:
            return self.retry_at - now
        if len(self.pending) >= self.max_batch or self.flushing or self.closed:
            return 0.0
        return max(0.0, self.oldest_at + self.flush_interval - time.monotonic())

    def take(self) -> list[Json]:
        batch = [self.pending.popleft() for _ in range(min(self.max_batch, len(self.pending)))]
        self.in_flight = len(batch)
        return batch

    def requeue(self, batch: list[Json]) -> None:
        """Put an unsent batch back at the front, to be tried again after a backoff."""
        self.pending.extendleft(reversed(batch))
        self.in_flight = 0
        self.stats.resends += 1
        delay = _RESEND_BACKOFF[min(self.failures, len(_RESEND_BACKOFF) - 1)]
        self.failures += 1
        self.retry_at = time.monotonic() + delay

    def close(self, timeout: float) -> None:
        self.closed = True
        self.give_up_at = time.monotonic() + timeout

    def stopped(self) -> bool:
        """Whether the sender is done: closed with nothing left, or out of time to retry."""
        if not self.closed:
            return False
        if not self.pending:
            return True
        return self.give_up_at is not None and self.retry_at > self.give_up_at

    def sent(self, batch: list[Json], outcome: EventBatchResult | APIError) -> None:
        self.in_flight = 0
        self.failures = 0
        self.stats.batches += 1
        if isinstance(outcome, APIError):
            self.stats.rejected += len(batch)
            self._report(outcome, batch)
            return
        self.stats.accepted += outcome.accepted
        self.stats.duplicates += outcome.duplicates
        self.stats.rejected += len(outcome.rejected)
        for rejection in outcome.rejected:
            error = EventRejected(422, rejection.error, "invalid_event", rejection.details)
            self._report(error, [batch[rejection.index]])
        if not self.pending:
            self.flushing = False

    def _report(self, error: APIError, events: list[Json]) -> None:
        if self.on_error is not None:
            self.on_error(error, events)


def _can_retry(exc: Exception) -> bool:
    return isinstance(exc, TransportError | ServerError)


class EventBatcher:
    """Queue events and send them from a background thread (see the module docstring).

    A batch goes when ``max_batch`` events are queued or the oldest has waited
    ``flush_interval`` seconds. When ``max_queue`` events wait unsent, ``track`` blocks.
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
        return self._buffer.stats

    @property
    def pending(self) -> int:
        """Events queued or in flight, not yet acknowledged by the server."""
        with self._cond:
            return len(self._buffer.pending) + self._buffer.in_flight

    def track(
        self,
        user_id: str,
        event_type: str,
        **fields: Unpack[_calls.EventFields],
    ) -> str:
        """Queue one event; returns its ``event_id``."""
        return self.add(_calls.event_body(user_id, event_type, **fields))

    def add(self, event: Mapping[str, Any]) -> str:
        """Queue a seed-001 event (an ``event_id`` and ``timestamp`` are added when missing)."""
        filled = _calls.with_identity(event)
        with self._cond:
            self._cond.wait_for(lambda: not self._buffer.full() or self._buffer.closed)
            event_id = self._buffer.push(filled)
            self._cond.notify_all()
        return event_id

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True once the server has acknowledged all of it."""
        with self._cond:
            self._buffer.flushing = True
            self._cond.notify_all()
            return self._cond.wait_for(self._buffer.idle, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Flush, then stop. Raises if events are still unsent after ``timeout`` seconds."""
        with self._cond:
            self._buffer.close(timeout)
            self._cond.notify_all()
        self._thread.join(timeout + 5)
        unsent = self.pending
        if unsent:
            raise SplitlabError(f"{unsent} events could not be sent before the batcher closed")

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
                wait = buffer.wait_time()
                if wait is None or wait > 0:
                    if wait is None:
                        buffer.flushing = False
                        self._cond.notify_all()
                    self._cond.wait(wait)
                    continue
                batch = buffer.take()
                self._cond.notify_all()
            outcome = self._send(batch)
            with self._cond:
                if outcome is None:
                    buffer.requeue(batch)
                else:
                    buffer.sent(batch, outcome)
                self._cond.notify_all()

    def _send(self, batch: list[Json]) -> EventBatchResult | APIError | None:
        """The server's answer for ``batch``; None when it should be sent again later."""
        total: EventBatchResult | None = None
        for _, call in _calls.track_batches(batch):
            try:
                answer = self._client.send(call)
            except APIError as exc:
                if _can_retry(exc):
                    return None
                return exc
            except TransportError:
                return None
            total = answer if total is None else total + answer
        return total


class AsyncEventBatcher:
    """The asyncio twin of :class:`EventBatcher`: a background task on the running loop."""

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
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def stats(self) -> BatcherStats:
        return self._buffer.stats

    @property
    def pending(self) -> int:
        return len(self._buffer.pending) + self._buffer.in_flight

    async def track(
        self,
        user_id: str,
        event_type: str,
        **fields: Unpack[_calls.EventFields],
    ) -> str:
        return await self.add(_calls.event_body(user_id, event_type, **fields))

    async def add(self, event: Mapping[str, Any]) -> str:
        filled = _calls.with_identity(event)
        async with self._cond:
            await self._cond.wait_for(lambda: not self._buffer.full() or self._buffer.closed)
            event_id = self._buffer.push(filled)
            self._cond.notify_all()
        return event_id

    async def flush(self, timeout: float | None = None) -> bool:
        async with self._cond:
            self._buffer.flushing = True
            self._cond.notify_all()
            try:
                await asyncio.wait_for(self._cond.wait_for(self._buffer.idle), timeout)
            except TimeoutError:
                return False
            return True

    async def close(self, timeout: float = 30.0) -> None:
        async with self._cond:
            self._buffer.close(timeout)
            self._cond.notify_all()
        await asyncio.wait_for(asyncio.shield(self._task), timeout + 5)
        if self.pending:
            raise SplitlabError(
                f"{self.pending} events could not be sent before the batcher closed"
            )

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
                wait = buffer.wait_time()
                if wait is None or wait > 0:
                    if wait is None:
                        buffer.flushing = False
                        self._cond.notify_all()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._cond.wait(), wait)
                    continue
                batch = buffer.take()
                self._cond.notify_all()
            outcome = await self._send(batch)
            async with self._cond:
                if outcome is None:
                    buffer.requeue(batch)
                else:
                    buffer.sent(batch, outcome)
                self._cond.notify_all()

    async def _send(self, batch: list[Json]) -> EventBatchResult | APIError | None:
        total: EventBatchResult | None = None
        for _, call in _calls.track_batches(batch):
            try:
                answer = await self._client.send(call)
            except APIError as exc:
                if _can_retry(exc):
                    return None
                return exc
            except TransportError:
                return None
            total = answer if total is None else total + answer
        return total
