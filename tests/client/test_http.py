"""The client's request layer: retries, error mapping and batch chunking.

Retries are checked with ``httpx.MockTransport`` standing in for a failing network (a server that
answers 503 on demand is not something a real Splitlab does), and against a closed real port.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from splitlab.client import (
    NotFound,
    RetryPolicy,
    ServerError,
    Splitlab,
    TransportError,
    ValidationError,
    _calls,
)
from splitlab.client.models import EventBatchResult, RejectedEvent

FAST = RetryPolicy(attempts=4, backoff=0.001, max_backoff=0.002)


def scripted(*answers: tuple[int, object]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = queue.pop(0)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler), seen


HEALTH = {"status": "ok"}


def test_5xx_answers_are_retried_until_one_succeeds() -> None:
    transport, seen = scripted((503, {"error": "busy", "code": "x"}), (502, {}), (200, HEALTH))
    with Splitlab("http://splitlab.test", "t", retry=FAST, transport=transport) as client:
        assert client.health() == HEALTH
    assert len(seen) == 3


def test_5xx_after_every_attempt_raises_server_error_with_the_body() -> None:
    transport, seen = scripted(*[(500, {"error": "boom", "code": "internal"})] * 4)
    with (
        Splitlab("http://splitlab.test", "t", retry=FAST, transport=transport) as client,
        pytest.raises(ServerError) as raised,
    ):
        client.health()
    assert (raised.value.status, raised.value.code, raised.value.error) == (500, "internal", "boom")
    assert len(seen) == 4


@pytest.mark.parametrize(("status", "error"), [(404, NotFound), (422, ValidationError)])
def test_4xx_answers_are_never_retried(status: int, error: type[Exception]) -> None:
    body = {"error": "nope", "code": "some_code", "details": [{"loc": ["body", "x"]}]}
    transport, seen = scripted((status, body), (200, HEALTH))
    with (
        Splitlab("http://splitlab.test", "t", retry=FAST, transport=transport) as client,
        pytest.raises(error) as raised,
    ):
        client.health()
    assert len(seen) == 1
    assert raised.value.details == body["details"]  # type: ignore[attr-defined]


def test_a_closed_port_raises_transport_error_after_every_attempt() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    with (
        Splitlab(f"http://127.0.0.1:{port}", "t", retry=FAST) as client,
        pytest.raises(TransportError) as raised,
    ):
        client.health()
    assert raised.value.attempts == FAST.attempts


def test_retry_delays_grow_and_stay_under_the_ceiling() -> None:
    policy = RetryPolicy(attempts=6, backoff=0.5, max_backoff=2.0)
    delays = list(policy.delays())
    assert len(delays) == 5
    ceilings = [0.5, 1.0, 2.0, 2.0, 2.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_token_and_workspace_are_sent_on_every_request() -> None:
    transport, seen = scripted((200, HEALTH))
    with Splitlab("http://splitlab.test/", "slk_abc", workspace="mkt", transport=transport) as c:
        c.health()
    assert seen[0].headers["Authorization"] == "Bearer slk_abc"
    assert seen[0].headers["X-Splitlab-Workspace"] == "mkt"


def test_path_segments_are_escaped() -> None:
    call = _calls.get_assignment("checkout", "user/1 é?x")
    assert call.path == "/api/experiments/checkout/assignments/user%2F1%20%C3%A9%3Fx"


def test_batches_respect_the_event_count_and_byte_limits() -> None:
    small = [{"user_id": f"u{i}", "event_type": "view"} for i in range(25_000)]
    assert [n for n, _ in _calls.track_batches(small)] == [10_000, 10_000, 5_000]
    blob = "x" * 100_000
    large = [{"user_id": "u", "event_type": "view", "properties": {"blob": blob}}] * 120
    chunks = list(_calls.track_batches(large))
    assert sum(n for n, _ in chunks) == 120
    for _, call in chunks:
        assert call.content is not None
        assert len(call.content) <= _calls.MAX_BATCH_BYTES
        assert len(json.loads(call.content)["events"]) > 0


def test_identity_is_fixed_once_so_a_resend_is_the_same_event() -> None:
    event = _calls.with_identity({"user_id": "u", "event_type": "view"})
    assert _calls.with_identity(event) == event
    assert (
        _calls.with_identity({"user_id": "u", "event_type": "view"})["event_id"]
        != (event["event_id"])
    )


def test_batch_results_add_up_with_shifted_indexes() -> None:
    first = EventBatchResult(
        received=3,
        accepted=2,
        duplicates=0,
        rejected=[RejectedEvent(index=1, error="bad")],
        event_ids=["a", None, "c"],
    )
    second = EventBatchResult(
        received=2,
        accepted=1,
        duplicates=0,
        rejected=[RejectedEvent(index=0, error="bad")],
        event_ids=[None, "e"],
    )
    total = first + second
    assert (total.received, total.accepted) == (5, 3)
    assert [r.index for r in total.rejected] == [1, 3]
    assert total.event_ids == ["a", None, "c", None, "e"]
