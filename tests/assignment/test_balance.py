"""The split matches the allocation, and experiments with different seeds are independent."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from splitlab.assignment.config import AssignmentConfig
from splitlab.assignment.service import decide

IDS = [f"user-{i}" for i in range(100_000)]


def config(key: str, weights: tuple[float, ...], coverage: float = 1.0) -> AssignmentConfig:
    n = len(weights)
    return AssignmentConfig(
        experiment_id=1,
        workspace_id=1,
        key=key,
        status="running",
        version="v",
        seed=key,
        hash_version=2,
        bucket_version=0,
        variant_ids=tuple(range(n)),
        variant_keys=tuple(f"v{i}" for i in range(n)),
        variant_configs=({},) * n,
        weights=weights,
        control_index=0,
        fallback_index=0,
        coverage=coverage,
        condition=None,
        namespace=None,
        sticky=True,
        override_enabled=True,
    )


def split(cfg: AssignmentConfig) -> np.ndarray:
    return np.array([decide(cfg, user_id, {"id": user_id}).index for user_id in IDS])


@pytest.mark.parametrize(
    "weights",
    [(0.5, 0.5), (0.2, 0.8), (1 / 3, 1 / 3, 1 / 3), (0.1, 0.3, 0.6)],
    ids=["50-50", "20-80", "three-way", "10-30-60"],
)
def test_split_matches_the_allocation(weights: tuple[float, ...]) -> None:
    indexes = split(config(f"balance-{len(weights)}-{weights[0]}", weights))
    observed = np.bincount(indexes, minlength=len(weights))
    result = stats.chisquare(observed, np.array(weights) * len(IDS))
    assert observed.sum() == len(IDS)
    assert result.pvalue >= 0.001, (observed, result)


def test_coverage_keeps_the_split_among_those_in() -> None:
    indexes = split(config("coverage-60", (0.5, 0.5), coverage=0.6))
    inside = indexes[indexes >= 0]
    assert stats.binomtest(len(inside), len(IDS), 0.6).pvalue >= 0.001
    assert stats.chisquare(np.bincount(inside)).pvalue >= 0.001


def test_experiments_with_different_seeds_assign_independently() -> None:
    first = split(config("checkout-colour", (0.5, 0.5)))
    second = split(config("pricing-page", (0.5, 0.5)))
    table = np.array([[np.sum((first == a) & (second == b)) for b in (0, 1)] for a in (0, 1)])
    assert stats.chi2_contingency(table).pvalue >= 0.001
