"""Seed 000's experiment-management examples, sent as written to a running ``splitlab serve``."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e

CREATE = {
    "key": "schedule_optimizer_v2",
    "name": "Schedule Optimizer V2 Test",
    "description": "Testing new optimization algorithm",
    "hypothesis": "New algorithm improves schedule quality by 20%",
    "variants": [
        {"key": "control", "name": "Current Algorithm", "allocation": 50, "is_control": True},
        {"key": "treatment", "name": "New Algorithm", "allocation": 50},
    ],
    "targeting": {"roles": ["admin", "coordinator"], "percentage": 100},
    "config": {"sticky_bucketing": True, "min_sample_size": 100, "confidence_level": 0.95},
}
BASE = "/api/experiments"


def test_the_documented_flow(http: httpx.Client) -> None:
    created = http.post(f"{BASE}/", json=CREATE)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"] == "schedule_optimizer_v2"
    assert body["name"] == "Schedule Optimizer V2 Test"
    assert body["status"] == "draft"
    assert len(body["variants"]) == 2
    assert body["created_at"].endswith("Z")
    assert body["targeting"] == CREATE["targeting"]
    assert body["config"]["override_enabled"] is True

    listed = http.get(f"{BASE}/").json()
    assert set(listed) == {"experiments", "total", "page", "page_size", "total_pages"}
    assert (listed["total"], listed["page"], listed["page_size"], listed["total_pages"]) == (
        1,
        1,
        50,
        1,
    )
    assert http.get(f"{BASE}/", params={"status": "draft"}).json()["total"] == 1

    updated = http.put(
        f"{BASE}/schedule_optimizer_v2",
        json={"name": "Updated Name", "description": "Updated description"},
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "Updated Name"

    started = http.post(f"{BASE}/schedule_optimizer_v2/start")
    assert started.status_code == 200
    assert started.json()["key"] == "schedule_optimizer_v2"
    assert started.json()["status"] == "running"
    assert started.json()["start_date"].endswith("Z")

    got = http.get(f"{BASE}/schedule_optimizer_v2").json()
    assert got["status"] == "running"
    assert [(v["key"], v["allocation"], v["is_control"]) for v in got["variants"]] == [
        ("control", 50, True),
        ("treatment", 50, False),
    ]
    assert got["start_date"] == started.json()["start_date"]

    assert http.post(f"{BASE}/schedule_optimizer_v2/pause").json()["status"] == "paused"
    assert http.post(f"{BASE}/schedule_optimizer_v2/start").json()["status"] == "running"

    concluded = http.post(
        f"{BASE}/schedule_optimizer_v2/conclude",
        json={
            "winning_variant": "treatment",
            "notes": "Treatment showed 25% improvement in schedule quality",
        },
    )
    assert concluded.status_code == 200
    assert concluded.json()["winning_variant"] == "treatment"

    history = http.get(f"{BASE}/schedule_optimizer_v2/events").json()
    assert [e["action"] for e in history["events"]] == [
        "created",
        "updated",
        "started",
        "paused",
        "resumed",
        "completed",
    ]

    stats = http.get(f"{BASE}/stats").json()
    assert stats["total_experiments"] == 1
    assert stats["completed_experiments"] == 1
    for field in (
        "running_experiments",
        "draft_experiments",
        "total_users_assigned",
        "total_metrics_tracked",
    ):
        assert field in stats


def test_update_variants_only_while_draft(http: httpx.Client) -> None:
    http.post(f"{BASE}/", json={**CREATE, "key": "draft-only", "name": "Draft only"})
    variants = [{"key": "control", "allocation": 40}, {"key": "treatment", "allocation": 60}]
    assert http.put(f"{BASE}/draft-only", json={"variants": variants}).status_code == 200
    http.post(f"{BASE}/draft-only/start")
    assert http.put(f"{BASE}/draft-only", json={"variants": variants[::-1]}).status_code == 409


def test_delete_cancels(http: httpx.Client) -> None:
    http.post(f"{BASE}/", json={**CREATE, "key": "to-cancel", "name": "To cancel"})
    response = http.delete(f"{BASE}/to-cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_without_a_token_it_is_401(admin_server: object) -> None:
    url = admin_server.url
    response = httpx.get(f"{url}{BASE}/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
