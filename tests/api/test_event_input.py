"""Bad event input is a 4xx in the one error shape and stores nothing, on every backend.

Each case here was a 500 once (PostgreSQL rejecting NUL, NaN or an out-of-range integer; Python
overflowing on a timestamp or number): the rule is checked where the input enters instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from splitlab.storage.engine import Database
from splitlab.storage.models import Event
from tests.factories import experiment_body


def stored(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(Event)) or 0


def post_raw(client: TestClient, path: str, body: str) -> Any:
    return client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})


def assert_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str)
    assert isinstance(body["code"], str)
    assert body["error"]
    assert body["code"]


#: Raw JSON events (as text, so NaN, huge numbers and escapes reach the server as sent).
INVALID_EVENTS = {
    "boolean experiment id": '{"user_id": "u", "event_type": "e", "experiment_id": true}',
    "id beyond an integer column": '{"user_id": "u", "event_type": "e", "experiment_id": '
    + str(2**40)
    + "}",
    "NUL in user_id": '{"user_id": "a\\u0000b", "event_type": "e"}',
    "NUL in event_type": '{"user_id": "u", "event_type": "e\\u0000"}',
    "unpaired surrogate": '{"user_id": "\\ud800", "event_type": "e"}',
    "NUL in a property": '{"user_id": "u", "event_type": "e", "properties": {"a": ["\\u0000"]}}',
    "NUL in a property name": '{"user_id": "u", "event_type": "e", "properties": {"\\u0000": 1}}',
    "NaN property": '{"user_id": "u", "event_type": "e", "properties": {"a": {"b": NaN}}}',
    "infinite property": '{"user_id": "u", "event_type": "e", "properties": {"a": 1e400}}',
    "value beyond a float": '{"user_id": "u", "event_type": "e", "properties": {"value": 1'
    + "0" * 400
    + "}}",
    "nested too deep": '{"user_id": "u", "event_type": "e", "properties": {"a": '
    + "[" * 40
    + "]" * 40
    + "}}",
    "timestamp before year 1 in UTC": '{"user_id": "u", "event_type": "e", '
    '"timestamp": "0001-01-01T00:00:00+14:00"}',
}


@pytest.mark.parametrize("raw", INVALID_EVENTS.values(), ids=INVALID_EVENTS.keys())
def test_an_invalid_event_is_422_and_stores_nothing(
    client: TestClient, db: Database, raw: str
) -> None:
    client.post("/api/experiments/", json=experiment_body())
    assert_error(post_raw(client, "/api/v1/events/", raw), 422)
    assert stored(db) == 0


def test_each_invalid_event_of_a_batch_is_rejected_by_index(
    client: TestClient, db: Database
) -> None:
    valid = '{"user_id": "ok", "event_type": "e"}'
    events = [valid, *INVALID_EVENTS.values(), valid]
    response = post_raw(client, "/api/v1/events/batch", '{"events": [' + ",".join(events) + "]}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["index"] for r in body["rejected"]] == list(range(1, len(INVALID_EVENTS) + 1))
    assert all(r["error"] for r in body["rejected"])
    assert (body["accepted"], stored(db)) == (2, 2)


@pytest.mark.parametrize(
    "ref", ['"99999999999999999999"', '"²"', str(2**31 - 1)], ids=["huge", "superscript", "max"]
)
def test_an_unknown_experiment_ref_of_any_size_is_404_or_rejected(
    client: TestClient, db: Database, ref: str
) -> None:
    event = '{"user_id": "u", "event_type": "e", "experiment_id": ' + ref + "}"
    assert_error(post_raw(client, "/api/v1/events/", event), 404)
    batch = post_raw(client, "/api/v1/events/batch", '{"events": [' + event + "]}").json()
    assert [r["index"] for r in batch["rejected"]] == [0]
    assert stored(db) == 0


def test_an_integer_experiment_id_is_an_id_even_if_a_key_looks_the_same(
    client: TestClient,
) -> None:
    first = client.post("/api/experiments/", json=experiment_body(key="first")).json()
    other = client.post(
        "/api/experiments/", json=experiment_body(key=str(first["id"]), name="Other")
    ).json()
    assert "id" in other, other
    events = [
        {"user_id": "u", "event_type": "e", "experiment_id": first["id"]},
        {"user_id": "u", "event_type": "e", "experiment_id": str(first["id"])},
    ]
    body = client.post("/api/v1/events/batch", json={"events": events}).json()
    page = client.get("/api/v1/analytics/events?limit=10").json()["events"]
    by_id = {e["event_id"]: e["experiment_id"] for e in page}
    assert [by_id[i] for i in body["event_ids"]] == [first["id"], other["id"]]


def test_a_batch_nested_deeper_than_json_can_parse_is_422(client: TestClient) -> None:
    deep = '{"user_id": "u", "event_type": "e", "properties": {"a": ' + "[" * 100_000
    assert_error(post_raw(client, "/api/v1/events/batch", '{"events": [' + deep + "]}"), 422)


@pytest.mark.parametrize("value", ["NaN", "1e400", "-Infinity"])
def test_a_non_finite_tracked_value_is_422_not_500(client: TestClient, value: str) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    variant = client.post(
        "/api/experiments/checkout-test/assignments", json={"user_id": "u1"}
    ).json()["variant_key"]
    body = (
        ('{"user_id": "u1", "variant_key": "' + variant + '", "metric_name": "m", "value": ')
        + value
        + "}"
    )
    response = post_raw(client, "/api/experiments/checkout-test/metrics", body)
    assert_error(response, 422)
    assert json.loads(response.text)["details"][0]["loc"] == ["body", "value"]


def test_a_tracked_metric_name_with_nul_is_422(client: TestClient, db: Database) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    variant = client.post(
        "/api/experiments/checkout-test/assignments", json={"user_id": "u1"}
    ).json()["variant_key"]
    response = client.post(
        "/api/experiments/checkout-test/metrics",
        json={"user_id": "u1", "variant_key": variant, "metric_name": "m\x00", "value": 1},
    )
    assert_error(response, 422)
    assert stored(db) == 0


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("events?offset=99999999999999999999999", 422),
        ("events?event_type=a%00b", 422),
        ("reports?experiment_id=99999999999999999999", 404),
        ("reports?experiment_id=a%00b", 422),
    ],
)
def test_analytics_queries_out_of_range_are_4xx(
    client: TestClient, query: str, status: int
) -> None:
    assert_error(client.get(f"/api/v1/analytics/{query}"), status)
