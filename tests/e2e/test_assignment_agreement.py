"""Server-side assignment agrees with GrowthBook's own SDK, across processes and restarts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN, Server

pytestmark = pytest.mark.e2e

EXPERIMENTS: list[dict[str, Any]] = [
    {
        "key": "fifty-fifty",
        "name": "Fifty fifty",
        "variants": [{"key": "control", "allocation": 50}, {"key": "treatment", "allocation": 50}],
    },
    {
        "key": "three-way-partial",
        "name": "Three way with partial coverage",
        "variants": [
            {"key": "control", "allocation": 20},
            {"key": "blue", "allocation": 30},
            {"key": "green", "allocation": 50},
        ],
        "targeting": {"percentage": 70, "namespace": ["checkout", 0.1, 0.9]},
    },
    {
        "key": "premium-only",
        "name": "Premium only",
        "variants": [{"key": "control", "allocation": 20}, {"key": "treatment", "allocation": 80}],
        "targeting": {"condition": {"plan": {"$in": ["premium", "enterprise"]}}},
    },
]


def client_for(server: Server) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
    )


@pytest.fixture(scope="module")
def server(serve: Callable[..., Server]) -> Server:
    server = serve(env={"SPLITLAB_ADMIN_TOKEN": ADMIN})
    with client_for(server) as http:
        for body in EXPERIMENTS:
            assert http.post("/api/experiments/", json=body).status_code == 201
            assert http.post(f"/api/experiments/{body['key']}/start").status_code == 200
    return server


Answer = tuple[bool, str]  # (in the experiment, variant shown)


def server_assignments(
    server: Server, key: str, ids: list[str], plan: str | None = None
) -> list[Answer]:
    """Assign through the HTTP batch endpoint, 10,000 users per request."""
    attributes = {"plan": plan} if plan else {}
    variants: list[Answer] = []
    with client_for(server) as http:
        for start in range(0, len(ids), 10_000):
            users = [
                {"user_id": u, "user_attributes": attributes} for u in ids[start : start + 10_000]
            ]
            response = http.post(f"/api/experiments/{key}/assignments/batch", json={"users": users})
            assert response.status_code == 200, response.text
            variants += [
                (a["in_experiment"], a["variant_key"]) for a in response.json()["assignments"]
            ]
    return variants


def sdk_assignments(
    payload: dict[str, Any], key: str, ids: list[str], plan: str | None = None
) -> list[Answer]:
    """Evaluate the same users locally with GrowthBook's Python SDK on our SDK payload.

    A user is in the experiment when the feature's value came from its experiment rule and the
    SDK put them in; otherwise the SDK serves the default value, our control.
    """
    from growthbook import GrowthBook

    gb = GrowthBook(features=payload["features"])
    out: list[Answer] = []
    for user_id in ids:
        gb.set_attributes({"id": user_id, **({"plan": plan} if plan else {})})
        result = gb.eval_feature(key)
        inside = bool(
            result.source == "experiment"
            and result.experimentResult is not None
            and result.experimentResult.inExperiment
        )
        out.append((inside, result.value))
    gb.destroy()
    return out


def mixed_ids(count: int) -> list[str]:
    """Mostly ASCII ids, with 2 % accented/CJK (one UTF-16 unit each) and 2 % emoji (two)."""
    ids = []
    for i in range(count):
        if i % 50 == 7:
            ids.append(f"usér-{i}" if i % 100 < 50 else f"用户{i}")
        elif i % 50 == 11:
            ids.append(f"\U0001f600{i}\U00020000")
        else:
            ids.append(f"user-{i}")
    return ids


def test_100k_ids_agree_with_the_growthbook_sdk(server: Server) -> None:
    with client_for(server) as http:
        payload = http.get("/api/v1/sdk").json()
    ids = mixed_ids(100_000)
    mismatches = 0
    checked = 0
    inside: list[int] = []
    for body, users, plan in [
        (EXPERIMENTS[0], ids[:40_000], None),
        (EXPERIMENTS[1], ids[40_000:80_000], None),
        (EXPERIMENTS[2], ids[80_000:90_000], "premium"),
        (EXPERIMENTS[2], ids[90_000:], "free"),
    ]:
        ours = server_assignments(server, body["key"], users, plan)
        theirs = sdk_assignments(payload, body["key"], users, plan)
        mismatches += sum(a != b for a, b in zip(ours, theirs, strict=True))
        checked += len(users)
        inside.append(sum(a[0] for a in ours))
    assert checked == 100_000
    assert mismatches == 0
    # Everyone, a namespaced and partial share, all premium users, no free user: the paths
    # where a user is left out were compared too, not only the variant shown.
    assert inside[0] == 40_000
    assert 0 < inside[1] < 40_000
    assert (inside[2], inside[3]) == (10_000, 0)


def test_a_second_process_and_a_restart_give_the_same_answers(
    serve: Callable[..., Server],
) -> None:
    """Not sticky, so every process computes each answer itself instead of reading the first."""
    env = {"SPLITLAB_ADMIN_TOKEN": ADMIN}
    first_server = serve(env=env)
    body = {**EXPERIMENTS[1], "config": {"sticky_bucketing": False}}
    with client_for(first_server) as http:
        assert http.post("/api/experiments/", json=body).status_code == 201
        http.post("/api/experiments/three-way-partial/start")
    ids = [f"proc-{i}" for i in range(2_000)]
    first = server_assignments(first_server, "three-way-partial", ids)
    assert {inside for inside, _ in first} == {True, False}
    second_server = serve(env=env, database_url=first_server.database_url)
    assert server_assignments(second_server, "three-way-partial", ids) == first
    first_server.stop()
    second_server.stop()
    restarted = serve(env=env, database_url=first_server.database_url)
    with client_for(restarted) as http:
        again = []
        for u in ids[:300]:
            answer = http.get(f"/api/experiments/three-way-partial/assignments/{u}").json()
            assert answer["reason"] != "sticky"
            again.append((answer["in_experiment"], answer["variant_key"]))
    assert again == first[:300]
