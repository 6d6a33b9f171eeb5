"""The sample-size calculator: statsmodels' figures, and a clear 422 for inputs it cannot use."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from statsmodels.stats.power import NormalIndPower

from splitlab.stats import sample_size_proportion

URL = "/api/v1/sample-size"


def test_numeric_metric_matches_statsmodels_and_counts_days(client: TestClient) -> None:
    body = client.get(
        URL,
        params={
            "baseline_mean": 20.0,
            "baseline_variance": 64.0,
            "mde": 0.05,
            "exposures_per_day": 250,
        },
    ).json()

    expected = NormalIndPower().solve_power(effect_size=1.0 / 8.0, alpha=0.05, power=0.8)
    assert body["users_per_variant"] == [math.ceil(expected)] * 2
    assert body["days_needed"] == math.ceil(body["total_users"] / 250)


def test_allocation_and_three_variants_split_alpha(client: TestClient) -> None:
    body = client.get(
        URL,
        params={"baseline_rate": 0.1, "mde": 0.1, "variants": 3, "allocation": [2, 1, 1]},
    ).json()

    assert body["alpha_per_comparison"] == pytest.approx(0.025)
    control, a, b = body["users_per_variant"]
    assert a == b
    assert control == pytest.approx(2 * a, abs=2)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"baseline_rate": 0.9, "mde": 0.5}, "mde"),
        ({"baseline_rate": 0.2, "mde": 0.9, "relative": "false"}, "mde"),
        ({"baseline_rate": 0.1, "mde": 0.1, "allocation": [1, 0]}, "allocation"),
        ({"baseline_rate": 0.1, "mde": 0.1, "allocation": [1, -1]}, "allocation"),
        ({"baseline_rate": 0.1, "mde": 0.1, "allocation": [1, 1, 1]}, "allocation"),
        ({"baseline_mean": -5, "baseline_variance": 2, "mde": 0.1}, "baseline_mean"),
        ({"mde": 0.1}, "baseline_rate"),
        # Effects too small for any experiment: effect² underflows to 0, or the bound overflows
        # (found by schemathesis: each was a 500).
        ({"baseline_rate": 5e-324, "mde": 5e-324}, "mde"),
        ({"baseline_rate": 0.1, "mde": 1e-300}, "mde"),
        ({"baseline_rate": 0.1, "mde": 1e-8}, "mde"),
        ({"baseline_mean": 1.0, "baseline_variance": 1e300, "mde": 0.1}, "mde"),
    ],
)
def test_unusable_inputs_are_a_422_naming_the_parameter(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    response = client.get(URL, params=params)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["details"][0]["loc"] == ["query", field]


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_numbers_are_rejected(client: TestClient, value: str) -> None:
    params = {"baseline_mean": value, "baseline_variance": 2, "mde": 0.1}

    assert client.get(URL, params=params).status_code == 422
    assert client.get(URL, params={"baseline_rate": 0.1, "mde": value}).status_code == 422


def test_planning_for_sequential_testing_needs_more_users(client: TestClient) -> None:
    params = {"baseline_rate": 0.1, "mde": 0.1}
    fixed = client.get(URL, params=params).json()
    sequential = client.get(URL, params={**params, "sequential_tuning": 5000}).json()

    expected = sample_size_proportion(baseline_rate=0.1, mde=0.1, sequential_tuning=5000.0)
    assert sequential["users_per_variant"] == list(expected.users_per_variant)
    assert sequential["total_users"] > fixed["total_users"]
