"""Seed 003's workspace-scoped dialect on /api/experiments: camelCase, {data, meta}, 400s."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

JS_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "A/B Test Homepage", "workspaceId": "workspace_123", **fields}
    response = client.post("/api/experiments", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_as_documented(client: TestClient) -> None:
    body = create(
        client,
        description="Testing new homepage layout",
        variantId="variant_cuid",
        status="inactive",
        startDate="2025-08-10T00:00:00Z",
        endDate="2025-08-20T00:00:00Z",
        metrics={"targetConversionRate": 5},
        createdBy="user_cuid",
    )
    assert body["name"] == "A/B Test Homepage"
    assert body["workspaceId"] == "workspace_123"
    assert body["variantId"] == "variant_cuid"
    assert body["status"] == "inactive"
    assert body["startDate"] == "2025-08-10T00:00:00.000Z"
    assert body["endDate"] == "2025-08-20T00:00:00.000Z"
    assert body["metrics"] == {"targetConversionRate": 5}
    assert body["createdBy"] == "user_cuid"
    assert isinstance(body["id"], str)
    assert JS_ISO.match(body["createdAt"])
    assert JS_ISO.match(body["updatedAt"])


def test_create_defaults_to_inactive_with_two_variants(client: TestClient) -> None:
    body = create(client)
    assert body["status"] == "inactive"
    seed000 = client.get(f"/api/experiments/{body['id']}", params={"workspace": "workspace_123"})
    assert [v["key"] for v in seed000.json()["variants"]] == ["control", "treatment"]


def test_create_active_starts_it(client: TestClient) -> None:
    body = create(client, status="active")
    assert body["status"] == "active"
    assert body["startDate"] is not None


def test_create_requires_workspace_id_and_name(client: TestClient) -> None:
    response = client.post("/api/experiments", json={"workspaceId": "", "name": "x"})
    assert response.status_code == 400
    assert response.json()["error"] == "workspaceId is required"
    response = client.post("/api/experiments", json={"workspaceId": "w1"})
    assert response.status_code == 400
    assert response.json()["error"] == "name is required"


def test_create_with_invalid_status_is_400(client: TestClient) -> None:
    response = client.post(
        "/api/experiments", json={"name": "x", "workspaceId": "w", "status": "started"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid status. Must be one of: active, inactive, completed"


def test_malformed_fields_are_400_not_422(client: TestClient) -> None:
    response = client.post(
        "/api/experiments", json={"name": "x", "workspaceId": "w", "startDate": "tomorrow"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["details"][0]["loc"] == ["body", "startDate"]


def test_duplicate_name_is_409_with_seed_wording(client: TestClient) -> None:
    create(client)
    response = client.post(
        "/api/experiments", json={"name": "A/B Test Homepage", "workspaceId": "workspace_123"}
    )
    assert response.status_code == 409
    assert response.json()["error"] == "An experiment with this name already exists"


def test_same_name_in_another_workspace_is_fine(client: TestClient) -> None:
    create(client)
    create(client, workspaceId="workspace_456")


def test_list_returns_data_and_meta(client: TestClient) -> None:
    for i in range(3):
        create(client, name=f"Experiment {i}")
    body = client.get("/api/experiments", params={"workspaceId": "workspace_123"}).json()
    assert body["meta"] == {"page": 1, "limit": 10, "total": 3, "totalPages": 1}
    assert [e["name"] for e in body["data"]] == ["Experiment 2", "Experiment 1", "Experiment 0"]


def test_list_filters_by_seed_003_status(client: TestClient) -> None:
    active = create(client, name="On", status="active")
    create(client, name="Off")
    body = client.get(
        "/api/experiments", params={"workspaceId": "workspace_123", "status": "active"}
    ).json()
    assert [e["id"] for e in body["data"]] == [active["id"]]
    body = client.get(
        "/api/experiments", params={"workspaceId": "workspace_123", "status": "inactive"}
    ).json()
    assert [e["name"] for e in body["data"]] == ["Off"]


def test_list_sorts_and_paginates(client: TestClient) -> None:
    for name in ["b", "c", "a", "e", "d"]:
        create(client, name=name)
    params = {"workspaceId": "workspace_123", "sortBy": "name", "sortOrder": "asc", "limit": 2}
    first = client.get("/api/experiments", params={**params, "page": 1}).json()
    third = client.get("/api/experiments", params={**params, "page": 3}).json()
    assert [e["name"] for e in first["data"]] == ["a", "b"]
    assert [e["name"] for e in third["data"]] == ["e"]
    assert first["meta"] == {"page": 1, "limit": 2, "total": 5, "totalPages": 3}


def test_list_of_an_unused_workspace_is_empty(client: TestClient) -> None:
    body = client.get("/api/experiments", params={"workspaceId": "nobody-yet"}).json()
    assert body == {"data": [], "meta": {"page": 1, "limit": 10, "total": 0, "totalPages": 0}}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"workspaceId": ""}, "workspaceId is required"),
        (
            {"workspaceId": "w", "status": "running"},
            "Invalid status. Must be one of: active, inactive, completed",
        ),
        ({"workspaceId": "w", "page": "0"}, "page must be a positive integer"),
        ({"workspaceId": "w", "limit": "abc"}, "limit must be a positive integer"),
        ({"workspaceId": "w", "limit": "500"}, "limit must be at most 100"),
        (
            {"workspaceId": "w", "sortBy": "color"},
            "Invalid sortBy. Must be one of: createdAt, updatedAt, name, status, startDate, endDate",
        ),
        ({"workspaceId": "w", "sortOrder": "up"}, "Invalid sortOrder. Must be one of: asc, desc"),
    ],
)
def test_list_rejects_bad_parameters_with_400(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    response = client.get("/api/experiments", params=params)
    assert response.status_code == 400
    assert response.json()["error"] == message


def test_activate_sets_start_date(client: TestClient) -> None:
    created = create(client)
    body = client.patch("/api/experiments", json={"id": created["id"], "status": "active"}).json()
    assert body["status"] == "active"
    assert JS_ISO.match(body["startDate"])


def test_activate_keeps_a_planned_start_date(client: TestClient) -> None:
    created = create(client, startDate="2030-01-01T00:00:00Z")
    body = client.patch("/api/experiments", json={"id": created["id"], "status": "active"}).json()
    assert body["startDate"] == "2030-01-01T00:00:00.000Z"


def test_preserve_dates_leaves_dates_alone(client: TestClient) -> None:
    created = create(client)
    body = client.patch(
        "/api/experiments", json={"id": created["id"], "status": "active", "preserveDates": True}
    ).json()
    assert body["status"] == "active"
    assert body["startDate"] is None
    body = client.patch(
        "/api/experiments",
        json={"id": created["id"], "status": "completed", "preserveDates": True},
    ).json()
    assert body["endDate"] is None


def test_complete_with_metrics_sets_end_date(client: TestClient) -> None:
    created = create(client, status="active")
    metrics = {"totalViews": 5000, "conversions": 250, "conversionRate": 5}
    body = client.patch(
        "/api/experiments", json={"id": created["id"], "status": "completed", "metrics": metrics}
    ).json()
    assert body["status"] == "completed"
    assert body["metrics"] == metrics
    assert JS_ISO.match(body["endDate"])


def test_deactivate_pauses_a_running_experiment(client: TestClient) -> None:
    created = create(client, status="active")
    body = client.patch("/api/experiments", json={"id": created["id"], "status": "inactive"}).json()
    assert body["status"] == "inactive"
    seed000 = client.get(f"/api/experiments/{created['id']}", params={"workspace": "workspace_123"})
    assert seed000.json()["status"] == "paused"


def test_same_status_with_metrics_only_updates_metrics(client: TestClient) -> None:
    created = create(client, status="active")
    body = client.patch(
        "/api/experiments",
        json={
            "id": created["id"],
            "status": "active",
            "metrics": {"views": 1500, "conversions": 75},
        },
    ).json()
    assert body["status"] == "active"
    assert body["metrics"] == {"views": 1500, "conversions": 75}


def test_completing_a_never_started_experiment_is_409(client: TestClient) -> None:
    created = create(client)
    response = client.patch("/api/experiments", json={"id": created["id"], "status": "completed"})
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"status": "active"}, 400, "id is required"),
        ({"id": "1"}, 400, "status is required"),
        (
            {"id": "1", "status": "on"},
            400,
            "Invalid status. Must be one of: active, inactive, completed",
        ),
        ({"id": "experiment_789", "status": "active"}, 404, "Experiment not found"),
        ({"id": "987654", "status": "active"}, 404, "Experiment not found"),
    ],
)
def test_patch_errors(client: TestClient, body: dict[str, Any], status: int, message: str) -> None:
    create(client)
    response = client.patch("/api/experiments", json=body)
    assert response.status_code == status
    assert response.json()["error"] == message


def test_patch_accepts_a_key_with_workspace_id(client: TestClient) -> None:
    create(client, key="homepage")
    body = client.patch(
        "/api/experiments",
        json={"id": "homepage", "workspaceId": "workspace_123", "status": "active"},
    ).json()
    assert body["status"] == "active"


def test_non_json_body_is_400(client: TestClient) -> None:
    response = client.post(
        "/api/experiments", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_a_broken_domain_rule_is_400_naming_the_field_in_camel_case(client: TestClient) -> None:
    response = client.post(
        "/api/experiments",
        json={
            "name": "Backwards",
            "workspaceId": "workspace_123",
            "startDate": "2025-08-20T00:00:00Z",
            "endDate": "2025-08-10T00:00:00Z",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("endDate:")
    assert response.json()["details"][0]["loc"] == ["endDate"]
