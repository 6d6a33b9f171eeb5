"""Hostile input answers a 4xx in the one error shape, on both databases, and writes nothing:
the front door's JSON screen (``runtime.screen``), NUL in URLs, and integers past what an
``INTEGER`` column holds. Each case was a 500 (or a silent write) before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from splitlab.storage.engine import Database
from splitlab.storage.models import ApiToken, Experiment, Exposure
from tests.factories import experiment_body

KEY = "checkout-test"
JSON = {"Content-Type": "application/json"}


def running(client: TestClient) -> None:
    assert client.post("/api/experiments/", json=experiment_body()).status_code == 201
    assert client.post(f"/api/experiments/{KEY}/start").status_code == 200


def send(client: TestClient, method: str, path: str, raw: str) -> Any:
    return client.request(method, path, content=raw.encode(), headers=JSON)


def count(db: Database, model: Any) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def assert_refused(response: Any, status: int, code: str, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert words in body["error"]


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (f"/api/experiments/{KEY}/assignments", '{"user_id": "u1", "context": {"x": NaN}}'),
        (
            f"/api/experiments/{KEY}/assignments",
            '{"user_id": "u1", "user_attributes": {"x": -Infinity}}',
        ),
        (
            "/api/v1/assignments/",
            '{"experiment_id": "checkout-test", "user_id": "u1", "attributes": {"x": Infinity}}',
        ),
        ("/api/v1/evaluate", '{"user_id": "u1", "attributes": {"x": NaN}}'),
    ],
)
def test_non_finite_numbers_are_not_json(
    client: TestClient, db: Database, path: str, raw: str
) -> None:
    running(client)
    response = send(client, "POST", path, raw)
    assert response.json()["details"][0]["loc"][0] == "body"
    assert_refused(response, 422, "validation_error", "NaN and Infinity are not JSON numbers")
    assert count(db, Exposure) == 0


def test_duplicate_keys_never_mint_a_token(client: TestClient, db: Database) -> None:
    before = count(db, ApiToken)
    response = send(
        client,
        "POST",
        "/api/v1/api-tokens/",
        '{"name": "x", "scope": "readonly", "scope": "admin"}',
    )
    assert_refused(response, 422, "validation_error", "scope: duplicate key")
    assert count(db, ApiToken) == before


def test_duplicate_keys_in_nested_objects_are_refused(client: TestClient) -> None:
    body = (
        json.dumps(experiment_body())[:-1] + ', "targeting": {"percentage": 10, "percentage": 90}}'
    )
    response = send(client, "POST", "/api/experiments/", body)
    assert_refused(response, 422, "validation_error", "percentage: duplicate key")


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_deep_nesting_is_refused(client: TestClient, db: Database, depth: int) -> None:
    body = experiment_body(description=None)
    raw = json.dumps(body).replace(
        '"description": null', '"description": ' + "[" * depth + "]" * depth
    )
    # Seed 000's create answers 422; seed 003 answers invalid requests with 400.
    for method, path, status in (
        ("POST", "/api/experiments/", 422),
        ("PATCH", "/api/experiments", 400),
    ):
        response = send(client, method, path, raw)
        assert_refused(response, status, "validation_error", "nested more than 64 levels")
    assert count(db, Experiment) == 0


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("name", "a\u0000b"),
        ("description", "\u0000"),
        ("key in targeting", {"a\u0000b": 1}),
    ],
)
def test_nul_characters_are_refused_everywhere_in_a_body(
    client: TestClient, db: Database, where: str, value: Any
) -> None:
    field = {"name": "name", "description": "description"}.get(where, "targeting")
    body = experiment_body(**{field: value if field != "targeting" else {"condition": value}})
    response = send(client, "POST", "/api/experiments/", json.dumps(body))
    assert_refused(response, 422, "validation_error", "NUL")
    assert count(db, Experiment) == 0


def test_nul_and_lone_surrogates_on_the_hot_path(client: TestClient, db: Database) -> None:
    running(client)
    path = f"/api/experiments/{KEY}/assignments"
    nul = send(client, "POST", path, '{"user_id": "a\\u0000b"}')
    assert_refused(nul, 422, "validation_error", "NUL")
    lone = send(client, "POST", path, '{"user_id": "u", "context": {"\\udc00": 1}}')
    assert_refused(lone, 422, "validation_error", "surrogates")
    # A paired surrogate (an emoji) and words that merely contain the tell-tale letters pass.
    fine = send(
        client, "POST", path, '{"user_id": "NaNa \\ud83d\\ude00", "context": {"t": "Infinity"}}'
    )
    assert fine.status_code == 200, fine.text
    assert count(db, Exposure) == 1


@pytest.mark.parametrize("path", ["/api/v1/experiments/?search=a%00b", "/api/experiments/a%00b"])
def test_nul_in_the_url_is_refused(client: TestClient, path: str) -> None:
    assert_refused(client.get(path), 422, "validation_error", "NUL")


@pytest.mark.parametrize("number", [2**31, 2**63 - 1])
def test_ids_past_an_integer_column_name_nothing(client: TestClient, number: int) -> None:
    for path in (
        f"/api/v1/experiments/{number}",
        f"/api/experiments/{number}",
        f"/api/v1/api-tokens/{number}",
    ):
        response = client.get(path)
        assert response.status_code == 404, (path, response.text)
        assert "code" in response.json()


@pytest.mark.parametrize("field", ["min_sample_size", "bucket_version"])
def test_settings_past_an_integer_column_are_refused(
    client: TestClient, db: Database, field: str
) -> None:
    created = client.post("/api/experiments/", json=experiment_body(config={field: 10**30}))
    assert_refused(created, 422, "validation_error", "less than or equal to 2147483647")
    assert count(db, Experiment) == 0
    running(client)
    updated = client.put(f"/api/experiments/{KEY}", json={"config": {field: 2**31}})
    assert_refused(updated, 422, "validation_error", "less than or equal to 2147483647")


def test_event_batches_still_reject_item_by_item(client: TestClient) -> None:
    """The per-item batches are not refused whole: a bad event is rejected by its index."""
    raw = '{"events": [{"user_id": "a\\u0000b", "event_type": "x"}, {"user_id": "ok", "event_type": "x"}]}'
    response = send(client, "POST", "/api/v1/events/batch", raw)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], [r["index"] for r in body["rejected"]]) == (1, [0])


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/v1/events/batch", '{"events": [{"user_id": "u", "event_type": "x"}]}'),
        ("/api/v1/exposures/batch", '{"exposures": []}'),
        ("/api/experiments/", json.dumps(experiment_body())),
        (f"/api/experiments/{KEY}/assignments", '{"user_id": "u"}'),
    ],
)
@pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded"])
def test_bodies_that_are_not_json_are_415(
    client: TestClient, db: Database, path: str, raw: str, media: str
) -> None:
    response = client.post(path, content=raw.encode(), headers={"Content-Type": media})
    assert_refused(response, 415, "unsupported_media_type", "application/json")
    assert count(db, Experiment) == 0


@pytest.mark.parametrize("path", ["/api/v1/events/batch", "/api/v1/exposures/batch"])
def test_a_batch_too_deep_to_parse_says_so(client: TestClient, path: str) -> None:
    item = (
        '{"user_id": "u", "event_type": "x", "properties": {"p": ' + "[" * 5000 + "]" * 5000 + "}}"
    )
    raw = '{"events": [' + item + "], " + '"exposures": [' + item + "]}"
    response = send(client, "POST", path, raw)
    assert_refused(response, 422, "invalid_json", "nested too deeply")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/api/experiments/", 422),
        ("POST", f"/api/experiments/{KEY}/assignments", 422),
        ("POST", f"/api/experiments/{KEY}/assignments/batch", 422),
        ("PUT", f"/api/experiments/{KEY}", 422),
        ("POST", "/api/v1/experiments/", 422),
        ("POST", "/api/v1/users/", 422),
        ("POST", "/api/v1/evaluate", 422),
        ("POST", "/api/v1/events/batch", 422),
        ("POST", "/api/v1/exposures/batch", 422),
        # Seed 003 answers every invalid request with 400.
        ("POST", "/api/experiments", 400),
        ("PATCH", "/api/experiments", 400),
    ],
)
@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"a":', "not valid JSON"),
        ("\xff\xfe", "not valid JSON"),
        ('{"user_id": "\xff"}', "not valid JSON"),  # JSON in shape, but not UTF-8
        ("[1, 2", "not valid JSON"),
        ("[]", "must be"),  # JSON, but not the object the route takes
        ('"x"', "must be"),
    ],
)
def test_a_body_that_is_not_json_gets_one_answer_everywhere(
    client: TestClient, method: str, path: str, status: int, raw: str, words: str
) -> None:
    """Undecodable JSON used to be a 400 on some seed 000/001 routes and a 422 on others, and
    a body of the wrong JSON type a validation_error on some and invalid_json on others."""
    client.post("/api/experiments/", json=experiment_body())
    client.post(f"/api/experiments/{KEY}/start")
    for headers in (JSON, {}):  # without a Content-Type, a body is taken for JSON
        response = client.request(method, path, content=raw.encode("latin-1"), headers=headers)
        assert_refused(response, status, "invalid_json", words)
        (detail,) = response.json()["details"]
        assert detail["type"] == "json_invalid"
        assert detail["loc"][0] == "body"


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (f"/api/experiments/{KEY}/assignments", '{"user_id": "a", "user_id": "b"}'),
        (
            f"/api/experiments/{KEY}/assignments",
            '{"user_id": "a", "user_attributes": {"role": "x", "role": "admin"}}',
        ),
        (
            f"/api/experiments/{KEY}/assignments/batch",
            '{"users": [{"user_id": "a", "user_id": "b"}]}',
        ),
        ("/api/v1/evaluate", '{"user_id": "a", "user_id": "b"}'),
    ],
)
def test_duplicate_keys_are_refused_on_the_hot_routes_too(
    client: TestClient, db: Database, path: str, raw: str
) -> None:
    """The fast path's own parser keeps the last of duplicate keys; its small bodies are now
    screened whole, as every other route's are."""
    client.post("/api/experiments/", json=experiment_body())
    client.post(f"/api/experiments/{KEY}/start")
    response = send(client, "POST", path, raw)
    assert_refused(response, 422, "validation_error", "duplicate key")
    assert count(db, Exposure) == 0
