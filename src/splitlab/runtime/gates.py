"""Admission to the database: a connection is only ever waited for in the event loop.

A request that needs the database first takes a *slot* from a gate (an ``asyncio.Semaphore``),
then does its work in a thread, then gives the slot back. Each gate has no more slots than the
connections set aside for it, so a thread never waits for a pooled connection: the wait that
used to deadlock (every pool thread blocked on the connection pool while the request holding
the connection waited for a thread) cannot happen, whatever the load. Waiting for a slot is
bounded in time and in length: past either bound the request is answered ``503`` with
``Retry-After`` straight away.

Gates are ordered: a request may wait for a ``fill`` slot (a cache miss) while it holds a
``session`` slot, never the other way round, and the group committer's slot is its own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from splitlab.errors import Unavailable


class Gate:
    """``slots`` concurrent holders; at most ``max_waiting`` waiters, each for ``timeout``.

    Waiters are served in order (FIFO), except that a ``priority`` waiter (the group committer,
    whose transactions are short and answer many requests at once) goes before the others.
    """

    def __init__(self, name: str, slots: int, *, max_waiting: int, timeout: float) -> None:
        self.name = name
        self.slots = slots
        self.max_waiting = max_waiting
        self.timeout = timeout
        self.in_use = 0
        self.refused = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._priority: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters) + len(self._priority)

    @asynccontextmanager
    async def slot(
        self, *, timeout: float | None = None, priority: bool = False
    ) -> AsyncIterator[None]:
        await self._acquire(self.timeout if timeout is None else timeout, priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, timeout: float, priority: bool) -> None:
        if self.in_use < self.slots and not self.waiting:
            self.in_use += 1
            return
        if not priority and len(self._waiters) >= self.max_waiting:
            self.refused += 1
            raise Unavailable("The server is busy; retry later")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._priority if priority else self._waiters
        queue.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as the wait ended: give it back.
                self._release()
            else:
                waiter.cancel()
                queue.remove(waiter)
            if isinstance(exc, TimeoutError):
                self.refused += 1
                raise Unavailable("The server is busy; retry later") from None
            raise

    def _release(self) -> None:
        for queue in (self._priority, self._waiters):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the slot passes straight to the next waiter
                    return
        self.in_use -= 1


class Gates:
    """The gates of one process, sized from its connection pools (``Database.pool_plan``)."""

    def __init__(self, *, sessions: int, reads: int, fills: int, timeout: float = 5.0) -> None:
        waiting = 1024
        #: Request units of work that may write (and, on PostgreSQL, read).
        self.session = Gate("session", sessions, max_waiting=waiting, timeout=timeout)
        #: Read-only units of work (GET, HEAD): their own connections on both backends.
        self.read = (
            Gate("read", reads, max_waiting=waiting, timeout=timeout) if reads else self.session
        )
        #: Cache fills: short lookups by the token, workspace or experiment caches.
        self.fill = Gate("fill", fills, max_waiting=waiting, timeout=timeout)
