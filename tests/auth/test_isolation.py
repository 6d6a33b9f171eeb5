"""A token bound to workspace B never sees workspace A: not in lists, not in counts."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from splitlab.storage.engine import Database
from splitlab.storage.models import Event
from tests.auth.conftest import WORKSPACE_A, WORKSPACE_B, assert_error, bearer, issue, secret


@pytest.fixture
def populated_a(client: TestClient, two_workspaces: tuple[str, str]) -> None:
    """Workspace A holds two experiments (one running), two users and a bound token."""
    in_a = {"workspace": WORKSPACE_A}
    for key in ("checkout", "pricing"):
        response = client.post("/api/v1/experiments/", params=in_a, json={"key": key, "name": key})
        assert response.status_code == 201
    assert client.post("/api/experiments/checkout/start", params=in_a).status_code == 200
    for user_id in ("ann", "bob"):
        response = client.post("/api/v1/users/", params=in_a, json={"user_id": user_id})
        assert response.status_code == 201
    issue(client, name="a's token", workspace=WORKSPACE_A)


@pytest.fixture
def reader_b(client: TestClient, populated_a: None) -> dict[str, str]:
    return bearer(secret(client, scope="readonly", workspace=WORKSPACE_B))


def test_seed_000_list_shows_nothing_of_another_workspace(
    client: TestClient, reader_b: dict[str, str]
) -> None:
    body = client.get("/api/experiments/", headers=reader_b).json()
    assert (body["experiments"], body["total"]) == ([], 0)
    # Seed 003's spelling needs the workspace named: its own 400, nothing listed.
    response = client.get("/api/experiments", headers=reader_b)
    assert response.status_code == 400
    assert response.json()["error"] == "workspaceId is required"


def test_v1_list_shows_nothing_of_another_workspace(
    client: TestClient, reader_b: dict[str, str]
) -> None:
    response = client.get("/api/v1/experiments/", headers=reader_b)
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"


def test_seed_003_list_of_another_workspace_is_404(
    client: TestClient, reader_b: dict[str, str]
) -> None:
    response = client.get("/api/experiments", params={"workspaceId": WORKSPACE_A}, headers=reader_b)
    assert_error(response, 404)


def test_seed_003_list_of_own_workspace_is_empty(
    client: TestClient, reader_b: dict[str, str]
) -> None:
    response = client.get("/api/experiments", params={"workspaceId": WORKSPACE_B}, headers=reader_b)
    assert response.status_code == 200
    assert response.json()["meta"]["total"] == 0


def test_stats_count_only_the_token_workspace(client: TestClient, reader_b: dict[str, str]) -> None:
    stats = client.get("/api/experiments/stats", headers=reader_b).json()
    assert stats["total_experiments"] == 0
    assert stats["running_experiments"] == 0
    assert stats["draft_experiments"] == 0


def test_stats_of_the_other_workspace_do_count_its_experiments(
    client: TestClient, populated_a: None
) -> None:
    """The control for the test above: A's objects are there to be (not) counted."""
    stats = client.get("/api/experiments/stats", params={"workspace": WORKSPACE_A}).json()
    assert (stats["total_experiments"], stats["running_experiments"]) == (2, 1)


def test_stats_of_another_workspace_by_query_or_header_are_404(
    client: TestClient, reader_b: dict[str, str]
) -> None:
    by_query = client.get(
        "/api/experiments/stats", params={"workspace": WORKSPACE_A}, headers=reader_b
    )
    by_header = client.get(
        "/api/experiments/stats", headers={**reader_b, "X-Splitlab-Workspace": WORKSPACE_A}
    )
    assert_error(by_query, 404)
    assert_error(by_header, 404)


def test_users_list_shows_nothing_of_another_workspace(
    client: TestClient, reader_b: dict[str, str]
) -> None:
    response = client.get("/api/v1/users/", headers=reader_b)
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"


def test_user_of_another_workspace_is_404(client: TestClient, reader_b: dict[str, str]) -> None:
    assert_error(client.get("/api/v1/users/ann", headers=reader_b), 404)


def test_bound_admin_lists_only_its_workspace_tokens(client: TestClient, populated_a: None) -> None:
    admin_b = issue(client, scope="admin", workspace=WORKSPACE_B)
    other_b = issue(client, workspace=WORKSPACE_B)
    response = client.get("/api/v1/api-tokens/", headers=bearer(admin_b["token"]))
    assert sorted(t["id"] for t in response.json()) == sorted([admin_b["id"], other_b["id"]])
    assert response.headers["X-Total-Count"] == "2"
    assert {t["workspace"] for t in response.json()} == {WORKSPACE_B}


def test_unbound_admin_lists_every_token(client: TestClient, populated_a: None) -> None:
    issue(client, workspace=WORKSPACE_B)
    workspaces = {t["workspace"] for t in client.get("/api/v1/api-tokens/").json()}
    assert workspaces == {None, WORKSPACE_A, WORKSPACE_B}


def test_unbound_token_reads_the_workspace_it_names(client: TestClient, populated_a: None) -> None:
    reader = bearer(secret(client, scope="readonly"))
    by_query = client.get("/api/v1/users/", params={"workspace": WORKSPACE_A}, headers=reader)
    by_header = client.get(
        "/api/v1/users/", headers={**reader, "X-Splitlab-Workspace": WORKSPACE_A}
    )
    assert [u["user_id"] for u in by_query.json()] == ["ann", "bob"]
    assert [u["user_id"] for u in by_header.json()] == ["ann", "bob"]


def test_unbound_token_without_a_workspace_reads_the_default_one(
    client: TestClient, populated_a: None
) -> None:
    reader = bearer(secret(client, scope="readonly"))
    assert client.get("/api/v1/users/", headers=reader).json() == []


def test_unknown_workspace_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/users/", params={"workspace": "nowhere"})
    assert assert_error(response, 404)["code"] == "workspace_not_found"


def test_an_event_id_is_unique_per_workspace_not_across_them(
    client: TestClient, db: Database, two_workspaces: tuple[str, str]
) -> None:
    event = {"event_id": "order-1", "user_id": "u1", "event_type": "purchase"}
    for workspace in two_workspaces:
        writer = bearer(secret(client, scope="experiment", workspace=workspace))
        first = client.post("/api/v1/events/batch", json={"events": [event]}, headers=writer)
        again = client.post("/api/v1/events/batch", json={"events": [event]}, headers=writer)
        assert (first.json()["accepted"], again.json()["duplicates"]) == (1, 1), workspace
    with db.session_scope() as session:
        stored = list(
            session.scalars(select(Event.workspace_id).where(Event.event_id == "order-1"))
        )
    assert len(stored) == len(set(stored)) == 2
