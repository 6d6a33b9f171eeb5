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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from splitlab.errors import Unavailable


class Gate:
    """``slots`` concurrent holders; at most ``max_waiting`` waiters, each for ``timeout``."""

    def __init__(self, name: str, slots: int, *, max_waiting: int, timeout: float) -> None:
        self.name = name
        self.slots = slots
        self.max_waiting = max_waiting
        self.timeout = timeout
        self._semaphore: asyncio.Semaphore | None = None
        self.waiting = 0
        self.refused = 0

    @property
    def semaphore(self) -> asyncio.Semaphore:
        # Made on first use, inside the serving event loop.
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        return self._semaphore

    @property
    def in_use(self) -> int:
        return self.slots - self.semaphore._value if self._semaphore is not None else 0

    @asynccontextmanager
    async def slot(self, *, timeout: float | None = None) -> AsyncIterator[None]:
        semaphore = self.semaphore
        if semaphore.locked():
            if self.waiting >= self.max_waiting:
                self.refused += 1
                raise Unavailable("The server is busy; retry later")
            self.waiting += 1
            try:
                await asyncio.wait_for(
                    semaphore.acquire(), self.timeout if timeout is None else timeout
                )
            except TimeoutError:
                self.refused += 1
                raise Unavailable("The server is busy; retry later") from None
            finally:
                self.waiting -= 1
        else:
            await semaphore.acquire()
        try:
            yield
        finally:
            semaphore.release()


class Gates:
    """The gates of one process, sized from its connection pools (``Database.pool_plan``)."""

    def __init__(self, *, sessions: int, reads: int, fills: int, timeout: float = 5.0) -> None:
        waiting = 1024
        #: Request units of work that may write (and, on PostgreSQL, read).
        self.session = Gate("session", sessions, max_waiting=waiting, timeout=timeout)
        #: Read-only units of work (GET, HEAD); on PostgreSQL the same gate as ``session``.
        self.read = (
            Gate("read", reads, max_waiting=waiting, timeout=timeout) if reads else self.session
        )
        #: Cache fills: short lookups by the token, workspace or experiment caches.
        self.fill = Gate("fill", fills, max_waiting=waiting, timeout=timeout)
