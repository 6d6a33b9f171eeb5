"""Under load the server answers every request in time; a paused Redis is a blip, not an outage.

1. 256 concurrent clients drive a real ``splitlab serve`` (SQLite and PostgreSQL) with a mix of
   new-user assignments, event batches, results reads, evaluations and plain reads. Every request
   gets an answer within the client's 10 s timeout; the only 5xx allowed is ``503`` with
   ``Retry-After`` and the JSON error shape; ``/health`` keeps answering; and what the API answered
   agrees with what it stored (exposures and events).
2. A private ``redis-server`` (never the shared one) is frozen with ``SIGSTOP`` for ~3 s under
   steady load: no request waits much more than a second, none fails, sticky users keep their
   variant and new users' first answers are the ones they keep.

Each test measures and prints its figures (``-s`` shows them); the assertions use generous bounds
only, so that a loaded CI machine does not make them flaky.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import random
import shutil
import signal
import ssl
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import create_engine, func, select

from splitlab.storage.engine import normalise_url
from splitlab.storage.models import Event
from tests.conftest import (
    IN_CI,
)
from tests.e2e.conftest import ADMIN, Server, free_port, scratch_database, start_server
from tests.factories import experiment_body

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {ADMIN}"}
#: The client's timeout for every request of the load test: "answered within 10 s".
CLIENT_TIMEOUT = 10.0

CLIENTS = 256
LOAD_SECONDS = 8.0
EVENTS_PER_BATCH = 20
#: The mix of the load test: operation and weight.
MIX = {"assign": 40, "events": 20, "evaluate": 15, "results": 10, "read": 15}
#: At least this share of the load test's requests must be answered 2xx.
MIN_SUCCESS_RATIO = 0.5
HEALTH_EVERY = 0.5
#: ``/health`` gives up on its probe after 2 s (``api.system.HEALTH_TIMEOUT``): plenty of slack.
HEALTH_BOUND = 5.0

REDIS_CLIENTS = 16
REDIS_LOAD_SECONDS = 8.0
PAUSE_AFTER = 2.0
PAUSE_FOR = 3.0
STICKY_USERS = 200
#: "About a second": Redis calls time out after 250 ms, then Redis is bypassed.
REDIS_LATENCY_BOUND = 1.5


# -- the database of each backend, and a server on it -------------------------------------------


@pytest.fixture(autouse=True)
def one_load_test_at_a_time(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """These tests measure latency on a real server: under pytest-xdist they take turns (a lock
    file beside the workers' temporary directories), so one's load is not the other's latency."""
    lock = tmp_path_factory.getbasetemp().parent / "splitlab-load-tests.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL of each backend; the server migrates it on start."""
    yield from scratch_database(request.param, tmp_path, "load.db")


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers; each is stopped at the end of the test, before its database is dropped."""
    started: list[Server] = []

    def _launch(*, database_url: str | None = None, env: dict[str, str] | None = None) -> Server:
        server = start_server(
            tmp_path,
            "--log-level",
            "warning",
            env={"SPLITLAB_ADMIN_TOKEN": ADMIN, **(env or {})},
            database_url=database_url,
        )
        started.append(server)
        return server

    yield _launch
    for server in started:
        server.stop()


def client_for(server: Server, timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=AUTH, timeout=timeout)


def create_running_experiment(server: Server, key: str, **fields: Any) -> None:
    with client_for(server) as http:
        body = experiment_body(key=key, name=key, **fields)
        created = http.post("/api/experiments/", json=body)
        assert created.status_code == 201, created.text
        metric = http.post(
            f"/api/experiments/{key}/metric-definitions",
            json={"name": "purchase", "kind": "numeric"},
        )
        assert metric.status_code == 201, metric.text
        started = http.post(f"/api/experiments/{key}/start")
        assert started.status_code == 200, started.text


def exposure_total(server: Server, key: str) -> int:
    with client_for(server) as http:
        response = http.get("/api/v1/assignments/", params={"experiment_id": key, "limit": 1})
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"])


def stored_event_count(url: str) -> int:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(Event)) or 0)
    finally:
        engine.dispose()


# -- what the clients saw -----------------------------------------------------------------------


@dataclass
class Outcome:
    op: str
    seconds: float
    status: int | None = None  # None: no answer (a timeout or a transport error)
    error: str | None = None
    retry_after: str | None = None
    body: Any = None
    #: For assignments and evaluations: (user, variant_key, in_experiment) when 2xx.
    answer: tuple[str, str, bool] | None = None
    accepted: int = 0
    rejected: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class HealthProbe:
    seconds: float
    status: int | None = None
    error: str | None = None
    redis: str | None = None


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    def statuses(self) -> Counter[int | None]:
        return Counter(o.status for o in self.outcomes)

    def percentile(self, op: str, q: float) -> float:
        seconds = sorted(o.seconds for o in self.outcomes if o.op == op)
        return seconds[min(len(seconds) - 1, int(q * len(seconds)))] if seconds else 0.0

    def summary(self) -> str:
        total = len(self.outcomes)
        ok = sum(1 for o in self.outcomes if o.ok)
        busy = sum(1 for o in self.outcomes if o.status == 503)
        slowest = max((o.seconds for o in self.outcomes), default=0.0)
        per_op = Counter(o.op for o in self.outcomes)
        ok_per_op = Counter(o.op for o in self.outcomes if o.ok)
        ops = ", ".join(
            f"{op} {ok_per_op[op]}/{per_op[op]} (p50 {self.percentile(op, 0.5):.2f}s, "
            f"p99 {self.percentile(op, 0.99):.2f}s, max {self.percentile(op, 1):.2f}s)"
            for op in sorted(per_op)
        )
        return (
            f"{total} requests, 2xx {ok} ({ok / max(total, 1):.1%}), "
            f"503 {busy} ({busy / max(total, 1):.1%}), max latency {slowest:.2f}s; "
            f"2xx per op: {ops}; statuses {dict(self.statuses())}"
        )


async def timed(
    http: httpx.AsyncClient, op: str, method: str, url: str, body: Any = None
) -> tuple[Outcome, httpx.Response | None]:
    started = time.perf_counter()
    try:
        response = await http.request(method, url, json=body)
    except httpx.HTTPError as exc:
        return Outcome(op, time.perf_counter() - started, error=repr(exc)), None
    outcome = Outcome(op, time.perf_counter() - started, status=response.status_code)
    if response.status_code >= 500:
        outcome.retry_after = response.headers.get("Retry-After")
        try:
            outcome.body = response.json()
        except ValueError:
            outcome.body = response.text[:500]
    return outcome, response


# -- 1. 256 concurrent clients --------------------------------------------------------------------


async def load_client(
    http: httpx.AsyncClient, key: str, index: int, deadline: float, tally: Tally
) -> None:
    """One client on one connection: requests back to back, drawn from ``MIX``."""
    rng = random.Random(index)  # the same mix on every run
    ops, weights = list(MIX), list(MIX.values())
    assigned: list[str] = []
    count = 0
    while time.monotonic() < deadline:
        count += 1
        op = rng.choices(ops, weights)[0]
        if op == "assign":
            user = f"a-{index}-{count}"
            outcome, response = await timed(
                http, op, "POST", f"/api/experiments/{key}/assignments", {"user_id": user}
            )
            if response is not None and response.is_success:
                body = response.json()
                outcome.answer = (user, body["variant_key"], body["in_experiment"])
                assigned.append(user)
        elif op == "evaluate":
            user = f"e-{index}-{count}"
            outcome, response = await timed(http, op, "POST", "/api/v1/evaluate", {"user_id": user})
            if response is not None and response.is_success:
                mine = response.json()["assignments"].get(key)
                if mine is not None:
                    outcome.answer = (user, mine["variant_key"], mine["in_experiment"])
        elif op == "events":
            users = assigned or [f"x-{index}"]
            events = [
                {
                    "event_id": str(uuid.uuid4()),
                    "user_id": rng.choice(users),
                    "event_type": "purchase",
                    "properties": {"value": 1.0},
                }
                for _ in range(EVENTS_PER_BATCH)
            ]
            outcome, response = await timed(
                http, op, "POST", "/api/v1/events/batch", {"events": events}
            )
            if response is not None and response.is_success:
                body = response.json()
                outcome.accepted, outcome.rejected = body["accepted"], len(body["rejected"])
        elif op == "results":
            outcome, _ = await timed(http, op, "GET", f"/api/experiments/{key}/results")
        else:
            outcome, _ = await timed(http, op, "GET", f"/api/experiments/{key}")
        tally.outcomes.append(outcome)


def poll_health(server: Server, stop: threading.Event, probes: list[HealthProbe]) -> None:
    """``/health`` every ``HEALTH_EVERY`` seconds on a connection of its own, in its own thread."""
    with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                response = http.get("/health")
                probe = HealthProbe(time.perf_counter() - started, status=response.status_code)
                probe.redis = response.json().get("redis", {}).get("status")
            except httpx.HTTPError as exc:
                probe = HealthProbe(time.perf_counter() - started, error=repr(exc))
            probes.append(probe)
            stop.wait(HEALTH_EVERY)


async def drive(server: Server, key: str) -> Tally:
    tally = Tally()
    # Clients are made before the clock starts, sharing one SSL context: each would otherwise
    # load the CA bundle (~15 ms of this event loop's time each, seconds for all of them),
    # which would show as the server's latency.
    context = ssl.create_default_context()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=server.url,
                    headers=AUTH,
                    timeout=CLIENT_TIMEOUT,
                    limits=limits,
                    verify=context,
                )
            )
            for _ in range(CLIENTS)
        ]
        deadline = time.monotonic() + LOAD_SECONDS
        await asyncio.gather(
            *(load_client(http, key, index, deadline, tally) for index, http in enumerate(clients))
        )
    return tally


def test_256_concurrent_clients_never_stall(launch: Callable[..., Server], store: str) -> None:
    key = "load-test"
    server = launch(database_url=store)
    create_running_experiment(server, key)

    probes: list[HealthProbe] = []
    stop = threading.Event()
    poller = threading.Thread(target=poll_health, args=(server, stop, probes), daemon=True)
    poller.start()
    try:
        tally = asyncio.run(drive(server, key))
    finally:
        stop.set()
        poller.join(timeout=30)
    with client_for(server) as http:
        after = http.get("/health")

    outcomes = tally.outcomes
    print(f"\n[{store.split(':')[0]}] {tally.summary()}")
    print(
        f"[{store.split(':')[0]}] health: {len(probes)} probes, "
        f"max {max((p.seconds for p in probes), default=0):.2f}s, "
        f"statuses {dict(Counter(p.status for p in probes))}"
    )

    # Every request was answered, within the client's timeout.
    unanswered = [o for o in outcomes if o.status is None]
    assert not unanswered, f"{len(unanswered)} unanswered, e.g. {unanswered[:3]}"
    assert max(o.seconds for o in outcomes) < CLIENT_TIMEOUT
    # The only 5xx is 503, with Retry-After and the error shape.
    failed = [o for o in outcomes if (o.status or 0) >= 500 and o.status != 503]
    assert not failed, f"{len(failed)} 5xx other than 503, e.g. {failed[:3]}"
    busy = [o for o in outcomes if o.status == 503]
    malformed = [
        o
        for o in busy
        if not o.retry_after
        or not isinstance(o.body, dict)
        or not {"error", "code"} <= o.body.keys()
    ]
    assert not malformed, f"{len(malformed)} 503 without Retry-After or shape: {malformed[:3]}"
    # No other failure either: every request of the mix is valid.
    other = [o for o in outcomes if not o.ok and o.status != 503]
    assert not other, f"{len(other)} unexpected answers, e.g. {other[:3]}"
    succeeded = [o for o in outcomes if o.ok]
    assert len(succeeded) >= MIN_SUCCESS_RATIO * len(outcomes), tally.summary()
    assert {o.op for o in succeeded} == set(MIX), tally.summary()

    # /health answered all along, and is healthy right after the load.
    assert len(probes) >= LOAD_SECONDS / HEALTH_EVERY / 2, probes
    assert all(p.error is None for p in probes), [p for p in probes if p.error]
    assert max(p.seconds for p in probes) < HEALTH_BOUND, probes
    assert all(p.status in (200, 503) for p in probes), probes
    assert after.status_code == 200, after.text

    # What was answered is what is stored: one exposure per user shown in the experiment, and
    # every accepted event (a 503 stored nothing).
    exposed = {o.answer[0] for o in outcomes if o.answer is not None and o.answer[2]}
    assert exposed, tally.summary()
    assert exposure_total(server, key) == len(exposed)
    assert sum(o.rejected for o in outcomes) == 0
    assert sum(o.accepted for o in outcomes) == EVENTS_PER_BATCH * sum(
        1 for o in succeeded if o.op == "events"
    )
    assert stored_event_count(store) == sum(o.accepted for o in outcomes)


# -- 2. Redis paused under load -------------------------------------------------------------------


@dataclass
class RedisProcess:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A ``redis-server`` of this test's own, which it may pause (never the shared one)."""
    executable = shutil.which("redis-server")
    if executable is None:
        message = "the Redis pause test needs redis-server on PATH"
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    port = free_port()
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    handle = RedisProcess(port, process)
    try:
        client = redis.Redis.from_url(handle.url, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server on port {port} did not start")
                time.sleep(0.05)
        client.close()
        yield handle
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a stopped process would not die of SIGTERM
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Answer:
    user: str
    at: float  # when it was sent (time.monotonic())
    seconds: float
    status: int | None
    variant: str | None = None
    in_experiment: bool | None = None
    error: str | None = None


async def steady_client(
    http: httpx.AsyncClient,
    key: str,
    index: int,
    sticky: list[str],
    deadline: float,
    answers: list[Answer],
) -> None:
    rng = random.Random(1000 + index)
    count = 0
    while time.monotonic() < deadline:
        count += 1
        user = rng.choice(sticky) if count % 2 else f"n-{index}-{count}"
        at, started = time.monotonic(), time.perf_counter()
        try:
            response = await http.post(
                f"/api/experiments/{key}/assignments", json={"user_id": user}
            )
        except httpx.HTTPError as exc:
            answers.append(Answer(user, at, time.perf_counter() - started, None, error=repr(exc)))
            continue
        answer = Answer(user, at, time.perf_counter() - started, response.status_code)
        if response.is_success:
            body = response.json()
            answer.variant, answer.in_experiment = body["variant_key"], body["in_experiment"]
        answers.append(answer)


async def pause_redis(pid: int, pauses: list[float]) -> None:
    await asyncio.sleep(PAUSE_AFTER)
    os.kill(pid, signal.SIGSTOP)
    pauses.append(time.monotonic())
    try:
        await asyncio.sleep(PAUSE_FOR)
    finally:
        os.kill(pid, signal.SIGCONT)
        pauses.append(time.monotonic())


async def watch_health(server: Server, deadline: float, probes: list[HealthProbe]) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await http.get("/health")
            probe = HealthProbe(time.perf_counter() - started, status=response.status_code)
            probe.redis = response.json().get("redis", {}).get("status")
            probes.append(probe)
            await asyncio.sleep(0.25)


async def steady_load(
    server: Server, key: str, sticky: list[str], redis_pid: int
) -> tuple[list[Answer], list[HealthProbe], list[float]]:
    answers: list[Answer] = []
    probes: list[HealthProbe] = []
    pauses: list[float] = []
    deadline = time.monotonic() + REDIS_LOAD_SECONDS
    async with httpx.AsyncClient(
        base_url=server.url,
        headers=AUTH,
        timeout=CLIENT_TIMEOUT,
        limits=httpx.Limits(max_connections=REDIS_CLIENTS),
    ) as http:
        await asyncio.gather(
            pause_redis(redis_pid, pauses),
            watch_health(server, deadline, probes),
            *(
                steady_client(http, key, index, sticky, deadline, answers)
                for index in range(REDIS_CLIENTS)
            ),
        )
    return answers, probes, pauses


def batch_answers(server: Server, key: str, users: list[str]) -> dict[str, tuple[str, bool]]:
    """Each user's answer now, asked in batches (the same assignment path, fewer requests)."""
    found: dict[str, tuple[str, bool]] = {}
    with client_for(server) as http:
        for start in range(0, len(users), 1000):
            chunk = users[start : start + 1000]
            response = http.post(
                f"/api/experiments/{key}/assignments/batch",
                json={"users": [{"user_id": u} for u in chunk]},
            )
            assert response.status_code == 200, response.text
            for item in response.json()["assignments"]:
                found[item["user_id"]] = (item["variant_key"], item["in_experiment"])
    return found


@pytest.mark.redis
def test_redis_paused_under_load_is_a_blip(
    launch: Callable[..., Server], private_redis: RedisProcess
) -> None:
    key = "redis-pause"
    server = launch(env={"REDIS_URL": private_redis.url})
    # Without overrides, sticky answers are read from Redis first (with them, never).
    create_running_experiment(server, key, config={"override_enabled": False})
    sticky = [f"s-{i}" for i in range(STICKY_USERS)]
    before = batch_answers(server, key, sticky)
    assert all(in_experiment for _, in_experiment in before.values())
    # From now on only half of new users are in the experiment, while every sticky user keeps
    # the variant stored for them: an answer computed afresh instead of read back would show.
    with client_for(server) as http:
        changed = http.put(f"/api/experiments/{key}", json={"targeting": {"percentage": 50}})
    assert changed.status_code == 200, changed.text

    answers, probes, pauses = asyncio.run(
        steady_load(server, key, sticky, private_redis.process.pid)
    )
    assert private_redis.process.poll() is None
    assert len(pauses) == 2

    slowest = max(a.seconds for a in answers)
    stopped, resumed = pauses

    def while_paused(answer: Answer) -> bool:
        return answer.at < resumed and answer.at + answer.seconds > stopped

    paused = [a.seconds for a in answers if while_paused(a)]
    unpaused = [a.seconds for a in answers if not while_paused(a)]
    print(
        f"\n[redis pause] {len(answers)} requests ({len(paused)} while paused), statuses "
        f"{dict(Counter(a.status for a in answers))}, max latency {slowest:.2f}s "
        f"(while paused {max(paused, default=0):.2f}s, "
        f"otherwise {max(unpaused, default=0):.2f}s), "
        f"health redis states {dict(Counter(p.redis for p in probes))}, "
        f"max health {max(p.seconds for p in probes):.2f}s"
    )
    unanswered = [a for a in answers if a.status is None]
    assert not unanswered, unanswered[:3]
    assert all(a.status == 200 for a in answers), Counter(a.status for a in answers)
    assert slowest <= REDIS_LATENCY_BOUND, sorted(a.seconds for a in answers)[-5:]
    # The pause was felt (Redis was bypassed), and Redis was really in use.
    assert "bypassed" in {p.redis for p in probes}, probes
    with redis.Redis.from_url(private_redis.url) as client:
        assert client.dbsize() > 0

    # Sticky users kept their variant throughout.
    for a in answers:
        if a.user in before:
            assert (a.variant, a.in_experiment) == before[a.user], a
    # New users: each first answer is the one they get now; sticky users' too.
    new = {a.user: (a.variant, a.in_experiment) for a in answers if a.user not in before}
    # The targeting change took effect (so answers read back differ from answers recomputed).
    assert {inside for _, inside in new.values()} == {True, False}
    assert batch_answers(server, key, sorted(new)) == new
    assert batch_answers(server, key, sticky) == before
    # One exposure per user shown in the experiment.
    in_experiment = {u for u, (_, inside) in {**before, **new}.items() if inside}
    assert exposure_total(server, key) == len(in_experiment)
