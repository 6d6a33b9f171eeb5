"""The same answers on SQLite and PostgreSQL, and with Redis cold, warm or flushed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import redis

from tests.conftest import _create_postgres_database, _drop_postgres_database, require_service
from tests.e2e.conftest import ADMIN, Server
from tests.e2e.test_assignment_agreement import EXPERIMENTS, client_for, server_assignments

pytestmark = pytest.mark.e2e

IDS = [f"backend-{i}" for i in range(3_000)]


def prepared(server: Server) -> Server:
    with client_for(server) as http:
        for body in EXPERIMENTS[:2]:
            assert http.post("/api/experiments/", json=body).status_code == 201
            assert http.post(f"/api/experiments/{body['key']}/start").status_code == 200
    return server


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    server = require_service("PostgreSQL", "SPLITLAB_TEST_POSTGRES_URL")
    name, url = _create_postgres_database(server)
    yield url
    _drop_postgres_database(server, name)


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = require_service("Redis", "SPLITLAB_TEST_REDIS_URL")
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is not reachable: {exc}")
    return url


def test_sqlite_and_postgresql_assign_identically(
    serve: Callable[..., Server], postgres_url: str
) -> None:
    on_sqlite = prepared(serve(env={"SPLITLAB_ADMIN_TOKEN": ADMIN}))
    on_postgres = prepared(serve(env={"SPLITLAB_ADMIN_TOKEN": ADMIN}, database_url=postgres_url))
    for body in EXPERIMENTS[:2]:
        assert server_assignments(on_sqlite, body["key"], IDS) == server_assignments(
            on_postgres, body["key"], IDS
        )


def test_redis_cold_warm_and_flushed_give_the_same_answers(
    serve: Callable[..., Server], redis_url: str
) -> None:
    prefix = f"splitlab-test-{id(redis_url)}"
    env = {"SPLITLAB_ADMIN_TOKEN": ADMIN, "REDIS_URL": redis_url, "SPLITLAB_REDIS_PREFIX": prefix}
    without = prepared(serve(env={"SPLITLAB_ADMIN_TOKEN": ADMIN}))
    cached = prepared(serve(env=env))
    client = redis.Redis.from_url(redis_url)
    try:
        key = EXPERIMENTS[1]["key"]
        expected = server_assignments(without, key, IDS)
        cold = server_assignments(cached, key, IDS)
        assert client.keys(f"{prefix}:*"), "the cached server should have written to Redis"
        # New users decided on the config now cached in Redis (not read back from exposures).
        fresh = [f"fresh-{i}" for i in range(2_000)]
        assert server_assignments(cached, key, fresh) == server_assignments(without, key, fresh)

        def answers(http: httpx.Client) -> list[tuple[bool, str]]:
            out = []
            for u in IDS[:500]:
                body = http.get(f"/api/experiments/{key}/assignments/{u}").json()
                out.append((body["in_experiment"], body["variant_key"]))
            return out

        with client_for(cached) as http:
            warm = answers(http)
            for stale in client.scan_iter(f"{prefix}:*"):
                client.delete(stale)
            flushed = answers(http)
        assert cold == expected
        assert warm == flushed == expected[:500]
    finally:
        for leftover in client.scan_iter(f"{prefix}:*"):
            client.delete(leftover)
        client.close()


def test_redis_cache_sees_every_experiment_change_at_once(
    serve: Callable[..., Server], redis_url: str
) -> None:
    prefix = "splitlab-test-invalidation"
    server = prepared(
        serve(
            env={
                "SPLITLAB_ADMIN_TOKEN": ADMIN,
                "REDIS_URL": redis_url,
                "SPLITLAB_REDIS_PREFIX": prefix,
            }
        )
    )
    client = redis.Redis.from_url(redis_url)
    try:
        key = EXPERIMENTS[0]["key"]
        with client_for(server) as http:
            assert http.get(f"/api/experiments/{key}/assignments/x1").json()["in_experiment"]
            http.post(f"/api/experiments/{key}/pause")
            paused = http.get(f"/api/experiments/{key}/assignments/x2").json()
            assert (paused["in_experiment"], paused["reason"]) == (False, "not_running")
            http.post(f"/api/experiments/{key}/start")
            assert http.get(f"/api/experiments/{key}/assignments/x2").json()["in_experiment"]
    finally:
        for leftover in client.scan_iter(f"{prefix}:*"):
            client.delete(leftover)
        client.close()
