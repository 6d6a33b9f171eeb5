"""Event ingestion: seed 001 single events, batches, idempotency, seed 000 metric tracking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from splitlab.storage.engine import Database
from splitlab.storage.models import Event
from tests.factories import experiment_body


def stored(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(Event)) or 0


def running(client: TestClient, **overrides: Any) -> dict[str, Any]:
    created = client.post("/api/experiments/", json=experiment_body(**overrides)).json()
    client.post(f"/api/experiments/{created['key']}/start")
    return created


SEED_EVENTS = [
    {
        "experiment_id": 1,
        "user_id": "test-user-123",
        "event_type": "conversion",
        "properties": {
            "page": "/checkout",
            "device": "desktop",
            "value": 99.99,
            "currency": "USD",
            "product_id": "prod-123",
        },
    },
    {
        "experiment_id": 1,
        "user_id": "test-user-123",
        "event_type": "page_view",
        "properties": {
            "page": "/checkout",
            "device": "mobile",
            "session_id": "sess-456",
            "referrer": "https://google.com",
        },
    },
    {
        "experiment_id": 1,
        "user_id": "test-user-123",
        "event_type": "button_click",
        "properties": {
            "button_id": "checkout-btn",
            "button_text": "Checkout Now",
            "button_color": "green",
            "click_position": {"x": 150, "y": 300},
        },
    },
]


@pytest.mark.parametrize("event", SEED_EVENTS, ids=["conversion", "page_view", "custom"])
def test_seed_001_events_as_written(client: TestClient, event: dict[str, Any]) -> None:
    experiment = running(client)
    event = {**event, "experiment_id": experiment["id"]}
    response = client.post("/api/v1/events/", json=event)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["event_type"] == event["event_type"]
    assert body["properties"] == event["properties"]
    assert body["experiment_id"] == experiment["id"]
    assert body["event_id"]
    assert body["duplicate"] is False


def test_numeric_value_property_becomes_the_event_value(client: TestClient) -> None:
    experiment = running(client)
    body = client.post(
        "/api/v1/events/", json={**SEED_EVENTS[0], "experiment_id": experiment["id"]}
    ).json()
    assert body["value"] == 99.99
    body = client.post(
        "/api/v1/events/", json={**SEED_EVENTS[1], "experiment_id": experiment["id"]}
    ).json()
    assert body["value"] is None


def test_resending_an_event_id_stores_it_once(client: TestClient, db: Database) -> None:
    event = {"user_id": "u1", "event_type": "click", "event_id": "evt-1"}
    first = client.post("/api/v1/events/", json=event).json()
    second = client.post("/api/v1/events/", json=event).json()
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert first["id"] == second["id"]
    assert stored(db) == 1


def test_client_timestamp_is_kept_and_receipt_time_recorded(client: TestClient) -> None:
    when = "2025-01-02T03:04:05Z"
    body = client.post(
        "/api/v1/events/", json={"user_id": "u", "event_type": "e", "timestamp": when}
    ).json()
    assert body["timestamp"] == when
    assert body["received_at"] > when


def test_timestamps_more_than_a_day_ahead_are_rejected(client: TestClient, db: Database) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    response = client.post(
        "/api/v1/events/", json={"user_id": "u", "event_type": "e", "timestamp": future}
    )
    assert response.status_code == 422
    assert stored(db) == 0


def test_unknown_experiment_is_404(client: TestClient) -> None:
    response = client.post(
        "/api/v1/events/", json={"experiment_id": 999, "user_id": "u", "event_type": "e"}
    )
    assert response.status_code == 404


def test_batch_stores_valid_events_and_reports_rejected_ones(
    client: TestClient, db: Database
) -> None:
    experiment = running(client)
    events = [
        {
            "experiment_id": experiment["id"],
            "user_id": "u1",
            "event_type": "click",
            "event_id": "a",
        },
        {"user_id": "", "event_type": "click"},
        {"experiment_id": 424242, "user_id": "u2", "event_type": "click"},
        {"user_id": "u3", "event_type": "click", "event_id": "a"},
        {"user_id": "u4", "event_type": "purchase", "properties": {"value": 5}},
        "not an object",
    ]
    response = client.post("/api/v1/events/batch", json={"events": events})
    assert response.status_code == 200
    body = response.json()
    assert (body["received"], body["accepted"], body["duplicates"]) == (6, 2, 1)
    assert [r["index"] for r in body["rejected"]] == [1, 2, 5]
    assert "user_id" in body["rejected"][0]["error"]
    assert "Experiment not found" in body["rejected"][1]["error"]
    assert body["event_ids"][:2] == ["a", None]
    assert stored(db) == 2


def test_resending_a_batch_stores_nothing_new(client: TestClient, db: Database) -> None:
    events = [{"user_id": f"u{i}", "event_type": "view", "event_id": f"e{i}"} for i in range(500)]
    first = client.post("/api/v1/events/batch", json={"events": events}).json()
    again = client.post("/api/v1/events/batch", json={"events": events}).json()
    assert (first["accepted"], first["duplicates"]) == (500, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 500)
    assert stored(db) == 500


def test_batches_over_ten_thousand_events_are_413(client: TestClient) -> None:
    events = [{"user_id": "u", "event_type": "e"}] * 10_001
    response = client.post("/api/v1/events/batch", json={"events": events})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_batches_over_five_megabytes_are_413(client: TestClient) -> None:
    padding = "x" * 1000
    events = [{"user_id": "u", "event_type": "e", "properties": {"p": padding}}] * 5300
    response = client.post("/api/v1/events/batch", json={"events": events})
    assert response.status_code == 413


def test_batch_body_must_be_an_events_list(client: TestClient) -> None:
    response = client.post("/api/v1/events/batch", json=[1, 2])
    assert (response.status_code, response.json()["code"]) == (422, "invalid_json")


def test_track_metric_for_the_users_own_variant(client: TestClient) -> None:
    running(client)
    variant = client.post(
        "/api/experiments/checkout-test/assignments", json={"user_id": "user-123"}
    ).json()["variant_key"]
    response = client.post(
        "/api/experiments/checkout-test/metrics",
        json={
            "user_id": "user-123",
            "variant_key": variant,
            "metric_name": "schedule_quality_score",
            "value": 0.92,
            "metric_type": "numeric",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["value"] == 0.92
    summary = client.get(f"/api/experiments/checkout-test/metrics/{variant}").json()
    assert summary["variant_key"] == variant
    assert summary["user_count"] == 1
    assert summary["metrics"]["schedule_quality_score"] == {
        "count": 1,
        "sum": 0.92,
        "mean": 0.92,
        "min": 0.92,
        "max": 0.92,
        "mean_per_user": 0.92,  # the one exposed user
    }
    assert client.get("/api/experiments/stats").json()["total_metrics_tracked"] == 1


def test_track_metric_for_a_user_not_in_the_experiment_is_409(
    client: TestClient, db: Database
) -> None:
    running(client)
    response = client.post(
        "/api/experiments/checkout-test/metrics",
        json={"user_id": "stranger", "variant_key": "control", "metric_name": "m", "value": 1},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "not_in_experiment"
    assert stored(db) == 0


def test_track_metric_for_another_variant_is_409(client: TestClient) -> None:
    running(client)
    variant = client.post(
        "/api/experiments/checkout-test/assignments", json={"user_id": "u"}
    ).json()["variant_key"]
    other = "treatment" if variant == "control" else "control"
    response = client.post(
        "/api/experiments/checkout-test/metrics",
        json={"user_id": "u", "variant_key": other, "metric_name": "m", "value": 1},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "variant_mismatch"
    assert variant in response.json()["error"]


def test_first_tracked_metric_becomes_the_primary_definition(
    client: TestClient, db: Database
) -> None:
    running(client)
    variant = client.post(
        "/api/experiments/checkout-test/assignments", json={"user_id": "u"}
    ).json()["variant_key"]
    for name, kind in [("revenue", "numeric"), ("signup", "conversion"), ("revenue", "numeric")]:
        response = client.post(
            "/api/experiments/checkout-test/metrics",
            json={
                "user_id": "u",
                "variant_key": variant,
                "metric_name": name,
                "value": 1,
                "metric_type": kind,
            },
        )
        assert response.status_code == 201
    from splitlab.storage.models import Metric

    with db.session_scope() as session:
        metrics = {m.name: (m.kind, m.role) for m in session.scalars(select(Metric))}
    assert metrics == {"revenue": ("numeric", "primary"), "signup": ("conversion", "secondary")}


def test_unknown_metric_type_is_422(client: TestClient) -> None:
    running(client)
    variant = client.post(
        "/api/experiments/checkout-test/assignments", json={"user_id": "u"}
    ).json()["variant_key"]
    response = client.post(
        "/api/experiments/checkout-test/metrics",
        json={
            "user_id": "u",
            "variant_key": variant,
            "metric_name": "m",
            "value": 1,
            "metric_type": "weird",
        },
    )
    assert response.status_code == 422


#: A deferred foreign key that every events insert breaks: the database accepts the rows and
#: refuses the COMMIT, a real commit-time failure on either backend.
_FAIL_AT_COMMIT = {
    "sqlite": [
        "CREATE TABLE guard_parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE commit_guard (parent INTEGER REFERENCES guard_parent (id)"
        " DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TRIGGER fail_at_commit AFTER INSERT ON events"
        " BEGIN INSERT INTO commit_guard VALUES (1); END",
    ],
    "postgresql": [
        "CREATE TABLE guard_parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE commit_guard (parent INTEGER REFERENCES guard_parent (id)"
        " DEFERRABLE INITIALLY DEFERRED)",
        "CREATE FUNCTION guard() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN INSERT INTO commit_guard VALUES (1); RETURN NULL; END $$",
        "CREATE TRIGGER fail_at_commit AFTER INSERT ON events"
        " FOR EACH STATEMENT EXECUTE FUNCTION guard()",
    ],
}
_UNDO = {
    "sqlite": ["DROP TRIGGER fail_at_commit"],
    "postgresql": ["DROP TRIGGER fail_at_commit ON events", "DROP FUNCTION guard()"],
}


def test_a_batch_whose_commit_fails_gets_no_2xx_and_stores_nothing(
    client: TestClient, db: Database
) -> None:
    dialect = db.engine.dialect.name
    with db.engine.begin() as connection:
        for statement in _FAIL_AT_COMMIT[dialect]:
            connection.exec_driver_sql(statement)
    try:
        events = [{"user_id": f"u{i}", "event_type": "view"} for i in range(100)]
        # As a real server answers: the error is sent, not raised into the test.
        served = TestClient(client.app, raise_server_exceptions=False, headers=client.headers)
        response = served.post("/api/v1/events/batch", json={"events": events})
    finally:
        with db.engine.begin() as connection:
            for statement in [
                *_UNDO[dialect],
                "DROP TABLE commit_guard",
                "DROP TABLE guard_parent",
            ]:
                connection.exec_driver_sql(statement)
    assert response.status_code == 500, response.text
    assert response.json()["code"] == "internal_error"
    assert stored(db) == 0


def test_tracking_a_defined_metric_records_the_event_type_it_reads(
    client: TestClient, db: Database
) -> None:
    running(client)
    definitions = "/api/experiments/checkout-test/metric-definitions"
    defined = {"name": "revenue", "event_type": "purchase", "kind": "numeric"}
    assert client.post(definitions, json=defined).status_code == 201
    variant = client.post(
        "/api/experiments/checkout-test/assignments", json={"user_id": "u1"}
    ).json()["variant_key"]
    track = {"user_id": "u1", "variant_key": variant, "metric_name": "revenue", "value": 12.5}
    url = "/api/experiments/checkout-test/metrics"
    tracked = client.post(url, json={**track, "metric_type": "numeric"})
    assert (tracked.status_code, tracked.json()["metric_name"]) == (201, "revenue")
    with db.session_scope() as session:
        assert session.scalars(select(Event.event_type)).all() == ["purchase"]
    values = client.get(f"/api/experiments/checkout-test/metrics/{variant}").json()["metrics"]
    assert values == {
        "revenue": {
            "count": 1,
            "sum": 12.5,
            "mean": 12.5,
            "min": 12.5,
            "max": 12.5,
            "mean_per_user": 12.5,
        }
    }
    refused = client.post(url, json={**track, "metric_type": "conversion"})
    assert (refused.status_code, refused.json()["code"]) == (409, "metric_kind_mismatch")
    assert stored(db) == 1
    # Without a metric_type, the defined kind applies.
    unnamed = client.post(url, json=track)
    assert (unnamed.status_code, unnamed.json()["metric_type"]) == (201, "numeric")
    assert stored(db) == 2


def test_tracking_without_a_metric_type_defines_a_numeric_metric(client: TestClient) -> None:
    running(client)
    variant = client.post(
        "/api/experiments/checkout-test/assignments", json={"user_id": "u1"}
    ).json()["variant_key"]
    track = {"user_id": "u1", "variant_key": variant, "metric_name": "basket", "value": 3}
    tracked = client.post("/api/experiments/checkout-test/metrics", json=track)
    assert (tracked.status_code, tracked.json()["metric_type"]) == (201, "numeric")
    definitions = client.get("/api/experiments/checkout-test/metric-definitions").json()
    assert [(m["name"], m["kind"]) for m in definitions] == [("basket", "numeric")]
