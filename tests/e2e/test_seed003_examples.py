"""Seed 003's examples (its curl commands and documented bodies) against ``splitlab serve``.

Seed 003 predates authentication; Splitlab requires a token, so each request carries one. The
placeholder id ``experiment_789`` is replaced by the id the server returned.
"""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_curl_examples(http: httpx.Client) -> None:
    listed = http.get("/api/experiments?workspaceId=workspace_123")
    assert listed.status_code == 200
    assert listed.json() == {
        "data": [],
        "meta": {"page": 1, "limit": 10, "total": 0, "totalPages": 0},
    }

    created = http.post(
        "/api/experiments",
        json={
            "name": "Button Color Test",
            "description": "Testing CTA button colors",
            "workspaceId": "workspace_123",
            "variantId": "variant_456",
        },
    )
    assert created.status_code == 201, created.text
    experiment = created.json()
    assert experiment["status"] == "inactive"
    assert experiment["workspaceId"] == "workspace_123"
    assert experiment["variantId"] == "variant_456"

    activated = http.patch("/api/experiments", json={"id": experiment["id"], "status": "active"})
    assert activated.status_code == 200
    assert activated.json()["status"] == "active"
    assert activated.json()["startDate"] is not None

    active = http.get("/api/experiments?workspaceId=workspace_123&status=active").json()
    assert [e["id"] for e in active["data"]] == [experiment["id"]]

    completed = http.patch(
        "/api/experiments",
        json={
            "id": experiment["id"],
            "status": "completed",
            "metrics": {"totalViews": 5000, "conversions": 250, "conversionRate": 5},
        },
    )
    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"
    assert completed.json()["endDate"] is not None
    assert completed.json()["metrics"]["conversions"] == 250


def test_documented_create_body_and_response_fields(http: httpx.Client) -> None:
    body = {
        "name": "A/B Test Homepage",
        "description": "Testing new homepage layout",
        "workspaceId": "workspace_cuid",
        "variantId": "variant_cuid",
        "status": "inactive",
        "startDate": "2025-08-10T00:00:00Z",
        "endDate": "2025-08-20T00:00:00Z",
        "metrics": {"targetConversionRate": 5},
        "createdBy": "user_cuid",
    }
    response = http.post("/api/experiments", json=body)
    assert response.status_code == 201
    created = response.json()
    for field in (
        "id",
        "name",
        "description",
        "variantId",
        "workspaceId",
        "status",
        "startDate",
        "endDate",
        "metrics",
        "createdBy",
        "createdAt",
        "updatedAt",
    ):
        assert field in created
    assert created["startDate"] == "2025-08-10T00:00:00.000Z"
    assert created["endDate"] == "2025-08-20T00:00:00.000Z"

    patched = http.patch(
        "/api/experiments",
        json={
            "id": created["id"],
            "status": "active",
            "metrics": {"views": 1500, "conversions": 75},
            "preserveDates": False,
        },
    ).json()
    assert patched["status"] == "active"
    assert patched["startDate"] == "2025-08-10T00:00:00.000Z"  # already set: kept
    assert patched["metrics"] == {"views": 1500, "conversions": 75}

    duplicate = http.post("/api/experiments", json=body)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"] == "An experiment with this name already exists"


def test_documented_errors(http: httpx.Client) -> None:
    missing = http.get("/api/experiments?workspaceId=")
    assert missing.status_code == 400
    assert missing.json()["error"] == "workspaceId is required"
    invalid = http.get("/api/experiments?workspaceId=workspace_123&status=done")
    assert invalid.status_code == 400
    assert invalid.json()["error"] == "Invalid status. Must be one of: active, inactive, completed"
    not_found = http.patch("/api/experiments", json={"id": "experiment_789", "status": "active"})
    assert not_found.status_code == 404
    assert not_found.json()["error"] == "Experiment not found"
