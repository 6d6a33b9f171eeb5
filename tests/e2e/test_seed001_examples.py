"""Seed 001's examples (``001_67d5a4c505903af4.txt``), as written, against ``splitlab serve``.

The documented mode: seed 001 signs every call with its well-known Bearer tokens
(``admin_token_123``, ``experiment_token_789``, ``readonly_token_456``), which Splitlab accepts in
demo mode, so the server runs with ``SPLITLAB_DEMO=true`` — and ``--no-demo-data``, so that it
starts empty and the first experiment is the document's ``1``. Every example carries
``Authorization: Bearer admin_token_123`` (as the document's Python client does), except the
browser URLs (Swagger UI, the dashboard), the error examples, which name their token, and the
"All API endpoints require Bearer token authentication" example, which sends none.

The examples run in one order on one fresh server (``tests.e2e.seed_examples``); each is one test
named by its id. The order is the document's "Scenario 1: Complete A/B Test Flow" (create the
experiment, the user, get the assignment, record events, view analytics), with the experiment's
DELETE after the analytics and data management. The API-token examples' ``/api/v1/api-tokens/1``
is, on this server, demo mode's own admin token (ids 1 to 3 are the demo tokens): GET reads it as
written, while PUT and DELETE act on the token the create example made (deleting
``admin_token_123`` would lock the examples out). The three tokens' documented scopes are
``test_demo_token``'s cases.

Scenario 1's last step ("check the reports") is checked in the reports example, Scenario 3's
("different event types ... in the analytics endpoints") in the events-analytics example. Not
examples one can send: the "Current System Status" figures (the authors' data), Scenario 2 (prose
without data), the 500 of "Common Issues", and the URLs of services Splitlab is not (Grafana,
Prometheus, Kafka Connect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.e2e.seed_examples import (
    ARRAY,
    INTEGER,
    NUMBER,
    OBJECT,
    STRING,
    Example,
    ListOf,
    OneOf,
    Ref,
    Run,
    Timestamp,
    cases,
    report,
    run_examples,
)

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": "Bearer admin_token_123"}
EXPERIMENT_TOKEN = {"Authorization": "Bearer experiment_token_789"}
READONLY = {"Authorization": "Bearer readonly_token_456"}

# The documented bodies, verbatim.
CHECKOUT: dict[str, Any] = {
    "key": "checkout-button-test",
    "name": "Checkout Button Color Test",
    "description": "Testing if green checkout button increases conversions",
    "variants": [
        {
            "key": "control",
            "name": "Blue Button (Control)",
            "allocation_pct": 50,
            "is_control": True,
            "config": {"button_color": "blue", "button_text": "Checkout Now"},
        },
        {
            "key": "treatment",
            "name": "Green Button (Treatment)",
            "allocation_pct": 50,
            "is_control": False,
            "config": {"button_color": "green", "button_text": "Checkout Now"},
        },
    ],
}
UPDATE_EXPERIMENT = {
    "name": "Updated Checkout Button Test",
    "description": "Updated description for better clarity",
    "status": "ACTIVE",
}
USER = {
    "user_id": "test-user-123",
    "email": "testuser@example.com",
    "name": "Test User",
    "properties": {
        "age": 28,
        "location": "San Francisco",
        "plan": "premium",
        "signup_date": "2024-09-29",
    },
}
UPDATE_USER = {
    "name": "Updated Test User",
    "properties": {"age": 29, "location": "New York", "plan": "enterprise"},
}
ASSIGNMENT = {
    "experiment_id": 1,
    "user_id": "test-user-123",
    "context": {
        "ip": "192.168.1.100",
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
        "page": "/checkout",
    },
}
CONVERSION = {
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
}
PAGE_VIEW = {
    "experiment_id": 1,
    "user_id": "test-user-123",
    "event_type": "page_view",
    "properties": {
        "page": "/checkout",
        "device": "mobile",
        "session_id": "sess-456",
        "referrer": "https://google.com",
    },
}
BUTTON_CLICK = {
    "experiment_id": 1,
    "user_id": "test-user-123",
    "event_type": "button_click",
    "properties": {
        "button_id": "checkout-btn",
        "button_text": "Checkout Now",
        "button_color": "green",
        "click_position": {"x": 150, "y": 300},
    },
}
TOKEN = {"name": "My Test Token", "description": "Token for testing API endpoints"}
UPDATE_TOKEN = {"name": "Updated Test Token", "is_active": True}
CLEANUP = {
    "retention_days": 30,
    "cleanup_events": True,
    "cleanup_assignments": False,
    "cleanup_outbox": True,
}

#: The variants as the checkout experiment holds them.
VARIANTS = [
    {
        "id": INTEGER,
        "key": "control",
        "name": "Blue Button (Control)",
        "allocation_pct": 50,
        "is_control": True,
        "config": {"button_color": "blue", "button_text": "Checkout Now"},
    },
    {
        "id": INTEGER,
        "key": "treatment",
        "name": "Green Button (Treatment)",
        "allocation_pct": 50,
        "is_control": False,
        "config": {"button_color": "green", "button_text": "Checkout Now"},
    },
]
VARIANT = OneOf(("control", "treatment"))
#: ``/api/v1/api-tokens/1`` in PUT and DELETE: the token the create example made.
TOKEN_ID = {"1": Ref("s001-create-api-token", "id")}


def event(body: dict[str, object]) -> dict[str, object]:
    return {
        "id": INTEGER,
        "event_id": STRING,
        "experiment_id": 1,
        "user_id": "test-user-123",
        "event_type": body["event_type"],
        "properties": body["properties"],
        "timestamp": Timestamp(),
        "duplicate": False,
    }


def only_the_checkout_experiment(response: httpx.Response, run: Run) -> None:
    assert [e["key"] for e in response.json()] == ["checkout-button-test"]


def only_the_test_user(response: httpx.Response, run: Run) -> None:
    assert [u["user_id"] for u in response.json()] == ["test-user-123"]


def properties_replaced(response: httpx.Response, run: Run) -> None:
    stored = run.client.get("/api/v1/users/test-user-123", headers=ADMIN).json()
    assert stored["properties"] == UPDATE_USER["properties"]


def the_variant_served(response: httpx.Response, run: Run) -> None:
    body = response.json()
    config = {v["key"]: v["config"] for v in CHECKOUT["variants"]}
    assert body["variant_config"] == config[body["variant_key"]]
    assert body["in_experiment"] is True


def one_recorded_assignment(response: httpx.Response, run: Run) -> None:
    rows = response.json()
    variant = run.value("s001-get-user-assignment", "variant_key")
    assert [(r["experiment_id"], r["user_id"], r["variant_key"]) for r in rows] == [
        (1, "test-user-123", variant)
    ]
    assert response.headers["X-Total-Count"] == "1"


def experiment_figures(response: httpx.Response, run: Run) -> None:
    (row,) = response.json()
    assert (row["id"], row["status"], row["variants"]) == (1, "running", 2)
    assert (row["exposures"], row["events"]) == (1, 3)


def variant_figures(response: httpx.Response, run: Run) -> None:
    variant = run.value("s001-get-user-assignment", "variant_key")
    users = {v["key"]: (v["users"], v["events"]) for v in response.json()}
    assert users == {
        "control": (1, 3) if variant == "control" else (0, 0),
        "treatment": (1, 3) if variant == "treatment" else (0, 0),
    }


def assignment_figures(response: httpx.Response, run: Run) -> None:
    body = response.json()
    assert (body["total_assignments"], body["unique_users"], body["overrides"]) == (1, 1, 0)


def event_figures(response: httpx.Response, run: Run) -> None:
    # Scenario 3: the different event types, with their rich properties, in the analytics.
    body = response.json()
    assert body["by_type"] == {"conversion": 1, "page_view": 1, "button_click": 1}
    assert [e["event_type"] for e in body["events"]] == ["button_click", "page_view", "conversion"]
    assert body["events"][0]["properties"]["click_position"] == {"x": 150, "y": 300}


def user_figures(response: httpx.Response, run: Run) -> None:
    body = response.json()
    assert (body["registered_users"], body["exposed_users"], body["users_with_events"]) == (1, 1, 1)


def scenario_1_results(response: httpx.Response, run: Run) -> None:
    # Scenario 1, step 5: "Check the reports to see the results".
    variant = run.value("s001-get-user-assignment", "variant_key")
    rows = [
        (r["experiment_id"], r["variant_key"], r["exposures"], r["events"], r["conversions"])
        for r in response.json()
    ]
    assert rows == [(1, variant, 1, 3, 1)]
    assert response.json()[0]["value_sum"] == pytest.approx(99.99)


def system_status(response: httpx.Response, run: Run) -> None:
    # Data counts, service health and record totals, as "System Status" lists them.
    body = response.json()
    counts = body["counts"]
    assert (counts["experiments"], counts["users"], counts["events"]) == (1, 1, 3)
    assert body["services"]["database"]["status"] == "ok"


def secret_shown_once(response: httpx.Response, run: Run) -> None:
    token = response.json()
    assert token["token"].startswith("slk_")
    assert token["token"].startswith(token["prefix"])


def listed_without_secrets(response: httpx.Response, run: Run) -> None:
    created = run.json("s001-create-api-token")
    assert created["id"] in [t["id"] for t in response.json()]
    assert created["token"] not in response.text
    assert all("token" not in t for t in response.json())


def no_secret(response: httpx.Response, run: Run) -> None:
    assert "token" not in response.json()


def the_secret_works(response: httpx.Response, run: Run) -> None:
    secret = run.value("s001-create-api-token", "token")
    users = run.client.get("/api/v1/users/", headers={"Authorization": f"Bearer {secret}"})
    assert users.status_code == 200


def the_secret_is_refused(response: httpx.Response, run: Run) -> None:
    secret = run.value("s001-create-api-token", "token")
    users = run.client.get("/api/v1/users/", headers={"Authorization": f"Bearer {secret}"})
    assert users.status_code == 401
    token_id = run.value("s001-create-api-token", "id")
    assert run.client.get(f"/api/v1/api-tokens/{token_id}", headers=ADMIN).status_code == 404


def events_kept(response: httpx.Response, run: Run) -> None:
    # Recent events of a running experiment are never cleaned up.
    assert response.json()["deleted"] == {"events": 0, "assignments": 0, "outbox": 0}


def row_counts(response: httpx.Response, run: Run) -> None:
    rows = response.json()["rows"]
    assert (rows["experiments"], rows["users"], rows["assignments"], rows["events"]) == (1, 1, 1, 3)


def python_client_example(run: Run) -> httpx.Response:
    """The document's "API Client Example", its URL this server's."""

    async def example() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            headers = {"Authorization": "Bearer admin_token_123"}

            # Get experiments
            response = await client.get(f"{run.url}/api/v1/experiments/", headers=headers)
            experiments = response.json()
            assert isinstance(experiments, list)
            return response

    return asyncio.run(example())


def in_a_browser(path: str) -> Callable[[Run], httpx.Response]:
    def send(run: Run) -> httpx.Response:
        return httpx.get(f"{run.url}{path}", follow_redirects=True, timeout=10)

    return send


def html(response: httpx.Response, run: Run) -> None:
    assert response.headers["content-type"].startswith("text/html")


def swagger_ui(response: httpx.Response, run: Run) -> None:
    html(response, run)
    assert "swagger" in response.text.lower()


def prometheus(response: httpx.Response, run: Run) -> None:
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE " in response.text


def scope_refused(response: httpx.Response, run: Run) -> None:
    # "Solution: ensure you're using a valid Bearer token": the admin token may.
    assert run.client.get("/api/v1/api-tokens/", headers=ADMIN).status_code == 200


EXAMPLES = [
    Example(
        "s001-create-experiment",
        "POST",
        "/api/v1/experiments/",
        headers=ADMIN,
        body=CHECKOUT,
        status=201,
        response={
            "id": 1,
            "key": "checkout-button-test",
            "name": "Checkout Button Color Test",
            "description": "Testing if green checkout button increases conversions",
            "status": "draft",
            "variants": VARIANTS,
        },
    ),
    Example(
        "s001-get-all-experiments",
        "GET",
        "/api/v1/experiments/",
        headers=ADMIN,
        response=ListOf({"id": INTEGER, "key": STRING, "variants": ARRAY}, length=1),
        check=only_the_checkout_experiment,
    ),
    Example(
        "s001-get-experiment-by-id",
        "GET",
        "/api/v1/experiments/1",
        headers=ADMIN,
        response={"id": 1, "key": "checkout-button-test", "variants": VARIANTS},
    ),
    # "status": "ACTIVE" starts it: Splitlab's word for it is running.
    Example(
        "s001-update-experiment",
        "PUT",
        "/api/v1/experiments/1",
        headers=ADMIN,
        body=UPDATE_EXPERIMENT,
        response={
            "id": 1,
            "name": "Updated Checkout Button Test",
            "description": "Updated description for better clarity",
            "status": "running",
            "start_date": Timestamp(),
        },
    ),
    Example(
        "s001-create-user",
        "POST",
        "/api/v1/users/",
        headers=ADMIN,
        body=USER,
        status=201,
        response={**USER, "id": INTEGER, "created_at": Timestamp()},
    ),
    Example(
        "s001-get-all-users",
        "GET",
        "/api/v1/users/",
        headers=ADMIN,
        response=ListOf({"user_id": STRING, "properties": OBJECT}, length=1),
        check=only_the_test_user,
    ),
    Example(
        "s001-get-user-by-id",
        "GET",
        "/api/v1/users/test-user-123",
        headers=ADMIN,
        response=USER,
    ),
    Example(
        "s001-update-user",
        "PUT",
        "/api/v1/users/test-user-123",
        headers=ADMIN,
        body=UPDATE_USER,
        response={**UPDATE_USER, "user_id": "test-user-123", "email": "testuser@example.com"},
        check=properties_replaced,
    ),
    Example(
        "s001-get-user-assignment",
        "GET",
        "/api/v1/assignments/experiments/1/assignment/test-user-123",
        headers=ADMIN,
        response={
            "experiment_id": 1,
            "experiment_key": "checkout-button-test",
            "user_id": "test-user-123",
            "variant_key": VARIANT,
            "is_override": False,
            "assigned_at": Timestamp(),
        },
        check=the_variant_served,
    ),
    # The user is in the experiment already: 201, the same (sticky) variant.
    Example(
        "s001-create-assignment",
        "POST",
        "/api/v1/assignments/",
        headers=ADMIN,
        body=ASSIGNMENT,
        status=201,
        response={
            "experiment_id": 1,
            "user_id": "test-user-123",
            "variant_key": Ref("s001-get-user-assignment", "variant_key"),
            "assigned_at": Ref("s001-get-user-assignment", "assigned_at"),
        },
    ),
    Example(
        "s001-get-all-assignments",
        "GET",
        "/api/v1/assignments/",
        headers=ADMIN,
        response=ListOf({"experiment_id": INTEGER, "user_id": STRING, "variant_key": STRING}),
        check=one_recorded_assignment,
    ),
    Example(
        "s001-record-event",
        "POST",
        "/api/v1/events/",
        headers=ADMIN,
        body=CONVERSION,
        status=201,
        response=event(CONVERSION),
    ),
    Example(
        "s001-record-page-view-event",
        "POST",
        "/api/v1/events/",
        headers=ADMIN,
        body=PAGE_VIEW,
        status=201,
        response=event(PAGE_VIEW),
    ),
    Example(
        "s001-record-custom-event",
        "POST",
        "/api/v1/events/",
        headers=ADMIN,
        body=BUTTON_CLICK,
        status=201,
        response=event(BUTTON_CLICK),
    ),
    Example(
        "s001-experiments-analytics",
        "GET",
        "/api/v1/analytics/experiments",
        headers=ADMIN,
        response=ListOf({"id": INTEGER, "key": STRING, "status": STRING}),
        check=experiment_figures,
    ),
    Example(
        "s001-variants-analytics",
        "GET",
        "/api/v1/analytics/variants",
        headers=ADMIN,
        response=ListOf({"experiment_id": INTEGER, "key": STRING, "allocation_pct": NUMBER}),
        check=variant_figures,
    ),
    Example(
        "s001-assignments-analytics",
        "GET",
        "/api/v1/analytics/assignments",
        headers=ADMIN,
        response={"total_assignments": INTEGER},
        check=assignment_figures,
    ),
    Example(
        "s001-events-analytics",
        "GET",
        "/api/v1/analytics/events?limit=10&offset=0",
        headers=ADMIN,
        response={"total": 3, "limit": 10, "offset": 0, "events": ListOf(length=3)},
        check=event_figures,
    ),
    Example(
        "s001-users-analytics",
        "GET",
        "/api/v1/analytics/users",
        headers=ADMIN,
        response={"registered_users": INTEGER},
        check=user_figures,
    ),
    Example(
        "s001-reports",
        "GET",
        "/api/v1/analytics/reports",
        headers=ADMIN,
        response=ListOf({"experiment_id": INTEGER, "variant_key": STRING, "day": STRING}),
        check=scenario_1_results,
    ),
    Example(
        "s001-system-summary",
        "GET",
        "/api/v1/analytics/summary",
        headers=ADMIN,
        response={"counts": OBJECT, "services": OBJECT},
        check=system_status,
    ),
    Example(
        "s001-create-api-token",
        "POST",
        "/api/v1/api-tokens/",
        headers=ADMIN,
        body=TOKEN,
        status=201,
        response={**TOKEN, "id": INTEGER, "token": STRING, "prefix": STRING, "is_active": True},
        check=secret_shown_once,
    ),
    Example(
        "s001-get-all-api-tokens",
        "GET",
        "/api/v1/api-tokens/",
        headers=ADMIN,
        response=ListOf({"id": INTEGER, "name": STRING, "prefix": STRING}),
        check=listed_without_secrets,
    ),
    # As written: token 1 is this server's first token, demo mode's admin token.
    Example(
        "s001-get-api-token-by-id",
        "GET",
        "/api/v1/api-tokens/1",
        headers=ADMIN,
        response={"id": 1, "name": STRING, "prefix": STRING, "scope": "admin", "is_active": True},
        check=no_secret,
    ),
    Example(
        "s001-update-api-token",
        "PUT",
        "/api/v1/api-tokens/1",
        headers=ADMIN,
        body=UPDATE_TOKEN,
        placeholders=TOKEN_ID,
        response={
            "id": Ref("s001-create-api-token", "id"),
            "name": "Updated Test Token",
            "description": "Token for testing API endpoints",
            "is_active": True,
        },
        check=the_secret_works,
    ),
    Example(
        "s001-delete-api-token",
        "DELETE",
        "/api/v1/api-tokens/1",
        headers=ADMIN,
        placeholders=TOKEN_ID,
        status=204,
        check=the_secret_is_refused,
    ),
    Example(
        "s001-cleanup-old-data",
        "POST",
        "/api/v1/data-management/cleanup",
        headers=ADMIN,
        body=CLEANUP,
        response={"retention_days": 30, "cutoff": Timestamp(), "deleted": OBJECT},
        check=events_kept,
    ),
    Example(
        "s001-data-statistics",
        "GET",
        "/api/v1/data-management/stats",
        headers=ADMIN,
        response={"rows": OBJECT},
        check=row_counts,
    ),
    Example(
        "s001-delete-experiment",
        "DELETE",
        "/api/v1/experiments/1",
        headers=ADMIN,
        response={"id": 1, "key": "checkout-button-test", "status": "cancelled"},
    ),
    Example(
        "s001-python-client-example",
        send=python_client_example,
        response=ListOf({"id": INTEGER, "key": STRING}, length=1),
    ),
    Example("s001-health-check", "GET", "/health", headers=ADMIN, response={"status": "ok"}),
    Example("s001-metrics", "GET", "/metrics", headers=ADMIN, check=prometheus),
    Example("s001-api-documentation", send=in_a_browser("/api/v1/docs"), check=swagger_ui),
    Example("s001-dashboard", send=in_a_browser("/"), check=html),
    # "Common Issues": 403, 422 and 404 — each with the request that earns it.
    Example(
        "s001-error-403-forbidden",
        "POST",
        "/api/v1/api-tokens/",
        headers=EXPERIMENT_TOKEN,
        body=TOKEN,
        status=403,
        response={"error": STRING},
        check=scope_refused,
    ),
    Example(
        "s001-error-422-validation",
        "POST",
        "/api/v1/experiments/",
        headers=ADMIN,
        body={k: v for k, v in CHECKOUT.items() if k != "name"},  # a required field missing
        status=422,
        response={"error": STRING, "details": ARRAY},
    ),
    Example(
        "s001-error-404-not-found",
        "GET",
        "/api/v1/users/no-such-user",
        headers=ADMIN,
        status=404,
        response={"error": STRING},
    ),
    # "All API endpoints require Bearer token authentication".
    Example(
        "s001-authentication-required",
        "GET",
        "/api/v1/experiments/",
        status=(401, 403),
    ),
]


@pytest.fixture(scope="module")
def demo_server(serve: Callable[..., Server]) -> Server:
    return serve("--no-demo-data", env={"SPLITLAB_DEMO": "true"})


@pytest.fixture(scope="module")
def examples(demo_server: Server) -> Run:
    with httpx.Client(base_url=demo_server.url, timeout=10) as client:
        return run_examples(client, EXAMPLES)


@pytest.mark.parametrize("example", cases(EXAMPLES))
def test_example(example: Example, examples: Run) -> None:
    report(examples, example)


#: "Admin Token (Full access)", "Experiment Token (Experiment management)", "Readonly Token
#: (Read-only access)": what each may and may not do.
SCOPES = {
    "s001-admin-token": ("admin_token_123", 200, 201, 200),
    "s001-experiment-token": ("experiment_token_789", 200, 201, 403),
    "s001-readonly-token": ("readonly_token_456", 200, 403, 403),
}


@pytest.mark.parametrize(
    ("token", "reads", "creates", "manages_tokens"), list(SCOPES.values()), ids=list(SCOPES)
)
def test_demo_token(
    token: str, reads: int, creates: int, manages_tokens: int, examples: Run, demo_server: Server
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    body = {**CHECKOUT, "key": f"scoped-{token}", "name": f"Scoped {token}"}
    with httpx.Client(base_url=demo_server.url, headers=headers, timeout=10) as http:
        assert http.get("/api/v1/experiments/").status_code == reads
        assert http.post("/api/v1/experiments/", json=body).status_code == creates
        assert http.get("/api/v1/api-tokens/").status_code == manages_tokens


def test_demo_mode_warns_at_start(demo_server: Server) -> None:
    assert "DEMO MODE" in demo_server.output()


def test_a_wrong_token_is_refused(demo_server: Server) -> None:
    response = httpx.get(
        f"{demo_server.url}/api/v1/experiments/", headers={"Authorization": "Bearer wrong_token"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
