"""Metric definitions: declared through the API, used by the results."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from splitlab.assignment.service import Assigner, AssignmentRequest
from splitlab.metrics import service as metrics
from splitlab.metrics.model import MetricKind
from splitlab.storage.engine import Database
from splitlab.storage.models import Experiment
from splitlab.workspaces import service as workspaces
from tests.factories import experiment_body

URL = "/api/experiments/checkout-test/metric-definitions"


def test_define_list_and_delete(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    first = client.post(URL, json={"name": "revenue", "event_type": "purchase", "kind": "numeric"})
    assert first.status_code == 201
    assert first.json()["role"] == "primary"
    second = client.post(
        URL,
        json={
            "name": "refunds",
            "event_type": "refund",
            "kind": "conversion",
            "role": "guardrail",
            "higher_is_better": False,
        },
    )
    assert second.json()["role"] == "guardrail"
    names = [m["name"] for m in client.get(URL).json()]
    assert names == ["revenue", "refunds"]
    assert client.delete(f"{URL}/refunds").status_code == 204
    assert [m["name"] for m in client.get(URL).json()] == ["revenue"]


def test_v1_path_and_a_new_primary_demotes_the_old(client: TestClient) -> None:
    experiment = client.post("/api/experiments/", json=experiment_body()).json()
    url = f"/api/v1/experiments/{experiment['id']}/metrics"
    client.post(url, json={"name": "a", "kind": "count"})
    client.post(url, json={"name": "b", "kind": "conversion", "role": "primary"})
    roles = {m["name"]: m["role"] for m in client.get(url).json()}
    assert roles == {"a": "secondary", "b": "primary"}


def test_duplicate_and_invalid_definitions(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post(URL, json={"name": "m", "kind": "count"})
    assert client.post(URL, json={"name": "m", "kind": "count"}).status_code == 409
    assert client.post(URL, json={"name": "x", "kind": "ratio"}).status_code == 422
    assert client.delete(f"{URL}/nope").status_code == 404


def test_results_use_the_declared_event_type_and_direction(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    client.post(URL, json={"name": "bought", "event_type": "purchase", "kind": "conversion"})
    users = client.post(
        "/api/experiments/checkout-test/assignments/batch",
        json={"users": [{"user_id": f"u{i}"} for i in range(40)]},
    ).json()["assignments"]
    events = [{"user_id": a["user_id"], "event_type": "purchase"} for a in users[:10]]
    client.post("/api/v1/events/batch", json={"events": events})
    body = client.get("/api/experiments/checkout-test/results").json()
    (metric,) = body["metrics"]
    assert metric["name"] == "bought"
    assert sum(v["mean"] * v["users"] for v in metric["variants"]) == 10


def test_two_first_metrics_defined_at_once_make_one_primary(
    client: TestClient, db: Database
) -> None:
    """The second definition waits for the first to commit, then numbers itself after it."""
    client.post("/api/experiments/", json=experiment_body())
    second_done = threading.Event()
    failures: list[BaseException] = []

    def define(name: str) -> None:
        with db.session_scope() as session:
            experiment = session.scalars(select(Experiment)).one()
            metrics.ensure_metric(session, experiment, name=name, kind=MetricKind.NUMERIC)

    def second() -> None:
        try:
            define("signup")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            second_done.set()

    with db.session_scope() as session:
        experiment = session.scalars(select(Experiment)).one()
        metrics.ensure_metric(session, experiment, name="revenue", kind=MetricKind.NUMERIC)
        thread = threading.Thread(target=second)
        thread.start()
        # The other definition cannot get past the experiment's lock while this one is open.
        assert not second_done.wait(0.5)
    thread.join(timeout=30)
    assert not failures, failures
    roles = {m["name"]: m["role"] for m in client.get(URL).json()}
    assert roles == {"revenue": "primary", "signup": "secondary"}


def test_variant_values_count_an_event_without_a_value_as_zero(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    variant = client.post(
        "/api/experiments/checkout-test/assignments", json={"user_id": "u1"}
    ).json()["variant_key"]
    for properties in ({"value": 10}, {}):
        event = {"experiment_id": "checkout-test", "user_id": "u1", "event_type": "purchase"}
        response = client.post("/api/v1/events/", json={**event, "properties": properties})
        assert response.status_code == 201, response.text
    summary = client.get(f"/api/experiments/checkout-test/metrics/{variant}").json()
    assert summary["metrics"]["purchase"] == {
        "count": 2,
        "sum": 10.0,
        "mean": 5.0,
        "min": 0.0,
        "max": 10.0,
        "mean_per_user": 10.0,  # one exposed user
    }


def test_a_metric_being_defined_does_not_hold_up_new_exposures(
    client: TestClient, db: Database
) -> None:
    """The definition's lock on the experiment row must not block a new exposure's foreign-key
    check: that exposure holds its users' advisory locks, which a tracked metric takes next."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises every writer; row locks are a PostgreSQL matter")
    client.post("/api/experiments/", json=experiment_body())
    assert client.post("/api/experiments/checkout-test/start").status_code == 200
    exposed = threading.Event()

    def assign() -> None:
        with db.session_scope() as session:
            workspace = workspaces.require(session, "default")
            Assigner().assign(session, workspace, "checkout-test", AssignmentRequest("new-user"))
        exposed.set()

    with db.session_scope() as session:
        experiment = session.scalars(select(Experiment)).one()
        metrics.ensure_metric(session, experiment, name="revenue", kind=MetricKind.NUMERIC)
        thread = threading.Thread(target=assign)
        thread.start()
        waited = not exposed.wait(5)
    thread.join(timeout=30)
    assert not waited, "a new exposure waited for the metric definition to commit"


def test_variant_metrics_name_both_means_and_one_equals_the_results(client: TestClient) -> None:
    """Seed 000's per-variant summary averaged tracked values (0.9) where the results average
    over every exposed user (0.3): both are there now, under names that say which."""
    assert client.post("/api/experiments/", json=experiment_body()).status_code == 201
    assert client.post("/api/experiments/checkout-test/start").status_code == 200
    shown: dict[str, list[str]] = {}
    for i in range(40):
        answer = client.post(
            "/api/experiments/checkout-test/assignments", json={"user_id": f"m{i}"}
        ).json()
        shown.setdefault(answer["variant_key"], []).append(f"m{i}")
    variant, users = max(shown.items(), key=lambda kv: len(kv[1]))
    for user in users[:3]:
        tracked = client.post(
            "/api/experiments/checkout-test/metrics",
            json={"user_id": user, "variant_key": variant, "metric_name": "score", "value": 0.9},
        )
        assert tracked.status_code == 201, tracked.text
    summary = client.get(f"/api/experiments/checkout-test/metrics/{variant}").json()
    score = summary["metrics"]["score"]
    assert score["mean"] == pytest.approx(0.9)
    assert score["mean_per_user"] == pytest.approx(2.7 / len(users))
    results = client.get("/api/experiments/checkout-test/results").json()
    (row,) = [v for v in results["variant_metrics"] if v["variant_key"] == variant]
    assert row["metrics"]["score"]["mean"] == pytest.approx(score["mean_per_user"])
