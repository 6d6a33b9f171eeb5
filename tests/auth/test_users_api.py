"""Seed 001's users: every example as written, plus the failures around them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.auth.conftest import WORKSPACE_A, WORKSPACE_B, assert_error, bearer, secret

SEED_USER: dict[str, Any] = {
    "user_id": "test-user-123",
    "email": "testuser@example.com",
    "name": "Test User",
    "properties": {
        "age": 28,
        "location": "San Francisco",
        "plan": "premium",
        "signup_date": "2024-09-29",
    },
}
SEED_UPDATE: dict[str, Any] = {
    "name": "Updated Test User",
    "properties": {"age": 29, "location": "New York", "plan": "enterprise"},
}


def create(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/users/", json={**SEED_USER, **overrides})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_seed_create_example_returns_201_with_the_user(client: TestClient) -> None:
    response = client.post("/api/v1/users/", json=SEED_USER)
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in SEED_USER} == SEED_USER
    assert isinstance(body["id"], int)
    assert body["workspace"] == "default"


def test_seed_get_all_example_lists_users(client: TestClient) -> None:
    create(client)
    response = client.get("/api/v1/users/")
    assert response.status_code == 200
    assert [u["user_id"] for u in response.json()] == ["test-user-123"]
    assert response.headers["X-Total-Count"] == "1"


def test_list_pages_with_skip_and_limit(client: TestClient) -> None:
    for n in range(5):
        create(client, user_id=f"user-{n}", email=None)
    page = client.get("/api/v1/users/", params={"skip": 1, "limit": 2})
    assert [u["user_id"] for u in page.json()] == ["user-1", "user-2"]
    assert page.headers["X-Total-Count"] == "5"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"skip": -1}])
def test_list_rejects_out_of_range_paging(client: TestClient, params: dict[str, int]) -> None:
    assert_error(client.get("/api/v1/users/", params=params), 422)


def test_seed_get_by_id_example_returns_the_user(client: TestClient) -> None:
    create(client)
    response = client.get("/api/v1/users/test-user-123")
    assert response.status_code == 200
    assert response.json()["properties"] == SEED_USER["properties"]


def test_seed_update_example_replaces_name_and_properties(client: TestClient) -> None:
    create(client)
    response = client.put("/api/v1/users/test-user-123", json=SEED_UPDATE)
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Updated Test User"
    assert body["properties"] == SEED_UPDATE["properties"]  # replaced whole: no signup_date
    assert body["email"] == SEED_USER["email"]  # not sent, so kept
    assert (
        client.get("/api/v1/users/test-user-123").json()["properties"] == SEED_UPDATE["properties"]
    )


def test_duplicate_user_id_is_409(client: TestClient) -> None:
    create(client)
    response = client.post("/api/v1/users/", json=SEED_USER)
    assert assert_error(response, 409)["code"] == "duplicate_user"


def test_unknown_user_is_404(client: TestClient) -> None:
    assert assert_error(client.get("/api/v1/users/nobody"), 404)["code"] == "user_not_found"


def test_updating_an_unknown_user_is_404(client: TestClient) -> None:
    assert_error(client.put("/api/v1/users/nobody", json=SEED_UPDATE), 404)


@pytest.mark.parametrize("email", ["not-an-email", "two@@example.com"])
def test_invalid_email_is_422_on_create(client: TestClient, email: str) -> None:
    assert_error(client.post("/api/v1/users/", json={**SEED_USER, "email": email}), 422)
    assert_error(client.get("/api/v1/users/test-user-123"), 404)


def test_invalid_email_is_422_on_update(client: TestClient) -> None:
    create(client)
    assert_error(client.put("/api/v1/users/test-user-123", json={"email": "nope"}), 422)
    assert client.get("/api/v1/users/test-user-123").json()["email"] == SEED_USER["email"]


def test_missing_user_id_is_422(client: TestClient) -> None:
    body = {k: v for k, v in SEED_USER.items() if k != "user_id"}
    assert_error(client.post("/api/v1/users/", json=body), 422)


def test_only_user_id_is_required(client: TestClient) -> None:
    response = client.post("/api/v1/users/", json={"user_id": "bare"})
    assert response.status_code == 201
    assert (response.json()["email"], response.json()["properties"]) == (None, {})


def test_same_user_id_may_exist_in_two_workspaces(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    for workspace in (WORKSPACE_A, WORKSPACE_B):
        response = client.post("/api/v1/users/", params={"workspace": workspace}, json=SEED_USER)
        assert response.status_code == 201
        assert response.json()["workspace"] == workspace


def test_users_are_isolated_by_workspace(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    client.post("/api/v1/users/", params={"workspace": WORKSPACE_A}, json=SEED_USER)
    writer_b = bearer(secret(client, scope="experiment", workspace=WORKSPACE_B))
    assert client.get("/api/v1/users/", headers=writer_b).json() == []
    assert_error(client.get("/api/v1/users/test-user-123", headers=writer_b), 404)
    assert_error(client.put("/api/v1/users/test-user-123", json=SEED_UPDATE, headers=writer_b), 404)
    kept = client.get("/api/v1/users/test-user-123", params={"workspace": WORKSPACE_A}).json()
    assert kept["name"] == SEED_USER["name"]


def test_experiment_token_manages_users(client: TestClient) -> None:
    writer = bearer(secret(client, scope="experiment"))
    assert client.post("/api/v1/users/", json=SEED_USER, headers=writer).status_code == 201
    updated = client.put("/api/v1/users/test-user-123", json=SEED_UPDATE, headers=writer)
    assert updated.status_code == 200


def test_a_user_id_with_a_slash_can_be_read_and_updated(client: TestClient) -> None:
    assert client.post("/api/v1/users/", json={"user_id": "team/alice"}).status_code == 201
    assert client.get("/api/v1/users/team%2Falice").json()["user_id"] == "team/alice"
    updated = client.put("/api/v1/users/team/alice", json={"name": "Alice"})
    assert updated.status_code == 200
    assert updated.json()["name"] == "Alice"
