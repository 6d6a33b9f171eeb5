import numpy as np
import pytest
from scipy import stats as sps

from splitlab.stats import RegressionStats, SampleStats, analyse, cuped_adjust


def _experiment(seed, n=400, rho=0.7, effect=0.0):
    rng = np.random.default_rng(seed)
    arms = []
    for shift in (0.0, effect):
        x = rng.normal(5.0, 2.0, n)
        y = 3.0 + rho * (x - 5.0) + np.sqrt(1 - rho**2) * 2.0 * rng.normal(size=n) + shift
        arms.append((x, y))
    return arms


def test_theta_is_the_within_variant_least_squares_slope():
    arms = _experiment(1, effect=0.5)
    stats = [RegressionStats.from_values(x, y) for x, y in arms]
    # OLS of y on x with a variant indicator.
    x = np.concatenate([a[0] for a in arms])
    y = np.concatenate([a[1] for a in arms])
    group = np.repeat([0.0, 1.0], [len(a[0]) for a in arms])
    design = np.column_stack([np.ones_like(x), group, x])
    coefficients = np.linalg.lstsq(design, y, rcond=None)[0]

    assert cuped_adjust(stats).theta == pytest.approx(coefficients[2], rel=1e-9)


def test_adjusted_moments_are_those_of_the_explicitly_adjusted_values():
    arms = _experiment(2, effect=0.3)
    stats = [RegressionStats.from_values(x, y) for x, y in arms]
    adjustment = cuped_adjust(stats)
    grand_x = np.concatenate([a[0] for a in arms]).mean()

    for (x, y), mean, variance in zip(arms, adjustment.means, adjustment.variances, strict=True):
        adjusted = y - adjustment.theta * (x - grand_x)
        assert mean == pytest.approx(adjusted.mean(), rel=1e-9)
        assert variance == pytest.approx(adjusted.var(ddof=1), rel=1e-9)


def test_cuped_analysis_equals_welch_on_the_adjusted_values():
    arms = _experiment(3, effect=0.3)
    stats = [RegressionStats.from_values(x, y) for x, y in arms]
    theta = cuped_adjust(stats).theta
    adjusted = [y - theta * x for x, y in arms]

    result = analyse(stats[0], stats[1:])
    oracle = sps.ttest_ind(adjusted[1], adjusted[0], equal_var=False)

    assert result.method == "welch+cuped"
    assert result.comparisons[0].p_value == pytest.approx(oracle.pvalue, rel=1e-9)


def test_variance_ratio_is_about_one_minus_the_squared_correlation():
    arms = _experiment(4, n=5000, rho=0.7)
    stats = [RegressionStats.from_values(x, y) for x, y in arms]

    adjustment = cuped_adjust(stats)

    assert adjustment.variance_ratio == pytest.approx(0.51, abs=0.02)
    assert adjustment.variance_reduction == pytest.approx(1 - adjustment.variance_ratio)


def test_uncorrelated_covariate_changes_almost_nothing():
    arms = _experiment(5, n=5000, rho=0.0)
    stats = [RegressionStats.from_values(x, y) for x, y in arms]

    assert cuped_adjust(stats).variance_ratio == pytest.approx(1.0, abs=0.01)


def test_constant_covariate_gives_theta_zero_and_the_unadjusted_analysis():
    rng = np.random.default_rng(6)
    ys = [rng.normal(size=100), rng.normal(size=100)]
    stats = [RegressionStats.from_values(np.zeros(100), y) for y in ys]

    adjusted = analyse(stats[0], stats[1:])
    plain = analyse(SampleStats.from_values(ys[0]), [SampleStats.from_values(ys[1])])

    assert adjusted.cuped_theta == 0.0
    assert adjusted.comparisons[0].p_value == pytest.approx(plain.comparisons[0].p_value)


def test_cuped_can_be_switched_off_for_regression_inputs():
    arms = _experiment(7)
    stats = [RegressionStats.from_values(x, y) for x, y in arms]

    result = analyse(stats[0], stats[1:], cuped=False)

    assert result.method == "welch"
    assert result.cuped_theta is None


def test_cuped_on_an_empty_variant_returns_a_status():
    arms = _experiment(8)
    stats = [RegressionStats.from_values(*arms[0]), RegressionStats(0, 0, 0, 0, 0, 0)]

    result = analyse(stats[0], stats[1:])

    assert result.comparisons[0].status == "empty_variant"
