"""The SDK loop's routes: the payload where GrowthBook SDKs fetch it (``/api/features/{key}``)
with ETag / 304 and CORS, what it serves for paused and completed experiments, the ``sdk`` key's
reach, and exposures reported by SDKs (``POST /api/v1/exposures/batch``)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from splitlab.assignment.config import bucket_seed
from splitlab.assignment.decision import decide_rule
from splitlab.assignment.hashing import BucketPlan
from splitlab.storage.engine import Database
from splitlab.storage.models import Exposure, ExposureTotal
from tests.auth.conftest import (  # noqa: F401 (two_workspaces is a fixture)
    WORKSPACE_A,
    WORKSPACE_B,
    bearer,
    secret,
    two_workspaces,
)
from tests.factories import experiment_body

KEY = "checkout-test"
BATCH = "/api/v1/exposures/batch"


def running(client: TestClient, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("name", f"Experiment {overrides.get('key', KEY)}")
    created = client.post("/api/experiments/", json=experiment_body(**overrides))
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert client.post(f"/api/experiments/{key}/start").status_code == 200
    return created.json()


def features(client: TestClient, key: str, **headers: str) -> Any:
    return client.get(f"/api/features/{key}", headers=headers)


def server_variant(client: TestClient, user_id: str, key: str = KEY, **attributes: Any) -> Any:
    response = client.post(
        f"/api/experiments/{key}/assignments",
        json={"user_id": user_id, "user_attributes": attributes},
    )
    assert response.status_code == 200, response.text
    return response.json()


def sdk_choice(payload: dict[str, Any], key: str, user_id: str) -> Any:
    """What a GrowthBook SDK picks from the payload (the engine the conformance suite checks;
    the official SDKs themselves are driven in tests/e2e/test_sdk_loop.py)."""
    feature = payload["features"][key]
    if not feature["rules"]:
        return feature["defaultValue"]
    (rule,) = feature["rules"]
    plan = BucketPlan(
        rule["seed"], rule["hashVersion"], tuple(rule["weights"]), rule["coverage"], None
    )
    decision = decide_rule(plan, None, user_id, {"id": user_id})
    return rule["variations"][decision.index] if decision.index >= 0 else None


def post_exposures(client: TestClient, items: list[dict[str, Any]], **headers: str) -> Any:
    response = client.post(BATCH, json={"exposures": items}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# --- the payload --------------------------------------------------------------------------------


def test_features_route_serves_the_payload_to_an_sdk_key_with_an_etag(client: TestClient) -> None:
    running(client)
    key = secret(client, scope="sdk")
    first = features(client, key)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.headers["cache-control"] == "no-cache"
    payload = first.json()
    assert payload["features"][KEY]["rules"][0]["variations"] == ["control", "treatment"]
    assert payload == client.get("/api/v1/sdk").json()
    etag = first.headers["etag"]
    again = features(client, key, **{"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert features(client, key, **{"If-None-Match": f'W/{etag}, "other"'}).status_code == 304
    assert features(client, key, **{"If-None-Match": '"stale"'}).status_code == 200
    # A change to the experiment is a new payload, with a new tag.
    assert client.post(f"/api/experiments/{KEY}/pause").status_code == 200
    changed = features(client, key, **{"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_a_304_makes_no_database_round_trip(client: TestClient, db: Database) -> None:
    running(client)
    key = secret(client, scope="sdk")
    etag = features(client, key).headers["etag"]
    app_db: Database = client.app.state.db  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engines = list({id(e): e for e in (app_db.engine, app_db.read_engine)}.values())
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        # The poller sees the token's creation up to 0.5 s after our own commit did, and
        # empties the caches once more: wait for a quiet round, then count.
        for _ in range(20):
            statements.clear()
            for _ in range(5):
                assert features(client, key, **{"If-None-Match": etag}).status_code == 304
                assert features(client, key).status_code == 200
            if not [s for s in statements if "last_used_at" not in s]:
                break
            time.sleep(0.3)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    # Token usage is written in the background, not per request.
    assert [s for s in statements if "last_used_at" not in s] == []


def test_unknown_revoked_and_malformed_keys_get_401(client: TestClient) -> None:
    for bad in ("slk_" + "x" * 43, "nope"):
        response = features(client, bad)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"
    issued = client.post("/api/v1/api-tokens/", json={"name": "web", "scope": "sdk"}).json()
    assert features(client, issued["token"]).status_code == 200
    assert client.delete(f"/api/v1/api-tokens/{issued['id']}").status_code in (200, 204)
    assert features(client, issued["token"]).status_code == 401


@pytest.mark.usefixtures("two_workspaces")
def test_an_sdk_key_reads_its_own_workspace_only(client: TestClient) -> None:
    for workspace in (WORKSPACE_A, WORKSPACE_B):
        created = client.post(
            "/api/experiments/",
            params={"workspace": workspace},
            json=experiment_body(key=f"exp-{workspace}", name=workspace),
        )
        assert created.status_code == 201
        started = client.post(
            f"/api/experiments/exp-{workspace}/start", params={"workspace": workspace}
        )
        assert started.status_code == 200
    key = secret(client, scope="sdk", workspace=WORKSPACE_A)
    payload = features(client, key).json()
    assert set(payload["features"]) == {f"exp-{WORKSPACE_A}", f"exp-{WORKSPACE_A}:config"}
    # Naming the other workspace is a 404, never a leak.
    other = client.get("/api/v1/sdk", params={"workspace": WORKSPACE_B}, headers=bearer(key))
    assert other.status_code == 404


def test_sdk_tokens_are_always_bound_to_a_workspace(client: TestClient) -> None:
    issued = client.post("/api/v1/api-tokens/", json={"name": "web", "scope": "sdk"})
    assert issued.status_code == 201
    assert issued.json()["scope"] == "sdk"
    assert issued.json()["workspace"] == "default"


def test_paused_and_completed_experiments_serve_control_and_winner(client: TestClient) -> None:
    running(client, key="paused-one")
    running(client, key="decided")
    running(client, key="undecided")
    assert client.post("/api/experiments/paused-one/pause").status_code == 200
    assert (
        client.post(
            "/api/experiments/decided/conclude", json={"winning_variant": "treatment"}
        ).status_code
        == 200
    )
    assert client.post("/api/experiments/undecided/conclude", json={}).status_code == 200
    payload = client.get("/api/v1/sdk").json()["features"]
    assert payload["paused-one"] == {"defaultValue": "control", "rules": []}
    assert payload["decided"] == {"defaultValue": "treatment", "rules": []}
    assert payload["undecided"] == {"defaultValue": "control", "rules": []}
    # The server answers the same for everyone.
    for user in ("u1", "u2", "u3"):
        assert server_variant(client, user, "paused-one")["variant_key"] == "control"
        assert server_variant(client, user, "decided")["variant_key"] == "treatment"
        assert server_variant(client, user, "undecided")["variant_key"] == "control"


def test_variant_configs_are_served_as_a_second_feature(client: TestClient) -> None:
    running(
        client,
        variants=[
            {"key": "control", "allocation": 50, "is_control": True, "config": {"color": "grey"}},
            {"key": "treatment", "allocation": 50, "config": {"color": "green"}},
        ],
    )
    payload = client.get("/api/v1/sdk").json()
    config_feature = payload["features"][f"{KEY}:config"]
    assert config_feature["defaultValue"] == {"color": "grey"}
    (rule,) = config_feature["rules"]
    assert rule["variations"] == [{"color": "grey"}, {"color": "green"}]
    assert rule["key"] == KEY  # one experiment: one decision, one exposure
    assert rule["seed"] == payload["features"][KEY]["rules"][0]["seed"]
    for user in [f"c{i}" for i in range(30)]:
        config = sdk_choice(payload, f"{KEY}:config", user)
        assert server_variant(client, user)["variant_config"] == config


def test_raising_the_bucket_version_re_randomises_server_and_sdks_alike(
    client: TestClient,
) -> None:
    running(client)
    users = [f"b{i}" for i in range(400)]
    before = {u: server_variant(client, u)["variant_key"] for u in users}
    assert (
        client.put(f"/api/experiments/{KEY}", json={"config": {"bucket_version": 1}}).status_code
        == 200
    )
    payload = client.get("/api/v1/sdk").json()
    rule = payload["features"][KEY]["rules"][0]
    assert rule["seed"] == bucket_seed(KEY, 1) != KEY
    after = {u: server_variant(client, u)["variant_key"] for u in users}
    assert after == {u: sdk_choice(payload, KEY, u) for u in users}
    moved = sum(before[u] != after[u] for u in users)
    # Independent re-randomisation moves about half the users of a 50/50 split.
    assert 140 <= moved <= 260, moved


# --- CORS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/features/anything", BATCH, "/api/v1/events/batch"])
def test_sdk_routes_answer_cors_preflights_without_a_token(
    app_client: TestClient, path: str
) -> None:
    response = app_client.options(
        path,
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_sdk_answers_carry_cors_headers_and_expose_the_etag(client: TestClient) -> None:
    key = secret(client, scope="sdk")
    response = features(client, key, Origin="https://shop.example")
    assert response.headers["access-control-allow-origin"] == "*"
    assert "etag" in response.headers["access-control-expose-headers"].lower()


def test_management_routes_get_no_cors(client: TestClient) -> None:
    response = client.get("/api/v1/experiments/", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/api/v1/experiments/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_allowed_origins_are_configurable(settings: Any) -> None:
    from splitlab.app import create_app

    configured = settings.model_copy(update={"sdk_cors_origins": "https://shop.example"})
    with TestClient(create_app(configured)) as app_client:
        asked = {"Access-Control-Request-Method": "GET"}
        ok = app_client.options(
            "/api/features/x", headers={"Origin": "https://shop.example", **asked}
        )
        assert ok.headers["access-control-allow-origin"] == "https://shop.example"
        refused = app_client.options(
            "/api/features/x", headers={"Origin": "https://evil.example", **asked}
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


# --- exposures --------------------------------------------------------------------------------


def _count(db: Database, model: Any = Exposure) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_sdk_exposures_are_stored_once_and_resending_is_a_no_op(
    client: TestClient, db: Database
) -> None:
    running(client)
    key = secret(client, scope="sdk")
    payload = features(client, key).json()
    users = [f"s{i}" for i in range(50)]
    items = [
        {
            "experiment_key": KEY,
            "variant_key": sdk_choice(payload, KEY, u),
            "user_id": u,
            "timestamp": "2026-12-01T10:00:00Z",
            "exposure_id": f"x-{u}",
        }
        for u in users
    ]
    first = post_exposures(client, items, **bearer(key))
    assert first == {"received": 50, "accepted": 50, "duplicates": 0, "rejected": []}
    again = post_exposures(client, items, **bearer(key))
    assert again == {"received": 50, "accepted": 0, "duplicates": 50, "rejected": []}
    assert _count(db) == 50
    # The server now answers what the SDK showed: the stored exposure is the user's.
    for user in users[:10]:
        answer = server_variant(client, user)
        assert answer["variant_key"] == sdk_choice(payload, KEY, user)
        assert answer["reason"] == "sticky"
    results = client.get(f"/api/experiments/{KEY}/results").json()
    assert results["total_users"] == 50
    assert results["exposure_disagreements"]["total"] == 0


def test_the_first_exposure_wins_whoever_reported_it(client: TestClient, db: Database) -> None:
    running(client)
    served = server_variant(client, "early")["variant_key"]
    other = "treatment" if served == "control" else "control"
    response = post_exposures(
        client,
        [
            {"experiment_key": KEY, "variant_key": other, "user_id": "early"},
            {"experiment_key": KEY, "variation_id": 1, "user_id": "twice"},
            {"experiment_key": KEY, "variation_id": 0, "user_id": "twice"},
        ],
    )
    assert (response["accepted"], response["duplicates"]) == (1, 2)
    with db.session_scope() as session:
        rows = dict(
            session.execute(
                select(Exposure.user_id, Exposure.variant_id).where(
                    Exposure.user_id.in_(["early", "twice"])
                )
            ).all()
        )
    variants = {
        v["key"]: v["id"] for v in client.get(f"/api/v1/experiments/{KEY}").json()["variants"]
    }
    assert rows == {"early": variants[served], "twice": variants["treatment"]}


def test_valid_items_are_stored_beside_rejected_ones(client: TestClient, db: Database) -> None:
    running(client)
    client.post("/api/experiments/", json=experiment_body(key="a-draft", name="A draft"))
    items: list[Any] = [
        {"experiment_key": KEY, "variant_key": "control", "user_id": "ok-1"},
        {"experiment_key": "no-such", "variant_key": "control", "user_id": "u"},
        {"experiment_key": KEY, "variant_key": "purple", "user_id": "u"},
        {"experiment_key": KEY, "variation_id": 7, "user_id": "u"},
        {"experiment_key": KEY, "user_id": "u"},
        {"experiment_key": KEY, "variant_key": "control", "variation_id": 1, "user_id": "u"},
        {"experiment_key": "a-draft", "variant_key": "control", "user_id": "u"},
        {"experiment_key": KEY, "variant_key": "control", "user_id": "a\x00b"},
        {"experiment_key": KEY, "variant_key": "control", "user_id": "u", "surprise": 1},
        {
            "experiment_key": KEY,
            "variant_key": "control",
            "user_id": "u",
            "timestamp": "2026-01-01",
        },
        "not an object",
        {"experiment_key": KEY, "variation_id": 1, "user_id": "ok-2"},
    ]
    response = post_exposures(client, items)
    assert (response["received"], response["accepted"], response["duplicates"]) == (12, 2, 0)
    rejected = {r["index"]: r["error"] for r in response["rejected"]}
    assert sorted(rejected) == list(range(1, 11))
    assert "not found" in rejected[1].lower()
    assert "purple" in rejected[2]
    assert "variations" in rejected[3]
    assert "variant_key or variation_id" in rejected[4]
    assert "different variants" in rejected[5]
    assert "not found" in rejected[6].lower()  # a draft is served to no SDK
    assert rejected[8].startswith("surprise")
    assert "timezone" in rejected[9]
    assert _count(db) == 2


def test_bodies_that_are_not_a_batch_are_refused_whole(client: TestClient) -> None:
    running(client)
    assert (
        client.post(
            BATCH, content=b"{nope", headers={"Content-Type": "application/json"}
        ).status_code
        == 422
    )
    assert client.post(BATCH, json={"events": []}).status_code == 422
    too_many = [
        {"experiment_key": KEY, "variation_id": 0, "user_id": f"u{i}"} for i in range(10_001)
    ]
    response = client.post(BATCH, json={"exposures": too_many})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_disagreements_are_stored_as_shown_and_counted_per_variant(
    client: TestClient, db: Database
) -> None:
    running(client)
    payload = client.get("/api/v1/sdk").json()
    users = [f"d{i}" for i in range(40)]
    flipped = users[:10]
    items = []
    for user in users:
        chosen = sdk_choice(payload, KEY, user)
        if user in flipped:
            chosen = "treatment" if chosen == "control" else "control"
        items.append({"experiment_key": KEY, "variant_key": chosen, "user_id": user})
    assert post_exposures(client, items)["accepted"] == 40
    results = client.get(f"/api/experiments/{KEY}/results").json()
    check = results["exposure_disagreements"]
    expected: dict[str, int] = {"control": 0, "treatment": 0}
    for item in items:
        if item["user_id"] in flipped:
            expected[item["variant_key"]] += 1
    assert check["per_variant"] == expected
    assert check["total"] == 10
    assert check["share"] == pytest.approx(10 / 40)
    # Stored as shown: the results count each user under the variant the SDK reported.
    shown = {"control": 0, "treatment": 0}
    for item in items:
        shown[item["variant_key"]] += 1
    assert {v["variant_key"]: v["users"] for v in results["variant_metrics"]} == shown


def test_exposures_of_a_paused_experiment_disagree_unless_they_show_the_control(
    client: TestClient,
) -> None:
    running(client)
    assert client.post(f"/api/experiments/{KEY}/pause").status_code == 200
    response = post_exposures(
        client,
        [
            {"experiment_key": KEY, "variant_key": "control", "user_id": "p1"},
            {"experiment_key": KEY, "variant_key": "treatment", "user_id": "p2"},
        ],
    )
    assert response["accepted"] == 2
    check = client.get(f"/api/experiments/{KEY}/results").json()["exposure_disagreements"]
    assert check["per_variant"] == {"control": 0, "treatment": 1}


def test_targeting_is_checked_with_the_attributes_the_sdk_sent(client: TestClient) -> None:
    running(client, targeting={"condition": {"country": "DE"}})
    response = post_exposures(
        client,
        [
            {
                "experiment_key": KEY,
                "variant_key": "control",
                "user_id": "t-out",
                "attributes": {"country": "FR"},
            },
        ],
    )
    assert response["accepted"] == 1
    check = client.get(f"/api/experiments/{KEY}/results").json()["exposure_disagreements"]
    assert check["total"] == 1  # the server would have left a French user out


def test_sdk_exposures_fold_earlier_events_like_server_ones(
    client: TestClient, db: Database
) -> None:
    running(client)
    tracked = client.post(
        "/api/v1/events/",
        json={
            "user_id": "folded",
            "event_type": "purchase",
            "value": 5,
            "timestamp": "2026-12-01T11:00:00Z",
        },
    )
    assert tracked.status_code == 201
    post_exposures(
        client,
        [
            {
                "experiment_key": KEY,
                "variant_key": "treatment",
                "user_id": "folded",
                "timestamp": "2026-12-01T10:00:00Z",
            }
        ],
    )
    assert _count(db, ExposureTotal) == 1


def test_an_sdk_key_sends_exposures_and_events_for_its_workspace_only(client: TestClient) -> None:
    running(client)
    key = secret(client, scope="sdk")
    sent = post_exposures(
        client, [{"experiment_key": KEY, "variation_id": 0, "user_id": "k1"}], **bearer(key)
    )
    assert sent["accepted"] == 1
    event = client.post(
        "/api/v1/events/batch",
        json={"events": [{"user_id": "k1", "event_type": "click", "event_id": "e-1"}]},
        headers=bearer(key),
    )
    assert (event.status_code, event.json()["accepted"]) == (200, 1)
    for method, path in [
        # The single-event route answers a re-sent event_id with the stored event, which could
        # be another user's: not for a public key.
        ("POST", "/api/v1/events/"),
        ("GET", f"/api/experiments/{KEY}"),
        ("GET", f"/api/experiments/{KEY}/results"),
        ("GET", "/api/v1/users/"),
        ("POST", f"/api/experiments/{KEY}/assignments"),
        ("GET", "/api/v1/api-tokens/"),
    ]:
        response = client.request(method, path, headers=bearer(key), json={"user_id": "x"})
        assert response.status_code == 403, (method, path, response.text)


def test_only_an_sdk_key_goes_in_the_features_url(client: TestClient) -> None:
    """A key in a URL lands in access logs: an admin or readonly token is refused there."""
    for scope in ("readonly", "admin"):
        response = features(client, secret(client, scope=scope))
        assert response.status_code == 403
        assert "/api/v1/sdk" in response.json()["error"]


def test_an_sdk_key_reads_no_private_metrics(settings: Any) -> None:
    from splitlab.app import create_app
    from tests.conftest import ADMIN_SECRET

    private = settings.model_copy(update={"metrics_public": False})
    with TestClient(create_app(private)) as app_client:
        admin = bearer(ADMIN_SECRET)
        made = app_client.post(
            "/api/v1/api-tokens/", json={"name": "w", "scope": "sdk"}, headers=admin
        )
        key = made.json()["token"]
        assert app_client.get("/metrics", headers=bearer(key)).status_code == 403
        assert app_client.get("/metrics", headers=admin).status_code == 200


def test_an_exposure_of_an_earlier_bucket_version_is_rejected(client: TestClient) -> None:
    """GrowthBook reports ``experiment.phase`` (the payload's bucket version): re-sending a
    batch after the version was raised must not expose the users again in the new one."""
    running(client)
    items = [{"experiment_key": KEY, "variation_id": 0, "user_id": "v1", "phase": "0"}]
    assert post_exposures(client, items)["accepted"] == 1
    raised = client.put(f"/api/experiments/{KEY}", json={"config": {"bucket_version": 1}})
    assert raised.status_code == 200
    again = post_exposures(client, items)
    assert again["accepted"] == 0
    assert "stale" in again["rejected"][0]["error"]
    current = post_exposures(client, [{**items[0], "phase": "1"}])
    assert current["accepted"] == 1


def test_an_exposure_is_never_dated_before_the_experiment_started(
    client: TestClient, db: Database
) -> None:
    running(client)
    post_exposures(
        client,
        [
            {
                "experiment_key": KEY,
                "variation_id": 0,
                "user_id": "old",
                "timestamp": "1970-01-01T00:00:00Z",
            }
        ],
    )
    with db.session_scope() as session:
        shown = session.scalar(select(Exposure.exposed_at).where(Exposure.user_id == "old"))
    started = client.get(f"/api/v1/experiments/{KEY}").json()["start_date"]
    assert shown is not None
    assert shown.isoformat().replace("+00:00", "Z")[:19] == started.replace("+00:00", "Z")[:19]


def test_head_answers_like_get_without_a_body(client: TestClient) -> None:
    running(client)
    key = secret(client, scope="sdk")
    for path, headers in (
        (f"/api/features/{key}", {}),
        ("/health", {}),
        ("/api/v1/experiments/", {}),
        ("/api/experiments/", {}),
    ):
        got = client.get(path, headers=headers)
        head = client.head(path, headers=headers)
        assert (head.status_code, head.content) == (200, b""), path
        for header in ("content-type", "etag", "cache-control"):
            assert head.headers.get(header) == got.headers.get(header), (path, header)
    # A HEAD is refused like its GET: no token, 401; a POST-only route, 405.
    refused = client.head("/api/v1/experiments/", headers={"Authorization": "Bearer nope"})
    assert (refused.status_code, refused.content) == (401, b"")
    assert client.head("/api/v1/events/batch").status_code == 405


def test_head_records_nothing_and_is_labelled_by_its_route(client: TestClient) -> None:
    """Found in review: a HEAD of a user's assignment recorded it (a GET may; a HEAD is safe),
    and every HEAD was labelled route="unmatched" in /metrics."""
    running(client)
    path = f"/api/experiments/{KEY}/assignments/never-seen"
    assert client.head(path).status_code == 200
    history = client.get(f"/api/experiments/{KEY}/results").json()
    assert history["total_users"] == 0
    metrics = client.get("/metrics").text
    assert 'method="HEAD",route="/api/experiments/{key}/assignments/{user_id:path}"' in metrics
    assert 'method="HEAD",route="unmatched"' not in metrics
    # The GET still records, as before.
    assert client.get(path).status_code == 200
    assert client.get(f"/api/experiments/{KEY}/results").json()["total_users"] == 1
