"""The hot routes answer the same from the front door's fast path as from their FastAPI routes.

Two apps share one database: the default one (fast path on) and one with ``fast_path=False``.
Two experiments differ only in their key and share a ``hash_seed``, so the same user gets the
same variant in both: each request is sent once per app, to its own experiment, and the answers
must agree field by field (the experiment's own key and id, and the time, aside).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from splitlab.app import create_app
from splitlab.config import Settings
from tests.conftest import ADMIN_SECRET

VARIANTS = [
    {"key": "control", "allocation": 34, "is_control": True, "config": {"colour": "blue"}},
    {"key": "green", "allocation": 33, "config": {"colour": "green"}},
    {"key": "red", "allocation": 33},
]
KEYS = {"fast": "fp-fast", "slow": "fp-slow"}
VOLATILE = {"experiment_key", "experiment_id", "assigned_at"}


@pytest.fixture
def slow(settings: Settings, client: TestClient) -> Iterator[TestClient]:
    """The same app with the fast path off (FastAPI serves every route)."""
    with TestClient(create_app(settings.model_copy(update={"fast_path": False}))) as other:
        other.headers["Authorization"] = f"Bearer {ADMIN_SECRET}"
        yield other


@pytest.fixture
def apps(client: TestClient, slow: TestClient) -> dict[str, TestClient]:
    for key in KEYS.values():
        body = {
            "key": key,
            "name": key,
            "variants": VARIANTS,
            "config": {"hash_seed": "shared-seed", "override_enabled": True},
            "targeting": {"condition": {"plan": {"$ne": "free"}}},
        }
        assert client.post("/api/experiments/", json=body).status_code == 201, key
        assert client.post(f"/api/experiments/{key}/start").status_code == 200
    return {"fast": client, "slow": slow}


def _normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def both(apps: dict[str, TestClient], method: str, path: str, **kwargs: Any) -> Any:
    """Send the request to each app (``{key}`` → that app's experiment); the answers agree."""
    answers: dict[str, httpx.Response] = {}
    for name, app in apps.items():
        key = KEYS[name]
        url = path.replace("{key}", key)
        sent = dict(kwargs)
        body = kwargs.get("json")
        if isinstance(body, dict) and body.get("experiment_id") == "{key}":
            sent["json"] = {**body, "experiment_id": key}
        answers[name] = app.request(method, url, **sent)
    fast, slow = answers["fast"], answers["slow"]
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert fast.headers.get("content-type") == slow.headers.get("content-type")
    assert fast.headers.get("retry-after") == slow.headers.get("retry-after")
    fast_body, slow_body = fast.json(), slow.json()
    if "error" in slow_body:
        # Messages may name the experiment; everything else is the same.
        assert fast_body["code"] == slow_body["code"]
        assert _normalised(fast_body.get("details")) == _normalised(slow_body.get("details"))
        assert fast_body["error"].replace(KEYS["fast"], "X") == slow_body["error"].replace(
            KEYS["slow"], "X"
        )
    else:
        assert _normalised(fast_body) == _normalised(slow_body)
    return fast.status_code, fast_body


def test_assignments_answer_alike(apps: dict[str, TestClient]) -> None:
    status, first = both(apps, "POST", "/api/experiments/{key}/assignments", json={"user_id": "u1"})
    assert (status, first["reason"]) == (200, "assigned")
    _, again = both(apps, "POST", "/api/experiments/{key}/assignments", json={"user_id": "u1"})
    assert again["reason"] == "sticky"
    _, got = both(apps, "GET", "/api/experiments/{key}/assignments/u1")
    assert got["variant_key"] == first["variant_key"]
    both(apps, "GET", "/api/experiments/{key}/assignments/never-seen")
    both(apps, "GET", "/api/experiments/{key}/assignments/with%2Fslash")
    both(
        apps,
        "POST",
        "/api/experiments/{key}/assignments",
        json={"user_id": "free-1", "user_attributes": {"plan": "free"}},
    )
    both(
        apps,
        "POST",
        "/api/experiments/{key}/assignments",
        json={"user_id": "ctx", "context": {"page": "/"}, "force_variant": "red"},
    )
    status, batch = both(
        apps,
        "POST",
        "/api/experiments/{key}/assignments/batch",
        json={"users": [{"user_id": f"b{i}"} for i in range(50)] + [{"user_id": "u1"}]},
    )
    assert status == 200
    assert len(batch["assignments"]) == 51


def test_v1_assignments_and_evaluate_answer_alike(apps: dict[str, TestClient]) -> None:
    status, created = both(
        apps,
        "POST",
        "/api/v1/assignments/",
        json={"experiment_id": "{key}", "user_id": "v1", "context": {"ip": "1.2.3.4"}},
    )
    assert status == 201
    assert created["reason"] == "assigned"
    both(apps, "GET", "/api/v1/assignments/experiments/{key}/assignment/v1")
    both(
        apps,
        "POST",
        "/api/v1/assignments/batch",
        json={"experiment_id": "{key}", "user_ids": ["v2", "v3", "v1"]},
    )
    # evaluate covers both experiments at once: the same user through each app in turn
    fast = apps["fast"].post("/api/v1/evaluate", json={"user_id": "ev"}).json()
    slow = apps["slow"].post("/api/v1/evaluate", json={"user_id": "ev"}).json()
    assert set(fast["assignments"]) == set(KEYS.values())
    assert {k: v["reason"] for k, v in fast["assignments"].items()} == dict.fromkeys(
        KEYS.values(), "assigned"
    )
    assert {k: (v["variant_key"], v["reason"]) for k, v in slow["assignments"].items()} == {
        k: (v["variant_key"], "sticky") for k, v in fast["assignments"].items()
    }
    assert apps["fast"].get("/api/v1/sdk").json() == apps["slow"].get("/api/v1/sdk").json()


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/api/experiments/{key}/assignments", {"json": {}}),
        ("POST", "/api/experiments/{key}/assignments", {"json": {"user_id": ""}}),
        ("POST", "/api/experiments/{key}/assignments", {"json": {"user_id": "x", "extra": 1}}),
        ("POST", "/api/experiments/{key}/assignments", {"content": b"{not json"}),
        (
            "POST",
            "/api/experiments/{key}/assignments",
            {"content": b'{"user_id": "x"}', "headers": {"Content-Type": "text/plain"}},
        ),
        ("POST", "/api/experiments/{key}/assignments", {"content": b'{"user_id": "x"}'}),
        ("POST", "/api/experiments/nope/assignments", {"json": {"user_id": "x"}}),
        (
            "POST",
            "/api/experiments/{key}/assignments",
            {"json": {"user_id": "x", "force_variant": "purple"}},
        ),
        ("POST", "/api/experiments/{key}/assignments?workspace=nope", {"json": {"user_id": "x"}}),
        ("POST", "/api/experiments/{key}/assignments/batch", {"json": {"users": []}}),
        ("GET", "/api/experiments/{key}/assignments/" + "x" * 256, {}),
        ("POST", "/api/v1/evaluate", {"json": {"user_id": 5}}),
        ("POST", "/api/v1/assignments/", {"json": {"experiment_id": 1.5, "user_id": "x"}}),
        ("POST", "/api/v1/assignments/batch", {"json": {"experiment_id": "{key}"}}),
        ("GET", "/api/v1/sdk?workspace=nope", {}),
    ],
)
def test_refusals_answer_alike(
    apps: dict[str, TestClient], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    status, body = both(apps, method, path, **kwargs)
    assert status >= 400
    assert {"error", "code"} <= set(body)


def test_unknown_query_parameters_are_ignored_alike(apps: dict[str, TestClient]) -> None:
    status, _ = both(
        apps, "POST", "/api/experiments/{key}/assignments?unknown=1", json={"user_id": "q"}
    )
    assert status == 200


def test_scopes_answer_alike(apps: dict[str, TestClient]) -> None:
    created = (
        apps["fast"]
        .post("/api/v1/api-tokens/", json={"name": "reader", "scope": "readonly"})
        .json()
    )
    headers = {"Authorization": f"Bearer {created['token']}"}
    status, _ = both(
        apps, "POST", "/api/experiments/{key}/assignments", json={"user_id": "r"}, headers=headers
    )
    assert status == 403
    status, got = both(apps, "GET", "/api/experiments/{key}/assignments/r", headers=headers)
    assert status == 200
    # a readonly GET records nothing: an experiment token's later POST is the first exposure
    _, first = both(apps, "POST", "/api/experiments/{key}/assignments", json={"user_id": "r"})
    assert first["reason"] == "assigned"
    assert first["variant_key"] == got["variant_key"]
