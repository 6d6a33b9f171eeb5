"""Seed 000's examples (``000_1b5710398ad03730.txt``), as written, against ``splitlab serve``.

The documented mode: seed 000 documents no authentication at all, so its examples run without an
``Authorization`` header on a server started with ``SPLITLAB_ANONYMOUS_ACCESS=experiment`` (the
mode seed 003's "no authentication is required" needs too: a request without a token acts with
``experiment`` scope). Every other server refuses such a request (the last test). Seed 000's list
and create are ``/api/experiments/``, with the trailing slash, as the document writes them.

The examples run in one order on one fresh server (``tests.e2e.seed_examples``); each is one test
named by its id. ``{key}`` is the documented experiment's key, ``schedule_optimizer_v2``, except in
the DELETE example: a concluded experiment can't be cancelled, so DELETE cancels a second
experiment, the one the config-defaults example creates. Seed 000's Redis configuration
(``REDIS_URL``, ``REDIS_PASSWORD``) is not an HTTP example; ``test_assignment_backends`` runs
servers configured by the bare ``REDIS_URL``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.e2e.seed_examples import (
    ARRAY,
    BOOLEAN,
    INTEGER,
    NUMBER,
    STRING,
    Example,
    Is,
    ListOf,
    OneOf,
    Ref,
    Run,
    Timestamp,
    cases,
    no_token,
    report,
    run_examples,
)

pytestmark = pytest.mark.e2e

KEY = "schedule_optimizer_v2"
BASE = "/api/experiments"
EXPERIMENT = f"{BASE}/{KEY}"

# The documented bodies, verbatim.
CREATE: dict[str, Any] = {
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
UPDATE = {"name": "Updated Name", "description": "Updated description"}
CONCLUDE = {
    "winning_variant": "treatment",
    "notes": "Treatment showed 25% improvement in schedule quality",
}
ASSIGN = {"user_id": "user-123", "user_attributes": {"role": "coordinator"}, "force_variant": None}
TRACK = {
    "user_id": "user-123",
    "variant_key": "treatment",
    "metric_name": "schedule_quality_score",
    "value": 0.92,
    "metric_type": "numeric",
}
#: The "Experiment Config Options" table's defaults.
CONFIG_DEFAULTS = {
    "sticky_bucketing": True,
    "override_enabled": True,
    "min_sample_size": 100,
    "confidence_level": 0.95,
}

LIST_PAGE = {
    "experiments": ARRAY,
    "total": INTEGER,  # the document's 15: however many there are
    "page": 1,
    "page_size": 50,
    "total_pages": 1,
}
SUMMARY = {"count": INTEGER, "sum": NUMBER, "mean": NUMBER, "min": NUMBER, "max": NUMBER}
NULLABLE_NUMBER = Is((int, float), nullable=True)

#: What the server does with the documented assignment: user-123 lands in control (the document's
#: own answer says treatment), so the documented metric for treatment is refused.


def created_as_sent(response: httpx.Response, run: Run) -> None:
    body = response.json()
    assert body["created_at"].endswith("Z")
    assert body["description"] == CREATE["description"]
    assert body["hypothesis"] == CREATE["hypothesis"]
    assert body["targeting"] == CREATE["targeting"]
    assert body["config"] == {**body["config"], **CREATE["config"]}
    assert body["config"]["override_enabled"] is True  # the documented default
    assert [(v["key"], v["name"], v["allocation"], v["is_control"]) for v in body["variants"]] == [
        ("control", "Current Algorithm", 50, True),
        ("treatment", "New Algorithm", 50, False),
    ]


def the_one_experiment(response: httpx.Response, run: Run) -> None:
    listed = response.json()
    assert set(listed) == {"experiments", "total", "page", "page_size", "total_pages"}
    assert listed["total"] == 1
    assert [e["key"] for e in listed["experiments"]] == [KEY]


def filtered_by_status(response: httpx.Response, run: Run) -> None:
    assert [e["key"] for e in response.json()["experiments"]] == [KEY]
    running = run.client.get(f"{BASE}/?status=running&page=1&page_size=50")
    assert running.status_code == 200
    assert running.json()["total"] == 0


def treatment_is_not_control(response: httpx.Response, run: Run) -> None:
    variants = response.json()["variants"]
    assert [(v["key"], v["allocation"], v["is_control"]) for v in variants] == [
        ("control", 50, True),
        ("treatment", 50, False),
    ]


def one_tracked_value(response: httpx.Response, run: Run) -> None:
    body = response.json()
    assert body["user_count"] >= 1
    summary = body["metrics"]["schedule_quality_score"]
    assert (summary["count"], summary["sum"], summary["mean"]) == (1, 0.92, 0.92)
    assert (summary["min"], summary["max"]) == (0.92, 0.92)


def results_of_one_user(response: httpx.Response, run: Run) -> None:
    body = response.json()
    assert body["total_users"] == 1
    assert [v["variant_key"] for v in body["variant_metrics"]] == ["control", "treatment"]


def every_step_recorded(response: httpx.Response, run: Run) -> None:
    assert response.json()["experiment_key"] == KEY
    assert [e["action"] for e in response.json()["events"]] == [
        "created",
        "started",
        "updated",
        "paused",
        "resumed",
        "completed",
    ]


EXAMPLES = [
    Example(
        "s000-create-experiment",
        "POST",
        f"{BASE}/",
        body=CREATE,
        status=201,
        response={
            "key": "schedule_optimizer_v2",
            "name": "Schedule Optimizer V2 Test",
            "status": "draft",
            "variants": ListOf(length=2),
            "created_at": Timestamp(),
        },
        check=created_as_sent,
    ),
    Example(
        "s000-list-experiments", "GET", f"{BASE}/", response=LIST_PAGE, check=the_one_experiment
    ),
    # The documented query parameters: status, page, page_size.
    Example(
        "s000-list-experiments-query",
        "GET",
        f"{BASE}/?status=draft&page=1&page_size=50",
        response={**LIST_PAGE, "total": 1},
        check=filtered_by_status,
    ),
    Example(
        "s000-start-experiment",
        "POST",
        f"{EXPERIMENT}/start",
        response={"key": KEY, "status": "running", "start_date": Timestamp()},
    ),
    Example(
        "s000-get-experiment",
        "GET",
        EXPERIMENT,
        response={
            "key": "schedule_optimizer_v2",
            "name": "Schedule Optimizer V2 Test",
            "status": "running",
            "variants": [
                {"key": "control", "allocation": 50, "is_control": True},
                {"key": "treatment", "allocation": 50},
            ],
            "start_date": Ref("s000-start-experiment", "start_date"),
        },
        check=treatment_is_not_control,
    ),
    # Not a draft any more: name and description may change, variants may not (test below).
    Example(
        "s000-update-experiment",
        "PUT",
        EXPERIMENT,
        body=UPDATE,
        response={"key": KEY, "name": "Updated Name", "description": "Updated description"},
    ),
    Example(
        "s000-pause-experiment",
        "POST",
        f"{EXPERIMENT}/pause",
        response={"key": KEY, "status": "paused"},
    ),
    # "Start a DRAFT or PAUSED experiment": the paused one resumes, its start date kept.
    Example(
        "s000-start-paused-experiment",
        "POST",
        f"{EXPERIMENT}/start",
        response={
            "key": KEY,
            "status": "running",
            "start_date": Ref("s000-start-experiment", "start_date"),
        },
    ),
    # The document's answer shows "treatment"; which variant a user gets is the hash's to say.
    Example(
        "s000-assign-user",
        "POST",
        f"{EXPERIMENT}/assignments",
        body=ASSIGN,
        response={
            "experiment_key": "schedule_optimizer_v2",
            "user_id": "user-123",
            "variant_key": OneOf(("control", "treatment")),
            "assigned_at": Timestamp(),
            "is_override": False,
        },
    ),
    Example(
        "s000-get-user-assignment",
        "GET",
        f"{EXPERIMENT}/assignments/user-123",
        response={
            "experiment_key": KEY,
            "user_id": "user-123",
            "variant_key": Ref("s000-assign-user", "variant_key"),
            "assigned_at": Ref("s000-assign-user", "assigned_at"),
            "is_override": False,
        },
    ),
    # No documented answer: any success, echoing what was tracked. The document's variant
    # ("treatment") is the one its assignment answer showed: a placeholder for the variant the
    # hash gives user-123 (control, with GrowthBook's hashing), as in the assignment example.
    Example(
        "s000-track-metric",
        "POST",
        f"{EXPERIMENT}/metrics",
        body=TRACK,
        status=(200, 201),
        response={
            "user_id": "user-123",
            "variant_key": Ref("s000-assign-user", "variant_key"),
            "metric_name": "schedule_quality_score",
            "value": 0.92,
        },
        placeholders={"treatment": Ref("s000-assign-user", "variant_key")},
    ),
    Example(
        "s000-get-variant-metrics",
        "GET",
        f"{EXPERIMENT}/metrics/treatment",
        response={
            "variant_key": Ref("s000-assign-user", "variant_key"),
            "user_count": INTEGER,
            "metrics": {"schedule_quality_score": SUMMARY},
        },
        placeholders={"treatment": Ref("s000-assign-user", "variant_key")},
        check=one_tracked_value,
    ),
    Example(
        "s000-get-experiment-results",
        "GET",
        f"{EXPERIMENT}/results",
        response={
            "experiment_key": "schedule_optimizer_v2",
            "status": "running",
            "total_users": INTEGER,
            "variant_metrics": ARRAY,
            "is_significant": BOOLEAN,
            "p_value": NULLABLE_NUMBER,
            "winning_variant": Is((str,), nullable=True),
            "recommendation": STRING,
            "statistical_power": NULLABLE_NUMBER,
        },
        check=results_of_one_user,
    ),
    Example(
        "s000-conclude-experiment",
        "POST",
        f"{EXPERIMENT}/conclude",
        body=CONCLUDE,
        response={
            "key": KEY,
            "status": "completed",
            "winning_variant": "treatment",
            "conclusion_notes": "Treatment showed 25% improvement in schedule quality",
            "end_date": Timestamp(),
        },
    ),
    Example(
        "s000-get-lifecycle-events",
        "GET",
        f"{EXPERIMENT}/events",
        response={"events": ARRAY},
        check=every_step_recorded,
    ),
    # The "Experiment Config Options" table: an experiment created without a config gets the
    # documented defaults. (Its body is ours: the document shows no second experiment.)
    Example(
        "s000-config-option-defaults",
        "POST",
        f"{BASE}/",
        body={"key": "to-cancel", "name": "To cancel"},
        status=201,
        response={"key": "to-cancel", "status": "draft", "config": CONFIG_DEFAULTS},
    ),
    Example(
        "s000-delete-experiment",
        "DELETE",
        f"{BASE}/to-cancel",
        response={"key": "to-cancel", "status": "cancelled", "end_date": Timestamp()},
    ),
    Example(
        "s000-get-experiment-stats",
        "GET",
        f"{BASE}/stats",
        response={
            "total_experiments": 2,
            "running_experiments": 0,
            "completed_experiments": 1,
            "draft_experiments": 0,
            "total_users_assigned": 1,
            "total_metrics_tracked": INTEGER,
        },
    ),
]


@pytest.fixture(scope="module")
def examples(anonymous_server: Server) -> Run:
    with httpx.Client(base_url=anonymous_server.url, timeout=10) as client:
        return run_examples(client, EXAMPLES, every=no_token)


@pytest.mark.parametrize("example", cases(EXAMPLES))
def test_example(example: Example, examples: Run) -> None:
    report(examples, example)


def test_variants_change_only_while_draft(examples: Run, anonymous_server: Server) -> None:
    """The update example's rule: "Only DRAFT experiments can have variants updated"."""
    with httpx.Client(base_url=anonymous_server.url, timeout=10) as http:
        created = http.post(f"{BASE}/", json={**CREATE, "key": "draft-only", "name": "Draft only"})
        assert created.status_code == 201, created.text
        variants = [{"key": "control", "allocation": 40}, {"key": "treatment", "allocation": 60}]
        assert http.put(f"{BASE}/draft-only", json={"variants": variants}).status_code == 200
        assert http.post(f"{BASE}/draft-only/start").status_code == 200
        refused = http.put(f"{BASE}/draft-only", json={"variants": variants[::-1]})
        assert refused.status_code == 409


def test_without_a_token_it_is_401_unless_anonymous_access_is_on(admin_server: Server) -> None:
    response = httpx.get(f"{admin_server.url}{BASE}/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
