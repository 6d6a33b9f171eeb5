"""The control-plane cache: one lookup per key however many ask at once, and answers that
something does not exist never push out what does."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from splitlab.runtime import control
from splitlab.runtime.control import MISSING, ControlCache
from splitlab.runtime.plane import ControlPlane
from tests.conftest import ADMIN_SECRET


def test_unknown_keys_never_evict_known_ones(client: TestClient) -> None:
    cache: ControlCache = client.app.state.cache  # type: ignore[attr-defined]
    assert client.get("/api/experiments/").status_code == 200  # fills the admin token
    cache.put("known", "value", cache.epoch)
    sprayed = control.MAX_ENTRIES + 10  # more than the whole cache holds
    for i in range(sprayed):
        cache.put(("token", f"unknown-{i}"), None, cache.epoch)
    assert cache.get("known") == "value"
    assert cache.get(("token", f"unknown-{sprayed - 1}")) is None
    assert cache.get(("token", "never-asked")) is MISSING
    # The admin token still authenticates from the cache, without a lookup.
    assert client.get("/api/experiments/").status_code == 200


def test_concurrent_misses_of_one_key_share_one_lookup(client: TestClient) -> None:
    plane: ControlPlane = client.app.state.plane  # type: ignore[attr-defined]
    calls: list[int] = []
    release = threading.Event()

    def load(_: Session) -> str:
        calls.append(1)
        release.wait(5)
        return "loaded"

    async def many() -> list[Any]:
        tasks = [asyncio.ensure_future(plane._cached(("test", "k"), load)) for _ in range(50)]
        await asyncio.sleep(0.2)
        release.set()
        return list(await asyncio.gather(*tasks))

    started = time.monotonic()
    answers = client.portal.call(many)  # type: ignore[union-attr]
    assert answers == ["loaded"] * 50
    assert len(calls) == 1
    assert time.monotonic() - started < 5


def test_a_failed_shared_lookup_fails_every_waiter_and_is_not_cached(client: TestClient) -> None:
    plane: ControlPlane = client.app.state.plane  # type: ignore[attr-defined]
    calls: list[int] = []

    def broken(_: Session) -> str:
        calls.append(1)
        time.sleep(0.1)
        raise RuntimeError("database said no")

    async def many() -> list[Any]:
        tasks = [plane._cached(("test", "broken"), broken) for _ in range(10)]
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    answers = client.portal.call(many)  # type: ignore[union-attr]
    assert all(isinstance(a, RuntimeError) for a in answers), answers
    assert len(calls) == 1
    assert plane.cache.get(("test", "broken")) is MISSING
    headers = {"Authorization": f"Bearer {ADMIN_SECRET}"}
    assert client.get("/api/experiments/", headers=headers).status_code == 200
