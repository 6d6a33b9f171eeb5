"""Seed 001 analytics and data management, with real figures from real traffic."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from splitlab.analytics import data_management
from splitlab.storage.engine import Database
from splitlab.storage.models import Event, Exposure
from tests.factories import experiment_body


def traffic(client: TestClient, users: int = 20) -> dict[str, Any]:
    experiment = client.post("/api/experiments/", json=experiment_body()).json()
    client.post("/api/experiments/checkout-test/start")
    for i in range(users):
        client.post("/api/experiments/checkout-test/assignments", json={"user_id": f"u{i}"})
        client.post(
            "/api/v1/events/",
            json={"experiment_id": experiment["id"], "user_id": f"u{i}", "event_type": "page_view"},
        )
        if i % 4 == 0:
            client.post(
                "/api/v1/events/",
                json={
                    "experiment_id": experiment["id"],
                    "user_id": f"u{i}",
                    "event_type": "conversion",
                    "properties": {"value": 10},
                },
            )
    return experiment


def test_every_seed_analytics_endpoint_answers(client: TestClient) -> None:
    traffic(client)
    for path in [
        "/api/v1/analytics/experiments",
        "/api/v1/analytics/variants",
        "/api/v1/analytics/assignments",
        "/api/v1/analytics/events?limit=10&offset=0",
        "/api/v1/analytics/users",
        "/api/v1/analytics/reports",
        "/api/v1/analytics/summary",
    ]:
        assert client.get(path).status_code == 200, path


def test_experiment_and_variant_figures(client: TestClient) -> None:
    traffic(client)
    (experiment,) = client.get("/api/v1/analytics/experiments").json()
    assert (
        experiment["key"],
        experiment["variants"],
        experiment["exposures"],
        experiment["events"],
    ) == (
        "checkout-test",
        2,
        20,
        25,
    )
    variants = client.get("/api/v1/analytics/variants").json()
    assert sum(v["users"] for v in variants) == 20
    assert sum(v["events"] for v in variants) == 25
    assert sum(v["value_sum"] for v in variants) == 50


def test_events_are_paged_newest_first(client: TestClient) -> None:
    traffic(client)
    page = client.get("/api/v1/analytics/events", params={"limit": 10, "offset": 0}).json()
    assert (page["total"], page["limit"], page["offset"], len(page["events"])) == (25, 10, 0, 10)
    assert page["by_type"] == {"page_view": 20, "conversion": 5}
    stamps = [e["timestamp"] for e in page["events"]]
    assert stamps == sorted(stamps, reverse=True)
    last = client.get("/api/v1/analytics/events", params={"limit": 10, "offset": 20}).json()
    assert len(last["events"]) == 5


def test_reports_are_per_experiment_variant_and_day(client: TestClient) -> None:
    traffic(client)
    rows = client.get("/api/v1/analytics/reports").json()
    today = datetime.now(UTC).date().isoformat()
    assert {r["day"] for r in rows} == {today}
    assert {r["variant_key"] for r in rows} <= {"control", "treatment"}
    assert sum(r["exposures"] for r in rows) == 20
    assert sum(r["events"] for r in rows) == 25
    assert sum(r["conversions"] for r in rows) == 5
    assert sum(r["value_sum"] for r in rows) == 50


def test_users_and_assignments_analytics(client: TestClient) -> None:
    traffic(client)
    client.post("/api/v1/users/", json={"user_id": "u1", "properties": {"plan": "pro"}})
    users = client.get("/api/v1/analytics/users").json()
    assert users == {
        "registered_users": 1,
        "new_users_last_7_days": 1,
        "exposed_users": 20,
        "users_with_events": 20,
    }
    assignments = client.get("/api/v1/analytics/assignments").json()
    assert (
        assignments["total_assignments"],
        assignments["unique_users"],
        assignments["overrides"],
    ) == (20, 20, 0)
    assert sum(d["assignments"] for d in assignments["last_30_days"]) == 20


def test_summary_counts_every_record_and_reports_services(client: TestClient) -> None:
    traffic(client)
    summary = client.get("/api/v1/analytics/summary").json()
    assert summary["counts"]["experiments"] == 1
    assert summary["counts"]["assignments"] == 20
    assert summary["counts"]["events"] == 25
    assert summary["services"]["database"]["status"] == "ok"
    assert summary["services"]["redis"]["status"] == "not_configured"


def _age_everything(db: Database, days: int) -> None:
    past = datetime.now(UTC) - timedelta(days=days)
    with db.session_scope() as session:
        for event in session.scalars(select(Event)):
            event.timestamp = past
        for exposure in session.scalars(select(Exposure)):
            exposure.exposed_at = past


def _count(db: Database, model: type) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_cleanup_never_touches_a_running_experiment(client: TestClient, db: Database) -> None:
    traffic(client)
    client.post("/api/v1/events/", json={"user_id": "loner", "event_type": "page_view"})
    _age_everything(db, 100)
    response = client.post(
        "/api/v1/data-management/cleanup",
        json={
            "retention_days": 30,
            "cleanup_events": True,
            "cleanup_assignments": True,
            "cleanup_outbox": True,
        },
    )
    assert response.status_code == 200
    assert response.json()["deleted"] == {"events": 1, "assignments": 0, "outbox": 0}
    assert _count(db, Event) == 25
    assert _count(db, Exposure) == 20


def test_cleanup_deletes_old_data_of_finished_experiments_in_batches(
    client: TestClient, db: Database
) -> None:
    traffic(client)
    client.post("/api/experiments/checkout-test/conclude")
    _age_everything(db, 100)
    fresh = client.post("/api/v1/events/", json={"user_id": "u1", "event_type": "page_view"})
    assert fresh.status_code == 201
    body = client.post(
        "/api/v1/data-management/cleanup",
        json={
            "retention_days": 30,
            "cleanup_events": True,
            "cleanup_assignments": True,
            "cleanup_outbox": True,
        },
    ).json()
    assert body["deleted"] == {"events": 25, "assignments": 20, "outbox": 0}
    assert body["batches"] == 2
    assert _count(db, Event) == 1


def test_cleanup_as_in_the_seed_keeps_assignments(client: TestClient, db: Database) -> None:
    traffic(client)
    client.post("/api/experiments/checkout-test/conclude")
    _age_everything(db, 100)
    body = client.post(
        "/api/v1/data-management/cleanup",
        json={
            "retention_days": 30,
            "cleanup_events": True,
            "cleanup_assignments": False,
            "cleanup_outbox": True,
        },
    ).json()
    assert body["deleted"]["assignments"] == 0
    assert _count(db, Exposure) == 20


def test_data_stats(client: TestClient) -> None:
    traffic(client, users=4)
    stats = client.get("/api/v1/data-management/stats").json()
    assert stats["rows"]["assignments"] == 4
    assert stats["rows"]["events"] == 5
    assert stats["oldest_event"] <= stats["newest_event"]
    assert stats["database_size_bytes"] > 0


CLEAN_EVERYTHING = {
    "retention_days": 30,
    "cleanup_events": True,
    "cleanup_assignments": True,
    "cleanup_outbox": True,
}


def test_cleanup_never_touches_a_paused_experiment(client: TestClient, db: Database) -> None:
    traffic(client)
    assert client.post("/api/experiments/checkout-test/pause").status_code == 200
    _age_everything(db, 100)
    body = client.post("/api/v1/data-management/cleanup", json=CLEAN_EVERYTHING).json()
    assert body["deleted"] == {"events": 0, "assignments": 0, "outbox": 0}
    assert (_count(db, Event), _count(db, Exposure)) == (25, 20)


def test_cleanup_deletes_in_batches_of_bounded_size(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    traffic(client)
    client.post("/api/experiments/checkout-test/conclude")
    _age_everything(db, 100)
    monkeypatch.setattr(data_management, "BATCH_SIZE", 3)
    commits: list[object] = []

    def committed(connection: object) -> None:
        commits.append(connection)

    engine = client.app.state.db.engine  # type: ignore[attr-defined]
    event.listen(engine, "commit", committed)
    try:
        body = client.post("/api/v1/data-management/cleanup", json=CLEAN_EVERYTHING).json()
    finally:
        event.remove(engine, "commit", committed)
    assert body["deleted"] == {"events": 25, "assignments": 20, "outbox": 0}
    assert body["batches"] == math.ceil(25 / 3) + math.ceil(20 / 3)
    assert (_count(db, Event), _count(db, Exposure)) == (0, 0)
    # Each batch is committed on its own: no lock is held for the whole clean-up.
    assert len(commits) >= body["batches"]


def test_cleanup_deletes_a_finished_experiments_events_of_users_still_in_another(
    client: TestClient, db: Database
) -> None:
    """Tagged events count for their own experiment only; untagged ones feed every experiment
    their user is in, so those stay while one of them is live."""
    traffic(client)
    client.post("/api/experiments/checkout-test/conclude")
    other = experiment_body(key="still-running", name="Still running")
    assert client.post("/api/experiments/", json=other).status_code == 201
    assert client.post("/api/experiments/still-running/start").status_code == 200
    exposed = client.post("/api/experiments/still-running/assignments", json={"user_id": "u0"})
    assert exposed.json()["in_experiment"] is True
    untagged = {"user_id": "u0", "event_type": "page_view"}
    assert client.post("/api/v1/events/", json=untagged).status_code == 201
    _age_everything(db, 100)
    body = client.post(
        "/api/v1/data-management/cleanup",
        json={**CLEAN_EVERYTHING, "cleanup_assignments": False},
    ).json()
    assert body["deleted"]["events"] == 25
    with db.session_scope() as session:
        left = session.execute(select(Event.user_id, Event.experiment_id)).all()
    assert [tuple(row) for row in left] == [("u0", None)]
