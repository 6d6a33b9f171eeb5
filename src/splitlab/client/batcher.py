"""Background event batchers: queue events in memory, send them by size and by time.

Events get their ``event_id`` and ``timestamp`` and are encoded when queued (an event that is not
JSON fails in the caller), so a batch that fails is re-sent as the very same events and the
server stores each once: nothing is lost and nothing doubled. A batch is kept queued and retried
with backoff while the server is unreachable, answers 5xx, or refuses the token (401, 403: a
token can be fixed or restored) or asks to slow down (408, 429). Events the server refuses for
what they are (a 4xx on the batch, or an event listed as rejected) are not retried: they are
counted in ``stats`` and handed to ``on_error``. ``close()`` flushes what is left and raises if
events are still unsent when its time runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from splitlab.client import _calls
from splitlab.client._http import NO_RETRIES, dumps
from splitlab.client.errors import APIError, SplitlabError
from splitlab.client.errors import ValidationError as EventRejected
from splitlab.client.models import EventBatchResult

if TYPE_CHECKING:
    from splitlab.client.aio import AsyncSplitlab
    from splitlab.client.sync import Splitlab

Json = dict[str, Any]
ErrorHandler = Callable[[APIError, list[Json]], None]

_log = logging.getLogger(__name__)

#: Waits between attempts to send a batch the server could not take.
_RESEND_BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Answers that say "not now" rather than "not these events": keep the events and retry.
_KEEP_STATUSES = frozenset({401, 403, 408, 429})


@dataclass
class BatcherStats:
    queued: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    resends: int = 0
    last_error: Exception | None = field(default=None, repr=False)


def _keep(exc: Exception) -> bool:
    """Whether a failed send should be retried later (True) or its events refused (False)."""
    if isinstance(exc, APIError):
        return exc.status >= 500 or exc.status in _KEEP_STATUSES
    return True  # transport errors, and anything unexpected: the ids make a resend safe


@dataclass
class _Outcome:
    """What one send achieved: answers per chunk, and the events still to send."""

    answers: list[tuple[list[bytes], EventBatchResult | APIError]] = field(default_factory=list)
    unsent: list[bytes] = field(default_factory=list)
    error: Exception | None = None


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
        self.pending: deque[bytes] = deque()
        self.in_flight = 0
        self.oldest_at = 0.0
        self.answered = 0  # events settled (stored, duplicate or refused), in queue order
        self.flush_target = 0
        self.closed = False
        self.failures = 0
        self.retry_at = 0.0
        self.give_up_at: float | None = None
        self.stats = BatcherStats()

    def push(self, event: Mapping[str, Any]) -> str:
        if self.closed:
            raise SplitlabError("the batcher is closed")
        filled = _calls.with_identity(event)
        encoded = dumps(filled)  # raises here, in the caller, for an event JSON cannot carry
        if not self.pending:
            self.oldest_at = time.monotonic()
        self.pending.append(encoded)
        self.stats.queued += 1
        return str(filled["event_id"])

    def full(self) -> bool:
        return len(self.pending) >= self.max_queue

    def unsent(self) -> int:
        return len(self.pending) + self.in_flight

    def request_flush(self) -> int:
        self.flush_target = self.stats.queued
        return self.flush_target

    def wait_time(self) -> float | None:
        """0 when a batch should go now; else how long to wait (None: until woken)."""
        if not self.pending:
            return None
        now = time.monotonic()
        if now < self.retry_at:
            return self.retry_at - now
        if len(self.pending) >= self.max_batch or self.answered < self.flush_target:
            return 0.0
        if self.closed:
            return 0.0
        return max(0.0, self.oldest_at + self.flush_interval - now)

    def take(self) -> list[bytes]:
        batch = [self.pending.popleft() for _ in range(min(self.max_batch, len(self.pending)))]
        self.in_flight = len(batch)
        return batch

    def settle(self, outcome: _Outcome) -> list[tuple[APIError, list[Json]]]:
        """Apply a send's outcome; the refused events to report (outside the lock)."""
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
                error = EventRejected(422, r.error, "invalid_event", r.details)
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

    def report(self, reports: list[tuple[APIError, list[Json]]]) -> None:
        if self.on_error is None:
            return
        for error, events in reports:
            try:
                self.on_error(error, events)
            except Exception:  # a failing callback must not stop the sender
                _log.exception("the batcher's on_error callback failed")

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

    def unsent_error(self) -> SplitlabError:
        cause = self.stats.last_error
        reason = f" (last error: {cause})" if cause else ""
        return SplitlabError(f"{self.unsent()} events could not be sent{reason}")


def _record(outcome: _Outcome, chunk: list[bytes], answer: EventBatchResult | Exception) -> bool:
    """Add one chunk's answer to ``outcome``; False when the rest must wait for a retry."""
    if isinstance(answer, EventBatchResult):
        outcome.answers.append((chunk, answer))
        return True
    if isinstance(answer, APIError) and not _keep(answer):
        outcome.answers.append((chunk, answer))
        return True
    if not isinstance(answer, SplitlabError):
        _log.warning("sending events failed unexpectedly; they stay queued: %r", answer)
    outcome.error = answer
    return False


def _chunks(batch: list[bytes]) -> list[tuple[list[bytes], Any]]:
    chunks, offset = [], 0
    for count, call in _calls.batch_calls(batch):
        chunks.append((batch[offset : offset + count], call))
        offset += count
    return chunks


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
        """Events queued or in flight, not yet answered by the server."""
        with self._cond:
            return self._buffer.unsent()

    def track(self, user_id: str, event_type: str, **fields: Unpack[_calls.EventFields]) -> str:
        """Queue one event; returns its ``event_id``."""
        return self.add(_calls.event_body(user_id, event_type, **fields))

    def add(self, event: Mapping[str, Any]) -> str:
        """Queue a seed-001 event (an ``event_id`` and ``timestamp`` are added when missing)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._buffer.full() or self._buffer.closed)
            event_id = self._buffer.push(event)
            self._cond.notify_all()
        return event_id

    def flush(self, timeout: float | None = None) -> bool:
        """Send what is queued now; True once the server has answered for all of it (stored,
        duplicate, or refused: see ``stats`` and ``on_error``)."""
        with self._cond:
            target = self._buffer.request_flush()
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._buffer.answered >= target, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Flush, then stop. Raises if events are still unsent after ``timeout`` seconds."""
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
                wait = buffer.wait_time()
                if wait is None or wait > 0:
                    self._cond.wait(wait)
                    continue
                batch = buffer.take()
                self._cond.notify_all()
            outcome = self._send(batch)
            with self._cond:
                reports = buffer.settle(outcome)
                self._cond.notify_all()
            buffer.report(reports)

    def _send(self, batch: list[bytes]) -> _Outcome:
        outcome = _Outcome()
        chunks = _chunks(batch)
        for i, (chunk, call) in enumerate(chunks):
            try:
                answer: EventBatchResult | Exception = self._client.send(call, NO_RETRIES)
            except Exception as exc:  # classified by _record; nothing may kill the sender
                answer = exc
            if not _record(outcome, chunk, answer):
                outcome.unsent = [e for c, _ in chunks[i:] for e in c]
                break
        return outcome


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
        return self._buffer.unsent()

    async def track(
        self, user_id: str, event_type: str, **fields: Unpack[_calls.EventFields]
    ) -> str:
        return await self.add(_calls.event_body(user_id, event_type, **fields))

    async def add(self, event: Mapping[str, Any]) -> str:
        async with self._cond:
            await self._cond.wait_for(lambda: not self._buffer.full() or self._buffer.closed)
            event_id = self._buffer.push(event)
            self._cond.notify_all()
        return event_id

    async def flush(self, timeout: float | None = None) -> bool:
        async with self._cond:
            target = self._buffer.request_flush()
            self._cond.notify_all()
            try:
                await asyncio.wait_for(
                    self._cond.wait_for(lambda: self._buffer.answered >= target), timeout
                )
            except TimeoutError:
                return False
            return True

    async def close(self, timeout: float = 30.0) -> None:
        async with self._cond:
            self._buffer.close(timeout)
            self._cond.notify_all()
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
                wait = buffer.wait_time()
                if wait is None or wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._cond.wait(), wait)
                    continue
                batch = buffer.take()
                self._cond.notify_all()
            outcome = await self._send(batch)
            async with self._cond:
                reports = buffer.settle(outcome)
                self._cond.notify_all()
            buffer.report(reports)

    async def _send(self, batch: list[bytes]) -> _Outcome:
        outcome = _Outcome()
        chunks = _chunks(batch)
        for i, (chunk, call) in enumerate(chunks):
            try:
                answer: EventBatchResult | Exception = await self._client.send(call, NO_RETRIES)
            except Exception as exc:  # classified by _record; nothing may kill the sender
                answer = exc
            if not _record(outcome, chunk, answer):
                outcome.unsent = [e for c, _ in chunks[i:] for e in c]
                break
        return outcome
