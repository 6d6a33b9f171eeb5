"""Cached control data across processes: one real server with ``--workers 2``.

Every API process caches tokens, workspaces and experiment configs (``runtime.control``); a
database trigger moves a generation number on any change, and each process polls it, so a change
is seen by every process within 2 s, whoever made it (the API on another worker, the CLI, a
hand-written UPDATE). These tests warm both workers' caches, make a change, wait the documented
2 s, and then expect every answer, on fresh connections spread over both workers, to be the new
one. They never assert that an answer is stale before that: instant is fine too.

Each request is sent on a new connection, and which worker process accepted it is read from
``/proc`` (the process holding the server side of the connection), so "both workers" is
checked, not hoped for.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from splitlab.storage.engine import normalise_url
from tests.conftest import _create_postgres_database, _drop_postgres_database, require_service
from tests.e2e.conftest import ADMIN, Server, splitlab_executable, start_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux)"),
]

#: The documented bound: a change is visible to every process within this many seconds.
BOUND = 2.0
#: Requests (each on a new connection) that must all see a change once the bound has passed.
CHECKS = 40


# -- which worker answered -----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _socket_inode(server_port: int, client_port: int) -> str | None:
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return fields[9]
    return None


def _owner(server: Server, client_port: int) -> int | None:
    """The process (a worker, a child of the server) holding the server side of a connection."""
    inode = _socket_inode(int(server.url.rsplit(":", 1)[1]), client_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in _children(server.process.pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    worker: int | None


def call(server: Server, method: str, path: str, token: str = ADMIN, body: Any = None) -> Answer:
    """One request on a new connection; the answer and the worker that gave it."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        # Still open (keep-alive): the worker holds its side of this connection now.
        assert connection.sock is not None
        worker = _owner(server, connection.sock.getsockname()[1])
    finally:
        connection.close()
    return Answer(response.status, json.loads(raw) if raw else None, worker)


def ok(server: Server, method: str, path: str, body: Any = None) -> Any:
    answer = call(server, method, path, body=body)
    assert 200 <= answer.status < 300, (method, path, answer)
    return answer.body


def on_both_workers(
    check: Callable[[], Answer], expect: Callable[[Answer], bool], *, patience: float = 0.0
) -> None:
    """Warm up: repeat ``check`` until two workers have each answered it at least twice (so
    both hold the current data in their caches); every answer must be what ``expect`` accepts.
    Gives up after 200 requests, or ``patience`` seconds if that is later (a worker starting)."""
    counts: dict[int, int] = {}
    deadline = time.monotonic() + patience
    for attempt in itertools.count(1):
        answer = check()
        assert expect(answer), answer
        if answer.worker is not None:
            counts[answer.worker] = counts.get(answer.worker, 0) + 1
        if sum(1 for n in counts.values() if n >= 2) >= 2:
            return
        if attempt >= 200:
            if time.monotonic() > deadline:
                pytest.fail(f"{attempt} requests did not reach two workers twice: {counts}")
            time.sleep(0.2)


def workers_of(answers: list[Answer]) -> set[int]:
    return {a.worker for a in answers if a.worker is not None}


def after_the_bound(changed_at: float, check: Callable[[], Answer]) -> list[Answer]:
    """``CHECKS`` answers on fresh connections, all sent once ``BOUND`` seconds have passed
    since the change was acknowledged (``changed_at``, after its commit); both workers answer."""
    time.sleep(max(0.0, changed_at + BOUND - time.monotonic()))
    answers = [check() for _ in range(CHECKS)]
    for _ in range(160):  # rarely needed: the kernel gave one worker every connection
        if len(workers_of(answers)) >= 2:
            break
        answers.append(check())
    assert len(workers_of(answers)) >= 2, "both workers must answer"
    return answers


# -- the server ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One ``splitlab serve --workers 2`` per backend, both workers serving."""
    tmp = tmp_path_factory.mktemp(f"workers-{request.param}")
    scratch: tuple[str, str] | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'workers.db'}"
    else:
        server_url = require_service("PostgreSQL", "SPLITLAB_TEST_POSTGRES_URL")
        name, url = _create_postgres_database(server_url)
        scratch = (server_url, name)
    running: Server | None = None
    try:
        running = start_server(
            tmp,
            "--workers",
            "2",
            "--log-level",
            "warning",
            env={"SPLITLAB_ADMIN_TOKEN": ADMIN},
            database_url=url,
        )
        # Health answered by one worker; wait until the other serves too. Patiently: on a
        # loaded machine uvicorn's supervisor kills and restarts a worker that has not answered
        # its health check within 5 s (timeout_worker_healthcheck), slow imports included.
        serving = running
        on_both_workers(
            lambda: call(serving, "GET", "/health"), lambda a: a.status == 200, patience=120
        )
        yield running
    finally:
        if running is not None:
            running.stop()
        if scratch is not None:
            _drop_postgres_database(*scratch)


# -- helpers -----------------------------------------------------------------------------------


def new_token(server: Server, name: str, scope: str = "readonly") -> tuple[int, str]:
    created = ok(server, "POST", "/api/v1/api-tokens/", {"name": name, "scope": scope})
    return created["id"], created["token"]


def getter(server: Server, path: str, token: str) -> Callable[[], Answer]:
    return lambda: call(server, "GET", path, token)


def running_experiment(server: Server, key: str, targeting: dict[str, Any] | None = None) -> None:
    body = {
        "key": key,
        "name": key,
        "targeting": targeting or {},
        "variants": [
            {"key": "control", "allocation": 50, "is_control": True},
            {"key": "treatment", "allocation": 50},
        ],
    }
    ok(server, "POST", "/api/experiments/", body)
    ok(server, "POST", f"/api/experiments/{key}/start")


def assignment_of(server: Server, key: str, user: str, token: str) -> Callable[[], Answer]:
    """A readonly GET of a user's assignment: evaluated on every call, never recorded."""
    return getter(server, f"/api/experiments/{key}/assignments/{user}", token)


def placement(answer: Answer) -> tuple[int, bool | None, str | None]:
    body = answer.body if isinstance(answer.body, dict) else {}
    return answer.status, body.get("in_experiment"), body.get("reason")


def acknowledged(server: Server, method: str, path: str, body: Any = None) -> float:
    """Make a change through the API; when its (committed) answer arrived."""
    ok(server, method, path, body)
    return time.monotonic()


SDK = "/api/v1/sdk"


# -- tokens --------------------------------------------------------------------------------


def test_a_token_revoked_through_the_api_is_refused_by_both_workers_within_2s(
    server: Server,
) -> None:
    deactivated = new_token(server, "deactivated-through-the-api")
    deleted = new_token(server, "deleted-through-the-api")
    kept = new_token(server, "kept")
    for _, secret in (deactivated, deleted, kept):
        on_both_workers(getter(server, SDK, secret), lambda a: a.status == 200)

    acknowledged(server, "PUT", f"/api/v1/api-tokens/{deactivated[0]}", {"is_active": False})
    changed_at = acknowledged(server, "DELETE", f"/api/v1/api-tokens/{deleted[0]}")

    for _, secret in (deactivated, deleted):
        answers = after_the_bound(changed_at, getter(server, SDK, secret))
        assert [a.status for a in answers] == [401] * len(answers)
        assert {a.body["code"] for a in answers} == {"unauthenticated"}
    answers = after_the_bound(changed_at, getter(server, SDK, kept[1]))
    assert [a.status for a in answers] == [200] * len(answers)


def test_a_token_revoked_in_the_database_directly_is_refused_within_2s(server: Server) -> None:
    """The trigger, not the API, moves the generation: the CLI and a raw UPDATE count too."""
    by_cli = new_token(server, "revoked-by-the-cli")
    by_sql = new_token(server, "revoked-by-sql")
    for _, secret in (by_cli, by_sql):
        on_both_workers(getter(server, SDK, secret), lambda a: a.status == 200)

    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPLITLAB_")}
    revoked = subprocess.run(
        [
            *splitlab_executable(),
            "token",
            "revoke",
            str(by_cli[0]),
            "--database-url",
            server.database_url,
        ],
        env=environment,
        cwd=server.log.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    engine = create_engine(normalise_url(server.database_url))
    try:
        with engine.begin() as connection:
            updated = connection.execute(
                text("UPDATE api_tokens SET is_active = :off WHERE id = :id"),
                {"off": False, "id": by_sql[0]},
            )
            assert updated.rowcount == 1
    finally:
        engine.dispose()
    changed_at = time.monotonic()

    for _, secret in (by_cli, by_sql):
        answers = after_the_bound(changed_at, getter(server, SDK, secret))
        assert [a.status for a in answers] == [401] * len(answers)


# -- experiments -----------------------------------------------------------------------------


def test_experiment_changes_are_seen_by_both_workers_within_2s(server: Server) -> None:
    """Pausing, resuming and re-targeting a running experiment through one worker."""
    reader = new_token(server, "reader-of-experiments")[1]
    key = "workers-lifecycle"
    running_experiment(server, key)
    users = iter(range(1_000_000))

    def anyone() -> Answer:  # a new user each time: nothing is recorded anyway
        return assignment_of(server, key, f"user-{next(users)}", reader)()

    on_both_workers(anyone, lambda a: placement(a)[:2] == (200, True))

    changed_at = acknowledged(server, "POST", f"/api/experiments/{key}/pause")
    answers = after_the_bound(changed_at, anyone)
    assert {placement(a) for a in answers} == {(200, False, "not_running")}

    changed_at = acknowledged(server, "POST", f"/api/experiments/{key}/start")
    answers = after_the_bound(changed_at, anyone)
    assert {placement(a)[:2] for a in answers} == {(200, True)}

    changed_at = acknowledged(
        server, "PUT", f"/api/experiments/{key}", {"targeting": {"percentage": 0}}
    )
    answers = after_the_bound(changed_at, anyone)
    assert {placement(a) for a in answers} == {(200, False, "coverage")}


def test_a_new_experiment_is_seen_by_both_workers_within_2s(server: Server) -> None:
    """A key that was not found (and so not cached as anything) starts to assign."""
    reader = new_token(server, "reader-of-new-experiments")[1]
    key = "workers-new"
    check = assignment_of(server, key, "someone", reader)
    on_both_workers(check, lambda a: a.status == 404)
    running_experiment(server, key)
    changed_at = time.monotonic()
    answers = after_the_bound(changed_at, check)
    assert {placement(a)[:2] for a in answers} == {(200, True)}


# -- user properties -------------------------------------------------------------------------


def test_new_user_properties_decide_targeting_on_both_workers_within_2s(server: Server) -> None:
    reader = new_token(server, "reader-of-users")[1]
    key = "workers-premium"
    running_experiment(server, key, {"condition": {"plan": "premium"}})
    ok(server, "POST", "/api/v1/users/", {"user_id": "switcher", "properties": {"plan": "free"}})
    switcher = assignment_of(server, key, "switcher", reader)
    newcomer = assignment_of(server, key, "newcomer", reader)
    on_both_workers(switcher, lambda a: placement(a) == (200, False, "not_targeted"))
    on_both_workers(newcomer, lambda a: placement(a) == (200, False, "not_targeted"))

    acknowledged(server, "PUT", "/api/v1/users/switcher", {"properties": {"plan": "premium"}})
    changed_at = acknowledged(
        server, "POST", "/api/v1/users/", {"user_id": "newcomer", "properties": {"plan": "premium"}}
    )
    for check in (switcher, newcomer):
        answers = after_the_bound(changed_at, check)
        assert {placement(a)[:2] for a in answers} == {(200, True)}
        assert len({a.body["variant_key"] for a in answers}) == 1  # deterministic

    changed_at = acknowledged(
        server, "PUT", "/api/v1/users/switcher", {"properties": {"plan": "free"}}
    )
    answers = after_the_bound(changed_at, switcher)
    assert {placement(a) for a in answers} == {(200, False, "not_targeted")}
