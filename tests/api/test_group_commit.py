"""Group commit of exposures (``runtime.committer``), in process, on SQLite and PostgreSQL.

Concurrent assignment requests share transactions, yet a 2xx still means "committed": a commit
that fails answers no 2xx and leaves nothing behind, an answered exposure is visible to any other
connection at once, and one request whose row cannot be committed fails alone, not its group.

Concurrency is real: the requests run as tasks in the app's own event loop (the one the
``TestClient`` started with the lifespan, where the committer lives), through
``httpx.ASGITransport`` (answering errors as a server does: sent, not raised into the test).
Only that loop: the committer is bound to it, and a request served from another loop (a second
``TestClient`` used without its context) waits about 30 s for its answer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from splitlab.runtime.committer import GroupCommitter
from splitlab.storage.engine import Database
from splitlab.storage.models import Exposure, ExposureTotal, Variant
from tests.factories import experiment_body

URL = "/api/experiments/checkout-test/assignments"
T = TypeVar("T")


def running(client: TestClient) -> None:
    assert client.post("/api/experiments/", json=experiment_body()).status_code == 201
    assert client.post("/api/experiments/checkout-test/start").status_code == 200


def committer_of(client: TestClient) -> GroupCommitter:
    committer: GroupCommitter = client.app.state.committer  # type: ignore[attr-defined]
    return committer


def in_app_loop(client: TestClient, scenario: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run ``scenario`` in the app's event loop with an HTTP client talking straight to it."""

    async def run() -> T:
        transport = httpx.ASGITransport(app=client.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=dict(client.headers)
        ) as http:
            return await scenario(http)

    assert client.portal is not None, "the client's lifespan must be running"
    return client.portal.call(run)


def burst(
    client: TestClient,
    users: Sequence[str],
    after: Callable[[str, httpx.Response], None] | None = None,
) -> list[httpx.Response]:
    """One concurrent assignment request per entry of ``users`` (an id may repeat)."""

    async def scenario(http: httpx.AsyncClient) -> list[httpx.Response]:
        async def one(user: str) -> httpx.Response:
            response = await http.post(URL, json={"user_id": user})
            if after is not None:
                after(user, response)  # in the loop, before any other task runs
            return response

        return list(await asyncio.gather(*(one(user) for user in users)))

    return in_app_loop(client, scenario)


def stored(db: Database) -> dict[str, tuple[int, str]]:
    """By user: (exposure rows, variant key of the last one)."""
    with db.session_scope() as session:
        rows = session.execute(
            select(Exposure.user_id, Variant.key).join(Variant, Variant.id == Exposure.variant_id)
        ).all()
    found: dict[str, tuple[int, str]] = {}
    for user, variant in rows:
        found[user] = (found.get(user, (0, ""))[0] + 1, variant)
    return found


def count(db: Database, model: type[Any]) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- grouping ----------------------------------------------------------------------------------


def test_concurrent_assignments_share_transactions_and_store_one_exposure_each(
    client: TestClient, db: Database
) -> None:
    running(client)
    committer = committer_of(client)
    transactions, jobs = committer.transactions, committer.jobs
    users = [f"user-{i}" for i in range(100)]
    requests = [user for user in users for _ in range(2)]  # each user twice, at once

    responses = burst(client, requests)

    assert [r.status_code for r in responses] == [200] * len(requests), responses[0].text
    assert committer.jobs - jobs == len(requests)
    grouped = committer.transactions - transactions
    assert 1 <= grouped < len(requests)
    answered: dict[str, set[str]] = {}
    for response in responses:
        body = response.json()
        assert body["in_experiment"] is True
        answered.setdefault(body["user_id"], set()).add(body["variant_key"])
    assert all(len(variants) == 1 for variants in answered.values())
    rows = stored(db)
    assert set(rows) == set(users)
    assert {user: n for user, (n, _) in rows.items()} == dict.fromkeys(users, 1)
    assert {user: {variant} for user, (_, variant) in rows.items()} == answered


# -- an answer means committed -----------------------------------------------------------------

#: A deferred foreign key broken by each (or one user's) exposure insert: the rows go in, the
#: COMMIT is refused. A real commit-time failure on either backend (as in test_events_api).
_GUARD_TABLES = [
    "CREATE TABLE guard_parent (id INTEGER PRIMARY KEY)",
    "CREATE TABLE commit_guard (parent INTEGER REFERENCES guard_parent (id)"
    " DEFERRABLE INITIALLY DEFERRED)",
]


def _fail_at_commit(dialect: str, user: str | None) -> list[str]:
    if dialect == "sqlite":
        when = f" WHEN NEW.user_id = '{user}'" if user else ""
        return [
            *_GUARD_TABLES,
            f"CREATE TRIGGER fail_at_commit AFTER INSERT ON exposures{when}"
            " BEGIN INSERT INTO commit_guard VALUES (1); END",
        ]
    when = f" WHEN (NEW.user_id = '{user}')" if user else ""
    return [
        *_GUARD_TABLES,
        "CREATE FUNCTION guard() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN INSERT INTO commit_guard VALUES (1); RETURN NULL; END $$",
        f"CREATE TRIGGER fail_at_commit AFTER INSERT ON exposures FOR EACH ROW{when}"
        " EXECUTE FUNCTION guard()",
    ]


_UNDO = {
    "sqlite": ["DROP TRIGGER fail_at_commit"],
    "postgresql": ["DROP TRIGGER fail_at_commit ON exposures", "DROP FUNCTION guard()"],
}


@contextmanager
def failing_commits(db: Database, *, user: str | None = None) -> Iterator[None]:
    """Every commit holding an exposure (or one of ``user``) fails while this is open."""
    dialect = db.engine.dialect.name
    with db.engine.begin() as connection:
        for statement in _fail_at_commit(dialect, user):
            connection.exec_driver_sql(statement)
    try:
        yield
    finally:
        with db.engine.begin() as connection:
            for statement in [
                *_UNDO[dialect],
                "DROP TABLE commit_guard",
                "DROP TABLE guard_parent",
            ]:
                connection.exec_driver_sql(statement)


def test_a_group_whose_commit_fails_answers_no_2xx_and_stores_nothing(
    client: TestClient, db: Database
) -> None:
    running(client)
    committer = committer_of(client)
    transactions = committer.transactions
    with failing_commits(db):
        together = burst(client, [f"user-{i}" for i in range(30)])
        (alone,) = burst(client, ["alone"])
    for response in [*together, alone]:
        assert response.status_code == 500, response.text
        assert response.json()["code"] == "internal_error"
    assert committer.transactions == transactions  # none committed
    assert count(db, Exposure) == 0
    assert count(db, ExposureTotal) == 0
    # The same users afterwards: assigned and stored, as if nothing had been tried.
    again = burst(client, [f"user-{i}" for i in range(30)])
    assert {r.status_code for r in again} == {200}
    assert {r.json()["reason"] for r in again} == {"assigned"}
    assert set(stored(db)) == {f"user-{i}" for i in range(30)}


def test_an_answered_exposure_is_visible_to_another_connection_at_once(
    client: TestClient, db: Database
) -> None:
    running(client)
    seen: dict[str, int] = {}

    def look(user: str, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        with db.session_scope() as session:  # a connection of its own, no waiting, no retry
            seen[user] = (
                session.scalar(
                    select(func.count()).select_from(Exposure).where(Exposure.user_id == user)
                )
                or 0
            )

    users = [f"user-{i}" for i in range(60)]
    burst(client, users, after=look)
    assert seen == dict.fromkeys(users, 1)
    for user in ("one-by-one-1", "one-by-one-2", "one-by-one-3"):
        look(user, client.post(URL, json={"user_id": user}))
        assert seen[user] == 1


# -- one bad job does not fail its group -------------------------------------------------------


class HeldCommitter:
    """Holds the committer's next commit until ``expected`` jobs have been handed to it, so
    that every job queued meanwhile is taken as one group; records, for each commit the
    committer attempts, which users' exposures the transaction holds."""

    def __init__(self, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.committer = committer_of(client)
        self.sessionmaker = client.app.state.db.sessionmaker  # type: ignore[attr-defined]
        self.held = threading.Event()
        self.release = threading.Event()
        self.handed = 0
        self.attempts: list[set[str]] = []
        assign = self.committer.assign

        async def counting(pairs: Any) -> Any:
            self.handed += 1  # the job is queued before ``assign`` first awaits
            return await assign(pairs)

        monkeypatch.setattr(self.committer, "assign", counting)
        event.listen(self.sessionmaker, "before_commit", self._before_commit)

    def _before_commit(self, session: Session) -> None:
        if not threading.current_thread().name.startswith("splitlab-committer"):
            return
        self.attempts.append(set(session.scalars(select(Exposure.user_id))))
        if not self.held.is_set():
            self.held.set()
            if not self.release.wait(30):
                raise RuntimeError("the test never released the committer")

    def remove(self) -> None:
        self.release.set()
        event.remove(self.sessionmaker, "before_commit", self._before_commit)


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def test_one_failing_job_does_not_fail_the_rest_of_its_group(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    running(client)
    users = [f"user-{i}" for i in range(40)]
    held = HeldCommitter(client, monkeypatch)

    async def scenario(
        http: httpx.AsyncClient,
    ) -> tuple[httpx.Response, list[httpx.Response], httpx.Response]:
        first = asyncio.create_task(http.post(URL, json={"user_id": "first"}))
        await until(held.held.is_set, "the committer's first commit")
        group = [asyncio.create_task(http.post(URL, json={"user_id": u})) for u in users]
        poisoned = asyncio.create_task(http.post(URL, json={"user_id": "poison"}))
        await until(lambda: held.handed >= len(users) + 2, "every job to be queued")
        held.release.set()
        return await first, list(await asyncio.gather(*group)), await poisoned

    try:
        with failing_commits(db, user="poison"):
            first, group, poisoned = in_app_loop(client, scenario)
    finally:
        held.remove()

    # The poisoned job was committed together with the others first, and that commit failed.
    assert any({*users, "poison"} <= attempt for attempt in held.attempts), held.attempts
    assert poisoned.status_code == 500, poisoned.text
    assert poisoned.json()["code"] == "internal_error"
    assert first.status_code == 200, first.text
    assert [r.status_code for r in group] == [200] * len(users), group[0].text
    rows = stored(db)
    assert set(rows) == {"first", *users}
    for response in group:
        body = response.json()
        assert rows[body["user_id"]] == (1, body["variant_key"])


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_metrics_count_group_commits_and_their_jobs(client: TestClient) -> None:
    running(client)
    before = client.get("/metrics").text
    responses = burst(client, [f"m-{i}" for i in range(40)])
    assert {r.status_code for r in responses} == {200}
    after = client.get("/metrics").text
    jobs = _metric(after, "splitlab_group_commit_jobs_total") - _metric(
        before, "splitlab_group_commit_jobs_total"
    )
    commits = _metric(after, "splitlab_group_commits_total") - _metric(
        before, "splitlab_group_commits_total"
    )
    assert jobs == 40
    assert 1 <= commits < 40
    assert 'splitlab_gate_refusals_total{gate="session"} 0.0' in after
