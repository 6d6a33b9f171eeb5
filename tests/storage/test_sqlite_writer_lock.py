"""SQLite writers of several processes queue on a ``flock`` beside the database file
(``storage.engine._WriterConnection``). A writer that holds it for ever must not wedge the
others: they give up after ``WRITER_LOCK_TIMEOUT`` with SQLite's own "database is locked",
which the API answers as 503, and they take the lock at once when it is freed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from splitlab.errors import Unavailable
from splitlab.storage import engine as storage_engine
from splitlab.storage.engine import Database
from splitlab.storage.errors import unexpected_answer


@pytest.fixture
def two_processes(tmp_path: Path):
    """Two ``Database`` objects on one file: as two worker processes, each its own lock fd."""
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    first, second = Database(url), Database(url)
    with first.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield first, second
    first.dispose()
    second.dispose()


def test_a_writer_held_for_ever_bounds_the_wait_and_answers_503(two_processes, monkeypatch):
    first, second = two_processes
    monkeypatch.setattr(storage_engine, "WRITER_LOCK_TIMEOUT", 0.3)
    with first.engine.begin() as holder:
        holder.execute(text("INSERT INTO t VALUES (1)"))
        started = time.monotonic()
        with pytest.raises(OperationalError) as caught, second.engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
        waited = time.monotonic() - started
    assert 0.3 <= waited < 2.0
    assert "database is locked" in str(caught.value)
    answer = unexpected_answer(caught.value)
    assert isinstance(answer, Unavailable)
    # The lock was released by the failed attempt: the second process writes now.
    with second.engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (3)"))
    with first.engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT n FROM t")).scalars()) == [1, 3]


def test_a_freed_lock_is_taken_within_milliseconds(two_processes):
    first, second = two_processes
    took: list[float] = []

    def wait_for_it() -> None:
        with second.engine.begin() as conn:
            took.append(time.monotonic())
            conn.execute(text("INSERT INTO t VALUES (2)"))

    with first.engine.begin() as holder:
        holder.execute(text("INSERT INTO t VALUES (1)"))
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        time.sleep(0.2)
        assert not took  # still waiting behind the holder
        freed_at = time.monotonic()
    waiter.join(5)
    assert took, "the waiting writer never got the lock"
    # SQLite's own busy handler would sleep up to 100 ms between tries; the poll is 1 ms apart.
    assert took[0] - freed_at < 0.05
