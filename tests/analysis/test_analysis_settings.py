"""Issue 18's per-experiment analysis settings, end to end through the API, each against an
independent oracle on the same data: statsmodels' multiple-testing procedures, the confidence
sequence written out from Waudby-Smith et al. (2023), and the normal-normal posterior by hand.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from splitlab.stats import adjust_p_values
from tests.factories import experiment_body

KEY = "checkout-test"
THREE = [
    {"key": "control", "allocation": 34, "is_control": True},
    {"key": "a", "allocation": 33},
    {"key": "b", "allocation": 33},
]


def _experiment(client: TestClient, metrics: list[tuple[str, str]], **config: Any) -> None:
    """A running experiment with three variants and ``(name, role)`` conversion metrics."""
    created = client.post("/api/experiments/", json=experiment_body(variants=THREE, config=config))
    assert created.status_code == 201, created.text
    for name, role in metrics:
        body = {"name": name, "event_type": name, "kind": "conversion", "role": role}
        response = client.post(f"/api/experiments/{KEY}/metric-definitions", json=body)
        assert response.status_code == 201, response.text
    assert client.post(f"/api/experiments/{KEY}/start").status_code == 200


def _traffic(client: TestClient, users: int, rates: dict[str, float], seed: int = 1) -> None:
    """Assign ``users`` and convert each on every metric with its variant's rate (A/A if equal)."""
    batch = client.post(
        f"/api/experiments/{KEY}/assignments/batch",
        json={"users": [{"user_id": f"u{i}"} for i in range(users)]},
    ).json()["assignments"]
    names = [m["name"] for m in client.get(f"/api/experiments/{KEY}/metric-definitions").json()]
    rng = random.Random(seed)
    events = [
        {"event_id": f"{name}-{a['user_id']}", "user_id": a["user_id"], "event_type": name}
        for a in batch
        for name in names
        if rng.random() < rates[a["variant_key"]]
    ]
    assert client.post("/api/v1/events/batch", json={"events": events}).status_code == 200


def _results(client: TestClient) -> dict[str, Any]:
    response = client.get(f"/api/experiments/{KEY}/results")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


GUARDED = [
    ("purchase", "primary"),
    ("signup", "secondary"),
    ("share", "secondary"),
    ("errors", "guardrail"),
    ("latency", "guardrail"),
    ("refunds", "guardrail"),
]


@pytest.mark.parametrize(("correction", "oracle"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_p_values_are_adjusted_within_each_role_across_metrics_and_treatments(
    client: TestClient, correction: str, oracle: str
) -> None:
    _experiment(client, GUARDED, correction=correction)
    _traffic(client, 900, {"control": 0.20, "a": 0.24, "b": 0.20})
    body = _results(client)

    for role in ("primary", "secondary", "guardrail"):
        family = [c for m in body["metrics"] if m["role"] == role for c in m["comparisons"]]
        raw = [c["p_value"] for c in family]
        assert len(raw) == {"primary": 2, "secondary": 4, "guardrail": 6}[role]
        expected = multipletests(raw, method=oracle)[1]
        got = [c["p_value_adjusted"] for c in family]
        assert got == pytest.approx(list(expected), rel=1e-12, abs=1e-15)
        alpha = 1 - body["confidence_level"]
        assert [c["significant"] for c in family] == [p < alpha for p in expected]
    guardrail = next(m for m in body["metrics"] if m["role"] == "guardrail")
    assert guardrail["correction"] == f"{correction} across guardrails (6 tests)"


def test_guardrails_corrected_by_default_keep_a_a_false_stops_near_alpha() -> None:
    """Five guardrails tested at 5 % each stop about 1 - 0.95^5 = 23 % of A/A experiments; the
    default (Holm within the guardrail family) keeps it at most 5 %. 2,000 simulated A/A
    experiments, each guardrail a Welch test on 1,000 users a side, as scipy computes it."""
    rng = np.random.default_rng(18)
    runs, guardrails, n = 2000, 5, 1000
    control = rng.binomial(1, 0.1, size=(runs, guardrails, n)).astype(float)
    treatment = rng.binomial(1, 0.1, size=(runs, guardrails, n)).astype(float)
    raw = scipy_stats.ttest_ind(treatment, control, axis=2, equal_var=False).pvalue
    unadjusted = np.mean(np.any(raw < 0.05, axis=1))
    adjusted = np.mean([np.any(adjust_p_values(row, "holm") < 0.05) for row in raw])
    assert 0.19 < unadjusted < 0.27
    assert 0.038 <= adjusted <= 0.062


def _halfwidth(variance: float, n: float, alpha: float, tuning: float) -> float:
    """Waudby-Smith et al. (2023), eq. 155 and 161, written out independently."""
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    return math.sqrt(variance * n) * math.sqrt(
        2 * (n * rho2 + 1) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha)
    )


@pytest.mark.parametrize(
    ("config", "tuning"),
    [
        ({}, 5000.0),
        ({"planned_sample_size": 1200}, 1200.0),
        ({"planned_sample_size": 1200, "sequential_tuning": 300}, 300.0),
    ],
)
def test_the_sequential_tuning_comes_from_the_plan_unless_set(
    client: TestClient, config: dict[str, Any], tuning: float
) -> None:
    _experiment(client, [("purchase", "primary")], sequential_testing=True, cuped=False, **config)
    _traffic(client, 1200, {"control": 0.2, "a": 0.25, "b": 0.2})
    body = _results(client)

    metric = body["metrics"][0]
    control = metric["variants"][0]
    for comparison, variant in zip(metric["comparisons"], metric["variants"][1:], strict=True):
        variance = control["variance"] / control["users"] + variant["variance"] / variant["users"]
        n = control["users"] + variant["users"]
        half = _halfwidth(variance, n, 1 - body["confidence_level"], tuning)
        low, high = comparison["absolute_ci"]
        assert (high - low) / 2 == pytest.approx(half, rel=1e-9)


@pytest.mark.parametrize(("mean", "stddev"), [(0.0, 0.3), (0.1, 0.05), (0.0, None)])
def test_the_bayesian_prior_is_the_experiment_s(
    client: TestClient, mean: float, stddev: float | None
) -> None:
    _experiment(
        client, [("purchase", "primary")], cuped=False, prior_mean=mean, prior_stddev=stddev
    )
    _traffic(client, 1500, {"control": 0.2, "a": 0.23, "b": 0.2})
    body = _results(client)

    metric = body["metrics"][0]
    control = metric["variants"][0]
    mc, vc, nc = control["mean"], control["variance"], control["users"]
    for comparison, variant in zip(metric["comparisons"], metric["variants"][1:], strict=True):
        mt, vt, nt = variant["mean"], variant["variance"], variant["users"]
        lift = mt / mc - 1
        var = vt / (mc**2 * nt) + vc * mt**2 / (mc**4 * nc)  # the delta method's variance
        if stddev is None:
            post_mean, post_var = lift, var
        else:
            precision = 1 / var + 1 / stddev**2
            post_mean, post_var = (lift / var + mean / stddev**2) / precision, 1 / precision
        chance = scipy_stats.norm.cdf(post_mean / math.sqrt(post_var))
        assert comparison["chance_to_beat_control"] == pytest.approx(chance, rel=1e-9)


def test_the_settings_are_read_back_edited_and_validated(client: TestClient) -> None:
    _experiment(client, [("purchase", "primary")])
    url = f"/api/experiments/{KEY}"
    edited = client.put(url, json={"config": {"correction": "bh", "prior_stddev": None}})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["config"]["correction"], edited.json()["config"]["prior_stddev"]) == (
        "bh",
        None,
    )
    for bad in ({"correction": "sidak"}, {"prior_stddev": 0}, {"sequential_tuning": -1}):
        response = client.put(url, json={"config": bad})
        assert response.status_code == 422, bad
        assert response.json()["code"] == "validation_error"


def test_a_prior_too_narrow_to_compute_is_refused(client: TestClient) -> None:
    """1e-170 squared is 0: the results would have no prior to use (a 500, found in review)."""
    _experiment(client, [("purchase", "primary")])
    response = client.put(f"/api/experiments/{KEY}", json={"config": {"prior_stddev": 1e-170}})
    assert response.status_code == 422
    assert _results(client)["metrics"][0]["name"] == "purchase"


def test_an_mde_too_small_for_the_metric_s_spread_gives_no_estimate_not_a_500(
    client: TestClient,
) -> None:
    """Found in review: a tiny positive control mean beside a large spread made the sample-size
    estimate raise, and the results (and the dashboard's list) answer 500."""
    _experiment(client, [], cuped=False)
    body = {"name": "profit", "event_type": "order", "kind": "numeric"}
    client.post(f"/api/experiments/{KEY}/metric-definitions", json=body)
    batch = client.post(
        f"/api/experiments/{KEY}/assignments/batch",
        json={"users": [{"user_id": f"u{i}"} for i in range(40)]},
    ).json()["assignments"]
    # Per variant, users alternate between a gain and a loss: the control's mean is a hair
    # above 0 (1e-7 a user) beside a spread of 100.
    values = {"control": (100.0, -99.9999998), "a": (101.0, -99.0), "b": (101.0, -99.0)}
    seen = dict.fromkeys(values, 0)
    events = []
    for a in batch:
        variant = a["variant_key"]
        value = values[variant][seen[variant] % 2]
        seen[variant] += 1
        events.append(
            {"user_id": a["user_id"], "event_type": "order", "properties": {"value": value}}
        )
    if seen["control"] % 2:  # an even number of control users, or the mean is not tiny
        events.pop(next(i for i, e in enumerate(events) if batch[i]["variant_key"] == "control"))
    assert client.post("/api/v1/events/batch", json={"events": events}).status_code == 200
    results = _results(client)
    assert results["sample_size"] is None
    assert results["recommendation"]
