"""Seed 001's API-token management: the secret shown once, prefixes in listings, revocation."""

from __future__ import annotations

import base64
from datetime import timedelta

from fastapi.testclient import TestClient

from splitlab.auth.tokens import hash_secret
from splitlab.storage.base import utcnow
from splitlab.storage.engine import Database
from splitlab.storage.models import ApiToken
from tests.auth.conftest import assert_error, assert_unauthenticated, bearer, issue, secret

SEED_CREATE = {"name": "My Test Token", "description": "Token for testing API endpoints"}
SEED_UPDATE = {"name": "Updated Test Token", "is_active": True}


def who_am_i(client: TestClient, token: str) -> int:
    """A harmless authenticated request; returns its status code."""
    return client.get("/api/v1/users/", headers=bearer(token)).status_code


# --- seed 001 examples, as written -----------------------------------------------------------


def test_seed_create_example_returns_201_with_a_readonly_token(client: TestClient) -> None:
    response = client.post("/api/v1/api-tokens/", json=SEED_CREATE)
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["description"]) == (SEED_CREATE["name"], SEED_CREATE["description"])
    assert body["scope"] == "readonly"
    assert body["is_active"] is True
    assert body["workspace"] is None


def test_seed_get_all_example_lists_tokens(client: TestClient) -> None:
    created = issue(client, **SEED_CREATE)
    response = client.get("/api/v1/api-tokens/")
    assert response.status_code == 200
    assert created["id"] in [t["id"] for t in response.json()]
    assert response.headers["X-Total-Count"] == str(len(response.json()))


def test_seed_get_by_id_example_returns_the_token(client: TestClient) -> None:
    created = issue(client, **SEED_CREATE)
    response = client.get(f"/api/v1/api-tokens/{created['id']}")
    assert response.status_code == 200
    assert response.json()["name"] == "My Test Token"


def test_seed_update_example_renames_the_token(client: TestClient) -> None:
    created = issue(client, **SEED_CREATE)
    response = client.put(f"/api/v1/api-tokens/{created['id']}", json=SEED_UPDATE)
    assert response.status_code == 200
    assert response.json()["name"] == "Updated Test Token"
    assert response.json()["is_active"] is True
    assert response.json()["description"] == SEED_CREATE["description"]
    assert client.get(f"/api/v1/api-tokens/{created['id']}").json()["name"] == "Updated Test Token"


def test_seed_delete_example_removes_the_token(client: TestClient) -> None:
    created = issue(client, **SEED_CREATE)
    assert client.delete(f"/api/v1/api-tokens/{created['id']}").status_code == 204
    assert_error(client.get(f"/api/v1/api-tokens/{created['id']}"), 404)


# --- the secret ------------------------------------------------------------------------------


def test_secret_has_the_slk_prefix_and_at_least_128_random_bits(client: TestClient) -> None:
    token = secret(client)
    assert token.startswith("slk_")
    random_part = token.removeprefix("slk_")
    decoded = base64.urlsafe_b64decode(random_part + "=" * (-len(random_part) % 4))
    assert len(decoded) * 8 >= 128


def test_every_token_gets_a_different_secret(client: TestClient) -> None:
    assert len({secret(client) for _ in range(5)}) == 5


def test_new_token_authenticates(client: TestClient) -> None:
    assert who_am_i(client, secret(client)) == 200


def test_listing_shows_the_prefix_and_never_the_secret(client: TestClient) -> None:
    created = issue(client)
    response = client.get("/api/v1/api-tokens/")
    assert created["token"] not in response.text
    listed = next(t for t in response.json() if t["id"] == created["id"])
    assert "token" not in listed
    assert listed["prefix"] == created["prefix"]
    assert created["token"].startswith(listed["prefix"])
    assert len(listed["prefix"]) <= 12


def test_get_and_update_never_show_the_secret(client: TestClient) -> None:
    created = issue(client)
    got = client.get(f"/api/v1/api-tokens/{created['id']}")
    updated = client.put(f"/api/v1/api-tokens/{created['id']}", json={"name": "renamed"})
    for response in (got, updated):
        assert created["token"] not in response.text
        assert "token" not in response.json()


def test_scope_defaults_to_readonly(client: TestClient) -> None:
    token = secret(client, name="no scope given")
    assert client.get("/api/v1/experiments/", headers=bearer(token)).status_code == 200
    denied = client.post("/api/v1/users/", json={"user_id": "u1"}, headers=bearer(token))
    assert_error(denied, 403)


def test_token_is_created_with_the_requested_scope(client: TestClient) -> None:
    for scope in ("readonly", "experiment", "admin"):
        assert issue(client, scope=scope)["scope"] == scope


def test_unknown_scope_is_rejected(client: TestClient) -> None:
    response = client.post("/api/v1/api-tokens/", json={"name": "x", "scope": "superuser"})
    assert_error(response, 422)


# --- update, revoke, delete, expire ----------------------------------------------------------


def test_update_changes_description_and_keeps_the_rest(client: TestClient) -> None:
    created = issue(client, scope="experiment", description="old")
    response = client.put(f"/api/v1/api-tokens/{created['id']}", json={"description": "new"})
    assert response.status_code == 200
    assert response.json()["description"] == "new"
    assert response.json()["name"] == created["name"]
    assert response.json()["scope"] == "experiment"


def test_deactivated_token_is_401_on_the_very_next_request(client: TestClient) -> None:
    created = issue(client)
    assert who_am_i(client, created["token"]) == 200
    revoked = client.put(f"/api/v1/api-tokens/{created['id']}", json={"is_active": False})
    assert revoked.json()["is_active"] is False
    assert_unauthenticated(client.get("/api/v1/users/", headers=bearer(created["token"])))


def test_reactivated_token_works_again(client: TestClient) -> None:
    created = issue(client)
    client.put(f"/api/v1/api-tokens/{created['id']}", json={"is_active": False})
    client.put(f"/api/v1/api-tokens/{created['id']}", json={"is_active": True})
    assert who_am_i(client, created["token"]) == 200


def test_token_that_deactivates_itself_is_401_next(client: TestClient) -> None:
    created = issue(client, scope="admin")
    own = bearer(created["token"])
    response = client.put(
        f"/api/v1/api-tokens/{created['id']}", json={"is_active": False}, headers=own
    )
    assert response.status_code == 200
    assert_unauthenticated(client.get("/api/v1/api-tokens/", headers=own))


def test_deleted_token_is_401_on_the_very_next_request(client: TestClient) -> None:
    created = issue(client)
    assert who_am_i(client, created["token"]) == 200
    assert client.delete(f"/api/v1/api-tokens/{created['id']}").status_code == 204
    assert_unauthenticated(client.get("/api/v1/users/", headers=bearer(created["token"])))


def test_deleting_an_unknown_token_is_404(client: TestClient) -> None:
    assert_error(client.delete("/api/v1/api-tokens/987654"), 404)


def test_updating_an_unknown_token_is_404(client: TestClient) -> None:
    assert_error(client.put("/api/v1/api-tokens/987654", json={"name": "x"}), 404)


def test_token_with_a_future_expiry_works(client: TestClient) -> None:
    created = issue(client, expires_in_days=1)
    assert created["expires_at"] is not None
    assert who_am_i(client, created["token"]) == 200


def test_expired_token_is_401(client: TestClient, db: Database) -> None:
    created = issue(client, expires_in_days=1)
    with db.session_scope() as session:
        token = session.get(ApiToken, created["id"])
        assert token is not None
        token.expires_at = utcnow() - timedelta(seconds=1)
    assert_unauthenticated(client.get("/api/v1/users/", headers=bearer(created["token"])))


def test_expires_at_in_the_past_is_rejected_at_creation(client: TestClient) -> None:
    past = (utcnow() - timedelta(days=1)).isoformat()
    response = client.post("/api/v1/api-tokens/", json={"name": "x", "expires_at": past})
    assert_error(response, 422)


def test_expires_at_without_a_timezone_is_rejected(client: TestClient) -> None:
    response = client.post(
        "/api/v1/api-tokens/", json={"name": "x", "expires_at": "2999-01-01T00:00:00"}
    )
    assert_error(response, 422)


def test_explicit_expires_at_is_kept(client: TestClient) -> None:
    response = client.post(
        "/api/v1/api-tokens/", json={"name": "x", "expires_at": "2999-01-01T00:00:00Z"}
    )
    assert response.status_code == 201
    assert response.json()["expires_at"].startswith("2999-01-01T00:00:00")


def test_last_used_at_is_empty_until_the_token_is_used(client: TestClient) -> None:
    created = issue(client)
    assert created["last_used_at"] is None
    assert client.get(f"/api/v1/api-tokens/{created['id']}").json()["last_used_at"] is None


def test_last_used_at_is_set_after_use(client: TestClient) -> None:
    created = issue(client)
    before = utcnow()
    assert who_am_i(client, created["token"]) == 200
    last_used = client.get(f"/api/v1/api-tokens/{created['id']}").json()["last_used_at"]
    assert last_used is not None
    assert last_used >= before.isoformat()[:19]


def test_stored_hash_is_the_sha256_of_the_secret(client: TestClient, db: Database) -> None:
    created = issue(client)
    with db.session_scope() as session:
        token = session.get(ApiToken, created["id"])
        assert token is not None
        assert token.token_hash == hash_secret(created["token"])
        assert len(token.token_hash) == 64


def test_the_last_admin_token_cannot_delete_or_turn_off_itself(client: TestClient) -> None:
    """Deleting the token making the call, when it was the last admin, locked everyone out."""
    listed = client.get("/api/v1/api-tokens/").json()
    (own,) = [t for t in listed if t["scope"] == "admin"]
    deleted = client.delete(f"/api/v1/api-tokens/{own['id']}")
    assert deleted.status_code == 409
    assert deleted.json()["code"] == "last_admin_token"
    turned_off = client.put(f"/api/v1/api-tokens/{own['id']}", json={"is_active": False})
    assert turned_off.status_code == 409
    assert client.get("/api/v1/api-tokens/").status_code == 200  # still in
    # With another admin token, it may go: that one is the way back in.
    other = client.post("/api/v1/api-tokens/", json={"name": "second", "scope": "admin"}).json()
    assert client.delete(f"/api/v1/api-tokens/{own['id']}").status_code == 204
    again = client.get("/api/v1/api-tokens/", headers={"Authorization": f"Bearer {other['token']}"})
    assert again.status_code == 200
