"""No escalation: a token cannot mint more than it has, and bodies cannot set protected fields."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.auth.conftest import (
    WORKSPACE_A,
    WORKSPACE_B,
    assert_error,
    bearer,
    issue,
    secret,
)

EXPERIMENT = {"key": "checkout", "name": "Checkout"}


# --- tokens minted by tokens -----------------------------------------------------------------


def test_bound_admin_cannot_create_a_token_for_another_workspace(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    admin_a = bearer(secret(client, scope="admin", workspace=WORKSPACE_A))
    response = client.post(
        "/api/v1/api-tokens/", json={"name": "x", "workspace": WORKSPACE_B}, headers=admin_a
    )
    assert_error(response, 404)


def test_bound_admin_cannot_create_a_token_for_an_unknown_workspace(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    admin_a = bearer(secret(client, scope="admin", workspace=WORKSPACE_A))
    response = client.post(
        "/api/v1/api-tokens/", json={"name": "x", "workspace": "nowhere"}, headers=admin_a
    )
    assert_error(response, 404)


def test_bound_admin_cannot_create_an_unbound_token(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    """Asking for no workspace gets a token bound to the issuer's own (never an unbound one)."""
    admin_a = bearer(secret(client, scope="admin", workspace=WORKSPACE_A))
    response = client.post(
        "/api/v1/api-tokens/", json={"name": "x", "workspace": None}, headers=admin_a
    )
    assert response.status_code == 201
    assert response.json()["workspace"] == WORKSPACE_A
    minted = bearer(response.json()["token"])
    other = client.get("/api/v1/users/", params={"workspace": WORKSPACE_B}, headers=minted)
    assert_error(other, 404)


def test_token_minted_by_a_bound_admin_cannot_reach_other_workspaces(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    admin_a = bearer(secret(client, scope="admin", workspace=WORKSPACE_A))
    minted = client.post(
        "/api/v1/api-tokens/", json={"name": "x", "scope": "admin"}, headers=admin_a
    ).json()["token"]
    response = client.post(
        "/api/v1/api-tokens/", json={"name": "y", "workspace": WORKSPACE_B}, headers=bearer(minted)
    )
    assert_error(response, 404)


def test_bound_admin_cannot_see_the_unbound_admin_token(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    unbound = issue(client, scope="admin")
    admin_a = bearer(secret(client, scope="admin", workspace=WORKSPACE_A))
    assert_error(client.get(f"/api/v1/api-tokens/{unbound['id']}", headers=admin_a), 404)
    revoke = client.put(
        f"/api/v1/api-tokens/{unbound['id']}", json={"is_active": False}, headers=admin_a
    )
    assert_error(revoke, 404)
    assert_error(client.delete(f"/api/v1/api-tokens/{unbound['id']}", headers=admin_a), 404)
    assert client.get("/api/v1/api-tokens/", headers=bearer(unbound["token"])).status_code == 200


@pytest.mark.parametrize("scope", ["readonly", "experiment", "admin"])
def test_experiment_token_cannot_create_tokens(client: TestClient, scope: str) -> None:
    experiment = bearer(secret(client, scope="experiment"))
    response = client.post(
        "/api/v1/api-tokens/", json={"name": "x", "scope": scope}, headers=experiment
    )
    assert_error(response, 403)


def test_experiment_token_cannot_revoke_tokens(client: TestClient) -> None:
    target = issue(client)
    experiment = bearer(secret(client, scope="experiment"))
    response = client.put(
        f"/api/v1/api-tokens/{target['id']}", json={"is_active": False}, headers=experiment
    )
    assert_error(response, 403)
    assert client.get("/api/v1/users/", headers=bearer(target["token"])).status_code == 200


# --- fields a body may not set (422, and nothing changes) ------------------------------------
#
# Each test sends every forbidden field in turn and collects the statuses, so one test proves one
# rule for all of that body's fields without a fresh app per field.

LONG_AGO = "2020-01-01T00:00:00Z"
TOKEN_CREATE_FORBIDDEN: dict[str, Any] = {
    "id": 99,
    "token": "slk_chosen-by-the-caller",
    "token_hash": "0" * 64,
    "prefix": "slk_chosen",
    "is_demo": True,
    "created_at": LONG_AGO,
    "updated_at": LONG_AGO,
    "last_used_at": LONG_AGO,
    "created_by": "someone else",
    "workspace_id": 1,
}
TOKEN_UPDATE_FORBIDDEN: dict[str, Any] = {
    "scope": "admin",
    "workspace": "default",
    "expires_at": "2999-01-01T00:00:00Z",
    "id": 99,
    "token_hash": "0" * 64,
    "created_at": LONG_AGO,
    "last_used_at": None,
}
USER_CREATE_FORBIDDEN: dict[str, Any] = {"id": 99, "workspace": "other", "created_at": LONG_AGO}
USER_UPDATE_FORBIDDEN: dict[str, Any] = {
    "user_id": "someone-else",
    "id": 99,
    "workspace": "other",
    "updated_at": None,
}
EXPERIMENT_FORBIDDEN: dict[str, Any] = {"id": 99, "workspace": "other", "created_at": LONG_AGO}


def not_422(responses: dict[str, httpx.Response]) -> dict[str, int]:
    return {field: r.status_code for field, r in responses.items() if r.status_code != 422}


def test_token_create_rejects_server_owned_fields(client: TestClient) -> None:
    responses = {
        field: client.post("/api/v1/api-tokens/", json={"name": "x", field: value})
        for field, value in TOKEN_CREATE_FORBIDDEN.items()
    }
    assert not_422(responses) == {}
    assert {r.json()["code"] for r in responses.values()} == {"validation_error"}
    assert client.get("/api/v1/api-tokens/").headers["X-Total-Count"] == "1"  # the admin's own


def test_token_update_rejects_fields_other_than_name_description_is_active(
    client: TestClient,
) -> None:
    created = issue(client, name="original")
    url = f"/api/v1/api-tokens/{created['id']}"
    responses = {
        field: client.put(url, json={"name": "new", field: value})
        for field, value in TOKEN_UPDATE_FORBIDDEN.items()
    }
    assert not_422(responses) == {}
    after = client.get(url).json()
    assert (after["name"], after["scope"], after["workspace"]) == ("original", "readonly", None)


def test_user_create_rejects_server_owned_fields(client: TestClient) -> None:
    responses = {
        field: client.post("/api/v1/users/", json={"user_id": "u1", field: value})
        for field, value in USER_CREATE_FORBIDDEN.items()
    }
    assert not_422(responses) == {}
    assert_error(client.get("/api/v1/users/u1"), 404)


def test_user_update_rejects_identity_and_server_owned_fields(client: TestClient) -> None:
    client.post("/api/v1/users/", json={"user_id": "u1", "name": "Ann"})
    responses = {
        field: client.put("/api/v1/users/u1", json={"name": "Bob", field: value})
        for field, value in USER_UPDATE_FORBIDDEN.items()
    }
    assert not_422(responses) == {}
    assert client.get("/api/v1/users/u1").json()["name"] == "Ann"


def test_experiment_create_rejects_server_owned_fields(client: TestClient) -> None:
    responses = {
        field: client.post("/api/v1/experiments/", json={**EXPERIMENT, field: value})
        for field, value in EXPERIMENT_FORBIDDEN.items()
    }
    assert not_422(responses) == {}
    assert client.get("/api/v1/experiments/").headers["X-Total-Count"] == "0"


def test_experiment_update_rejects_server_owned_fields(client: TestClient) -> None:
    created = client.post("/api/v1/experiments/", json=EXPERIMENT).json()
    url = f"/api/v1/experiments/{created['id']}"
    responses = {
        field: client.put(url, json={"name": "New", field: value})
        for field, value in EXPERIMENT_FORBIDDEN.items()
    }
    assert not_422(responses) == {}
    assert client.get(url).json()["name"] == "Checkout"


# --- a bound token cannot write into another workspace ---------------------------------------


@pytest.fixture
def writer_b(client: TestClient, two_workspaces: tuple[str, str]) -> dict[str, str]:
    return bearer(secret(client, scope="experiment", workspace=WORKSPACE_B))


def experiments_in(client: TestClient, workspace: str) -> int:
    response = client.get("/api/v1/experiments/", params={"workspace": workspace})
    return int(response.headers["X-Total-Count"])


def test_bound_token_cannot_create_in_another_workspace_by_query(
    client: TestClient, writer_b: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/experiments/", params={"workspace": WORKSPACE_A}, json=EXPERIMENT, headers=writer_b
    )
    assert_error(response, 404)
    assert experiments_in(client, WORKSPACE_A) == 0


def test_bound_token_cannot_create_in_another_workspace_by_header(
    client: TestClient, writer_b: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/experiments/",
        json=EXPERIMENT,
        headers={**writer_b, "X-Splitlab-Workspace": WORKSPACE_A},
    )
    assert_error(response, 404)
    assert experiments_in(client, WORKSPACE_A) == 0


def test_bound_token_cannot_create_in_another_workspace_on_seed_000_route(
    client: TestClient, writer_b: dict[str, str]
) -> None:
    response = client.post(
        "/api/experiments/", params={"workspace": WORKSPACE_A}, json=EXPERIMENT, headers=writer_b
    )
    assert_error(response, 404)
    assert experiments_in(client, WORKSPACE_A) == 0


def test_bound_token_cannot_create_in_another_workspace_by_seed_003_body(
    client: TestClient, writer_b: dict[str, str]
) -> None:
    response = client.post(
        "/api/experiments", json={"name": "Checkout", "workspaceId": WORKSPACE_A}, headers=writer_b
    )
    assert_error(response, 404)
    assert experiments_in(client, WORKSPACE_A) == 0


def test_bound_token_cannot_create_a_new_workspace_by_seed_003_body(
    client: TestClient, writer_b: dict[str, str]
) -> None:
    response = client.post(
        "/api/experiments", json={"name": "Checkout", "workspaceId": "brand-new"}, headers=writer_b
    )
    assert_error(response, 404)
    listed = client.get("/api/v1/experiments/", params={"workspace": "brand-new"})
    assert_error(listed, 404)


def test_bound_token_cannot_list_another_workspace_by_seed_003_query(
    client: TestClient, writer_b: dict[str, str]
) -> None:
    response = client.get("/api/experiments", params={"workspaceId": WORKSPACE_A}, headers=writer_b)
    assert_error(response, 404)


def test_bound_token_cannot_change_status_in_another_workspace_by_seed_003_patch(
    client: TestClient, writer_b: dict[str, str]
) -> None:
    created = client.post(
        "/api/experiments", json={"name": "Checkout", "workspaceId": WORKSPACE_A}
    ).json()
    for body in (
        {"id": created["id"], "status": "active"},
        {"id": created["id"], "status": "active", "workspaceId": WORKSPACE_A},
        {"id": created["key"], "status": "active", "workspaceId": WORKSPACE_A},
    ):
        assert_error(client.patch("/api/experiments", json=body, headers=writer_b), 404)
    after = client.get("/api/experiments", params={"workspaceId": WORKSPACE_A}).json()
    assert after["data"][0]["status"] == "inactive"


def test_bound_token_acts_in_its_own_workspace_by_default(
    client: TestClient, writer_b: dict[str, str]
) -> None:
    response = client.post("/api/v1/experiments/", json=EXPERIMENT, headers=writer_b)
    assert response.status_code == 201
    assert response.json()["workspace"] == WORKSPACE_B


def test_bound_token_may_name_its_own_workspace(
    client: TestClient, writer_b: dict[str, str]
) -> None:
    response = client.post(
        "/api/experiments", json={"name": "Checkout", "workspaceId": WORKSPACE_B}, headers=writer_b
    )
    assert response.status_code == 201
    assert response.json()["workspaceId"] == WORKSPACE_B
