"""Seed 000's key-addressed experiments API: CRUD, lifecycle, history and stats."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from splitlab.storage.engine import Database
from splitlab.storage.models import Experiment, LifecycleEvent, Variant
from tests.factories import experiment_body


def create(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/experiments/", json=experiment_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def count_rows(db: Database, model: type) -> int:
    with db.session_scope() as session:
        return session.query(model).count()


def test_create_returns_a_draft_with_documented_config_defaults(client: TestClient) -> None:
    body = create(client)
    assert body["status"] == "draft"
    assert body["config"] == {
        "sticky_bucketing": True,
        "override_enabled": True,
        "min_sample_size": 100,
        "confidence_level": 0.95,
        "hash_seed": None,
        "bucket_version": 0,
        "sequential_testing": False,
        "cuped": True,
        "minimum_detectable_effect": 0.05,
        # Issue 18's analysis settings, at the values every experiment had before them.
        "correction": "holm",
        "planned_sample_size": None,
        "sequential_tuning": None,
        "prior_mean": 0.0,
        "prior_stddev": 0.3,
    }
    assert isinstance(body["id"], int)
    assert body["created_at"].endswith("Z")


def test_key_is_derived_from_the_name_when_absent(client: TestClient) -> None:
    body = create(client, key=None, name="Homepage Redesign: V2!")
    assert body["key"] == "homepage-redesign-v2"


def test_derived_keys_stay_unique(client: TestClient) -> None:
    create(client, key=None, name="Price Test")
    second = create(client, key=None, name="price test")
    assert second["key"] == "price-test-2"


def test_duplicate_key_is_a_conflict(client: TestClient) -> None:
    create(client)
    response = client.post("/api/experiments/", json=experiment_body(name="Another name"))
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_experiment"


def test_duplicate_name_is_a_conflict_with_seed_003_wording(client: TestClient) -> None:
    create(client)
    response = client.post("/api/experiments/", json=experiment_body(key="other-key"))
    assert response.status_code == 409
    assert response.json()["error"] == "An experiment with this name already exists"


def test_reserved_key_is_rejected(client: TestClient) -> None:
    response = client.post("/api/experiments/", json=experiment_body(key="stats"))
    assert response.status_code == 422


def test_bad_allocations_are_422_naming_the_field_and_write_nothing(
    client: TestClient, db: Database
) -> None:
    variants = [{"key": "a", "allocation": 50}, {"key": "b", "allocation": 40}]
    response = client.post("/api/experiments/", json=experiment_body(variants=variants))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert "allocation" in body["error"]
    assert body["details"][0]["loc"] == ["variants", "allocation"]
    assert count_rows(db, Experiment) == 0
    assert count_rows(db, Variant) == 0


def test_unknown_body_fields_are_rejected(client: TestClient) -> None:
    response = client.post("/api/experiments/", json=experiment_body(id=99, status="running"))
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["details"]}
    assert ("body", "id") in locs


def test_get_by_key_and_by_id(client: TestClient) -> None:
    created = create(client)
    assert client.get("/api/experiments/checkout-test").json()["id"] == created["id"]
    assert client.get(f"/api/experiments/{created['id']}").json()["key"] == "checkout-test"


def test_unknown_experiment_is_404_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/experiments/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "Experiment not found", "code": "experiment_not_found"}


def test_start_sets_running_and_start_date(client: TestClient) -> None:
    create(client)
    body = client.post("/api/experiments/checkout-test/start").json()
    assert body["status"] == "running"
    assert body["start_date"] is not None


def test_pause_and_resume(client: TestClient) -> None:
    create(client)
    client.post("/api/experiments/checkout-test/start")
    assert client.post("/api/experiments/checkout-test/pause").json()["status"] == "paused"
    assert client.post("/api/experiments/checkout-test/start").json()["status"] == "running"


def test_conclude_records_winner_and_notes(client: TestClient) -> None:
    create(client)
    client.post("/api/experiments/checkout-test/start")
    response = client.post(
        "/api/experiments/checkout-test/conclude",
        json={"winning_variant": "treatment", "notes": "25% better"},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["winning_variant"], body["conclusion_notes"]) == (
        "completed",
        "treatment",
        "25% better",
    )
    assert body["end_date"] is not None


def test_conclude_with_an_unknown_variant_is_422(client: TestClient) -> None:
    create(client)
    client.post("/api/experiments/checkout-test/start")
    response = client.post(
        "/api/experiments/checkout-test/conclude", json={"winning_variant": "purple"}
    )
    assert response.status_code == 422
    assert client.get("/api/experiments/checkout-test").json()["status"] == "running"


@pytest.mark.parametrize(
    ("steps", "illegal"),
    [
        ([], "pause"),
        ([], "conclude"),
        (["start", "conclude"], "start"),
        (["start", "conclude"], "pause"),
        (["start"], "start"),
    ],
    ids=["pause-draft", "conclude-draft", "restart-completed", "pause-completed", "start-running"],
)
def test_illegal_transitions_are_409(client: TestClient, steps: list[str], illegal: str) -> None:
    create(client)
    for step in steps:
        assert client.post(f"/api/experiments/checkout-test/{step}").status_code == 200
    response = client.post(f"/api/experiments/checkout-test/{illegal}")
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"


def test_delete_cancels_and_keeps_the_experiment(client: TestClient) -> None:
    create(client)
    response = client.delete("/api/experiments/checkout-test")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert client.get("/api/experiments/checkout-test").json()["status"] == "cancelled"
    assert client.delete("/api/experiments/checkout-test").status_code == 200


def test_a_completed_experiment_cannot_be_cancelled(client: TestClient) -> None:
    create(client)
    client.post("/api/experiments/checkout-test/start")
    client.post("/api/experiments/checkout-test/conclude")
    assert client.delete("/api/experiments/checkout-test").status_code == 409


def test_update_changes_fields_and_records_what_changed(client: TestClient) -> None:
    create(client)
    response = client.put(
        "/api/experiments/checkout-test",
        json={"name": "Updated Name", "description": "Updated description"},
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Updated Name"
    events = client.get("/api/experiments/checkout-test/events").json()["events"]
    update = events[-1]
    assert update["action"] == "updated"
    assert update["changes"]["name"] == {"from": "Checkout test", "to": "Updated Name"}
    assert update["changes"]["description"] == {"from": None, "to": "Updated description"}


def test_update_config_options_partially(client: TestClient) -> None:
    create(client)
    body = client.put(
        "/api/experiments/checkout-test", json={"config": {"confidence_level": 0.99}}
    ).json()
    assert body["config"]["confidence_level"] == 0.99
    assert body["config"]["min_sample_size"] == 100


def test_variants_change_while_draft_keeping_ids_of_survivors(
    client: TestClient, db: Database
) -> None:
    create(client)
    with db.session_scope() as session:
        control_id = session.query(Variant).filter_by(key="control").one().id
    variants = [
        {"key": "control", "allocation": 34, "is_control": True},
        {"key": "blue", "allocation": 33},
        {"key": "green", "allocation": 33},
    ]
    response = client.put("/api/experiments/checkout-test", json={"variants": variants})
    assert response.status_code == 200
    assert [v["key"] for v in response.json()["variants"]] == ["control", "blue", "green"]
    with db.session_scope() as session:
        assert session.query(Variant).filter_by(key="control").one().id == control_id
        assert session.query(Variant).count() == 3


def test_variants_are_locked_once_running(client: TestClient) -> None:
    create(client)
    client.post("/api/experiments/checkout-test/start")
    variants = [{"key": "control", "allocation": 10}, {"key": "treatment", "allocation": 90}]
    response = client.put("/api/experiments/checkout-test", json={"variants": variants})
    assert response.status_code == 409
    assert response.json()["code"] == "experiment_locked"
    allocations = [
        v["allocation"] for v in client.get("/api/experiments/checkout-test").json()["variants"]
    ]
    assert allocations == [50, 50]


def test_a_rejected_update_changes_nothing(client: TestClient) -> None:
    create(client)
    client.post("/api/experiments/checkout-test/start")
    variants = [{"key": "control", "allocation": 10}, {"key": "treatment", "allocation": 90}]
    response = client.put(
        "/api/experiments/checkout-test", json={"name": "Renamed", "variants": variants}
    )
    assert response.status_code == 409
    assert client.get("/api/experiments/checkout-test").json()["name"] == "Checkout test"


def test_resending_the_same_variants_while_running_is_not_a_change(client: TestClient) -> None:
    created = create(client)
    client.post("/api/experiments/checkout-test/start")
    same = [
        {k: v[k] for k in ("key", "name", "allocation", "is_control", "config")}
        for v in created["variants"]
    ]
    response = client.put("/api/experiments/checkout-test", json={"variants": same})
    assert response.status_code == 200


def test_key_cannot_change_once_running(client: TestClient) -> None:
    create(client)
    client.post("/api/experiments/checkout-test/start")
    assert client.put("/api/experiments/checkout-test", json={"key": "new"}).status_code == 409


def test_lifecycle_history_records_who_when_from_and_to(client: TestClient) -> None:
    create(client)
    client.post("/api/experiments/checkout-test/start")
    client.post("/api/experiments/checkout-test/pause")
    client.post("/api/experiments/checkout-test/start")
    client.post("/api/experiments/checkout-test/conclude", json={"notes": "done"})
    history = client.get("/api/experiments/checkout-test/events").json()
    assert history["experiment_key"] == "checkout-test"
    moves = [(e["action"], e["from_status"], e["to_status"]) for e in history["events"]]
    assert moves == [
        ("created", None, "draft"),
        ("started", "draft", "running"),
        ("paused", "running", "paused"),
        ("resumed", "paused", "running"),
        ("completed", "running", "completed"),
    ]
    assert all(e["actor"].startswith("token:") for e in history["events"])
    assert history["events"][-1]["notes"] == "done"


def test_list_filters_by_status_and_paginates(client: TestClient) -> None:
    for i in range(5):
        create(client, key=f"exp-{i}", name=f"Experiment {i}")
    client.post("/api/experiments/exp-1/start")
    client.post("/api/experiments/exp-3/start")
    running = client.get("/api/experiments/", params={"status": "running"}).json()
    assert {e["key"] for e in running["experiments"]} == {"exp-1", "exp-3"}
    page = client.get("/api/experiments/", params={"page": 2, "page_size": 2}).json()
    assert (page["total"], page["page"], page["page_size"], page["total_pages"]) == (5, 2, 2, 3)
    assert len(page["experiments"]) == 2


def test_list_defaults_to_fifty_per_page(client: TestClient) -> None:
    body = client.get("/api/experiments/").json()
    assert (body["page"], body["page_size"], body["total"]) == (1, 50, 0)


@pytest.mark.parametrize("params", [{"page_size": 101}, {"page": 0}, {"status": "launched"}])
def test_list_rejects_bad_paging_and_status(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/api/experiments/", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_stats_count_by_status_and_real_zero_figures(client: TestClient) -> None:
    create(client, key="a", name="A")
    create(client, key="b", name="B")
    create(client, key="c", name="C")
    client.post("/api/experiments/a/start")
    client.post("/api/experiments/b/start")
    client.post("/api/experiments/b/conclude")
    stats = client.get("/api/experiments/stats").json()
    assert stats == {
        "total_experiments": 3,
        "running_experiments": 1,
        "completed_experiments": 1,
        "draft_experiments": 1,
        "paused_experiments": 0,
        "cancelled_experiments": 0,
        "total_users_assigned": 0,
        "total_metrics_tracked": 0,
    }


def test_lifecycle_events_are_stored_per_experiment(client: TestClient, db: Database) -> None:
    create(client)
    client.post("/api/experiments/checkout-test/start")
    assert count_rows(db, LifecycleEvent) == 2


def test_a_concluded_experiment_s_analysis_can_no_longer_change(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    client.post("/api/experiments/checkout-test/conclude", json={"winning_variant": "treatment"})
    for change in (
        {"config": {"confidence_level": 0.9}},
        {"config": {"cuped": False}},
        {"targeting": {"percentage": 50}},
        {"end_date": "2030-01-01T00:00:00Z"},
    ):
        response = client.put("/api/experiments/checkout-test", json=change)
        assert response.status_code == 409, change
        assert response.json()["code"] == "experiment_locked"
        assert "record of its decision" in response.json()["error"]
    config = client.get("/api/experiments/checkout-test").json()["config"]
    assert (config["confidence_level"], config["cuped"]) == (0.95, True)
    # What it was called and why may still be written down.
    edited = client.put("/api/experiments/checkout-test", json={"description": "Green won"})
    assert edited.status_code == 200
    assert edited.json()["description"] == "Green won"
