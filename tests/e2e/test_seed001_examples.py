"""Seed 001's experiment, user and token examples as written — including its demo tokens, so the
server runs with ``--demo`` — against a fresh ``splitlab serve`` (the first experiment gets id 1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

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


@pytest.fixture(scope="module")
def demo_server(serve: Callable[..., Server]) -> Server:
    return serve("--demo", "--no-demo-data")


@pytest.fixture
def admin(demo_server: Server) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer admin_token_123"}
    with httpx.Client(base_url=demo_server.url, headers=headers, timeout=10) as client:
        yield client


def test_experiment_examples_in_order(admin: httpx.Client) -> None:
    created = admin.post("/api/v1/experiments/", json=CHECKOUT)
    assert created.status_code == 201, created.text
    assert created.json()["id"] == 1

    listed = admin.get("/api/v1/experiments/")
    assert listed.status_code == 200
    assert [e["key"] for e in listed.json()] == ["checkout-button-test"]

    got = admin.get("/api/v1/experiments/1")
    assert got.status_code == 200
    assert got.json()["variants"][1]["config"]["button_color"] == "green"

    updated = admin.put(
        "/api/v1/experiments/1",
        json={
            "name": "Updated Checkout Button Test",
            "description": "Updated description for better clarity",
            "status": "ACTIVE",
        },
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "Updated Checkout Button Test"
    assert updated.json()["status"] == "running"

    deleted = admin.delete("/api/v1/experiments/1")
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "cancelled"


def test_the_seed_python_client_example(demo_server: Server) -> None:
    import asyncio

    async def example() -> list[dict[str, object]]:
        async with httpx.AsyncClient() as client:
            headers = {"Authorization": "Bearer admin_token_123"}
            response = await client.get(f"{demo_server.url}/api/v1/experiments/", headers=headers)
            assert response.status_code == 200
            experiments: list[dict[str, object]] = response.json()
            return experiments

    assert isinstance(asyncio.run(example()), list)


def test_scopes_of_the_demo_tokens(demo_server: Server) -> None:
    def call(token: str, method: str, path: str, **kwargs: object) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        response = httpx.request(method, f"{demo_server.url}{path}", headers=headers, **kwargs)  # type: ignore[arg-type]
        return response.status_code

    body = {**CHECKOUT, "key": "scoped", "name": "Scoped"}
    assert call("readonly_token_456", "GET", "/api/v1/experiments/") == 200
    assert call("readonly_token_456", "POST", "/api/v1/experiments/", json=body) == 403
    assert call("experiment_token_789", "POST", "/api/v1/experiments/", json=body) == 201
    assert call("experiment_token_789", "GET", "/api/v1/api-tokens/") == 403
    assert call("admin_token_123", "GET", "/api/v1/api-tokens/") == 200


def test_demo_mode_warns_at_start(demo_server: Server) -> None:
    assert "DEMO MODE" in demo_server.output()


def test_swagger_at_the_documented_url(demo_server: Server) -> None:
    assert httpx.get(f"{demo_server.url}/api/v1/docs").status_code == 200


def test_user_examples_in_order(admin: httpx.Client) -> None:
    created = admin.post(
        "/api/v1/users/",
        json={
            "user_id": "test-user-123",
            "email": "testuser@example.com",
            "name": "Test User",
            "properties": {
                "age": 28,
                "location": "San Francisco",
                "plan": "premium",
                "signup_date": "2024-09-29",
            },
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["properties"]["plan"] == "premium"

    listed = admin.get("/api/v1/users/")
    assert listed.status_code == 200
    assert [u["user_id"] for u in listed.json()] == ["test-user-123"]

    got = admin.get("/api/v1/users/test-user-123")
    assert got.status_code == 200
    assert got.json()["email"] == "testuser@example.com"

    new_properties = {"age": 29, "location": "New York", "plan": "enterprise"}
    updated = admin.put(
        "/api/v1/users/test-user-123",
        json={"name": "Updated Test User", "properties": new_properties},
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "Updated Test User"
    assert admin.get("/api/v1/users/test-user-123").json()["properties"] == new_properties


def test_token_examples_in_order(admin: httpx.Client, demo_server: Server) -> None:
    created = admin.post(
        "/api/v1/api-tokens/",
        json={"name": "My Test Token", "description": "Token for testing API endpoints"},
    )
    assert created.status_code == 201, created.text
    token = created.json()
    secret = token["token"]
    assert secret.startswith("slk_")
    assert secret.startswith(token["prefix"])

    listed = admin.get("/api/v1/api-tokens/")
    assert listed.status_code == 200
    assert token["id"] in [t["id"] for t in listed.json()]
    assert secret not in listed.text

    # The seed's id 1 is, on this server, the first token: demo mode's admin_token_123.
    first = admin.get("/api/v1/api-tokens/1")
    assert first.status_code == 200
    assert "token" not in first.json()

    # PUT and DELETE on the token just made (id 1 is the token this test signs in with).
    path = f"/api/v1/api-tokens/{token['id']}"
    updated = admin.put(path, json={"name": "Updated Test Token", "is_active": True})
    assert updated.status_code == 200
    assert updated.json()["name"] == "Updated Test Token"

    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{demo_server.url}/api/v1/users/", headers=headers).status_code == 200
    assert admin.delete(path).status_code == 204
    assert httpx.get(f"{demo_server.url}/api/v1/users/", headers=headers).status_code == 401
    assert admin.get(path).status_code == 404
