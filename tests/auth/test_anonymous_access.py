"""Anonymous access (``SPLITLAB_ANONYMOUS_ACCESS``): seed 003's "no authentication is required",
as an opt-in that demo mode turns on. Off by default; never more than ``experiment`` scope; a bad
token is still a 401, never quietly anonymous."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from splitlab.app import create_app
from splitlab.config import Settings
from tests.auth.conftest import assert_error

CREATE = {"name": "Button Color Test", "workspaceId": "workspace_123", "variantId": "variant_456"}


def _client(settings: Settings, **overrides: object) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update=overrides))) as client:
        yield client


@pytest.fixture
def anonymous_client(settings: Settings) -> Iterator[TestClient]:
    yield from _client(settings, anonymous_access="experiment")


def test_anonymous_calls_are_refused_by_default(app_client: TestClient) -> None:
    response = app_client.get("/api/experiments", params={"workspaceId": "workspace_123"})
    assert_error(response, 401)
    assert_error(app_client.post("/api/experiments", json=CREATE), 401)


def test_seed_003_round_trip_without_a_token(anonymous_client: TestClient) -> None:
    created = anonymous_client.post("/api/experiments", json=CREATE)
    assert created.status_code == 201, created.text
    experiment = created.json()
    assert experiment["createdBy"] == "anonymous"

    activated = anonymous_client.patch(
        "/api/experiments", json={"id": experiment["id"], "status": "active"}
    )
    assert activated.status_code == 200
    assert activated.json()["status"] == "active"

    listed = anonymous_client.get(
        "/api/experiments", params={"workspaceId": "workspace_123", "status": "active"}
    )
    assert [e["id"] for e in listed.json()["data"]] == [experiment["id"]]

    # The audit trail says who: nobody in particular, and not a token's name.
    history = anonymous_client.get(
        f"/api/experiments/{experiment['key']}/events", params={"workspace": "workspace_123"}
    )
    assert history.status_code == 200
    assert {e["actor"] for e in history.json()["events"]} == {"anonymous"}


def test_seed_001_routes_always_need_a_token(anonymous_client: TestClient) -> None:
    # Seed 001 documents a bearer token on every endpoint: anonymous access stops at /api/v1.
    minted = anonymous_client.post("/api/v1/api-tokens/", json={"name": "x", "scope": "admin"})
    assert_error(minted, 401)
    for path in ("/api/v1/api-tokens/", "/api/v1/experiments/", "/api/v1/users/"):
        assert_error(anonymous_client.get(path), 401)
    # ...while seed 000's routes take it.
    assert anonymous_client.get("/api/experiments/stats").status_code == 200


def test_a_bad_token_is_still_401_when_anonymous_calls_are_allowed(
    anonymous_client: TestClient,
) -> None:
    for header in ("Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer", ""):
        response = anonymous_client.get(
            "/api/experiments",
            params={"workspaceId": "workspace_123"},
            headers={"Authorization": header},
        )
        assert_error(response, 401)


def test_readonly_anonymous_access_reads_but_cannot_write(settings: Settings) -> None:
    for client in _client(settings, anonymous_access="readonly"):
        assert client.get("/api/experiments", params={"workspaceId": "w"}).status_code == 200
        assert_error(client.post("/api/experiments", json=CREATE), 403)


def test_demo_mode_accepts_anonymous_calls_unless_told_not_to(settings: Settings) -> None:
    for client in _client(settings, demo=True):
        assert client.post("/api/experiments", json=CREATE).status_code == 201
    for client in _client(settings, demo=True, anonymous_access="off"):
        assert_error(client.post("/api/experiments", json=CREATE), 401)


@pytest.mark.parametrize("value", ["admin", "sdk", "yes"])
def test_anonymous_access_is_never_admin(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITLAB_ANONYMOUS_ACCESS", value)
    with pytest.raises(ValidationError, match="anonymous_access"):
        Settings()
