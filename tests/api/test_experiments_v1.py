"""Seed 001's /api/v1/experiments: integer ids, allocation_pct, variant config, status via PUT."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

CHECKOUT = {
    "key": "checkout-button-test",
    "name": "Checkout Button Color Test",
    "description": "Testing if green checkout button increases conversions",
    "variants": [
        {
            "key": "control",
            "name": "Blue Button (Control)",
            "allocation_pct": 50,
            "is_control": True,
            "config": {"button_color": "blue", "button_text": "Checkout Now"},
        },
        {
            "key": "treatment",
            "name": "Green Button (Treatment)",
            "allocation_pct": 50,
            "is_control": False,
            "config": {"button_color": "green", "button_text": "Checkout Now"},
        },
    ],
}


def create(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/experiments/", json={**CHECKOUT, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_keeps_allocation_pct_and_variant_config(client: TestClient) -> None:
    body = create(client)
    assert body["status"] == "draft"
    assert [(v["key"], v["allocation_pct"], v["is_control"]) for v in body["variants"]] == [
        ("control", 50, True),
        ("treatment", 50, False),
    ]
    assert body["variants"][1]["config"] == {"button_color": "green", "button_text": "Checkout Now"}
    assert all(isinstance(v["id"], int) for v in body["variants"])


def test_get_by_integer_id_or_key(client: TestClient) -> None:
    created = create(client)
    assert client.get(f"/api/v1/experiments/{created['id']}").json()["key"] == created["key"]
    assert client.get("/api/v1/experiments/checkout-button-test").json()["id"] == created["id"]


def test_list_is_an_array_with_total_header(client: TestClient) -> None:
    create(client)
    create(client, key="second", name="Second")
    response = client.get("/api/v1/experiments/", params={"limit": 1})
    assert response.status_code == 200
    assert len(response.json()) == 1
    assert response.headers["X-Total-Count"] == "2"
    rest = client.get("/api/v1/experiments/", params={"skip": 1}).json()
    assert [e["key"] for e in rest] == ["checkout-button-test"]


@pytest.mark.parametrize("word", ["ACTIVE", "active", "Running", "RUNNING"])
def test_put_status_starts_the_experiment_in_any_case(client: TestClient, word: str) -> None:
    created = create(client)
    response = client.put(f"/api/v1/experiments/{created['id']}", json={"status": word})
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    assert response.json()["start_date"] is not None


def test_put_as_in_the_seed_updates_fields_and_status_together(client: TestClient) -> None:
    created = create(client)
    response = client.put(
        f"/api/v1/experiments/{created['id']}",
        json={
            "name": "Updated Checkout Button Test",
            "description": "Updated description for better clarity",
            "status": "ACTIVE",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["status"]) == ("Updated Checkout Button Test", "running")
    actions = [
        e["action"] for e in client.get(f"/api/experiments/{created['id']}/events").json()["events"]
    ]
    assert actions == ["created", "updated", "started"]


def test_put_status_walks_the_lifecycle(client: TestClient) -> None:
    created = create(client)
    url = f"/api/v1/experiments/{created['id']}"
    assert client.put(url, json={"status": "ACTIVE"}).json()["status"] == "running"
    assert client.put(url, json={"status": "PAUSED"}).json()["status"] == "paused"
    assert client.put(url, json={"status": "INACTIVE"}).json()["status"] == "paused"
    assert client.put(url, json={"status": "COMPLETED"}).json()["status"] == "completed"
    assert client.put(url, json={"status": "ACTIVE"}).status_code == 409


def test_put_unknown_status_is_422(client: TestClient) -> None:
    created = create(client)
    response = client.put(f"/api/v1/experiments/{created['id']}", json={"status": "LAUNCHED"})
    assert response.status_code == 422


def test_failed_status_change_rolls_back_the_field_edits(client: TestClient) -> None:
    created = create(client)
    url = f"/api/v1/experiments/{created['id']}"
    response = client.put(url, json={"name": "Renamed", "status": "COMPLETED"})
    assert response.status_code == 409
    assert client.get(url).json()["name"] == CHECKOUT["name"]


def test_allocation_pct_not_summing_to_100_is_422(client: TestClient) -> None:
    variants = [
        {"key": "a", "allocation_pct": 70},
        {"key": "b", "allocation_pct": 20},
    ]
    response = client.post("/api/v1/experiments/", json={**CHECKOUT, "variants": variants})
    assert response.status_code == 422
    assert "sum to 100" in response.json()["error"]


def test_three_variants(client: TestClient) -> None:
    variants = [
        {"key": "control", "allocation_pct": 34, "is_control": True},
        {"key": "green", "allocation_pct": 33},
        {"key": "red", "allocation_pct": 33},
    ]
    body = create(client, variants=variants)
    assert [v["key"] for v in body["variants"]] == ["control", "green", "red"]


def test_delete_cancels(client: TestClient) -> None:
    created = create(client)
    response = client.delete(f"/api/v1/experiments/{created['id']}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_unknown_id_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/experiments/424242")
    assert response.status_code == 404
    assert response.json()["code"] == "experiment_not_found"


def test_same_experiment_through_all_three_dialects(client: TestClient) -> None:
    created = create(client)
    seed000 = client.get("/api/experiments/checkout-button-test").json()
    seed003 = client.get("/api/experiments", params={"workspaceId": "default"}).json()["data"][0]
    assert seed000["id"] == created["id"] == int(seed003["id"])
    assert seed000["variants"][0]["allocation"] == created["variants"][0]["allocation_pct"]
