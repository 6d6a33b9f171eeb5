"""With Redis in front of the database: every experiment change is seen, flushing changes nothing.

Two apps share one database, one with Redis and one without; experiments here are not sticky, so
an answer is a pure function of the experiment's current config and the two apps must agree
after every change, and again after Redis is flushed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from splitlab.app import create_app
from splitlab.assignment.cache import StickyAssignment
from splitlab.config import Settings
from splitlab.storage.models import Experiment
from tests.conftest import ADMIN_SECRET, require_service
from tests.factories import experiment_body

URL = "/api/experiments/checkout-test"
USERS = [f"r{i}" for i in range(60)]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(require_service("Redis", "SPLITLAB_TEST_REDIS_URL"))
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable: {exc}")
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    name = f"splitlab-test-{uuid.uuid4().hex[:12]}"
    yield name
    for key in redis_client.scan_iter(f"{name}:*"):
        redis_client.delete(key)


@pytest.fixture
def cached(settings: Settings, prefix: str) -> Iterator[TestClient]:
    with_redis = Settings(
        database_url=settings.database_url,
        admin_token=SecretStr(ADMIN_SECRET),
        REDIS_URL=require_service("Redis", "SPLITLAB_TEST_REDIS_URL"),
        redis_prefix=prefix,
    )
    with TestClient(create_app(with_redis)) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_SECRET}"
        yield client


@pytest.fixture
def flush(redis_client: redis.Redis, prefix: str) -> Callable[[], None]:
    def _flush() -> None:
        for key in redis_client.scan_iter(f"{prefix}:*"):
            redis_client.delete(key)

    return _flush


def answers(client: TestClient, ref: str = "checkout-test") -> list[tuple[Any, ...]]:
    out = []
    for user in USERS:
        response = client.post(
            f"/api/experiments/{ref}/assignments",
            json={"user_id": user, "user_attributes": {"plan": "premium", "role": "admin"}},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        out.append(
            (body["experiment_key"], body["in_experiment"], body["variant_key"], body["reason"])
        )
    return out


CHANGES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("PUT", URL, {"targeting": {"percentage": 40}}),
    ("PUT", URL, {"targeting": {"percentage": 40, "condition": {"plan": "free"}}}),
    ("PUT", URL, {"targeting": {"roles": ["admin"], "namespace": ["ns", 0, 0.5]}}),
    ("POST", f"{URL}/pause", None),
    ("POST", f"{URL}/start", None),
    ("PUT", URL, {"config": {"bucket_version": 3}}),
    ("PUT", URL, {"targeting": {}}),
    ("POST", f"{URL}/conclude", {"winning_variant": "treatment"}),
]


def test_every_change_is_seen_and_flushing_changes_no_answer(
    client: TestClient, cached: TestClient, flush: Callable[[], None]
) -> None:
    created = client.post(
        "/api/experiments/", json=experiment_body(config={"sticky_bucketing": False})
    )
    assert created.status_code == 201
    assert client.post(f"{URL}/start").status_code == 200
    seen = []
    for method, path, body in [("GET", URL, None), *CHANGES]:
        assert cached.request(method, path, json=body).status_code == 200, (path, body)
        warm = answers(cached)
        assert answers(cached) == warm  # served from the cache this time
        assert warm == answers(client), (method, path, body)
        flush()
        assert answers(cached) == warm
        seen.append(warm)
    assert len({tuple(s) for s in seen}) >= 5  # the changes really changed the answers


def test_an_id_that_is_also_a_key_is_not_answered_from_the_cache(
    cached: TestClient, flush: Callable[[], None]
) -> None:
    """Key first, then id, with Redis too: caching by id would answer for the wrong one."""
    first = cached.post("/api/experiments/", json=experiment_body(key="alpha", name="Alpha"))
    digits = str(first.json()["id"])
    cached.post("/api/experiments/", json=experiment_body(key=digits, name="Digits"))
    for key in ("alpha", digits):
        cached.post(f"/api/experiments/{key}/start")
    answers(cached, "alpha")  # caches alpha's config
    assert {a[0] for a in answers(cached, digits)} == {digits}
    flush()
    assert {a[0] for a in answers(cached, digits)} == {digits}


def test_a_late_cache_fill_cannot_undo_an_override(
    cached: TestClient, redis_client: redis.Redis
) -> None:
    """A reader that saw a user's exposure just before an override, and commits just after it,
    must not put the old variant back in Redis: sticky answers would then contradict the
    database (and seed 000's metric checks)."""
    assert cached.post("/api/experiments/", json=experiment_body()).status_code == 201
    assert cached.post(f"{URL}/start").status_code == 200
    first = cached.post(f"{URL}/assignments", json={"user_id": "racer"}).json()
    forced_key = "treatment" if first["variant_key"] == "control" else "control"
    forced = cached.post(
        f"{URL}/assignments", json={"user_id": "racer", "force_variant": forced_key}
    ).json()
    assert (forced["variant_key"], forced["is_override"]) == (forced_key, True)
    app = cached.app
    assert isinstance(app, FastAPI)
    cache = app.state.assigner.redis
    with app.state.db.session_scope() as session:
        experiment_id = session.scalars(select(Experiment.id)).one()
    key = (experiment_id, first["bucket_version"], "racer")
    assert cache.get_sticky(*key).variant_key == forced_key  # the override replaced it
    # The late reader's fill, after the override's commit:
    late = StickyAssignment(first["variant_key"], False, first["assigned_at"])
    cache.put_sticky(*key, late)
    assert cache.get_sticky(*key).variant_key == forced_key
    again = cached.post(f"{URL}/assignments", json={"user_id": "racer"}).json()
    assert (again["variant_key"], again["reason"]) == (forced_key, "sticky")
