"""Seed 003's examples (``003_8d621bae5d6af8e4.txt``), as written, against ``splitlab serve``.

The documented mode: "Currently, no authentication is required". The server runs with
``SPLITLAB_ANONYMOUS_ACCESS=experiment`` and no request carries an ``Authorization`` header (each
answer's request is checked for that). The collection is ``/api/experiments``, without a trailing
slash, as the document writes it: there ``workspaceId`` is required.

Covered: the cURL examples; the documented request and response bodies (GET, POST, PATCH); the
query parameters; each documented error (400 ``workspaceId is required``, 400 invalid status, 404,
409); the HTTP calls the JavaScript client functions and the React component make, as the
``'@/lib/api/experiments'`` module (``js/experiments-client/experiments.js``) sends them — that
module itself runs the JavaScript under Node in ``test_seed003_js_client.py``. The 500 ``Failed to
fetch experiments`` needs a broken database and is not an example one can send.

Placeholder ids the server can't hold verbatim (``experiment_789``, ``experiment_cuid``,
``experiment_id``) are replaced by the id the server gave the experiment the example acts on
(seed 003's PATCH addresses an experiment by id alone); every other value, workspace ids such as
``workspace_123`` and ``workspace_cuid`` included (created on first use), is sent verbatim. The
examples run in one order on one fresh server (``tests.e2e.seed_examples``); each is one test
named by its id.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.e2e.seed_examples import (
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

BASE = "/api/experiments"
JSON = {"Content-Type": "application/json"}  # the cURL examples' one header
#: What ``js/experiments-client`` sends with every call (and Content-Type with a body).
JS = {"Accept": "application/json"}

INVALID_STATUS = "Invalid status. Must be one of: active, inactive, completed"

STAMP = Timestamp(js=True)  # "2025-08-08T21:42:16.598Z": Date.toISOString()
MAYBE_STAMP = Timestamp(js=True, nullable=True)
MAYBE_STRING = Is((str,), nullable=True)
MAYBE_OBJECT = Is((dict,), nullable=True)

#: The documented experiment object (the list's items), every field a placeholder.
EXPERIMENT = {
    "id": STRING,
    "name": STRING,
    "description": MAYBE_STRING,
    "variantId": MAYBE_STRING,
    "workspaceId": STRING,
    "status": OneOf(("active", "inactive", "completed")),
    "startDate": MAYBE_STAMP,
    "endDate": MAYBE_STAMP,
    "metrics": MAYBE_OBJECT,
    "createdBy": MAYBE_STRING,
    "createdAt": STAMP,
    "updatedAt": STAMP,
}


def page(total: int, *, page: int = 1, limit: int = 10, pages: int | None = None) -> Any:
    """A documented ``{data, meta}`` page (its items shaped as documented)."""
    pages = (total + limit - 1) // limit if pages is None else pages
    return {
        "data": ListOf(EXPERIMENT),
        "meta": {"page": page, "limit": limit, "total": total, "totalPages": pages},
    }


def error(message: str) -> dict[str, str]:
    """Seed 003's error body (Splitlab adds a machine-readable ``code`` beside ``error``)."""
    return {"error": message}


# -- The cURL examples -------------------------------------------------------------------------

CURL_CREATE = {
    "name": "Button Color Test",
    "description": "Testing CTA button colors",
    "workspaceId": "workspace_123",
    "variantId": "variant_456",
}
CURL_COMPLETE_METRICS = {"totalViews": 5000, "conversions": 250, "conversionRate": 5}
#: ``experiment_789`` is the experiment the cURL create made.
CURL_ID = {"experiment_789": Ref("s003-curl-create-experiment", "id")}


def empty_workspace(response: httpx.Response, run: Run) -> None:
    assert response.json() == {
        "data": [],
        "meta": {"page": 1, "limit": 10, "total": 0, "totalPages": 0},
    }


def only_the_curl_experiment(response: httpx.Response, run: Run) -> None:
    assert [e["id"] for e in response.json()["data"]] == [
        run.value("s003-curl-create-experiment", "id")
    ]


def started_now(response: httpx.Response, run: Run) -> None:
    # preserveDates defaults to false: activating sets startDate, here as in the documented
    # PATCH answer, to the moment of the change (its updatedAt).
    body = response.json()
    assert body["startDate"] == body["updatedAt"]
    assert body["startDate"] >= body["createdAt"]


def ended_now(response: httpx.Response, run: Run) -> None:
    body = response.json()
    assert body["endDate"] >= body["startDate"]


# -- The documented request and response bodies ------------------------------------------------

CREATE = {
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
CREATED = {
    "id": STRING,  # "new_experiment_cuid"
    "name": "A/B Test Homepage",
    "description": "Testing new homepage layout",
    "variantId": "variant_cuid",
    "workspaceId": "workspace_cuid",
    "status": "inactive",
    "startDate": "2025-08-10T00:00:00.000Z",
    "endDate": "2025-08-20T00:00:00.000Z",
    "metrics": {"targetConversionRate": 5},
    "createdBy": "user_cuid",
    "createdAt": STAMP,
    "updatedAt": STAMP,
}
PATCH = {
    "id": "experiment_cuid",
    "status": "active",
    "metrics": {"views": 1500, "conversions": 75},
    "preserveDates": False,
}
PATCH_ID = {"experiment_cuid": Ref("s003-create-experiment", "id")}


def created_just_now(response: httpx.Response, run: Run) -> None:
    body = response.json()
    assert body["createdAt"] == body["updatedAt"]


# -- The JavaScript client functions and the React component -----------------------------------

JS_CREATE = {
    "name": "Homepage Redesign Test",
    "description": "Testing new homepage layout",
    "workspaceId": "workspace_id",
    "variantId": "variant_id",
    "status": "inactive",
}
JS_COMPLETE_METRICS = {"views": 10000, "conversions": 500, "conversionRate": 5}
#: ``experiment_id`` is the experiment ``createExperiment`` made.
JS_ID = {"experiment_id": Ref("s003-js-create-experiment", "id")}
#: The component's ``workspaceId`` prop: the workspace the client examples use.
REACT_CREATE = {
    "name": "New Experiment",
    "workspaceId": "workspace_id",
    "description": "Testing a new feature",
}
REACT_ID = {"experiment.id": Ref("s003-react-create-experiment", "id")}


def listed(run: Run, query: str) -> list[tuple[str, str]]:
    """(name, status) of each item of a list call, for the React component's refreshes."""
    response = run.client.get(f"{BASE}?{query}", headers=JS)
    assert response.status_code == 200, response.text
    return [(e["name"], e["status"]) for e in response.json()["data"]]


def first_page_of_twenty(response: httpx.Response, run: Run) -> None:
    assert [e["id"] for e in response.json()["data"]] == [
        run.value("s003-js-create-experiment", "id")
    ]


def only_the_activated_one(response: httpx.Response, run: Run) -> None:
    assert [e["id"] for e in response.json()["data"]] == [
        run.value("s003-js-create-experiment", "id")
    ]


def the_component_renders(response: httpx.Response, run: Run) -> None:
    # The component reads response.data and each item's id, name and status.
    assert [(e["name"], e["status"]) for e in response.json()["data"]] == [
        ("Homepage Redesign Test", "completed")
    ]


def refreshed_with_an_activate_button(response: httpx.Response, run: Run) -> None:
    # "Refresh the list": the new experiment shows, inactive (so with its Activate button).
    assert listed(run, "workspaceId=workspace_id") == [
        ("New Experiment", "inactive"),
        ("Homepage Redesign Test", "completed"),
    ]


def refreshed_active(response: httpx.Response, run: Run) -> None:
    assert listed(run, "workspaceId=workspace_id") == [
        ("New Experiment", "active"),
        ("Homepage Redesign Test", "completed"),
    ]


def sorted_and_paged(response: httpx.Response, run: Run) -> None:
    # The oldest first, one a page; then the other order, and the status filter.
    assert [e["name"] for e in response.json()["data"]] == ["Homepage Redesign Test"]
    newest = "workspaceId=workspace_id&page=1&limit=1&sortBy=createdAt&sortOrder=desc"
    assert listed(run, newest) == [("New Experiment", "active")]
    second = "workspaceId=workspace_id&page=2&limit=1&sortBy=createdAt&sortOrder=desc"
    assert listed(run, second) == [("Homepage Redesign Test", "completed")]
    assert listed(run, "workspaceId=workspace_id&status=completed&sortBy=name&sortOrder=asc") == [
        ("Homepage Redesign Test", "completed")
    ]


# -- The documented errors ---------------------------------------------------------------------


def workspace_required_everywhere(response: httpx.Response, run: Run) -> None:
    # An empty workspaceId, and a create without one, are the same 400.
    empty = run.client.get(f"{BASE}?workspaceId=")
    assert (empty.status_code, empty.json()["error"]) == (400, "workspaceId is required")
    create = run.client.post(BASE, headers=JSON, json={"name": "No workspace"})
    assert (create.status_code, create.json()["error"]) == (400, "workspaceId is required")


def invalid_status_everywhere(response: httpx.Response, run: Run) -> None:
    # The same 400 for a bad status in a PATCH and in a create.
    curl_id = run.value("s003-curl-create-experiment", "id")
    patch = run.client.patch(BASE, headers=JSON, json={"id": curl_id, "status": "done"})
    assert (patch.status_code, patch.json()["error"]) == (400, INVALID_STATUS)
    create = run.client.post(
        BASE, headers=JSON, json={**CURL_CREATE, "name": "Bad status", "status": "done"}
    )
    assert (create.status_code, create.json()["error"]) == (400, INVALID_STATUS)


EXAMPLES = [
    # cURL: "Get experiments for a workspace" (none yet).
    Example(
        "s003-curl-get-workspace-experiments",
        "GET",
        f"{BASE}?workspaceId=workspace_123",
        response=page(0),
        check=empty_workspace,
    ),
    # cURL: "Create a new experiment" (no status: the documented default, inactive).
    Example(
        "s003-curl-create-experiment",
        "POST",
        BASE,
        headers=JSON,
        body=CURL_CREATE,
        status=201,
        response={
            **EXPERIMENT,
            "name": "Button Color Test",
            "description": "Testing CTA button colors",
            "workspaceId": "workspace_123",
            "variantId": "variant_456",
            "status": "inactive",
            "startDate": None,
            "endDate": None,
        },
    ),
    # cURL: "Activate an experiment".
    Example(
        "s003-curl-activate-experiment",
        "PATCH",
        BASE,
        headers=JSON,
        body={"id": "experiment_789", "status": "active"},
        placeholders=CURL_ID,
        response={
            **EXPERIMENT,
            "id": Ref("s003-curl-create-experiment", "id"),
            "name": "Button Color Test",
            "status": "active",
            "startDate": STAMP,
            "endDate": None,
        },
        check=started_now,
    ),
    # cURL: "Get active experiments only".
    Example(
        "s003-curl-get-active-experiments",
        "GET",
        f"{BASE}?workspaceId=workspace_123&status=active",
        response=page(1),
        check=only_the_curl_experiment,
    ),
    # cURL: "Complete an experiment with metrics".
    Example(
        "s003-curl-complete-experiment",
        "PATCH",
        BASE,
        headers=JSON,
        body={"id": "experiment_789", "status": "completed", "metrics": CURL_COMPLETE_METRICS},
        placeholders=CURL_ID,
        response={
            **EXPERIMENT,
            "id": Ref("s003-curl-create-experiment", "id"),
            "status": "completed",
            "startDate": Ref("s003-curl-activate-experiment", "startDate"),
            "endDate": STAMP,
            "metrics": {"totalViews": 5000, "conversions": 250, "conversionRate": 5},
        },
        check=ended_now,
    ),
    # "Create Experiment": the documented request body and response.
    Example(
        "s003-create-experiment",
        "POST",
        BASE,
        body=CREATE,
        status=201,
        response=CREATED,
        check=created_just_now,
    ),
    # "Get Experiments by Workspace": the documented request and response.
    Example(
        "s003-get-experiments-by-workspace",
        "GET",
        f"{BASE}?workspaceId=workspace_cuid",
        response={
            "data": [{**CREATED, "id": Ref("s003-create-experiment", "id")}],
            "meta": {"page": 1, "limit": 10, "total": 1, "totalPages": 1},
        },
    ),
    # "Update Experiment Status": the documented request body and response. The document's
    # answer shows an experiment that had no dates ("endDate": null, startDate set on
    # activation); this one was created with both (the create example above), and
    # preserveDates false sets a date only "if not already set": both are kept. The cURL
    # activation above shows an experiment without dates getting its startDate.
    Example(
        "s003-update-experiment-status",
        "PATCH",
        BASE,
        body=PATCH,
        placeholders=PATCH_ID,
        response={
            "id": Ref("s003-create-experiment", "id"),
            "name": "A/B Test Homepage",
            "description": "Testing new homepage layout",
            "variantId": "variant_cuid",
            "workspaceId": "workspace_cuid",
            "status": "active",
            "startDate": "2025-08-10T00:00:00.000Z",
            "endDate": "2025-08-20T00:00:00.000Z",
            "metrics": {"views": 1500, "conversions": 75},
            "createdBy": "user_cuid",
            "createdAt": Ref("s003-create-experiment", "createdAt"),
            "updatedAt": STAMP,
        },
    ),
    # "400 Bad Request": workspaceId is required — on /api/experiments, seed 003's collection.
    Example(
        "s003-error-workspace-id-required",
        "GET",
        BASE,
        status=400,
        response=error("workspaceId is required"),
        check=workspace_required_everywhere,
    ),
    Example(
        "s003-error-invalid-status",
        "GET",
        f"{BASE}?workspaceId=workspace_123&status=done",
        status=400,
        response=error(INVALID_STATUS),
        check=invalid_status_everywhere,
    ),
    # "404 Not Found": the cURL activation as written, on a server without experiment_789.
    Example(
        "s003-error-experiment-not-found",
        "PATCH",
        BASE,
        headers=JSON,
        body={"id": "experiment_789", "status": "active"},
        status=404,
        response=error("Experiment not found"),
    ),
    # "409 Conflict": the documented create, again.
    Example(
        "s003-error-duplicate-experiment",
        "POST",
        BASE,
        body=CREATE,
        status=409,
        response=error("An experiment with this name already exists"),
    ),
    # "Using the API Client Functions", each call as js/experiments-client sends it.
    Example(
        "s003-js-create-experiment",
        "POST",
        BASE,
        headers=JS,
        body=JS_CREATE,
        status=201,
        response={**EXPERIMENT, **JS_CREATE, "startDate": None, "endDate": None},
    ),
    Example(
        "s003-js-get-experiments-by-workspace",
        "GET",
        f"{BASE}?workspaceId=workspace_id&page=1&limit=20",
        headers=JS,
        response=page(1, limit=20),
        check=first_page_of_twenty,
    ),
    Example(
        "s003-js-activate-experiment",
        "PATCH",
        BASE,
        headers=JS,
        body={"id": "experiment_id", "status": "active"},
        placeholders=JS_ID,
        response={**EXPERIMENT, "id": Ref("s003-js-create-experiment", "id"), "status": "active"},
        check=started_now,
    ),
    Example(
        "s003-js-get-active-experiments",
        "GET",
        f"{BASE}?workspaceId=workspace_id&status=active",
        headers=JS,
        response=page(1),
        check=only_the_activated_one,
    ),
    Example(
        "s003-js-deactivate-experiment",
        "PATCH",
        BASE,
        headers=JS,
        body={"id": "experiment_id", "status": "inactive"},
        placeholders=JS_ID,
        response={
            **EXPERIMENT,
            "id": Ref("s003-js-create-experiment", "id"),
            "status": "inactive",
            "startDate": Ref("s003-js-activate-experiment", "startDate"),
            "endDate": None,
        },
    ),
    Example(
        "s003-js-complete-experiment",
        "PATCH",
        BASE,
        headers=JS,
        body={"id": "experiment_id", "status": "completed", "metrics": JS_COMPLETE_METRICS},
        placeholders=JS_ID,
        response={
            **EXPERIMENT,
            "id": Ref("s003-js-create-experiment", "id"),
            "status": "completed",
            "endDate": STAMP,
            "metrics": {"views": 10000, "conversions": 500, "conversionRate": 5},
        },
    ),
    # "React Component Example": its three calls.
    Example(
        "s003-react-fetch-experiments",
        "GET",
        f"{BASE}?workspaceId=workspace_id",
        headers=JS,
        response=page(1),
        check=the_component_renders,
    ),
    Example(
        "s003-react-create-experiment",
        "POST",
        BASE,
        headers=JS,
        body=REACT_CREATE,
        status=201,
        response={**EXPERIMENT, **REACT_CREATE, "status": "inactive"},
        check=refreshed_with_an_activate_button,
    ),
    Example(
        "s003-react-activate-experiment",
        "PATCH",
        BASE,
        headers=JS,
        body={"id": "experiment.id", "status": "active"},
        placeholders=REACT_ID,
        response={
            **EXPERIMENT,
            "id": Ref("s003-react-create-experiment", "id"),
            "status": "active",
        },
        check=refreshed_active,
    ),
    # The query parameters table: page, limit, sortBy, sortOrder (status: above).
    Example(
        "s003-list-query-parameters",
        "GET",
        f"{BASE}?workspaceId=workspace_id&page=1&limit=1&sortBy=createdAt&sortOrder=asc",
        response=page(2, limit=1),
        check=sorted_and_paged,
    ),
]


@pytest.fixture(scope="module")
def examples(anonymous_server: Server) -> Run:
    with httpx.Client(base_url=anonymous_server.url, timeout=10) as client:
        return run_examples(client, EXAMPLES, every=no_token)


@pytest.mark.parametrize("example", cases(EXAMPLES))
def test_example(example: Example, examples: Run) -> None:
    report(examples, example)
