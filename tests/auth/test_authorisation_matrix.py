"""The authorisation matrix, generated from the app's own route table.

Each route's required scope is read from its dependencies (the ``require_<scope>`` dependency that
``splitlab.api.deps.require`` builds), never from a hand-written list of paths, so a route added
tomorrow is checked by these tests without anyone remembering to list it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Route

from splitlab.app import create_app
from splitlab.auth.tokens import Scope
from splitlab.config import Settings
from tests.auth.conftest import (
    WORKSPACE_A,
    WORKSPACE_B,
    assert_error,
    assert_unauthenticated,
    bearer,
    secret,
)

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_API_ROUTES = {("GET", "/health"), ("GET", "/metrics")}
#: Where GrowthBook SDKs fetch their payload: the client key is in the path, not a header
#: (tested in tests/api/test_sdk_routes.py).
KEY_IN_PATH_ROUTES = {("GET", "/api/features/{client_key}")}
#: Batches that name experiments and answer 200 with a list of rejected items.
PARTIAL_BATCHES = {"/api/v1/exposures/batch"}
#: The routes an ``sdk`` client key may call, and nothing else.
SDK_ROUTES = {
    "GET /api/v1/sdk",
    "POST /api/v1/exposures/batch",
    "POST /api/v1/events/batch",
}
#: The dashboard's sign-in page: the one page reachable without a session.
PUBLIC_DASHBOARD_ROUTES = {("GET", "/login"), ("POST", "/login")}
#: FastAPI's own documentation routes (the OpenAPI document, Swagger UI) and the static files.
DOCS_ROUTES = {"/api/v1/openapi.json", "/api/v1/docs", "/static"}
#: A sane floor: the three dialects plus users and tokens already exceed it.
MIN_PROTECTED_ROUTES = 25


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    scope: Scope | None  # None: public
    path_params: tuple[str, ...]
    body_schema: dict[str, Any] | None
    dashboard: bool = False  # a page behind the dashboard's sign-in session instead of a token
    sdk: bool = False  # also admits an ``sdk`` client key (``require(..., sdk=True)``)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING


def _dependency_names(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        yield getattr(sub.call, "__name__", "")
        yield from _dependency_names(sub)


def required_scope(dependant: Dependant) -> Scope | None:
    """The scope a route's ``require_<scope>`` dependency demands; ``None`` if it has none."""
    scopes = {
        Scope(name.removeprefix("require_").removesuffix("_or_sdk"))
        for name in _dependency_names(dependant)
        if name.startswith("require_")
    }
    assert len(scopes) <= 1, f"a route with several scope requirements: {scopes}"
    return scopes.pop() if scopes else None


def admits_sdk(dependant: Dependant) -> bool:
    return any(name.endswith("_or_sdk") for name in _dependency_names(dependant))


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _body_schema(app: FastAPI, method: str, path: str) -> dict[str, Any] | None:
    operation = app.openapi()["paths"].get(path, {}).get(method.lower())
    if operation is None:  # include_in_schema=False twins (trailing slash): same body as the twin
        operation = app.openapi()["paths"].get(path.rstrip("/"), {}).get(method.lower())
    if operation is None or "requestBody" not in operation:
        return None
    content = operation["requestBody"]["content"]["application/json"]["schema"]
    return _resolve(content, app.openapi()["components"]["schemas"])


def endpoints(app: FastAPI) -> list[Endpoint]:
    found = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        # "{user_id:path}" → "{user_id}", the form OpenAPI documents paths in
        path = re.sub(r"{(\w+):\w+}", r"{\1}", context.path)
        for method in sorted(context.methods or ()):
            found.append(
                Endpoint(
                    method=method,
                    path=path,
                    scope=required_scope(context.dependant),
                    path_params=tuple(p.name for p in context.dependant.path_params),
                    body_schema=_body_schema(app, method, path),
                    dashboard="get_viewer" in set(_dependency_names(context.dependant)),
                    sdk=admits_sdk(context.dependant),
                )
            )
    return found


def protected(app: FastAPI) -> list[Endpoint]:
    return [e for e in endpoints(app) if e.scope is not None]


DUMMY = {"int": "987654", "str": "no-such-thing"}


def dummy_path(endpoint: Endpoint) -> str:
    """The path with every parameter filled by a value that names nothing."""
    return endpoint.path.format(**{name: DUMMY["int"] for name in endpoint.path_params})


def call(client: TestClient, endpoint: Endpoint, path: str, **kwargs: Any) -> httpx.Response:
    return client.request(endpoint.method, path, follow_redirects=False, **kwargs)


def test_routes_without_a_scope_are_exactly_health_and_metrics(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    public = {(e.method, e.path) for e in endpoints(app) if e.scope is None and not e.dashboard}
    assert public == PUBLIC_API_ROUTES | PUBLIC_DASHBOARD_ROUTES | KEY_IN_PATH_ROUTES


def test_every_dashboard_page_needs_a_signed_in_session(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    pages = [e for e in endpoints(app) if e.dashboard]
    assert len(pages) >= 10
    for endpoint in pages:
        # ``client`` carries the admin bearer token: an API credential opens no dashboard page.
        response = call(client, endpoint, dummy_path(endpoint))
        assert response.status_code == 303, endpoint
        assert response.headers["location"].startswith("/login"), endpoint


def test_the_only_other_routes_are_the_openapi_document_and_docs(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    others = {
        context.path
        for context in iter_route_contexts(app.routes)
        if not isinstance(context.original_route, APIRoute)
    }
    assert others == DOCS_ROUTES
    # Besides routes, only the static-files mount: plain files, no data.
    assert all(
        isinstance(c.original_route, Route) or c.path == "/static"
        for c in iter_route_contexts(app.routes)
    )


def test_public_routes_answer_without_a_token(app_client: TestClient) -> None:
    for path in ("/health", "/metrics", "/api/v1/openapi.json", "/api/v1/docs"):
        assert app_client.get(path).status_code == 200, path


def test_metrics_needs_a_token_when_configured_private(settings: Settings) -> None:
    private = settings.model_copy(update={"metrics_public": False})
    with TestClient(create_app(private)) as client:
        assert_unauthenticated(client.get("/metrics"))


def test_the_matrix_covers_every_scope_and_enough_routes(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    routes = protected(app)
    by_scope = {scope: [e for e in routes if e.scope is scope] for scope in Scope}
    assert len(routes) >= MIN_PROTECTED_ROUTES
    assert len(by_scope[Scope.ADMIN]) >= 5  # the five token routes at least
    assert len(by_scope[Scope.EXPERIMENT]) >= 10
    assert len(by_scope[Scope.READONLY]) >= 8
    assert sum(e.mutating for e in routes) >= 15
    assert sum(bool(e.path_params) for e in routes) >= 12


def test_no_mutating_route_is_open_to_readonly_scope(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    assert [str(e) for e in protected(app) if e.mutating and e.scope is Scope.READONLY] == []


def test_openapi_declares_bearer_auth_on_every_protected_route(client: TestClient) -> None:
    """So Swagger UI at /api/v1/docs offers "Authorize", as seed 001 uses it."""
    app = client.app
    assert isinstance(app, FastAPI)
    document = client.get("/api/v1/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    undeclared = [
        str(e)
        for e in protected(app)
        if e.path in document["paths"]
        and {"HTTPBearer": []}
        not in document["paths"][e.path][e.method.lower()].get("security", [])
    ]
    assert undeclared == []
    assert "security" not in document["paths"]["/health"]["get"]


# --- 401: no credentials, malformed credentials, unknown credentials -------------------------


def _unauthenticated_failures(client: TestClient, headers: dict[str, str]) -> list[str]:
    app = client.app
    assert isinstance(app, FastAPI)
    failures = []
    for endpoint in protected(app):
        response = call(client, endpoint, dummy_path(endpoint), headers=headers, json={})
        if response.status_code != 401 or response.headers.get("WWW-Authenticate") != "Bearer":
            failures.append(f"{endpoint} -> {response.status_code}")
        elif set(response.json()) < {"error", "code"}:
            failures.append(f"{endpoint} -> body {response.json()}")
    return failures


def test_every_protected_route_answers_401_without_a_token(app_client: TestClient) -> None:
    assert _unauthenticated_failures(app_client, {}) == []


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer    ", "slk_no_scheme"],
)
def test_every_protected_route_answers_401_to_a_malformed_header(
    app_client: TestClient, authorization: str
) -> None:
    failures = _unauthenticated_failures(app_client, {"Authorization": authorization})
    assert failures == []


def test_every_protected_route_answers_401_to_an_unknown_token(app_client: TestClient) -> None:
    unknown = bearer("slk_" + "x" * 43)
    assert _unauthenticated_failures(app_client, unknown) == []


# --- 403: a valid token without the scope the route needs ------------------------------------


def _status_by_route(client: TestClient, token: str, routes: list[Endpoint]) -> dict[str, int]:
    return {
        str(e): call(client, e, dummy_path(e), headers=bearer(token), json={}).status_code
        for e in routes
    }


def test_every_mutating_route_answers_403_to_a_readonly_token(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    readonly = secret(client, scope="readonly")
    mutating = [e for e in protected(app) if e.mutating]
    statuses = _status_by_route(client, readonly, mutating)
    assert {route: s for route, s in statuses.items() if s != 403} == {}


def test_every_read_route_admits_a_readonly_token(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    readonly = secret(client, scope="readonly")
    reads = [e for e in protected(app) if e.scope is Scope.READONLY]
    statuses = _status_by_route(client, readonly, reads)
    assert {route: s for route, s in statuses.items() if s in (401, 403)} == {}


def test_every_admin_route_answers_403_to_an_experiment_token(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    experiment = secret(client, scope="experiment")
    admin_only = [e for e in protected(app) if e.scope is Scope.ADMIN]
    assert {e.path for e in admin_only} >= {
        "/api/v1/api-tokens/",
        "/api/v1/api-tokens/{token_id}",
        "/api/v1/data-management/cleanup",
        "/api/v1/data-management/stats",
    }
    statuses = _status_by_route(client, experiment, admin_only)
    assert {route: s for route, s in statuses.items() if s != 403} == {}


def test_every_non_admin_route_admits_an_experiment_token(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    experiment = secret(client, scope="experiment")
    routes = [e for e in protected(app) if e.scope is not Scope.ADMIN]
    statuses = _status_by_route(client, experiment, routes)
    assert {route: s for route, s in statuses.items() if s in (401, 403)} == {}


def test_an_sdk_key_reaches_exactly_the_sdk_routes(client: TestClient) -> None:
    """An sdk client key ships inside web pages: it reads the payload and sends exposures and
    events, and gets 403 everywhere else (no experiment, user, result or token)."""
    app = client.app
    assert isinstance(app, FastAPI)
    assert {str(e) for e in protected(app) if e.sdk} == SDK_ROUTES
    sdk = secret(client, scope="sdk")
    statuses = _status_by_route(client, sdk, protected(app))
    assert {route: s for route, s in statuses.items() if route not in SDK_ROUTES and s != 403} == {}
    assert {
        route: s for route, s in statuses.items() if route in SDK_ROUTES and s in (401, 403)
    } == {}


def test_403_bodies_have_the_error_shape(client: TestClient) -> None:
    readonly = secret(client, scope="readonly")
    response = client.post("/api/v1/users/", json={"user_id": "u"}, headers=bearer(readonly))
    assert assert_error(response, 403)["code"] == "permission_denied"


# --- 404: objects of another workspace -------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceObjects:
    """Ids and keys of one object of each kind, all in one workspace."""

    experiment_id: int
    experiment_key: str
    variant_key: str
    user_id: str
    token_id: int
    metric_name: str

    def value_for(self, name: str) -> str | None:
        """The value a parameter of this name takes to name our object (None: no such object)."""
        if "token" in name:
            return str(self.token_id)
        if "user" in name:
            return self.user_id
        if "variant" in name:
            return self.variant_key
        if name == "experiment_id":
            return str(self.experiment_id)
        if "experiment" in name or name == "key":
            return self.experiment_key
        if name == "name":  # a metric definition of the experiment
            return self.metric_name
        return None

    def path_value(self, param: str) -> str:
        value = self.value_for(param)
        if value is None:
            pytest.fail(f"no object for path parameter '{param}': teach value_for about it")
        return value


def populate(client: TestClient, workspace: str) -> WorkspaceObjects:
    """As the unbound admin, create an experiment, a user and a token in ``workspace``."""
    query = {"workspace": workspace}
    experiment = client.post(
        "/api/v1/experiments/",
        params=query,
        json={
            "key": f"exp-{workspace}",
            "name": f"Experiment of {workspace}",
            "variants": [
                {"key": "control", "allocation_pct": 50, "is_control": True},
                {"key": "treatment", "allocation_pct": 50},
            ],
        },
    )
    assert experiment.status_code == 201, experiment.text
    user = client.post("/api/v1/users/", params=query, json={"user_id": f"user-{workspace}"})
    assert user.status_code == 201, user.text
    token = client.post(
        "/api/v1/api-tokens/", json={"name": f"of {workspace}", "workspace": workspace}
    )
    assert token.status_code == 201, token.text
    metric = client.post(
        f"/api/experiments/exp-{workspace}/metric-definitions",
        params=query,
        json={"name": f"metric-{workspace}", "kind": "conversion"},
    )
    assert metric.status_code == 201, metric.text
    return WorkspaceObjects(
        experiment_id=experiment.json()["id"],
        experiment_key=experiment.json()["key"],
        variant_key=experiment.json()["variants"][0]["key"],
        user_id=user.json()["user_id"],
        token_id=token.json()["id"],
        metric_name=metric.json()["name"],
    )


def _sample(
    schema: dict[str, Any], name: str, objects: WorkspaceObjects, components: dict[str, Any]
) -> Any:
    schema = _resolve(schema, components)
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _sample(option, name, objects, components)
    kind = schema.get("type")
    if kind == "object":
        return {
            prop: _sample(sub, prop, objects, components)
            for prop, sub in schema.get("properties", {}).items()
            if prop in schema.get("required", [])
        }
    if kind == "array":
        return [_sample(schema.get("items", {}), name, objects, components)]
    if "enum" in schema:
        return schema["enum"][0]
    value = objects.value_for(name)
    if kind in ("integer", "number"):
        return int(value) if value is not None and value.isdigit() else 1
    if kind == "boolean":
        return True
    return value if value is not None else "x"


def _required_names(schema: dict[str, Any], components: dict[str, Any]) -> Iterator[str]:
    schema = _resolve(schema, components)
    for option in schema.get("anyOf", []):
        yield from _required_names(option, components)
    if schema.get("type") == "array":
        yield from _required_names(schema.get("items", {}), components)
    for prop in schema.get("required", []):
        yield prop
        yield from _required_names(schema["properties"][prop], components)


def names_an_experiment(app: FastAPI, endpoint: Endpoint) -> bool:
    """Whether the route's body must name an experiment (an object route without path params)."""
    if endpoint.body_schema is None:
        return False
    components = app.openapi()["components"]["schemas"]
    return any("experiment" in n for n in _required_names(endpoint.body_schema, components))


def object_request(app: FastAPI, endpoint: Endpoint, objects: WorkspaceObjects) -> tuple[str, Any]:
    """A path naming the workspace's objects, and a minimal valid body referring to them."""
    path = endpoint.path.format(**{p: objects.path_value(p) for p in endpoint.path_params})
    body: Any = {}
    if endpoint.body_schema is not None:
        components = app.openapi()["components"]["schemas"]
        body = _sample(endpoint.body_schema, "body", objects, components)
    return path, body


def _object_route_statuses(
    client: TestClient, token: str, objects: WorkspaceObjects
) -> dict[str, tuple[int, str]]:
    app = client.app
    assert isinstance(app, FastAPI)
    statuses = {}
    # DELETE last: the other routes must still find the objects it removes.
    for endpoint in sorted(protected(app), key=lambda e: e.method == "DELETE"):
        if not endpoint.path_params and not names_an_experiment(app, endpoint):
            continue
        path, body = object_request(app, endpoint, objects)
        if endpoint.method == "DELETE" and "name" in endpoint.path_params:
            # Two routes delete the same metric definition: give each one a metric to delete.
            client.post(
                f"/api/experiments/{objects.experiment_key}/metric-definitions",
                params={"workspace": objects.experiment_key.removeprefix("exp-")},
                json={"name": objects.metric_name, "kind": "conversion"},
            )
        if endpoint.path in PARTIAL_BATCHES:
            # The one optional field that makes the item valid: which variant was shown.
            body["exposures"][0]["variant_key"] = objects.variant_key
        response = call(client, endpoint, path, headers=bearer(token), json=body)
        status = response.status_code
        if endpoint.path in PARTIAL_BATCHES and status == 200:
            # A batch stores what it can and reports each item it could not store: an item
            # naming another workspace's experiment is reported as not found.
            rejected = response.json()["rejected"]
            if rejected and all("not found" in r["error"] for r in rejected):
                status = 404
        statuses[f"{endpoint.method} {path}"] = (status, response.text[:200])
    return statuses


def test_every_object_route_answers_404_to_a_token_of_another_workspace(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    objects = populate(client, WORKSPACE_A)
    other = secret(client, scope="admin", workspace=WORKSPACE_B)
    statuses = _object_route_statuses(client, other, objects)
    assert len(statuses) >= 12
    assert {route: s for route, s in statuses.items() if s[0] != 404} == {}


def test_object_routes_find_the_objects_for_a_token_of_their_own_workspace(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    """The control for the test above: its 404s come from the workspace, not from bad ids."""
    objects = populate(client, WORKSPACE_A)
    own = secret(client, scope="admin", workspace=WORKSPACE_A)
    statuses = _object_route_statuses(client, own, objects)
    assert {route: s for route, s in statuses.items() if s[0] == 404} == {}


def _without_volatile(value: Any) -> Any:
    """A response body without clock readings, which differ between two identical reads."""
    if isinstance(value, dict):
        return {
            k: _without_volatile(v)
            for k, v in value.items()
            if not any(word in k for word in ("_at", "time", "uptime", "latency", "date"))
        }
    if isinstance(value, list | tuple):
        # (a tuple: a read's total count beside its body; its rows' clocks must go too, or a
        # token's last_used_at, written in the background, made the comparison flaky)
        return [_without_volatile(v) for v in value]
    return value


def _collection_reads(client: TestClient, token: str) -> dict[str, Any]:
    app = client.app
    assert isinstance(app, FastAPI)
    calculators = {  # reads that need input (required query parameters) are not collections
        path
        for path, item in app.openapi()["paths"].items()
        if any(
            p["in"] == "query" and p.get("required")
            for p in item.get("get", {}).get("parameters", [])
        )
    }
    reads = [
        e
        for e in protected(app)
        if e.method == "GET" and not e.path_params and e.path not in calculators
    ]
    bodies = {}
    for endpoint in reads:
        response = call(client, endpoint, endpoint.path, headers=bearer(token))
        assert response.status_code == 200, (str(endpoint), response.text)
        bodies[str(endpoint)] = (dict(response.headers).get("x-total-count"), response.json())
    return _without_volatile(bodies)


def fill(client: TestClient, workspace: str) -> None:
    """Objects, a running experiment, an exposure and an event in ``workspace``."""
    objects = populate(client, workspace)
    query = {"workspace": workspace}
    started = client.put(
        f"/api/v1/experiments/{objects.experiment_id}", params=query, json={"status": "ACTIVE"}
    )
    link = {"experiment_id": objects.experiment_id, "user_id": objects.user_id}
    assigned = client.post("/api/v1/assignments/", params=query, json=link)
    event = client.post("/api/v1/events/", params=query, json={**link, "event_type": "conversion"})
    assert [r.status_code for r in (started, assigned, event)] == [200, 201, 201], event.text


def test_reads_of_a_bound_token_are_unchanged_by_another_workspace_s_data(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    """Every list, count, analytics and statistics read of B is the same before and after A
    fills up: nothing of A leaks, not even as a number."""
    admin_b = secret(client, scope="admin", workspace=WORKSPACE_B)
    before = _collection_reads(client, admin_b)
    fill(client, WORKSPACE_A)
    assert len(before) >= 8
    after = _collection_reads(client, admin_b)
    assert {
        route: (before[route], after[route]) for route in before if before[route] != after[route]
    } == {}


def test_reads_naming_the_filled_workspace_do_change(
    client: TestClient, two_workspaces: tuple[str, str]
) -> None:
    """The control for the test above: the same reads do see A's data when bound to A."""
    admin_a = secret(client, scope="admin", workspace=WORKSPACE_A)
    before = _collection_reads(client, admin_a)
    fill(client, WORKSPACE_A)
    after = _collection_reads(client, admin_a)
    unchanged = [route for route in before if before[route] == after[route]]
    assert len(unchanged) <= len(before) // 4, unchanged
