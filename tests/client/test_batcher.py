"""The event batcher under failures a real network produces: nothing lost, nothing stuck.

``httpx.MockTransport`` plays a server that misbehaves on cue (an HTML proxy page, a revoked token,
a refused chunk); the happy path and a real restart run against ``splitlab serve`` in tests/e2e.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from splitlab.client import APIError, EventBatcher, RetryPolicy, Splitlab, SplitlabError

FAST = RetryPolicy(attempts=1)
Reply = Callable[[list[dict[str, Any]]], httpx.Response | None]


class FakeServer:
    """Stores batches like the real endpoint; ``script`` can answer a request differently."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.script: list[Reply] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        events = json.loads(request.content)["events"]
        with self.lock:
            special = self.script.pop(0)(events) if self.script else None
            if special is not None:
                return special
            new = [e for e in events if e["event_id"] not in self.stored]
            rejected = [
                {"index": i, "error": "user_id is empty", "details": []}
                for i, e in enumerate(events)
                if not e["user_id"]
            ]
            for e in new:
                if e["user_id"]:
                    self.stored[e["event_id"]] = e
        body = {
            "received": len(events),
            "accepted": len(new) - len(rejected),
            "duplicates": len(events) - len(new),
            "rejected": rejected,
            "event_ids": [e["event_id"] for e in events],
        }
        return httpx.Response(200, json=body)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def client(server: FakeServer) -> Iterator[Splitlab]:
    with Splitlab(
        "http://splitlab.test", "t", retry=FAST, transport=httpx.MockTransport(server)
    ) as c:
        yield c


def batcher(client: Splitlab, **kwargs: Any) -> EventBatcher:
    kwargs.setdefault("flush_interval", 0.01)
    return client.batcher(**kwargs)


def test_an_event_json_cannot_carry_fails_in_the_caller_and_the_batcher_goes_on(
    client: Splitlab, server: FakeServer
) -> None:
    with batcher(client) as events:
        with pytest.raises(TypeError):
            events.track("u", "view", properties={"tags": {1, 2}})
        kept = events.track("u", "view")
    assert set(server.stored) == {kept}


def test_a_non_json_answer_keeps_the_events_queued_until_a_real_answer(
    client: Splitlab, server: FakeServer
) -> None:
    server.script.append(lambda _: httpx.Response(200, text="<html>proxy</html>"))
    with batcher(client) as events:
        sent = [events.track(f"u{i}", "view") for i in range(25)]
    assert set(server.stored) == set(sent)
    assert events.stats.resends >= 1


@pytest.mark.parametrize("status", [401, 403, 429, 503])
def test_a_refused_token_or_throttling_keeps_the_events_for_later(
    client: Splitlab, server: FakeServer, status: int
) -> None:
    server.script.append(lambda _: httpx.Response(status, json={"error": "no", "code": "x"}))
    with batcher(client) as events:
        sent = [events.track(f"u{i}", "view") for i in range(10)]
    assert set(server.stored) == set(sent)
    assert events.stats.rejected == 0


def test_only_the_refused_chunk_is_reported_when_a_large_batch_is_split(
    client: Splitlab, server: FakeServer
) -> None:
    server.script.append(lambda _: None)  # first chunk: stored normally
    server.script.append(lambda _: httpx.Response(422, json={"error": "bad", "code": "invalid"}))
    refused: list[dict[str, Any]] = []
    blob = "x" * 20_000
    with batcher(
        client, max_batch=400, flush_interval=60, on_error=lambda e, ev: refused.extend(ev)
    ) as events:
        sent = [events.track(f"u{i}", "view", properties={"blob": blob}) for i in range(400)]
        assert events.flush(30)
    stored = set(server.stored)
    assert stored
    assert stored | {e["event_id"] for e in refused} == set(sent)
    assert not stored & {e["event_id"] for e in refused}
    assert events.stats.rejected == len(refused) == 400 - len(stored)


def test_rejected_events_reach_on_error_even_when_the_callback_raises(
    client: Splitlab, server: FakeServer
) -> None:
    seen: list[tuple[APIError, list[dict[str, Any]]]] = []

    def on_error(error: APIError, events: list[dict[str, Any]]) -> None:
        seen.append((error, events))
        raise RuntimeError("a buggy callback")

    with batcher(client, on_error=on_error) as events:
        events.track("", "view")
        events.flush(10)
        ok = events.track("u", "view")
    assert [(e.status, ev[0]["user_id"]) for e, ev in seen] == [(422, "")]
    assert ok in server.stored


def test_flush_returns_once_what_was_queued_is_answered_despite_a_steady_stream(
    client: Splitlab, server: FakeServer
) -> None:
    stop = threading.Event()
    with batcher(client, flush_interval=5, max_batch=50) as events:
        before = [events.track(f"early-{i}", "view") for i in range(30)]

        def stream() -> None:
            while not stop.is_set():
                events.track("late", "view")

        producer = threading.Thread(target=stream)
        producer.start()
        try:
            assert events.flush(timeout=20)
            assert set(before) <= set(server.stored)
        finally:
            stop.set()
            producer.join()


def test_close_raises_with_the_unsent_count_when_the_server_never_answers() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with Splitlab(
        "http://splitlab.test", "t", retry=FAST, transport=httpx.MockTransport(down)
    ) as c:
        events = c.batcher(flush_interval=0.01)
        for i in range(5):
            events.track(f"u{i}", "view")
        with pytest.raises(SplitlabError, match="5 events could not be sent"):
            events.close(timeout=1)
