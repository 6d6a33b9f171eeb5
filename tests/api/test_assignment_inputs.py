"""Bad input on the assignment routes gets a 4xx in the one error shape, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import experiment_body

HUGE = "99999999999999999999999"  # beyond a 64-bit id
LONG_ID = "u" * 256  # beyond the 255 characters an exposure's user id holds


@pytest.fixture
def experiment(client: TestClient) -> dict[str, Any]:
    created = client.post("/api/experiments/", json=experiment_body())
    assert client.post("/api/experiments/checkout-test/start").status_code == 200
    body: dict[str, Any] = created.json()
    return body


BAD_REQUESTS: list[tuple[str, str, Any, int]] = [
    # a non-ASCII digit is str.isdigit() but not an int
    ("GET", "/api/experiments/\u00b2/assignments/u1", None, 404),
    ("POST", "/api/experiments/\u00b2/assignments", {"user_id": "u1"}, 404),
    ("GET", "/api/v1/assignments/experiments/\u0661/assignment/u1", None, 404),
    ("GET", f"/api/v1/assignments/experiments/{HUGE}/assignment/u1", None, 404),
    ("GET", "/api/v1/assignments/experiments/9223372036854775808/assignment/u1", None, 404),
    ("POST", "/api/v1/assignments/", {"experiment_id": int(HUGE), "user_id": "u1"}, 404),
    ("POST", "/api/v1/assignments/", {"experiment_id": True, "user_id": "u1"}, 422),
    ("POST", "/api/v1/assignments/batch", {"experiment_id": int(HUGE), "user_ids": ["a"]}, 404),
    ("GET", f"/api/v1/assignments/?experiment_id={HUGE}", None, 404),
    ("GET", "/api/v1/assignments/?experiment_id=%C2%B2", None, 404),
    ("GET", f"/api/v1/assignments/?skip={HUGE}", None, 422),
    ("GET", f"/api/experiments/checkout-test/assignments/{LONG_ID}", None, 422),
    ("GET", f"/api/v1/assignments/experiments/1/assignment/{LONG_ID}", None, 422),
    ("POST", "/api/experiments/checkout-test/assignments", {"user_id": LONG_ID}, 422),
    ("POST", "/api/experiments/checkout-test/assignments", {"user_id": ""}, 422),
    ("POST", "/api/experiments/checkout-test/assignments", {"user_id": 5}, 422),
    ("POST", "/api/experiments/checkout-test/assignments", {"user_id": "u", "x": 1}, 422),
    ("POST", "/api/experiments/checkout-test/assignments", [], 422),
    ("POST", "/api/experiments/checkout-test/assignments/batch", {"users": []}, 422),
    ("POST", "/api/v1/evaluate", {"user_id": "u", "attributes": []}, 422),
    ("POST", "/api/v1/evaluate", {"user_id": LONG_ID}, 422),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    BAD_REQUESTS,
    ids=[f"{i:02d}" for i in range(len(BAD_REQUESTS))],
)
@pytest.mark.usefixtures("experiment")
def test_bad_input_is_a_4xx_in_the_error_shape(
    client: TestClient, method: str, path: str, body: Any, status: int
) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert isinstance(error["error"], str)
    assert isinstance(error["code"], str)
    assert set(error) <= {"error", "code", "details"}


def test_a_digit_key_wins_over_an_id(client: TestClient, experiment: dict[str, Any]) -> None:
    """Key first, then id: the experiment keyed "<id of another>" answers for that ref."""
    digits = str(experiment["id"])
    client.post("/api/experiments/", json=experiment_body(key=digits, name="Digits"))
    client.post(f"/api/experiments/{digits}/start")
    by_ref = client.get(f"/api/experiments/{digits}/assignments/u1").json()
    assert by_ref["experiment_key"] == digits
    v1 = client.post("/api/v1/assignments/", json={"experiment_id": digits, "user_id": "u1"})
    assert v1.json()["experiment_key"] == digits
    by_int = client.post(
        "/api/v1/assignments/", json={"experiment_id": experiment["id"], "user_id": "u1"}
    )
    assert by_int.json()["experiment_key"] == digits  # an int is a ref too: key first


def test_listing_pages_and_filters_exposures(client: TestClient) -> None:
    ids = {}
    for key in ("first", "second"):
        ids[key] = client.post("/api/experiments/", json=experiment_body(key=key, name=key)).json()[
            "id"
        ]
        client.post(f"/api/experiments/{key}/start")
        for i in range(5):
            client.post(f"/api/experiments/{key}/assignments", json={"user_id": f"u{i}"})
    everything = client.get("/api/v1/assignments/", params={"limit": 1000})
    assert everything.headers["X-Total-Count"] == "10"
    listed = everything.json()
    assert [row["id"] for row in listed] == sorted(row["id"] for row in listed)

    page = client.get("/api/v1/assignments/", params={"skip": 3, "limit": 4})
    assert page.headers["X-Total-Count"] == "10"
    assert [row["id"] for row in page.json()] == [row["id"] for row in listed[3:7]]

    by_key = client.get("/api/v1/assignments/", params={"experiment_id": "second"})
    by_id = client.get("/api/v1/assignments/", params={"experiment_id": ids["second"]})
    assert by_key.json() == by_id.json()
    assert by_key.headers["X-Total-Count"] == "5"
    assert {row["experiment_key"] for row in by_key.json()} == {"second"}

    one_user = client.get("/api/v1/assignments/", params={"user_id": "u3"})
    assert one_user.headers["X-Total-Count"] == "2"
    assert {(r["experiment_key"], r["user_id"]) for r in one_user.json()} == {
        ("first", "u3"),
        ("second", "u3"),
    }
    both = client.get("/api/v1/assignments/", params={"user_id": "u3", "experiment_id": "first"})
    assert [r["experiment_key"] for r in both.json()] == ["first"]
    assert client.get("/api/v1/assignments/", params={"skip": 10}).json() == []
