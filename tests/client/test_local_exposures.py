"""Local evaluators record each user's exposure once, in bounded memory, without blocking.

``httpx.MockTransport`` stands in for the server here (the SDK payload, and an exposures endpoint
that just stores what it is sent); the same paths run against ``splitlab serve`` in
tests/e2e/test_client_local_evaluation.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from splitlab.client import (
    AsyncSplitlab,
    ExposureCache,
    FeatureSet,
    RetryPolicy,
    Splitlab,
    SplitlabError,
    _calls,
)

FAST = RetryPolicy(attempts=1)


def rule(key: str, phase: str, variations: list[Any]) -> dict[str, Any]:
    return {
        "key": key,
        "seed": f"{key}:{phase}",
        "hashVersion": 2,
        "hashAttribute": "id",
        "variations": variations,
        "weights": [0.5, 0.5],
        "coverage": 1.0,
        "phase": phase,
        "meta": [{"key": "a"}, {"key": "b"}],
    }


def payload(phase: str = "0", *, paused: tuple[str, ...] = ()) -> dict[str, Any]:
    features: dict[str, Any] = {}
    configs = [{"colour": "grey"}, {"colour": "green", "size": 2}]
    for key in ("exp", "other", *paused):
        running = key not in paused
        features[key] = {
            "defaultValue": "a",
            "rules": [rule(key, phase, ["a", "b"])] if running else [],
        }
        features[key + ":config"] = {
            "defaultValue": configs[0],
            "rules": [rule(key, phase, configs)] if running else [],
        }
    return {"status": 200, "features": features}


class FakeServer:
    """Serves ``payload`` and stores every exposure it is sent; while ``open`` is clear, an
    exposure request waits (``arrived`` says one does)."""

    def __init__(self) -> None:
        self.payload = payload()
        self.exposures: list[dict[str, Any]] = []
        self.requests: list[int] = []
        self.open = threading.Event()
        self.open.set()
        self.arrived = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/sdk":
            with self.lock:
                return httpx.Response(200, json=self.payload)
        assert request.url.path == "/api/v1/exposures/batch", request.url.path
        self.arrived.set()
        assert self.open.wait(30)
        items = json.loads(request.content)["exposures"]
        with self.lock:
            self.exposures.extend(items)
            self.requests.append(len(items))
        body = {"received": len(items), "accepted": len(items), "duplicates": 0, "rejected": []}
        return httpx.Response(200, json=body)

    def sent(self) -> list[tuple[str, str]]:
        return [(e["experiment_key"], e["user_id"]) for e in self.exposures]


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def client(server: FakeServer) -> Iterator[Splitlab]:
    transport = httpx.MockTransport(server)
    with Splitlab("http://splitlab.test", "t", retry=FAST, transport=transport) as c:
        yield c


def test_the_cache_is_bounded_and_evicts_the_least_recently_seen_key() -> None:
    cache = ExposureCache(3)
    keys = [cache.key("exp", "0", f"u{i}") for i in range(5)]
    assert [cache.add(k) for k in keys[:3]] == [True, True, True]
    assert not cache.add(keys[0])  # seen again: now the most recent
    assert cache.add(keys[3])  # evicts u1, the least recently seen
    assert len(cache) == 3
    assert keys[1] not in cache
    assert keys[0] in cache
    for key in keys * 100:
        cache.add(key)
    assert len(cache) == 3
    with pytest.raises(ValueError, match="at least one key"):
        ExposureCache(0)


def test_keys_differ_by_experiment_phase_and_user_and_never_collide_on_separators() -> None:
    keys = {
        ExposureCache.key("exp", "0", "u1"),
        ExposureCache.key("exp", "1", "u1"),
        ExposureCache.key("other", "0", "u1"),
        ExposureCache.key("exp", "0", "u2"),
        ExposureCache.key("e\x00x", "0", "u1"),
        ExposureCache.key("e", "x\x000", "u1"),
        ExposureCache.key("ex", "p0", "u1"),
        ExposureCache.key("exp0", "", "u1"),
        ExposureCache.key("exp", "0", "\ud800"),  # a lone surrogate still hashes
    }
    assert len(keys) == 9


def test_a_user_is_sent_once_per_experiment_however_often_evaluated(
    client: Splitlab, server: FakeServer
) -> None:
    with client.local_evaluator(refresh_interval=3600) as local:
        for _ in range(3):
            local.assign("exp", "u1", {"plan": "pro"})
            local.evaluate("u1", {"plan": "pro"})
        local.assign("exp", "u2")
        assert local.batcher is not None
        assert local.batcher.exposure_stats.queued == 3
    assert sorted(server.sent()) == [("exp", "u1"), ("exp", "u2"), ("other", "u1")]
    first = next(
        e for e in server.exposures if e["user_id"] == "u1" and e["experiment_key"] == "exp"
    )
    assert first["variant_key"] == local.features.assign("exp", "u1").variant_key
    assert first["attributes"] == {"plan": "pro"}
    assert first["timestamp"].endswith("+00:00")
    assert first["exposure_id"]


def test_a_small_cache_forgets_users_so_they_are_sent_again(
    client: Splitlab, server: FakeServer
) -> None:
    with client.local_evaluator(refresh_interval=3600, exposure_cache_size=2) as local:
        for user in ("u1", "u2", "u1", "u3", "u2", "u1"):
            local.assign("exp", user)
        assert len(local._recorder.seen) == 2
    # u1 u2 sent; u1 hit; u3 evicts u2; u2 again (evicts u1); u1 again (evicts u3)
    assert [u for _, u in server.sent()] == ["u1", "u2", "u3", "u2", "u1"]


def test_a_new_bucket_version_exposes_the_user_again(client: Splitlab, server: FakeServer) -> None:
    with client.local_evaluator(refresh_interval=3600) as local:
        local.assign("exp", "u1")
        server.payload = payload(phase="1")
        local.refresh()
        local.assign("exp", "u1")
        local.assign("exp", "u1")
    assert server.sent() == [("exp", "u1"), ("exp", "u1")]


def test_paused_experiments_and_record_exposures_false_send_nothing(
    client: Splitlab, server: FakeServer
) -> None:
    server.payload = payload(paused=("stopped",))
    with client.local_evaluator(refresh_interval=3600) as local:
        answer = local.assign("stopped", "u1")
        assert (answer.variant_key, answer.in_experiment) == ("a", False)
        assert answer.variant_config == {"colour": "grey"}
        assert not local.evaluate("u1")["stopped"].in_experiment
    assert ("stopped", "u1") not in server.sent()
    server.exposures.clear()
    with client.local_evaluator(refresh_interval=3600, record_exposures=False) as local:
        assert local.batcher is None
        assert local.assign("exp", "u1").in_experiment
        local.evaluate("u2")
    assert server.exposures == []


def test_variant_config_comes_from_the_config_feature() -> None:
    features = FeatureSet(payload())
    seen = {}
    for i in range(50):
        answer = features.assign("exp", f"u{i}")
        seen[answer.variant_key] = answer.variant_config
    assert seen == {"a": {"colour": "grey"}, "b": {"colour": "green", "size": 2}}
    answer = features.assign("exp", "u1")
    answer.variant_config["colour"] = "mutated"  # a copy: the next answer is unaffected
    assert features.assign("exp", "u1").variant_config != answer.variant_config
    assert features.assign("missing", "u1").variant_config == {}


def test_a_full_queue_drops_the_exposure_without_blocking_and_retries_it_later(
    client: Splitlab, server: FakeServer
) -> None:
    server.open.clear()  # the first batch hangs in flight
    batcher = client.batcher(max_batch=2, max_queue=2, flush_interval=60)
    with client.local_evaluator(refresh_interval=3600, batcher=batcher) as local:
        local.assign("exp", "u1")
        local.assign("exp", "u2")  # a full batch: sent, and held by the server
        assert server.arrived.wait(30)
        for user in ("u3", "u4", "u5", "u6"):
            local.assign("exp", user)  # u5 and u6 find the queue full: would block if waiting
        assert batcher.exposure_stats.dropped == 2
        assert batcher.exposure_stats.queued == 4
        server.open.set()
        assert batcher.flush(30)
        for user in ("u1", "u3", "u5", "u6"):
            local.assign("exp", user)  # u5 and u6 were forgotten: queued now
        assert batcher.flush(30)
        assert batcher.exposure_stats.queued == 6
    batcher.close()  # a batcher passed in is the caller's to close
    assert sorted(u for _, u in server.sent()) == ["u1", "u2", "u3", "u4", "u5", "u6"]


def test_an_exposure_that_cannot_be_queued_never_breaks_the_assignment(
    client: Splitlab, server: FakeServer
) -> None:
    batcher = client.batcher(flush_interval=0.01)
    with client.local_evaluator(refresh_interval=3600, batcher=batcher) as local:
        assert local.assign("exp", "u1", {"tags": {1, 2}}).variant_key in ("a", "b")
        assert isinstance(local.exposure_error, TypeError)
        batcher.close()
        assert local.assign("exp", "u2").variant_key in ("a", "b")
        assert isinstance(local.exposure_error, SplitlabError)
        assert local.assign("exp", "u3").in_experiment
    assert server.exposures == []


def test_exposure_batches_hold_at_most_10000_items() -> None:
    encoded = [b'{"user_id":"u"}'] * 25_001
    sizes = [count for count, _ in _calls.exposure_batch_calls(encoded)]
    assert sizes == [10_000, 10_000, 5_001]
    _, call = next(_calls.exposure_batch_calls(encoded[:2]))
    assert call.path == "/api/v1/exposures/batch"
    assert json.loads(call.content or b"") == {"exposures": [{"user_id": "u"}] * 2}


def test_the_batcher_sends_exposures_in_requests_of_at_most_10000(
    client: Splitlab, server: FakeServer
) -> None:
    with client.batcher(max_batch=10_000, max_queue=30_000, flush_interval=60) as batcher:
        for i in range(25_000):
            batcher.expose("exp", f"u{i}", "a")
        assert batcher.flush(60)
    assert max(server.requests) <= 10_000
    assert len(server.exposures) == 25_000
    assert batcher.exposure_stats.accepted == 25_000


def test_the_async_evaluator_records_once_and_flushes_on_close(server: FakeServer) -> None:
    async def run_started() -> None:
        transport = httpx.MockTransport(server)
        async with AsyncSplitlab("http://splitlab.test", "t", retry=FAST, transport=transport) as c:
            local = await c.local_evaluator(refresh_interval=3600)
            for user in ("u1", "u2", "u1", "u2"):
                local.assign("exp", user)
            local.evaluate("u1")
            assert local.batcher is not None
            assert local.batcher.exposure_stats.queued == 3
            await local.close()
            quiet = await c.local_evaluator(refresh_interval=3600, record_exposures=False)
            quiet.assign("exp", "u9")
            await quiet.close()

    asyncio.run(run_started())
    assert sorted(server.sent()) == [("exp", "u1"), ("exp", "u2"), ("other", "u1")]


def test_events_and_exposures_share_the_batcher_and_its_policies() -> None:
    """Each kind goes to its own endpoint; a refused exposure reaches ``on_error`` and is not
    retried, and ``close`` names what is left of each kind."""
    paths: list[str] = []
    down = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if down.is_set():
            raise httpx.ConnectError("connection refused", request=request)
        paths.append(request.url.path)
        kind = "exposures" if request.url.path.endswith("exposures/batch") else "events"
        items = json.loads(request.content)[kind]
        rejected = [
            {"index": i, "error": "variant_key: no such variant", "details": []}
            for i, item in enumerate(items)
            if item.get("variant_key") == "zzz"
        ]
        body = {
            "received": len(items),
            "accepted": len(items) - len(rejected),
            "duplicates": 0,
            "rejected": rejected,
            **({"event_ids": [e["event_id"] for e in items]} if kind == "events" else {}),
        }
        return httpx.Response(200, json=body)

    refused: list[tuple[int, str, list[dict[str, Any]]]] = []
    transport = httpx.MockTransport(handler)
    with Splitlab("http://splitlab.test", "t", retry=FAST, transport=transport) as client:
        batcher = client.batcher(
            flush_interval=0.01, on_error=lambda e, items: refused.append((e.status, e.code, items))
        )
        batcher.track("u1", "view")
        batcher.expose("exp", "u1", "a")
        bad = batcher.expose("exp", "u2", "zzz")
        assert batcher.flush(30)
        assert sorted(set(paths)) == ["/api/v1/events/batch", "/api/v1/exposures/batch"]
        assert (batcher.stats.accepted, batcher.exposure_stats.accepted) == (1, 1)
        assert batcher.exposure_stats.rejected == 1
        assert [(s, c, [i["exposure_id"] for i in items]) for s, c, items in refused] == [
            (422, "invalid_exposure", [bad])
        ]
        down.set()
        batcher.track("u3", "view")
        for i in range(3):
            batcher.expose("exp", f"u{i}", "b")
        with pytest.raises(SplitlabError, match="1 events and 3 exposures could not be sent"):
            batcher.close(timeout=0.5)
