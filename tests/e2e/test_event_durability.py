"""Events are stored exactly once: re-sent batches and a server killed mid-batch lose or double nothing.

Each test runs against a real ``splitlab serve`` process on SQLite and on PostgreSQL, and counts the
stored rows directly in the database rather than trusting the API's own answers.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from splitlab.storage.engine import normalise_url
from splitlab.storage.models import Event
from tests.e2e.conftest import ADMIN, Server, scratch_database, start_server

pytestmark = pytest.mark.e2e

BATCH = 10_000
TOTAL = 50_000
#: When to kill the server, as fractions of one batch's measured duration: early (parsing),
#: middle (validating / inserting) and late (committing or answering).
KILL_AT = (0.15, 0.5, 0.9)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL of each backend; the server migrates it on start."""
    yield from scratch_database(request.param, tmp_path, "events.db")


@pytest.fixture
def launch(store: str, tmp_path: Path) -> Iterator[Callable[[], Server]]:
    """Start a server on ``store``; every server started is stopped before the database goes."""
    started: list[Server] = []

    def _launch() -> Server:
        server = start_server(
            tmp_path,
            "--log-level",
            "warning",
            env={"SPLITLAB_ADMIN_TOKEN": ADMIN},
            database_url=store,
        )
        started.append(server)
        return server

    yield _launch
    for server in started:
        server.stop()


def make_events(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{prefix}-{i}",
            "user_id": f"user-{i % 5_000}",
            "event_type": "purchase" if i % 4 == 0 else "view",
            "properties": {"value": i % 100, "page": f"/p/{i % 37}"},
        }
        for i in range(count)
    ]


def ids(events: list[dict[str, Any]]) -> set[str]:
    return {e["event_id"] for e in events}


def client_for(server: Server) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
    )


def post_batch(http: httpx.Client, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = http.post("/api/v1/events/batch", json={"events": events})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["rejected"] == []
    return body


def stored_event_ids(url: str, prefix: str = "") -> list[str]:
    """Every stored event id (starting with ``prefix``), duplicates included, read with SQL."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            query = select(Event.event_id)
            if prefix:
                query = query.where(Event.event_id.startswith(prefix))
            return list(conn.scalars(query))
    finally:
        engine.dispose()


def stored_count(url: str) -> int:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(Event)) or 0)
    finally:
        engine.dispose()


def test_resending_every_batch_stores_each_event_once(launch: Callable[[], Server], store: str):
    batches = [make_events(f"a{start // BATCH}", BATCH) for start in range(0, TOTAL, BATCH)]
    sent = set().union(*(ids(b) for b in batches))
    assert len(sent) == TOTAL
    with client_for(launch()) as http:
        first = [post_batch(http, batch) for batch in batches]
        second = [post_batch(http, batch) for batch in batches]

    assert sum(r["accepted"] for r in first) == TOTAL
    assert sum(r["duplicates"] for r in first) == 0
    assert sum(r["accepted"] for r in second) == 0
    assert sum(r["duplicates"] for r in second) == TOTAL
    assert all(
        r["event_ids"] == [e["event_id"] for e in b] for r, b in zip(second, batches, strict=True)
    )
    assert stored_count(store) == TOTAL
    stored = stored_event_ids(store)
    assert len(stored) == len(set(stored)) == TOTAL
    assert set(stored) == sent


@dataclass
class InFlight:
    """A batch request running in a thread, so the server can be killed while it is served."""

    thread: threading.Thread
    outcome: dict[str, Any]

    @classmethod
    def start(cls, server: Server, events: list[dict[str, Any]]) -> InFlight:
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                with client_for(server) as http:
                    response = http.post("/api/v1/events/batch", json={"events": events})
                outcome["status"] = response.status_code
            except httpx.TransportError as exc:
                outcome["error"] = type(exc).__name__

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return cls(thread, outcome)

    def finish(self) -> dict[str, Any]:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the in-flight request never ended"
        return self.outcome


def kill(server: Server) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    server.handle.close()


def test_batch_cut_by_sigkill_is_stored_exactly_once_after_restart_and_retry(
    launch: Callable[[], Server], store: str
):
    server = launch()
    warm = make_events("warm", BATCH // 5)
    timed = make_events("timed", BATCH)
    with client_for(server) as http:
        post_batch(http, warm)  # the first request pays for imports and caches: not timed
        started = time.monotonic()
        post_batch(http, timed)  # a warm, full-size batch: what the kills below aim into
        duration = time.monotonic() - started
    sent = ids(warm) | ids(timed)
    outcomes: list[tuple[float, dict[str, Any], int]] = []

    for attempt, fraction in enumerate(KILL_AT):
        prefix = f"kill{attempt}-"
        batch = make_events(prefix.rstrip("-"), BATCH)
        sent |= ids(batch)
        in_flight = InFlight.start(server, batch)
        time.sleep(fraction * duration)
        kill(server)
        outcome = in_flight.finish()
        survived = len(stored_event_ids(store, prefix))
        outcomes.append((fraction, outcome, survived))
        # A batch is one transaction: all of it or none survives, and a 2xx means all of it.
        assert survived in (0, BATCH), outcomes
        if 200 <= outcome.get("status", 0) < 300:
            assert survived == BATCH, outcomes

        server = launch()  # the same database, as an operator restarting the service would
        with client_for(server) as http:
            retry = post_batch(http, batch)
        assert retry["accepted"] + retry["duplicates"] == BATCH, outcomes
        assert retry["duplicates"] == survived, outcomes
        stored = stored_event_ids(store)
        assert len(stored) == len(set(stored)), f"an event was stored twice: {outcomes}"
        assert set(stored) == sent, f"events were lost: {outcomes}"

    print(
        f"batch ~{duration:.2f}s; (kill at fraction, client outcome, rows that survived): {outcomes}"
    )
    assert stored_count(store) == len(sent) == BATCH // 5 + BATCH * (1 + len(KILL_AT))
    cut = [o for o in outcomes if "error" in o[1]]
    assert cut, (
        f"no kill landed while a batch was in flight (batch took {duration:.2f}s): {outcomes}"
    )
