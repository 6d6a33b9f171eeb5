"""Results end to end: traffic through HTTP gives what the statistics engine gives on the same data."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats as scipy_stats
from sqlalchemy import delete, select

from splitlab.events import totals
from splitlab.stats import (
    DEFAULT_SEQUENTIAL_TUNING,
    SampleStats,
    analyse,
    power,
    sample_size,
    sequential_power,
)
from splitlab.storage.engine import Database
from splitlab.storage.models import Exposure, Variant
from tests.factories import experiment_body

KEY = "checkout-test"


def run_traffic(
    client: TestClient, users: int, rates: dict[str, float], *, seed: int = 1, **overrides: Any
) -> dict[str, list[float]]:
    """Assign users over HTTP and track conversions with the given per-variant rates."""
    client.post("/api/experiments/", json=experiment_body(**overrides))
    client.post(f"/api/experiments/{KEY}/start")
    batch = client.post(
        f"/api/experiments/{KEY}/assignments/batch",
        json={"users": [{"user_id": f"u{i}"} for i in range(users)]},
    ).json()["assignments"]
    rng = random.Random(seed)
    values: dict[str, list[float]] = {key: [] for key in rates}
    events = []
    for a in batch:
        converted = rng.random() < rates[a["variant_key"]]
        values[a["variant_key"]].append(1.0 if converted else 0.0)
        if converted:
            events.append({"user_id": a["user_id"], "event_type": "purchase", "experiment_id": KEY})
    # Define the metric, then send the events in one batch.
    client.post(
        f"/api/experiments/{KEY}/metrics",
        json={
            "user_id": batch[0]["user_id"],
            "variant_key": batch[0]["variant_key"],
            "metric_name": "purchase",
            "value": 1,
            "metric_type": "conversion",
        },
    )
    first = batch[0]
    values[first["variant_key"]][0] = 1.0
    assert client.post("/api/v1/events/batch", json={"events": events}).status_code == 200
    return values


def test_results_have_the_documented_fields(client: TestClient) -> None:
    run_traffic(client, 400, {"control": 0.1, "treatment": 0.1})
    body = client.get(f"/api/experiments/{KEY}/results").json()
    for field in (
        "experiment_key",
        "status",
        "total_users",
        "variant_metrics",
        "is_significant",
        "p_value",
        "winning_variant",
        "recommendation",
        "statistical_power",
    ):
        assert field in body
    assert body["experiment_key"] == KEY
    assert body["total_users"] == 400
    assert body["srm"]["alarm"] is False
    assert body["primary_metric"] == "purchase"
    assert isinstance(body["recommendation"], str)
    assert body["recommendation"]


def test_http_results_equal_the_engine_on_the_same_data(client: TestClient) -> None:
    values = run_traffic(client, 3000, {"control": 0.10, "treatment": 0.14})
    body = client.get(f"/api/experiments/{KEY}/results").json()
    (metric,) = body["metrics"]
    (comparison,) = metric["comparisons"]
    control = np.array(values["control"])
    treatment = np.array(values["treatment"])
    expected = analyse(
        SampleStats.from_values(control), [SampleStats.from_values(treatment)]
    ).comparisons[0]
    assert comparison["relative_lift"] == pytest.approx(expected.relative_lift, rel=1e-9)
    assert comparison["p_value"] == pytest.approx(expected.p_value, rel=1e-9)
    oracle = scipy_stats.ttest_ind(treatment, control, equal_var=False)
    assert comparison["p_value"] == pytest.approx(oracle.pvalue, rel=1e-9)
    assert metric["variants"][0]["users"] == len(control)


def test_a_clear_improvement_is_shipped(client: TestClient) -> None:
    run_traffic(client, 4000, {"control": 0.10, "treatment": 0.20})
    body = client.get(f"/api/experiments/{KEY}/results").json()
    assert body["is_significant"] is True
    assert body["winning_variant"] == "treatment"
    assert body["recommendation"].startswith("Ship treatment")


def test_a_harmful_treatment_says_stop(client: TestClient) -> None:
    run_traffic(client, 4000, {"control": 0.20, "treatment": 0.10})
    body = client.get(f"/api/experiments/{KEY}/results").json()
    assert body["winning_variant"] is None
    assert body["recommendation"].startswith("Stop treatment")


def test_no_winner_before_the_minimum_sample_size(client: TestClient) -> None:
    run_traffic(
        client, 1500, {"control": 0.05, "treatment": 0.30}, config={"min_sample_size": 5000}
    )
    body = client.get(f"/api/experiments/{KEY}/results").json()
    assert body["is_significant"] is True
    assert body["winning_variant"] is None
    assert body["recommendation"].startswith("Keep running")
    # How long: 1,500 users within the first hour is at least 36,000 a day, so 5,000 per
    # variant is about a day away, and the MDE's sample size never lowers that target.
    assert body["recommendation"].endswith("; about 1 more day at the current rate.")
    assert body["sample_size"]["days_remaining"] >= 1


def test_no_traffic_is_an_outcome_not_an_error(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    response = client.get(f"/api/experiments/{KEY}/results")
    assert response.status_code == 200
    body = response.json()
    assert (body["total_users"], body["winning_variant"], body["srm"]["status"]) == (
        0,
        None,
        "empty_variant",
    )
    assert "No users" in body["recommendation"]


def test_sample_ratio_mismatch_blocks_a_winner(client: TestClient, db: Database) -> None:
    run_traffic(client, 4000, {"control": 0.10, "treatment": 0.20})
    # Exposure logging lost in one arm: a third of the treatment's exposures never arrived.
    with db.session_scope() as session:
        treatment = session.scalars(select(Variant.id).where(Variant.key == "treatment")).one()
        lost = session.scalars(select(Exposure.id).where(Exposure.variant_id == treatment)).all()
        session.execute(delete(Exposure).where(Exposure.id.in_(lost[::3])))
        # Deleted past the write path, so the rollups are recomputed as an operator would.
        experiment = session.scalars(select(Variant.experiment_id).where(Variant.id == treatment))
        totals.rebuild(session, experiment.one())
    body = client.get(f"/api/experiments/{KEY}/results").json()
    assert body["srm"]["alarm"] is True
    assert body["metrics"][0]["comparisons"][0]["significant"] is True
    assert body["winning_variant"] is None
    assert body["recommendation"].startswith("Investigate")
    assert "sample ratio mismatch" in body["recommendation"]


def test_forced_users_are_left_out_of_every_statistic(client: TestClient) -> None:
    values = run_traffic(client, 2000, {"control": 0.10, "treatment": 0.12})
    # QA forces 300 users into the treatment and they all convert: not randomised, not analysed.
    forced = [f"qa{i}" for i in range(300)]
    for user in forced:
        response = client.post(
            f"/api/experiments/{KEY}/assignments",
            json={"user_id": user, "force_variant": "treatment"},
        )
        assert response.json()["is_override"] is True
    events = [{"user_id": u, "event_type": "purchase", "experiment_id": KEY} for u in forced]
    assert client.post("/api/v1/events/batch", json={"events": events}).status_code == 200

    body = client.get(f"/api/experiments/{KEY}/results").json()
    (metric,) = body["metrics"]
    expected = analyse(
        SampleStats.from_values(values["control"]), [SampleStats.from_values(values["treatment"])]
    ).comparisons[0]
    assert body["total_users"] == 2000
    assert body["overridden_users"] == 300
    assert [v["users"] for v in body["variant_metrics"]] == [
        len(values["control"]),
        len(values["treatment"]),
    ]
    assert metric["comparisons"][0]["p_value"] == pytest.approx(expected.p_value, rel=1e-9)
    assert body["srm"]["alarm"] is False


def test_only_forced_users_is_not_called_no_users(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post(f"/api/experiments/{KEY}/start")
    client.post(
        f"/api/experiments/{KEY}/assignments", json={"user_id": "qa", "force_variant": "treatment"}
    )

    body = client.get(f"/api/experiments/{KEY}/results").json()

    assert (body["total_users"], body["overridden_users"]) == (0, 1)
    assert body["recommendation"].startswith("Only forced (override) users")


def test_v1_results_and_sample_size(client: TestClient) -> None:
    experiment = client.post("/api/experiments/", json=experiment_body()).json()
    assert client.get(f"/api/v1/experiments/{experiment['id']}/results").status_code == 200
    body = client.get("/api/v1/sample-size", params={"baseline_rate": 0.1, "mde": 0.1}).json()
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    effect = proportion_effectsize(0.11, 0.1)
    expected = NormalIndPower().solve_power(effect_size=effect, alpha=0.05, power=0.8, ratio=1.0)
    assert body["users_per_variant"][0] == pytest.approx(expected, rel=0.02)
    with_rate = client.get(
        "/api/v1/sample-size", params={"baseline_rate": 0.1, "mde": 0.1, "exposures_per_day": 1000}
    ).json()
    assert with_rate["days_needed"] == -(-with_rate["total_users"] // 1000)
    assert client.get("/api/v1/sample-size", params={"mde": 0.1}).status_code == 422


def test_power_is_for_the_cuped_adjusted_test(client: TestClient) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post(f"/api/experiments/{KEY}/start")
    client.post(
        f"/api/experiments/{KEY}/metric-definitions",
        json={"name": "revenue", "event_type": "purchase", "kind": "numeric"},
    )
    batch = client.post(
        f"/api/experiments/{KEY}/assignments/batch",
        json={"users": [{"user_id": f"c{i}"} for i in range(400)]},
    ).json()["assignments"]
    rng = random.Random(3)
    earlier = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    events = []
    raw: dict[str, list[float]] = {"control": [], "treatment": []}
    for a in batch:
        habit = rng.gammavariate(2.0, 10.0)
        after = round(habit + rng.gauss(0, 5), 2)
        before = round(habit + rng.gauss(0, 5), 2)
        events.append({"user_id": a["user_id"], "event_type": "purchase", "value": after})
        events.append(
            {
                "user_id": a["user_id"],
                "event_type": "purchase",
                "value": before,
                "timestamp": earlier,
            }
        )
        raw[a["variant_key"]].append(after)
    assert client.post("/api/v1/events/batch", json={"events": events}).status_code == 200

    (metric,) = client.get(f"/api/experiments/{KEY}/results").json()["metrics"]
    control, treatment = metric["variants"]
    (comparison,) = metric["comparisons"]

    assert metric["method"] == "welch+cuped"
    adjusted = power(
        0.05 * control["mean"],
        control["users"],
        treatment["users"],
        control["variance"],
        treatment["variance"],
    )
    assert comparison["power"] == pytest.approx(float(adjusted), rel=1e-9)
    unadjusted = power(
        0.05 * np.mean(raw["control"]),
        len(raw["control"]),
        len(raw["treatment"]),
        np.var(raw["control"], ddof=1),
        np.var(raw["treatment"], ddof=1),
    )
    assert comparison["power"] > float(unadjusted)


def test_a_switched_off_variant_neither_breaks_nor_blocks_the_results(client: TestClient) -> None:
    variants = [
        {"key": "control", "name": "Control", "allocation": 50, "is_control": True},
        {"key": "treatment", "name": "Treatment", "allocation": 50},
        {"key": "retired", "name": "Retired", "allocation": 0},
    ]
    run_traffic(client, 4000, {"control": 0.10, "treatment": 0.20}, variants=variants)

    response = client.get(f"/api/experiments/{KEY}/results")

    assert response.status_code == 200
    body = response.json()
    assert body["srm"]["alarm"] is False
    assert body["srm"]["expected"]["retired"] == 0
    assert [c["status"] for c in body["metrics"][0]["comparisons"]] == ["ok", "empty_variant"]
    assert body["sample_size"]["users_per_variant"]["retired"] == 0
    assert body["winning_variant"] == "treatment"


def _defined_experiment(client: TestClient, users: int) -> list[dict[str, Any]]:
    client.post("/api/experiments/", json=experiment_body())
    client.post(f"/api/experiments/{KEY}/start")
    client.post(
        f"/api/experiments/{KEY}/metric-definitions",
        json={"name": "bought", "event_type": "purchase", "kind": "conversion"},
    )
    assignments: list[dict[str, Any]] = client.post(
        f"/api/experiments/{KEY}/assignments/batch",
        json={"users": [{"user_id": f"d{i}"} for i in range(users)]},
    ).json()["assignments"]
    return assignments


def test_no_conversions_at_all_is_not_called_inconclusive(client: TestClient) -> None:
    _defined_experiment(client, 400)

    body = client.get(f"/api/experiments/{KEY}/results").json()

    assert body["metrics"][0]["comparisons"][0]["status"] == "zero_variance"
    assert body["statistical_power"] is None
    assert body["recommendation"] == (
        "Keep running: bought cannot be compared yet because every user has the same value so "
        "far (e.g. nobody has converted)."
    )


def test_a_control_without_conversions_reports_absolute_figures(client: TestClient) -> None:
    assignments = _defined_experiment(client, 400)
    converted = [a["user_id"] for a in assignments if a["variant_key"] == "treatment"][:3]
    events = [{"user_id": u, "event_type": "purchase"} for u in converted]
    client.post("/api/v1/events/batch", json={"events": events})

    body = client.get(f"/api/experiments/{KEY}/results").json()

    (comparison,) = body["metrics"][0]["comparisons"]
    assert comparison["status"] == "non_positive_control_mean"
    assert comparison["relative_lift"] is None
    assert comparison["absolute_lift"] > 0
    assert "the control's mean is 0" in body["recommendation"]


def test_a_sequential_experiment_reports_the_power_of_its_own_test(client: TestClient) -> None:
    run_traffic(
        client, 3000, {"control": 0.10, "treatment": 0.11}, config={"sequential_testing": True}
    )

    body = client.get(f"/api/experiments/{KEY}/results").json()
    (metric,) = body["metrics"]
    control, treatment = metric["variants"]
    (comparison,) = metric["comparisons"]

    assert metric["method"] == "welch-sequential"
    planned = sample_size(
        baseline_mean=control["mean"],
        baseline_variance=control["variance"],
        mde=0.05,
        weights=[50, 50],
        sequential_tuning=DEFAULT_SEQUENTIAL_TUNING,
    )
    assert list(body["sample_size"]["users_per_variant"].values()) == list(
        planned.users_per_variant
    )
    args = (0.05 * control["mean"], control["users"], treatment["users"], control["variance"])
    expected = sequential_power(*args, treatment["variance"])
    assert comparison["power"] == pytest.approx(float(expected), rel=1e-9)
    assert comparison["power"] < float(power(*args, treatment["variance"]))


def test_a_concluded_experiment_is_never_told_to_keep_running(client: TestClient) -> None:
    """Results of a decided experiment say what was decided and what the data showed."""
    assert client.post("/api/experiments/", json=experiment_body()).status_code == 201
    assert client.post("/api/experiments/checkout-test/start").status_code == 200
    for i in range(6):
        client.post("/api/experiments/checkout-test/assignments", json={"user_id": f"u{i}"})
    before = client.get("/api/experiments/checkout-test/results").json()["recommendation"]
    assert before.startswith(("Keep running", "Track a metric"))
    concluded = client.post(
        "/api/experiments/checkout-test/conclude", json={"winning_variant": "treatment"}
    )
    assert concluded.status_code == 200
    results = client.get("/api/experiments/checkout-test/results").json()
    after = results["recommendation"]
    assert after.startswith("Completed with treatment as the winner. What the data showed: ")
    assert "Keep running" not in after
    # The results name the winner that was decided, as the sentence does.
    assert results["winning_variant"] == "treatment"

    assert (
        client.post("/api/experiments/", json=experiment_body(key="empty", name="E")).status_code
        == 201
    )
    client.post("/api/experiments/empty/start")
    client.post("/api/experiments/empty/conclude", json={})
    assert client.get("/api/experiments/empty/results").json()["winning_variant"] is None
    empty = client.get("/api/experiments/empty/results").json()["recommendation"]
    assert (
        empty == "Completed without a winner. What the data showed: No users have been exposed yet."
    )


def test_a_win_at_low_power_says_what_the_power_means(client: TestClient) -> None:
    """statistical_power 0.06 sat next to 'Ship' unexplained: a significant result at low power
    overstates the lift, and the verdict now says so."""
    run_traffic(client, 120, {"control": 0.10, "treatment": 0.60}, config={"min_sample_size": 20})
    body = client.get(f"/api/experiments/{KEY}/results").json()
    assert body["recommendation"].startswith("Ship treatment")
    assert body["statistical_power"] < 0.5
    assert "likely smaller than measured" in body["recommendation"]
    assert f"only {body['statistical_power'] * 100:.0f}%" in body["recommendation"]


def _quoted_interval(recommendation: str) -> tuple[float, float]:
    import re

    found = re.search(r"interval \[([-+][\d.e+-]+)( pp)?, ([-+][\d.e+-]+)( pp)?\]", recommendation)
    assert found, recommendation
    scale = 0.01 if found.group(2) else 1.0
    return float(found.group(1)) * scale, float(found.group(3)) * scale


def test_an_improvement_over_a_control_without_conversions_is_not_harm_b1(
    client: TestClient,
) -> None:
    """B1: control 0 conversions, treatment 45: "Stop treatment: it significantly harms"."""
    assignments = _defined_experiment(client, 2000)
    treated = [a["user_id"] for a in assignments if a["variant_key"] == "treatment"][:45]
    events = [{"user_id": u, "event_type": "purchase"} for u in treated]
    assert client.post("/api/v1/events/batch", json={"events": events}).status_code == 200

    body = client.get(f"/api/experiments/{KEY}/results").json()

    (comparison,) = body["metrics"][0]["comparisons"]
    assert comparison["status"] == "non_positive_control_mean"
    assert comparison["significant"] is True
    assert body["winning_variant"] == "treatment"
    assert body["recommendation"].startswith("Ship treatment: it improves bought by +")
    assert "pp absolute" in body["recommendation"]
    # The interval quoted is the one of the test that made it significant: it excludes 0.
    low, high = _quoted_interval(body["recommendation"])
    assert low == pytest.approx(comparison["absolute_ci"][0], abs=5e-5)
    assert high == pytest.approx(comparison["absolute_ci"][1], abs=5e-5)
    assert 0 < low < high


def test_a_loss_shrinking_from_negative_is_an_improvement_b1(client: TestClient) -> None:
    """B1: a profit metric going from -0.50 to -0.20 per user was called harm (its relative
    lift, -60 %, has the sign of the negative control)."""
    client.post("/api/experiments/", json=experiment_body())
    client.post(f"/api/experiments/{KEY}/start")
    client.post(
        f"/api/experiments/{KEY}/metric-definitions",
        json={"name": "profit", "event_type": "order", "kind": "numeric"},
    )
    assignments = client.post(
        f"/api/experiments/{KEY}/assignments/batch",
        json={"users": [{"user_id": f"p{i}"} for i in range(600)]},
    ).json()["assignments"]
    rng = random.Random(3)
    means = {"control": -0.50, "treatment": -0.20}
    events = [
        {
            "user_id": a["user_id"],
            "event_type": "order",
            "properties": {"value": round(rng.gauss(means[a["variant_key"]], 0.3), 4)},
        }
        for a in assignments
    ]
    assert client.post("/api/v1/events/batch", json={"events": events}).status_code == 200

    body = client.get(f"/api/experiments/{KEY}/results").json()

    (comparison,) = body["metrics"][0]["comparisons"]
    assert comparison["absolute_lift"] == pytest.approx(0.30, abs=0.06)
    assert comparison["significant"] is True
    assert body["winning_variant"] == "treatment"
    assert body["recommendation"].startswith("Ship treatment: it improves profit by +0.")
    assert "absolute" in body["recommendation"]
    low, high = _quoted_interval(body["recommendation"])
    assert 0 < low < 0.30 < high
