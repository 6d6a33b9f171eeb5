"""Results over real HTTP equal what ``splitlab.stats`` gives on the same per-user data.

Users are assigned and their events tracked through a running ``splitlab serve``; the test keeps
its own copy of every user's values and runs the engine on them. This covers the whole path the
unit tests cannot: SQL aggregation per user after first exposure, the 14-day CUPED pre-window,
Holm across two treatments, the SRM check and the v1 twin of the endpoint.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest
from scipy import stats as sps

from splitlab.stats import RegressionStats, SampleStats, analyse
from tests.conftest import _create_postgres_database, _drop_postgres_database, require_service
from tests.e2e.conftest import ADMIN, Server

pytestmark = pytest.mark.e2e

KEY = "results_http"
VARIANTS = ("control", "fast", "faster")
LIFT = {"control": 0.0, "fast": 1.5, "faster": 4.0}
REFUND_RATE = {"control": 0.10, "fast": 0.10, "faster": 0.11}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, serve: Callable[..., Server]) -> Iterator[httpx.Client]:
    """A client of a fresh server on SQLite, or on its own PostgreSQL database."""
    database_url = postgres = name = None
    if request.param == "postgres":
        postgres = require_service("PostgreSQL", "SPLITLAB_TEST_POSTGRES_URL")
        name, database_url = _create_postgres_database(postgres)
    server = serve(env={"SPLITLAB_ADMIN_TOKEN": ADMIN}, database_url=database_url)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
    ) as client:
        yield client
    server.stop()
    if postgres and name:
        _drop_postgres_database(postgres, name)


def test_http_results_equal_the_engine_on_the_same_users(backend: httpx.Client) -> None:
    http = backend
    created = http.post(
        "/api/experiments/",
        json={
            "key": KEY,
            "name": "Results over HTTP",
            "variants": [
                {"key": "control", "name": "Control", "allocation": 34, "is_control": True},
                {"key": "fast", "name": "Fast", "allocation": 33},
                {"key": "faster", "name": "Faster", "allocation": 33},
            ],
            "config": {"min_sample_size": 50},
        },
    )
    assert created.status_code == 201, created.text
    definitions = f"/api/experiments/{KEY}/metric-definitions"
    assert http.post(
        definitions, json={"name": "revenue", "event_type": "purchase", "kind": "numeric"}
    ).is_success
    assert http.post(
        definitions,
        json={
            "name": "refunded",
            "event_type": "refund",
            "kind": "conversion",
            "role": "guardrail",
            "higher_is_better": False,
        },
    ).is_success
    assert http.post(f"/api/experiments/{KEY}/start").status_code == 200

    assigned = http.post(
        f"/api/experiments/{KEY}/assignments/batch",
        json={"users": [{"user_id": f"h{i}"} for i in range(900)]},
    )
    assert assigned.status_code == 200, assigned.text
    assignments = assigned.json()["assignments"]

    rng = random.Random(7)
    now = datetime.now(UTC)
    pre: dict[str, list[float]] = {v: [] for v in VARIANTS}
    post: dict[str, list[float]] = {v: [] for v in VARIANTS}
    refunded: dict[str, list[float]] = {v: [] for v in VARIANTS}
    events: list[dict[str, object]] = []
    for a in assignments:
        user, variant = a["user_id"], a["variant_key"]
        habit = rng.gammavariate(2.0, 10.0)
        # Inside the 14-day pre-window: the CUPED covariate.
        before = round(habit + rng.gauss(0, 4), 2)
        events.append(
            {
                "user_id": user,
                "event_type": "purchase",
                "value": before,
                "timestamp": _iso(now - timedelta(days=3)),
            }
        )
        # Older than the window: must not count anywhere.
        events.append(
            {
                "user_id": user,
                "event_type": "purchase",
                "value": 500.0,
                "timestamp": _iso(now - timedelta(days=20)),
            }
        )
        after = round(habit + LIFT[variant] + rng.gauss(0, 4), 2)
        events.append({"user_id": user, "event_type": "purchase", "value": after})
        refund = rng.random() < REFUND_RATE[variant]
        if refund:
            events.append({"user_id": user, "event_type": "refund", "experiment_id": KEY})
        pre[variant].append(before)
        post[variant].append(after)
        refunded[variant].append(1.0 if refund else 0.0)
    tracked = http.post("/api/v1/events/batch", json={"events": events})
    assert tracked.status_code == 200, tracked.text

    response = http.get(f"/api/experiments/{KEY}/results")
    assert response.status_code == 200, response.text
    body = response.json()
    metrics = {m["name"]: m for m in body["metrics"]}

    users = [len(post[v]) for v in VARIANTS]
    assert body["total_users"] == 900
    assert [v["users"] for v in body["variant_metrics"]] == users

    revenue = analyse(
        RegressionStats.from_values(pre["control"], post["control"]),
        [RegressionStats.from_values(pre[v], post[v]) for v in VARIANTS[1:]],
        cuped=True,
    )
    assert metrics["revenue"]["method"] == revenue.method == "welch+cuped"
    assert metrics["revenue"]["variance_reduction"] == pytest.approx(
        revenue.variance_reduction, rel=1e-9
    )
    for got, want in zip(metrics["revenue"]["comparisons"], revenue.comparisons, strict=True):
        assert got["absolute_lift"] == pytest.approx(want.absolute_lift, rel=1e-9)
        assert got["relative_lift"] == pytest.approx(want.relative_lift, rel=1e-9)
        assert got["p_value"] == pytest.approx(want.p_value, rel=1e-9, abs=1e-300)
        assert got["p_value_adjusted"] == pytest.approx(want.adjusted_p_value, rel=1e-9)
        assert got["chance_to_beat_control"] == pytest.approx(
            want.chance_to_beat_control, rel=1e-9, abs=1e-12
        )
        assert got["relative_ci"] == pytest.approx(list(want.relative_ci), rel=1e-9)

    guardrail = analyse(
        SampleStats.from_values(refunded["control"]),
        [SampleStats.from_values(refunded[v]) for v in VARIANTS[1:]],
        higher_is_better=False,
    )
    for got, want, variant in zip(
        metrics["refunded"]["comparisons"], guardrail.comparisons, VARIANTS[1:], strict=True
    ):
        oracle = sps.ttest_ind(refunded[variant], refunded["control"], equal_var=False)
        assert got["p_value"] == pytest.approx(oracle.pvalue, rel=1e-9)
        assert got["p_value"] == pytest.approx(want.p_value, rel=1e-9)
        assert got["risk"]["treatment"] == pytest.approx(want.risk_treatment, rel=1e-9)

    srm = sps.chisquare(users, np.array([34, 33, 33]) / 100 * sum(users))
    assert body["srm"]["p_value"] == pytest.approx(srm.pvalue, rel=1e-9)
    assert body["srm"]["alarm"] is False

    # The treatments' +1.5 and +4 on a mean of about 20 are clear with CUPED: a winner is named.
    assert body["winning_variant"] == "faster"
    assert body["recommendation"].startswith("Ship faster")
    assert body["p_value"] == pytest.approx(revenue.comparisons[1].adjusted_p_value, rel=1e-9)

    experiment_id = created.json()["id"]
    twin = http.get(f"/api/v1/experiments/{experiment_id}/results")
    assert twin.status_code == 200
    assert twin.json()["metrics"] == body["metrics"]
