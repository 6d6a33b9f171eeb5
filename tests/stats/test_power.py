import math

import pytest
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from splitlab.stats import (
    SampleStats,
    Status,
    achieved_power,
    confidence_sequence_halfwidth,
    days_needed,
    mixture_p_value,
    power,
    sample_size,
    sample_size_proportion,
    sequential_power,
)

TOL = {"rel": 1e-9, "abs": 1e-12}

POWER_CASES = [
    # (effect, sd, n_control, ratio n_t/n_c, alpha)
    (0.5, 2.0, 200, 1.0, 0.05),
    (0.2, 1.0, 50, 2.0, 0.01),
    (-1.0, 3.0, 120, 0.5, 0.1),
    (0.05, 1.0, 3000, 1.0, 0.05),
]


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize(("effect", "sd", "n", "ratio", "alpha"), POWER_CASES)
def test_normal_power_matches_statsmodels_normal_ind_power(
    effect, sd, n, ratio, alpha, alternative
):
    sm_alt = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]

    ours = power(effect, n, n * ratio, sd**2, alpha=alpha, alternative=alternative)
    expected = NormalIndPower().power(effect / sd, n, alpha, ratio=ratio, alternative=sm_alt)

    assert float(ours) == pytest.approx(expected, **TOL)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize(("effect", "sd", "n", "ratio", "alpha"), POWER_CASES)
def test_t_power_matches_statsmodels_ttest_ind_power(effect, sd, n, ratio, alpha, alternative):
    sm_alt = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]

    ours = power(
        effect, n, n * ratio, sd**2, alpha=alpha, alternative=alternative, distribution="t"
    )
    expected = TTestIndPower().power(effect / sd, n, alpha, ratio=ratio, alternative=sm_alt)

    assert float(ours) == pytest.approx(expected, **TOL)


@pytest.mark.parametrize(
    ("effect_size", "ratio", "alpha", "target"),
    [(0.1, 1.0, 0.05, 0.8), (0.25, 2.0, 0.01, 0.9), (0.05, 1.0, 0.05, 0.8)],
)
def test_sample_size_matches_statsmodels_solve_power(effect_size, ratio, alpha, target):
    nobs1 = NormalIndPower().solve_power(effect_size, alpha=alpha, power=target, ratio=ratio)
    weights = [1.0, ratio]

    result = sample_size(
        baseline_mean=1.0,
        baseline_variance=1.0,
        mde=effect_size,
        relative=False,
        alpha=alpha,
        target_power=target,
        weights=weights,
    )

    assert result.status is Status.OK
    assert result.users_per_variant[0] == math.ceil(nobs1)
    assert result.users_per_variant[1] == math.ceil(nobs1 * ratio)


def test_sample_size_is_the_smallest_that_reaches_the_target_power():
    result = sample_size(baseline_mean=10.0, baseline_variance=25.0, mde=0.03)
    n = result.users_per_variant[0]
    effect = result.absolute_effect

    assert float(power(effect, n, n, 25.0)) >= 0.8
    assert float(power(effect, n - 1, n - 1, 25.0)) < 0.8


def test_sample_size_with_bonferroni_tests_each_comparison_at_alpha_over_comparisons():
    plain = sample_size(
        baseline_mean=1, baseline_variance=1, mde=0.1, n_variants=3, correction="none"
    )
    corrected = sample_size(baseline_mean=1, baseline_variance=1, mde=0.1, n_variants=3)

    assert corrected.alpha_per_comparison == pytest.approx(0.025)
    assert corrected.users_per_variant[0] > plain.users_per_variant[0]
    assert corrected.total_users == sum(corrected.users_per_variant)


def test_sample_size_for_uneven_allocation_is_driven_by_the_smallest_arm():
    result = sample_size(baseline_mean=1, baseline_variance=1, mde=0.1, weights=[0.5, 0.25, 0.25])
    n_control, n_a, n_b = result.users_per_variant

    assert n_control == pytest.approx(2 * n_a, abs=2)
    assert n_a == n_b
    for n_t in (n_a, n_b):
        assert float(power(0.1, n_control, n_t, 1.0, alpha=0.025)) >= 0.8


def test_sample_size_for_a_proportion_uses_bernoulli_variances():
    rate, lifted = 0.1, 0.11
    result = sample_size_proportion(baseline_rate=rate, mde=0.1)
    n = result.users_per_variant[0]

    achieved = power(0.01, n, n, rate * (1 - rate), lifted * (1 - lifted))
    assert float(achieved) >= 0.8
    # The textbook unpooled figure for 10 % -> 11 % at 80 % power is about 14,750 per arm.
    assert 14_600 < n < 14_900


def test_sample_size_proportion_rejects_a_lift_beyond_certainty():
    with pytest.raises(ValueError, match="not in"):
        sample_size_proportion(baseline_rate=0.6, mde=1.0)


def test_sample_size_rejects_a_zero_mde():
    with pytest.raises(ValueError, match="cannot be 0"):
        sample_size(baseline_mean=1, baseline_variance=1, mde=0)


def test_sample_size_with_zero_variance_returns_a_status():
    result = sample_size(baseline_mean=1, baseline_variance=0, mde=0.1)

    assert result.status is Status.ZERO_VARIANCE


def test_achieved_power_uses_the_observed_sizes_and_variances():
    control = SampleStats(1000, 10_000.0, 1000 * (100.0 + 24.975))
    treatment = SampleStats(1000, 10_100.0, 1000 * (102.01 + 24.975))

    result = achieved_power(control, treatment, mde=0.02)

    expected = NormalIndPower().power(0.2 / math.sqrt(control.variance), 1000, 0.05)
    assert result.status is Status.OK
    assert result.absolute_effect == pytest.approx(0.2)
    assert result.power == pytest.approx(expected, rel=1e-9)


def test_days_needed_rounds_up_the_remaining_units_over_the_daily_rate():
    assert days_needed(10_000, 900, already_exposed=1_000) == 10


def test_days_needed_is_zero_once_the_target_is_reached():
    assert days_needed(10_000, 900, already_exposed=12_000) == 0


def test_days_needed_is_none_without_exposures():
    assert days_needed(10_000, 0) is None


def test_sequential_power_uses_the_confidence_sequence_boundary():
    n, sd, alpha, effect = 2_000, 3.0, 0.05, 0.3
    se = math.sqrt(2 * sd**2 / n)

    ours = float(sequential_power(effect, n, n, sd**2, alpha=alpha))

    # The boundary is where the always-valid p-value equals alpha.
    crit = float(confidence_sequence_halfwidth(se**2, 2 * n, alpha)) / se
    assert float(mixture_p_value(crit, 2 * n, alpha)) == pytest.approx(alpha, rel=1e-9)
    lam = effect / se
    expected = sps.norm.cdf(lam - crit) + sps.norm.cdf(-crit - lam)
    assert ours == pytest.approx(expected, rel=1e-9)
    assert ours < float(power(effect, n, n, sd**2, alpha=alpha))


def test_achieved_power_of_a_sequential_experiment_is_the_sequential_power():
    control = SampleStats(1000, 10_000.0, 1000 * (100.0 + 24.975))
    treatment = SampleStats(1000, 10_100.0, 1000 * (102.01 + 24.975))

    fixed = achieved_power(control, treatment, mde=0.02)
    sequential = achieved_power(control, treatment, mde=0.02, sequential_tuning=5000.0)

    expected = sequential_power(0.2, 1000, 1000, control.variance, treatment.variance)
    assert sequential.power == pytest.approx(float(expected), rel=1e-12)
    assert sequential.power < fixed.power


def test_sequential_sample_size_is_the_smallest_the_sequence_needs():
    fixed = sample_size(baseline_mean=10.0, baseline_variance=25.0, mde=0.03)
    result = sample_size(
        baseline_mean=10.0, baseline_variance=25.0, mde=0.03, sequential_tuning=5000.0
    )
    n = result.users_per_variant[0]

    assert float(sequential_power(0.3, n, n, 25.0, tuning=5000.0)) >= 0.8
    assert float(sequential_power(0.3, n - 1, n - 1, 25.0, tuning=5000.0)) < 0.8
    assert n > fixed.users_per_variant[0]


def test_t_power_is_finite_far_in_the_tail_b3() -> None:
    """B3: ``special.nctdtr`` answers NaN for large noncentrality; the power is then 1 (or 0
    in the other tail) to double precision, and must say so rather than NaN."""
    import numpy as np

    rng = np.random.default_rng(20261206)
    effect = 10 ** rng.uniform(-3, 2, 500)
    n = 10 ** rng.uniform(2, 6, 500)
    variance = 10 ** rng.uniform(-2, 2, 500)
    for alternative in ("two-sided", "greater", "less"):
        t = power(effect, n, n, variance, alternative=alternative, distribution="t")
        normal = power(effect, n, n, variance, alternative=alternative)
        assert np.all(np.isfinite(t))
        assert np.all((t >= 0) & (t <= 1))
        # With 200+ degrees of freedom, the t and normal powers differ by well under 1 %.
        assert np.max(np.abs(t - normal)) < 0.01
    # The review's cases: each was NaN.
    for effect_, n_, variance_ in [(0.0445, 87527.3, 0.1632), (16.07, 892.0, 79.21)]:
        assert float(power(effect_, n_, n_, variance_, distribution="t")) == pytest.approx(1.0)
        assert float(
            power(-effect_, n_, n_, variance_, distribution="t", alternative="greater")
        ) == pytest.approx(0.0, abs=1e-12)


def test_t_sample_size_solves_where_the_power_was_nan_b3() -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    for _ in range(200):
        mean, variance, mde = (
            10 ** rng.uniform(-1, 2),
            10 ** rng.uniform(-2, 2),
            10 ** rng.uniform(-3, 0),
        )
        normal = sample_size(baseline_mean=mean, baseline_variance=variance, mde=mde)
        t = sample_size(baseline_mean=mean, baseline_variance=variance, mde=mde, distribution="t")
        assert t.status is Status.OK
        # The t-test needs at least the normal test's units, and at most a few more.
        assert normal.total_users <= t.total_users <= normal.total_users + 8
