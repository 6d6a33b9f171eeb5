"""Monte Carlo checks of the engine's error rates (marked slow; each runs in about a second).

Every experiment is simulated as raw per-unit arrays, reduced to sufficient statistics with numpy,
and analysed by the same vectorised kernels :func:`analyse` uses, thousands at a time. Seeds are
fixed, so the figures are reproducible; the bands are wide enough (±2.4 binomial standard errors at
2,000 runs) that a correct engine passes for essentially any seed.
"""

import numpy as np
import pytest

from splitlab.stats import (
    DEFAULT_SEQUENTIAL_TUNING,
    RegressionStats,
    SampleStats,
    analyse,
    compare_moments,
    compare_proportions,
    cuped_from_sums,
    sample_size,
    sequential_power,
)

pytestmark = pytest.mark.slow

RUNS = 2_000
FPR_BAND = (0.038, 0.062)


def _moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, unbiased variance and n along the last axis, computed from the sums as SQL would."""
    n = values.shape[-1]
    total = values.sum(axis=-1)
    total_sq = np.einsum("...i,...i->...", values, values)
    return total / n, (total_sq - total * total / n) / (n - 1), np.full(total.shape, float(n))


def _welch_p(control: np.ndarray, treatment: np.ndarray, **kwargs) -> np.ndarray:
    return compare_moments(*_moments(control), *_moments(treatment), **kwargs).p_value


def test_aa_false_positive_rate_is_nominal_for_a_conversion_metric():
    rng = np.random.default_rng(20240601)
    n = 5_000
    conversions = rng.binomial(n, 0.05, size=(2, RUNS))

    welch = compare_moments(
        conversions[0] / n,
        (conversions[0] - conversions[0] ** 2 / n) / (n - 1),
        n,
        conversions[1] / n,
        (conversions[1] - conversions[1] ** 2 / n) / (n - 1),
        n,
    ).p_value
    ztest = compare_proportions(conversions[0], n, conversions[1], n).p_value

    assert FPR_BAND[0] <= np.mean(welch < 0.05) <= FPR_BAND[1]
    assert FPR_BAND[0] <= np.mean(ztest < 0.05) <= FPR_BAND[1]


def test_aa_false_positive_rate_is_nominal_for_a_skewed_numeric_metric():
    rng = np.random.default_rng(20240602)
    # Revenue-like: most users spend nothing, spenders are log-normal.
    shape = (2, RUNS, 1_000)
    values = rng.binomial(1, 0.3, size=shape) * rng.lognormal(3.0, 1.0, size=shape)

    p = _welch_p(values[0], values[1])

    assert FPR_BAND[0] <= np.mean(p < 0.05) <= FPR_BAND[1]


def test_sequential_testing_survives_twenty_looks_where_fixed_horizon_does_not():
    rng = np.random.default_rng(20240603)
    per_arm, looks = 1_000, 20
    values = rng.normal(5.0, 2.0, size=(2, RUNS, per_arm))
    sums = np.cumsum(values, axis=-1)
    sums_sq = np.cumsum(values * values, axis=-1)
    checkpoints = np.linspace(per_arm / looks, per_arm, looks).astype(int)

    fixed_reject = np.zeros(RUNS, dtype=bool)
    sequential_reject = np.zeros(RUNS, dtype=bool)
    for n in checkpoints:
        total, total_sq = sums[..., n - 1], sums_sq[..., n - 1]
        mean = total / n
        var = (total_sq - total * total / n) / (n - 1)
        args = (mean[0], var[0], n, mean[1], var[1], n)
        fixed_reject |= compare_moments(*args).p_value < 0.05
        sequential_reject |= (
            compare_moments(*args, sequential_tuning=DEFAULT_SEQUENTIAL_TUNING).p_value < 0.05
        )

    assert np.mean(sequential_reject) <= 0.05
    assert np.mean(fixed_reject) > 0.10


def test_cuped_with_correlation_0_7_halves_the_variance_and_keeps_the_aa_rate():
    rng = np.random.default_rng(1)
    rho, n = 0.7, 1_000
    x = rng.normal(10.0, 3.0, size=(RUNS, 2, n))
    noise = rng.normal(0.0, 3.0, size=(RUNS, 2, n))
    y = 10.0 + rho * (x - 10.0) + np.sqrt(1 - rho**2) * noise

    def sums(a, b):
        return np.einsum("...i,...i->...", a, b)

    cuped = cuped_from_sums(
        np.full((RUNS, 2), float(n)),
        x.sum(axis=-1),
        sums(x, x),
        y.sum(axis=-1),
        sums(y, y),
        sums(x, y),
    )
    adjusted = compare_moments(
        cuped.mean[:, 0], cuped.variance[:, 0], n, cuped.mean[:, 1], cuped.variance[:, 1], n
    )
    plain_mean, _, _ = _moments(y)
    plain_lift = plain_mean[:, 1] - plain_mean[:, 0]

    # The variance reported per experiment and the realised variance of the estimates agree.
    assert 0.46 <= np.median(cuped.variance_ratio) <= 0.56
    assert 0.46 <= np.var(adjusted.absolute_lift) / np.var(plain_lift) <= 0.56
    assert FPR_BAND[0] <= np.mean(adjusted.p_value < 0.05) <= FPR_BAND[1]


def test_an_effect_sized_for_80_percent_power_is_detected_about_80_percent_of_the_time():
    rng = np.random.default_rng(20240605)
    baseline_mean, baseline_variance, mde = 20.0, 64.0, 0.04
    design = sample_size(baseline_mean=baseline_mean, baseline_variance=baseline_variance, mde=mde)
    n = design.users_per_variant[0]
    sd = np.sqrt(baseline_variance)
    control = rng.normal(baseline_mean, sd, size=(RUNS, n))
    treatment = rng.normal(baseline_mean * (1 + mde), sd, size=(RUNS, n))

    p = _welch_p(control, treatment)

    assert 0.75 <= np.mean(p < 0.05) <= 0.85


def _analyse_aa(make_stats, variants: int = 2, **kwargs) -> float:
    """Share of A/A experiments in which ``analyse`` calls any treatment significant."""
    hits = 0
    for run in range(RUNS):
        stats = [make_stats(run, v) for v in range(variants)]
        result = analyse(stats[0], stats[1:], **kwargs)
        hits += any(c.significant for c in result.comparisons)
    return hits / RUNS


def test_aa_through_analyse_is_nominal_for_conversion_and_numeric_metrics():
    # The exact path the results endpoint takes: SampleStats in, Comparison.significant out.
    rng = np.random.default_rng(20240606)
    conversions = rng.binomial(4_000, 0.08, size=(RUNS, 2))
    revenue = rng.binomial(1, 0.3, size=(RUNS, 2, 800)) * rng.lognormal(3.0, 1.0, (RUNS, 2, 800))

    conversion_rate = _analyse_aa(lambda r, v: SampleStats.binomial(4_000, conversions[r, v]))
    numeric_rate = _analyse_aa(lambda r, v: SampleStats.from_values(revenue[r, v]))

    assert FPR_BAND[0] <= conversion_rate <= FPR_BAND[1]
    assert FPR_BAND[0] <= numeric_rate <= FPR_BAND[1]


def test_aa_through_analyse_with_cuped_stays_in_band():
    rng = np.random.default_rng(20240607)
    x = rng.normal(10.0, 3.0, size=(RUNS, 2, 500))
    y = 10.0 + 0.7 * (x - 10.0) + np.sqrt(1 - 0.49) * rng.normal(0.0, 3.0, size=x.shape)

    rate = _analyse_aa(lambda r, v: RegressionStats.from_values(x[r, v], y[r, v]))

    assert FPR_BAND[0] <= rate <= FPR_BAND[1]


def test_holm_keeps_the_family_wise_rate_of_three_treatments_at_alpha():
    rng = np.random.default_rng(20240608)
    conversions = rng.binomial(4_000, 0.08, size=(RUNS, 4))

    corrected = _analyse_aa(lambda r, v: SampleStats.binomial(4_000, conversions[r, v]), 4)
    uncorrected = _analyse_aa(
        lambda r, v: SampleStats.binomial(4_000, conversions[r, v]), 4, correction="none"
    )

    # Three comparisons sharing a control: about 12 % without a correction, at most 5 % with Holm
    # (a little under, since the comparisons are positively correlated).
    assert corrected <= FPR_BAND[1]
    assert uncorrected > 0.10


def test_sequential_power_predicts_how_often_the_sequence_rejects():
    rng = np.random.default_rng(20240609)
    n, sd, effect = 1_500, 4.0, 0.45
    control = rng.normal(10.0, sd, size=(RUNS, n))
    treatment = rng.normal(10.0 + effect, sd, size=(RUNS, n))

    p = _welch_p(control, treatment, sequential_tuning=DEFAULT_SEQUENTIAL_TUNING)
    predicted = float(sequential_power(effect, n, n, sd**2))

    assert 0.3 < predicted < 0.8
    assert abs(np.mean(p < 0.05) - predicted) < 0.03
