"""Metric definitions: declared through the API, used by the results."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import experiment_body

URL = "/api/experiments/checkout-test/metric-definitions"


def test_define_list_and_delete(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    first = client.post(URL, json={"name": "revenue", "event_type": "purchase", "kind": "numeric"})
    assert first.status_code == 201
    assert first.json()["role"] == "primary"
    second = client.post(
        URL,
        json={
            "name": "refunds",
            "event_type": "refund",
            "kind": "conversion",
            "role": "guardrail",
            "higher_is_better": False,
        },
    )
    assert second.json()["role"] == "guardrail"
    names = [m["name"] for m in client.get(URL).json()]
    assert names == ["revenue", "refunds"]
    assert client.delete(f"{URL}/refunds").status_code == 204
    assert [m["name"] for m in client.get(URL).json()] == ["revenue"]


def test_v1_path_and_a_new_primary_demotes_the_old(client: TestClient) -> None:
    experiment = client.post("/api/experiments/", json=experiment_body()).json()
    url = f"/api/v1/experiments/{experiment['id']}/metrics"
    client.post(url, json={"name": "a", "kind": "count"})
    client.post(url, json={"name": "b", "kind": "conversion", "role": "primary"})
    roles = {m["name"]: m["role"] for m in client.get(url).json()}
    assert roles == {"a": "secondary", "b": "primary"}


def test_duplicate_and_invalid_definitions(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post(URL, json={"name": "m", "kind": "count"})
    assert client.post(URL, json={"name": "m", "kind": "count"}).status_code == 409
    assert client.post(URL, json={"name": "x", "kind": "ratio"}).status_code == 422
    assert client.delete(f"{URL}/nope").status_code == 404


def test_results_use_the_declared_event_type_and_direction(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    client.post(URL, json={"name": "bought", "event_type": "purchase", "kind": "conversion"})
    users = client.post(
        "/api/experiments/checkout-test/assignments/batch",
        json={"users": [{"user_id": f"u{i}"} for i in range(40)]},
    ).json()["assignments"]
    events = [{"user_id": a["user_id"], "event_type": "purchase"} for a in users[:10]]
    client.post("/api/v1/events/batch", json={"events": events})
    body = client.get("/api/experiments/checkout-test/results").json()
    (metric,) = body["metrics"]
    assert metric["name"] == "bought"
    assert sum(v["mean"] * v["users"] for v in metric["variants"]) == 10
