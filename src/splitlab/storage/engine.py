"""Engine construction and the unit-of-work session scope shared by the API, the CLI and tests."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError as DBAPIOperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgres://`` / ``postgresql://`` URLs (the only driver we ship)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers run beside the single writer; busy_timeout queues writers instead of
        # failing at once; foreign keys are off by default in SQLite.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


#: How long a SQLite writer waits for another process's write transaction (as busy_timeout).
WRITER_LOCK_TIMEOUT = 30.0
#: The longest pause between two tries of the writer lock.
WRITER_LOCK_POLL = 0.001


class _WriterConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions also hold an exclusive ``flock`` on a file
    beside the database, from before ``BEGIN IMMEDIATE`` until after ``COMMIT``/``ROLLBACK``.

    SQLite's own busy handler makes a waiting writer sleep and retry (1, 2, 5, … 100 ms): with
    several processes (``serve --workers N``), one that commits back to back kept the others
    waiting for hundreds of milliseconds. A blocked ``flock`` wakes as soon as the lock is free.
    Within a process the gates already give the writer to one thread at a time.
    """

    lock_fd: int | None = None
    locked = False

    def take_writer_lock(self) -> None:
        if self.lock_fd is None or self.locked:
            return
        # Polled without blocking, at most WRITER_LOCK_POLL apart, so that a wait is bounded
        # like SQLite's busy timeout (a blocking flock waits for ever behind a hung process)
        # while a freed lock is still taken within a millisecond, not after SQLite's 100 ms.
        deadline = time.monotonic() + WRITER_LOCK_TIMEOUT
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy() from None
                time.sleep(pause)
                pause = min(pause * 2, WRITER_LOCK_POLL)
        self.locked = True

    def _release_writer_lock(self) -> None:
        if self.locked and self.lock_fd is not None:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            self.locked = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_writer_lock()
            if self.lock_fd is not None:
                os.close(self.lock_fd)
                self.lock_fd = None


def _busy() -> sqlite3.OperationalError:
    """The error SQLite raises when its busy timeout runs out, as if SQLite had raised it."""
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY
    error.sqlite_errorname = "SQLITE_BUSY"
    return error


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN until the first write, which lets two
    # writers deadlock on lock upgrade; take the write lock up front instead.
    dbapi_connection = conn.connection.dbapi_connection
    if isinstance(dbapi_connection, _WriterConnection):
        try:
            dbapi_connection.take_writer_lock()
        except sqlite3.OperationalError as exc:
            # Raised from an event hook, so SQLAlchemy would not wrap it as it wraps errors of
            # statements: wrap it here, so that it is handled as SQLite's own "locked".
            raise DBAPIOperationalError("BEGIN IMMEDIATE", None, exc) from None
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if isinstance(dbapi_connection, _WriterConnection):
            dbapi_connection._release_writer_lock()
        raise


#: Connections a process keeps, by use. Every one is reserved for a gate (``runtime.gates``)
#: or a single owner, so that no thread ever waits for one.
SESSION_SLOTS = 10  # PostgreSQL: request units of work that may write
READ_SLOTS = 5  # PostgreSQL: read-only units of work (GET, HEAD), never starving the writers
SQLITE_READ_SLOTS = 4  # SQLite: read-only units of work, beside its one writer
FILL_SLOTS = 2  # cache fills (token, workspace, experiment lookups)
COMMITTER_CONNECTIONS = 1  # the group committer of exposures


def _sqlite_read_begin(conn: Any) -> None:
    # A read transaction takes no lock at all in WAL mode: it never waits behind the writer.
    conn.exec_driver_sql("BEGIN")


def _sqlite_engine(url: str, *, echo: bool, pool_size: int, begin: Any, readonly: bool) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    in_memory = parsed.database in (None, "", ":memory:")
    if in_memory:
        kwargs["poolclass"] = StaticPool
    else:
        if not readonly:
            kwargs["connect_args"]["factory"] = _WriterConnection
        # A thread never waits here (each connection belongs to a gate's slot), so a wait
        # that times out is a bug to surface, not a queue.
        kwargs |= {
            "poolclass": QueuePool,
            "pool_size": pool_size,
            "max_overflow": 0,
            "pool_timeout": 30,
        }
    engine = create_engine(url, echo=echo, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)

    @event.listens_for(engine, "connect")
    def _disable_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        if readonly:
            dbapi_connection.execute("PRAGMA query_only=ON")
        elif isinstance(dbapi_connection, _WriterConnection) and parsed.database:
            lock_path = f"{parsed.database}-writer.lock"
            dbapi_connection.lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    event.listen(engine, "begin", begin)
    return engine


#: libpq: notice a database host that stopped answering (paused, partitioned) within ~10 s
#: instead of waiting on the socket for ever; statement_timeout cannot help there.
_TCP_TIMEOUTS = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


def make_engine(url: str, *, echo: bool = False, pool_size: int | None = None) -> Engine:
    """The engine that writes: on SQLite one connection (it has one writer at a time, and
    every transaction takes the write lock up front); on PostgreSQL a pool of ``pool_size``."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo, pool_size=1, begin=_sqlite_begin, readonly=False)
    size = pool_size or SESSION_SLOTS + READ_SLOTS + FILL_SLOTS + COMMITTER_CONNECTIONS
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=size,
        max_overflow=0,
        pool_timeout=30,
        # A hung statement must not hold a connection (and its gate slot) for ever. Custom
        # plans only: psycopg prepares a statement on its fifth run, and PostgreSQL's generic
        # plan for the group committer's lookups (keys in arrays it cannot see into) picked
        # the per-variant index over the unique one: 1.7 s instead of 10 ms at 42k exposures.
        connect_args={
            "connect_timeout": 5,
            "options": "-c statement_timeout=60000 -c plan_cache_mode=force_custom_plan",
            **_TCP_TIMEOUTS,
        },
    )


def make_probe_engine(url: str) -> Engine:
    """One connection of its own for a background owner (the cache poller, ``/health``), with
    short timeouts: a hung database must not hang what probes it."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = _sqlite_engine(
            url, echo=False, pool_size=1, begin=_sqlite_read_begin, readonly=True
        )
        return engine
    return create_engine(
        url,
        pool_size=1,
        max_overflow=0,
        pool_timeout=5,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": 2,
            "options": "-c statement_timeout=2000",
            **_TCP_TIMEOUTS,
        },
    )


class Database:
    """An engine plus its session factory; one per process, built from settings, never at import."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, echo=echo)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        if self.backend == "sqlite" and make_url(self.url).database not in (None, "", ":memory:"):
            # Readers beside the writer: deferred BEGIN (no lock in WAL mode), query_only.
            self.read_engine = _sqlite_engine(
                self.url,
                echo=echo,
                pool_size=SQLITE_READ_SLOTS + FILL_SLOTS,
                begin=_sqlite_read_begin,
                readonly=True,
            )
        else:
            self.read_engine = self.engine
        self.read_sessionmaker = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @property
    def separate_reads(self) -> bool:
        """Whether reads have connections of their own (SQLite files) or share the pool."""
        return self.read_engine is not self.engine

    @contextmanager
    def session_scope(self, *, readonly: bool = False) -> Iterator[Session]:
        """One unit of work: commit once on success, roll back on any error. ``readonly``:
        on the read connections (SQLite: never waits for the writer; writing is an error)."""
        session = (self.read_sessionmaker if readonly else self.sessionmaker)()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.separate_reads:
            self.read_engine.dispose()
