"""Dashboard pages through the ASGI app: sessions, CSRF, scopes, forms."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_SECRET
from tests.dashboard.conftest import csrf_of, issue_token, sign_in
from tests.factories import experiment_body

API = {"Authorization": f"Bearer {ADMIN_SECRET}"}


def test_pages_redirect_to_sign_in_without_a_session(app_client: TestClient) -> None:
    response = app_client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"


def test_sign_in_sets_an_http_only_same_site_cookie(app_client: TestClient) -> None:
    response = app_client.post("/login", data={"token": ADMIN_SECRET}, follow_redirects=False)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert ADMIN_SECRET.lower() not in cookie


def test_a_wrong_token_is_refused_on_the_form(app_client: TestClient) -> None:
    response = app_client.post("/login", data={"token": "nope"})
    assert response.status_code == 401
    assert "not valid" in response.text


def test_revoking_the_token_signs_the_browser_out(app_client: TestClient) -> None:
    token = issue_token(app_client, "experiment")
    sign_in(app_client, token)
    assert app_client.get("/", follow_redirects=False).status_code == 200
    tokens = app_client.get("/api/v1/api-tokens/", headers=API).json()
    token_id = next(t["id"] for t in tokens if t["name"] == "experiment person")
    app_client.put(f"/api/v1/api-tokens/{token_id}", json={"is_active": False}, headers=API)
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_forms_without_the_csrf_token_are_refused(app_client: TestClient) -> None:
    sign_in(app_client, ADMIN_SECRET)
    app_client.post("/api/experiments/", json=experiment_body(), headers=API)
    response = app_client.post("/experiments/checkout-test/lifecycle", data={"action": "start"})
    assert response.status_code == 403
    assert app_client.get("/api/experiments/checkout-test", headers=API).json()["status"] == "draft"


def test_lifecycle_buttons_work_with_the_csrf_token(app_client: TestClient) -> None:
    sign_in(app_client, ADMIN_SECRET)
    app_client.post("/api/experiments/", json=experiment_body(), headers=API)
    page = app_client.get("/experiments/checkout-test").text
    response = app_client.post(
        "/experiments/checkout-test/lifecycle",
        data={"action": "start", "csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert (
        app_client.get("/api/experiments/checkout-test", headers=API).json()["status"] == "running"
    )


def test_readonly_sees_no_mutating_controls(app_client: TestClient) -> None:
    app_client.post("/api/experiments/", json=experiment_body(), headers=API)
    sign_in(app_client, issue_token(app_client, "readonly"))
    for path in ("/", "/experiments/checkout-test"):
        html = app_client.get(path).text
        assert "New experiment" not in html
        assert 'action="/experiments/checkout-test/lifecycle"' not in html
        assert "/edit" not in html
    assert app_client.get("/experiments/new").status_code == 403
    assert app_client.get("/admin/tokens").status_code == 403


def test_experiment_scope_sees_lifecycle_but_not_admin(app_client: TestClient) -> None:
    app_client.post("/api/experiments/", json=experiment_body(), headers=API)
    sign_in(app_client, issue_token(app_client, "experiment"))
    html = app_client.get("/experiments/checkout-test").text
    assert 'action="/experiments/checkout-test/lifecycle"' in html
    assert "/admin/tokens" not in html


def test_create_form_shows_the_error_beside_the_field(app_client: TestClient) -> None:
    sign_in(app_client, ADMIN_SECRET)
    csrf = csrf_of(app_client.get("/experiments/new").text)
    response = app_client.post(
        "/experiments/new",
        data={
            "csrf": csrf,
            "name": "Bad split",
            "variant_key": ["a", "b"],
            "variant_name": ["A", "B"],
            "variant_allocation": ["70", "20"],
            "control": "0",
            "percentage": "100",
            "confidence_level": "0.95",
            "min_sample_size": "100",
        },
    )
    assert response.status_code == 422
    assert 'class="field-error" id="variants-error"' in response.text
    assert "sum to 100" in response.text
    assert 'value="Bad split"' in response.text  # what was typed comes back
    assert app_client.get("/api/experiments/", headers=API).json()["total"] == 0


def test_create_form_creates_the_experiment(app_client: TestClient) -> None:
    sign_in(app_client, ADMIN_SECRET)
    csrf = csrf_of(app_client.get("/experiments/new").text)
    response = app_client.post(
        "/experiments/new",
        data={
            "csrf": csrf,
            "name": "Green button",
            "hypothesis": "Greener is better",
            "variant_key": ["blue", "green"],
            "variant_name": ["Blue", "Green"],
            "variant_allocation": ["50", "50"],
            "control": "0",
            "percentage": "80",
            "roles": "admin, coordinator",
            "confidence_level": "0.9",
            "min_sample_size": "200",
            "sticky_bucketing": "on",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/experiments/green-button"
    created = app_client.get("/api/experiments/green-button", headers=API).json()
    assert created["targeting"] == {"percentage": 80.0, "roles": ["admin", "coordinator"]}
    assert created["config"]["confidence_level"] == 0.9
    assert created["config"]["override_enabled"] is False


def test_duplicate_name_error_sits_beside_the_name(app_client: TestClient) -> None:
    sign_in(app_client, ADMIN_SECRET)
    app_client.post("/api/experiments/", json=experiment_body(name="Taken"), headers=API)
    csrf = csrf_of(app_client.get("/experiments/new").text)
    response = app_client.post(
        "/experiments/new",
        data={
            "csrf": csrf,
            "name": "Taken",
            "variant_key": ["a", "b"],
            "variant_name": ["", ""],
            "variant_allocation": ["50", "50"],
            "control": "0",
            "percentage": "100",
            "confidence_level": "0.95",
            "min_sample_size": "100",
        },
    )
    assert response.status_code == 422
    assert 'id="name-error"' in response.text


def test_token_secret_is_shown_once(app_client: TestClient) -> None:
    sign_in(app_client, ADMIN_SECRET)
    csrf = csrf_of(app_client.get("/admin/tokens").text)
    created = app_client.post(
        "/admin/tokens", data={"csrf": csrf, "name": "CI", "scope": "readonly"}
    )
    assert created.status_code == 201
    secret = created.text.split('id="new-token">')[1].split("<")[0]
    assert secret.startswith("slk_")
    assert secret not in app_client.get("/admin/tokens").text


def test_sign_out_ends_the_session(app_client: TestClient) -> None:
    sign_in(app_client, ADMIN_SECRET)
    csrf = csrf_of(app_client.get("/").text)
    app_client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_a_bound_token_only_sees_its_workspace(app_client: TestClient) -> None:
    app_client.post(
        "/api/experiments", json={"name": "Theirs", "workspaceId": "other"}, headers=API
    )
    app_client.post("/api/experiments/", json=experiment_body(name="Ours"), headers=API)
    token = app_client.post(
        "/api/v1/api-tokens/",
        json={"name": "bound", "scope": "readonly", "workspace": "default"},
        headers=API,
    ).json()["token"]
    sign_in(app_client, token, workspace="other")  # a bound token ignores the workspace asked for
    html = app_client.get("/").text
    assert "Ours" in html
    assert "Theirs" not in html
