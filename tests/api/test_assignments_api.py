"""Assignment through the API: targeting, coverage, stickiness, overrides and exposures."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from splitlab.assignment.service import Assigner, AssignmentRequest
from splitlab.storage.engine import Database
from splitlab.storage.models import Exposure, Variant
from splitlab.workspaces import service as workspaces
from tests.auth.conftest import bearer, secret
from tests.factories import experiment_body

URL = "/api/experiments/checkout-test"


def running(client: TestClient, **overrides: Any) -> dict[str, Any]:
    created = client.post("/api/experiments/", json=experiment_body(**overrides))
    assert created.status_code == 201, created.text
    assert client.post(f"/api/experiments/{created.json()['key']}/start").status_code == 200
    return created.json()


def assign(
    client: TestClient, user_id: str, key: str = "checkout-test", **body: Any
) -> dict[str, Any]:
    response = client.post(f"/api/experiments/{key}/assignments", json={"user_id": user_id, **body})
    assert response.status_code == 200, response.text
    return response.json()


def exposures(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(Exposure)) or 0


def test_assignment_has_the_documented_fields(client: TestClient) -> None:
    running(client)
    body = assign(client, "user-123", user_attributes={"role": "coordinator"}, force_variant=None)
    assert body["experiment_key"] == "checkout-test"
    assert body["user_id"] == "user-123"
    assert body["variant_key"] in ("control", "treatment")
    assert body["is_override"] is False
    assert body["in_experiment"] is True
    assert body["assigned_at"].endswith("Z")


def test_draft_experiments_do_not_assign(client: TestClient, db: Database) -> None:
    client.post("/api/experiments/", json=experiment_body())
    body = assign(client, "u1")
    assert (body["in_experiment"], body["reason"], body["variant_key"]) == (
        False,
        "not_running",
        "control",
    )
    assert exposures(db) == 0


def test_the_same_user_always_gets_the_same_variant(client: TestClient) -> None:
    running(client)
    first = [assign(client, f"user-{i}")["variant_key"] for i in range(50)]
    again = [assign(client, f"user-{i}")["variant_key"] for i in range(50)]
    assert first == again
    assert set(first) == {"control", "treatment"}


def test_an_exposure_is_written_once_per_user(client: TestClient, db: Database) -> None:
    running(client)
    for _ in range(3):
        assign(client, "u1")
    assert exposures(db) == 1
    assert assign(client, "u1")["reason"] == "sticky"


def test_roles_targeting_excludes_other_roles(client: TestClient, db: Database) -> None:
    running(client, targeting={"roles": ["admin", "coordinator"], "percentage": 100})
    out = assign(client, "u1", user_attributes={"role": "viewer"})
    assert (out["in_experiment"], out["reason"], out["variant_key"]) == (
        False,
        "not_targeted",
        "control",
    )
    assert assign(client, "u2", user_attributes={"role": "admin"})["in_experiment"] is True
    assert exposures(db) == 1


def test_condition_targeting_uses_stored_user_properties(client: TestClient) -> None:
    running(client, targeting={"condition": {"plan": "premium"}})
    client.post("/api/v1/users/", json={"user_id": "p1", "properties": {"plan": "premium"}})
    client.post("/api/v1/users/", json={"user_id": "f1", "properties": {"plan": "free"}})
    assert assign(client, "p1")["in_experiment"] is True
    assert assign(client, "f1")["in_experiment"] is False


def test_request_attributes_win_over_stored_properties(client: TestClient) -> None:
    running(client, targeting={"condition": {"plan": "premium"}})
    client.post("/api/v1/users/", json={"user_id": "f1", "properties": {"plan": "free"}})
    assert assign(client, "f1", user_attributes={"plan": "premium"})["in_experiment"] is True


def test_coverage_keeps_roughly_that_share_of_users(client: TestClient) -> None:
    running(client, targeting={"percentage": 30})
    inside = sum(assign(client, f"c-{i}")["in_experiment"] for i in range(400))
    assert 80 <= inside <= 160


def test_lowering_coverage_drops_users_without_moving_them(client: TestClient) -> None:
    running(client, config={"sticky_bucketing": False}, targeting={"percentage": 100})
    before = {f"u{i}": assign(client, f"u{i}")["variant_key"] for i in range(200)}
    client.post(f"{URL}/pause")
    # Targeting may change while paused; variants may not.
    assert client.put(URL, json={"targeting": {"percentage": 50}}).status_code == 200
    client.post(f"{URL}/start")
    after = {u: assign(client, u) for u in before}
    kept = [u for u, a in after.items() if a["in_experiment"]]
    assert 60 <= len(kept) <= 140
    assert all(after[u]["variant_key"] == before[u] for u in kept)


def test_stickiness_survives_a_coverage_cut(client: TestClient) -> None:
    running(client)
    before = {f"u{i}": assign(client, f"u{i}")["variant_key"] for i in range(100)}
    client.put(URL, json={"targeting": {"percentage": 1}})
    after = {u: assign(client, u) for u in before}
    assert all(a["in_experiment"] and a["variant_key"] == before[u] for u, a in after.items())


def test_stickiness_survives_targeting_and_attribute_changes(client: TestClient) -> None:
    running(client, targeting={"roles": ["admin"]})
    first = assign(client, "u1", user_attributes={"role": "admin"})
    client.put(URL, json={"targeting": {"roles": ["nobody"]}})
    again = assign(client, "u1", user_attributes={"role": "viewer"})
    assert again["in_experiment"] is True
    assert again["variant_key"] == first["variant_key"]


def test_bumping_the_bucket_version_re_randomises(client: TestClient, db: Database) -> None:
    running(client)
    for i in range(20):
        assign(client, f"u{i}")
    assert client.put(URL, json={"config": {"bucket_version": 1}}).status_code == 200
    again = assign(client, "u0")
    assert (again["bucket_version"], again["reason"]) == (1, "assigned")
    assert exposures(db) == 21


def test_bucket_version_cannot_go_back(client: TestClient) -> None:
    running(client, config={"bucket_version": 2})
    assert client.put(URL, json={"config": {"bucket_version": 1}}).status_code == 422


def test_a_custom_hash_seed_changes_the_split(client: TestClient) -> None:
    running(client)
    running(client, key="seeded", name="Seeded", config={"hash_seed": "other-seed"})
    ours = [assign(client, f"h{i}")["variant_key"] for i in range(100)]
    seeded = [assign(client, f"h{i}", key="seeded")["variant_key"] for i in range(100)]
    assert ours != seeded
    rule = client.get("/api/v1/sdk").json()["features"]["seeded"]["rules"][0]
    assert rule["seed"] == "other-seed"


def test_force_variant_is_an_override_and_is_recorded(client: TestClient, db: Database) -> None:
    running(client)
    body = assign(client, "qa-1", force_variant="treatment")
    assert (body["variant_key"], body["is_override"], body["reason"]) == (
        "treatment",
        True,
        "override",
    )
    with db.session_scope() as session:
        exposure = session.scalars(select(Exposure)).one()
        assert exposure.is_override is True
    sticky = assign(client, "qa-1")
    assert (sticky["variant_key"], sticky["is_override"]) == ("treatment", True)


def test_force_variant_on_an_exposed_user_replaces_their_exposure(
    client: TestClient, db: Database
) -> None:
    running(client)
    shown = assign(client, "qa-2")["variant_key"]
    other = "treatment" if shown == "control" else "control"
    forced = assign(client, "qa-2", force_variant=other)
    assert (forced["variant_key"], forced["is_override"], forced["reason"]) == (
        other,
        True,
        "override",
    )
    with db.session_scope() as session:
        stored = session.execute(
            select(Variant.key, Exposure.is_override).join(
                Variant, Variant.id == Exposure.variant_id
            )
        ).one()
        assert tuple(stored) == (other, True)
    sticky = assign(client, "qa-2")
    assert (sticky["variant_key"], sticky["is_override"], sticky["reason"]) == (
        other,
        True,
        "sticky",
    )
    track = {"user_id": "qa-2", "metric_name": "m", "value": 1, "metric_type": "count"}
    metrics = f"{URL}/metrics"
    assert client.post(metrics, json={**track, "variant_key": other}).status_code == 201
    refused = client.post(metrics, json={**track, "variant_key": shown})
    assert (refused.status_code, refused.json()["code"]) == (409, "variant_mismatch")


def test_forcing_the_same_variant_again_answers_the_stored_override(
    client: TestClient, db: Database
) -> None:
    running(client)
    assigner = Assigner()
    request = AssignmentRequest("qa-3", force_variant="treatment")
    with db.session_scope() as session:
        workspace = workspaces.require(session, "default")
        first = assigner.assign(session, workspace, "checkout-test", request)
    with db.session_scope() as session:
        workspace = workspaces.require(session, "default")
        again = assigner.assign(session, workspace, "checkout-test", request)
        stored = session.scalars(select(Exposure)).one()
    assert again.assigned_at == first.assigned_at == stored.exposed_at
    assert (again.variant_key, again.is_override, stored.is_override) == ("treatment", True, True)


def test_force_variant_must_name_a_variant(client: TestClient) -> None:
    running(client)
    response = client.post(f"{URL}/assignments", json={"user_id": "u", "force_variant": "purple"})
    assert response.status_code == 422


def test_force_variant_is_refused_when_overrides_are_disabled(client: TestClient) -> None:
    running(client, config={"override_enabled": False})
    response = client.post(f"{URL}/assignments", json={"user_id": "u", "force_variant": "control"})
    assert response.status_code == 409
    assert response.json()["code"] == "overrides_disabled"


def test_get_assignment_returns_the_sticky_variant(client: TestClient) -> None:
    running(client)
    posted = assign(client, "u1")
    got = client.get(f"{URL}/assignments/u1").json()
    assert got["variant_key"] == posted["variant_key"]
    assert got["reason"] == "sticky"


def test_a_readonly_token_reads_assignments_without_recording_any(
    client: TestClient, db: Database
) -> None:
    experiment = running(client)
    readonly = bearer(secret(client, scope="readonly"))
    routes = (
        f"{URL}/assignments/{{}}",
        f"/api/v1/assignments/experiments/{experiment['id']}/assignment/{{}}",
    )
    for route in routes:
        first = client.get(route.format("reader-1"), headers=readonly)
        again = client.get(route.format("reader-1"), headers=readonly)
        assert first.status_code == again.status_code == 200, first.text
        # Unrecorded, yet deterministic: the variant the user would get.
        assert first.json()["variant_key"] == again.json()["variant_key"]
        assert first.json()["reason"] == "assigned"
    assert exposures(db) == 0
    recorded = assign(client, "reader-2")
    for route in routes:
        seen = client.get(route.format("reader-2"), headers=readonly).json()
        assert (seen["variant_key"], seen["reason"]) == (recorded["variant_key"], "sticky")
    writer = bearer(secret(client, scope="experiment"))
    assert client.get(routes[1].format("writer-1"), headers=writer).status_code == 200
    assert exposures(db) == 2


def test_namespaces_keep_experiments_mutually_exclusive(client: TestClient) -> None:
    running(client, key="left", name="Left", targeting={"namespace": ["checkout", 0, 0.5]})
    running(client, key="right", name="Right", targeting={"namespace": ["checkout", 0.5, 1]})
    both = 0
    in_left = 0
    for i in range(300):
        left = assign(client, f"n{i}", key="left")["in_experiment"]
        right = assign(client, f"n{i}", key="right")["in_experiment"]
        both += left and right
        in_left += left
    assert both == 0
    assert 100 <= in_left <= 200


@pytest.mark.parametrize(
    "targeting",
    [{"percentage": 150}, {"roles": "admin"}, {"namespace": ["x", 0.6, 0.2]}, {"condition": "x"}],
)
def test_invalid_targeting_is_rejected(client: TestClient, targeting: dict[str, Any]) -> None:
    response = client.post("/api/experiments/", json=experiment_body(targeting=targeting))
    assert response.status_code == 422


def test_batch_assigns_many_users_like_single_calls(client: TestClient, db: Database) -> None:
    running(client)
    users = [{"user_id": f"b{i}"} for i in range(300)]
    batch = client.post(f"{URL}/assignments/batch", json={"users": users}).json()["assignments"]
    single = [assign(client, f"b{i}") for i in range(300)]
    assert [a["variant_key"] for a in batch] == [a["variant_key"] for a in single]
    assert all(a["reason"] == "sticky" for a in single)
    assert exposures(db) == 300
    counts = Counter(a["variant_key"] for a in batch)
    assert min(counts.values()) > 100


def test_v1_assignment_with_context_as_in_the_seed(client: TestClient, db: Database) -> None:
    experiment = running(client)
    response = client.post(
        "/api/v1/assignments/",
        json={
            "experiment_id": experiment["id"],
            "user_id": "test-user-123",
            "context": {
                "ip": "192.168.1.100",
                "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
                "page": "/checkout",
            },
        },
    )
    assert response.status_code == 201
    variant = response.json()["variant_key"]
    got = client.get(f"/api/v1/assignments/experiments/{experiment['id']}/assignment/test-user-123")
    assert got.status_code == 200
    assert got.json()["variant_key"] == variant
    listed = client.get("/api/v1/assignments/", params={"experiment_id": experiment["id"]})
    assert listed.headers["X-Total-Count"] == "1"
    assert listed.json()[0]["context"]["page"] == "/checkout"


def test_evaluate_returns_every_running_experiment(client: TestClient) -> None:
    running(client, key="one", name="One")
    running(client, key="two", name="Two")
    client.post("/api/experiments/", json=experiment_body(key="draft", name="Draft"))
    body = client.post("/api/v1/evaluate", json={"user_id": "u1"}).json()
    assert set(body["assignments"]) == {"one", "two"}


def test_sdk_payload_describes_running_experiments(client: TestClient) -> None:
    running(client, targeting={"roles": ["admin"], "percentage": 80})
    payload = client.get("/api/v1/sdk").json()
    rule = payload["features"]["checkout-test"]["rules"][0]
    assert rule["seed"] == "checkout-test"
    assert rule["hashVersion"] == 2
    assert rule["coverage"] == 0.8
    assert rule["variations"] == ["control", "treatment"]
    assert rule["condition"] == {"role": {"$in": ["admin"]}}


def test_stats_count_assigned_users(client: TestClient) -> None:
    running(client)
    for i in range(7):
        assign(client, f"s{i}")
    assert client.get("/api/experiments/stats").json()["total_users_assigned"] == 7


def test_stickiness_survives_a_change_of_stored_properties(client: TestClient) -> None:
    running(client, targeting={"condition": {"plan": "premium"}})
    client.post("/api/v1/users/", json={"user_id": "p1", "properties": {"plan": "premium"}})
    first = assign(client, "p1")
    assert first["in_experiment"] is True
    updated = client.put("/api/v1/users/p1", json={"properties": {"plan": "free"}})
    assert updated.status_code == 200
    assert assign(client, "p2", user_attributes={"plan": "free"})["in_experiment"] is False
    again = assign(client, "p1")
    assert (again["in_experiment"], again["variant_key"], again["reason"]) == (
        True,
        first["variant_key"],
        "sticky",
    )


def test_evaluate_records_what_it_answers_and_applies_targeting(client: TestClient) -> None:
    running(client, key="everyone", name="Everyone")
    running(client, key="admins", name="Admins", targeting={"roles": ["admin"]})
    body = client.post(
        "/api/v1/evaluate", json={"user_id": "e1", "attributes": {"role": "viewer"}}
    ).json()
    assert body["assignments"]["admins"]["in_experiment"] is False
    assert body["assignments"]["admins"]["reason"] == "not_targeted"
    everyone = body["assignments"]["everyone"]
    assert everyone["in_experiment"] is True
    again = client.get("/api/experiments/everyone/assignments/e1").json()
    assert (again["variant_key"], again["reason"]) == (everyone["variant_key"], "sticky")


def test_v1_batch_assigns_like_single_calls(client: TestClient) -> None:
    experiment = running(client)
    users = [f"vb{i}" for i in range(120)]
    batch = client.post(
        "/api/v1/assignments/batch",
        json={"experiment_id": experiment["id"], "user_ids": users, "context": {"page": "/"}},
    )
    assert batch.status_code == 200, batch.text
    single = [assign(client, u) for u in users]
    assert [a["variant_key"] for a in batch.json()] == [a["variant_key"] for a in single]
    assert {a["reason"] for a in single} == {"sticky"}
    listed = client.get("/api/v1/assignments/", params={"user_id": "vb7"}).json()
    assert listed[0]["context"] == {"page": "/"}


def test_a_batch_on_a_paused_experiment_assigns_nobody(client: TestClient, db: Database) -> None:
    running(client)
    client.post(f"{URL}/pause")
    users = [{"user_id": f"p{i}"} for i in range(50)]
    batch = client.post(f"{URL}/assignments/batch", json={"users": users})
    assert batch.status_code == 200
    answers = batch.json()["assignments"]
    assert {(a["in_experiment"], a["reason"], a["variant_key"]) for a in answers} == {
        (False, "not_running", "control")
    }
    assert exposures(db) == 0


def test_a_v1_assignment_that_records_nothing_is_200_not_201(
    client: TestClient, db: Database
) -> None:
    running(client, targeting={"roles": ["admin"]})
    body = {"experiment_id": "checkout-test", "user_id": "outsider", "attributes": {"role": "x"}}
    left_out = client.post("/api/v1/assignments/", json=body)
    assert (left_out.status_code, left_out.json()["in_experiment"]) == (200, False)
    assert exposures(db) == 0
    inside = client.post(
        "/api/v1/assignments/", json={**body, "user_id": "insider", "attributes": {"role": "admin"}}
    )
    assert (inside.status_code, inside.json()["in_experiment"]) == (201, True)
    assert exposures(db) == 1
