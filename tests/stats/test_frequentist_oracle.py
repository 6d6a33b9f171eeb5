"""Welch and z-tests from sufficient statistics against scipy and statsmodels on the raw data."""

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.proportion import proportions_ztest as sm_proportions_ztest

from splitlab.stats import SampleStats, compare_moments, proportions_ztest, welch_test

TOL = {"rel": 1e-9, "abs": 1e-12}

DATASETS = [
    # (seed, n_control, n_treatment, loc_c, loc_t, scale_c, scale_t)
    (1, 500, 400, 10.0, 10.3, 2.0, 3.0),
    (2, 30, 45, 0.0, 0.5, 1.0, 1.0),
    (3, 5, 7, 100.0, 101.0, 5.0, 0.5),
    (4, 2000, 2000, 1.0, 1.0, 0.1, 0.1),
    (5, 3, 3, -4.0, 6.0, 2.0, 9.0),
]


def _arrays(seed, nc, nt, lc, lt, sc, st):
    rng = np.random.default_rng(seed)
    return rng.normal(lc, sc, nc), rng.normal(lt, st, nt)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("data", DATASETS)
def test_welch_matches_scipy_ttest_ind_on_the_raw_arrays(data, alternative):
    control, treatment = _arrays(*data)

    ours = welch_test(
        SampleStats.from_values(control),
        SampleStats.from_values(treatment),
        alternative=alternative,
    )
    scipy_result = sps.ttest_ind(treatment, control, equal_var=False, alternative=alternative)

    assert ours.statistic == pytest.approx(scipy_result.statistic, **TOL)
    assert ours.df == pytest.approx(scipy_result.df, **TOL)
    assert ours.p_value == pytest.approx(scipy_result.pvalue, **TOL)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("confidence_level", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("data", DATASETS)
def test_welch_interval_matches_scipy_confidence_interval(data, confidence_level, alternative):
    control, treatment = _arrays(*data)

    ours = welch_test(
        SampleStats.from_values(control),
        SampleStats.from_values(treatment),
        confidence_level=confidence_level,
        alternative=alternative,
    )
    expected = sps.ttest_ind(
        treatment, control, equal_var=False, alternative=alternative
    ).confidence_interval(confidence_level)

    assert ours.absolute_ci[0] == pytest.approx(expected.low, **TOL)
    assert ours.absolute_ci[1] == pytest.approx(expected.high, **TOL)


def test_relative_interval_is_the_delta_method_interval():
    control, treatment = _arrays(*DATASETS[0])
    mc, mt = control.mean(), treatment.mean()
    vc, vt = control.var(ddof=1), treatment.var(ddof=1)
    nc, nt = control.size, treatment.size
    se = math.sqrt(vt / (mc**2 * nt) + vc * mt**2 / (mc**4 * nc))
    df = sps.ttest_ind(treatment, control, equal_var=False).df
    q = sps.t.ppf(0.975, df)

    ours = welch_test(SampleStats.from_values(control), SampleStats.from_values(treatment))

    assert ours.relative_lift == pytest.approx(mt / mc - 1, **TOL)
    assert ours.relative_ci[0] == pytest.approx(mt / mc - 1 - q * se, **TOL)
    assert ours.relative_ci[1] == pytest.approx(mt / mc - 1 + q * se, **TOL)


def test_vectorised_kernel_gives_each_comparison_the_scalar_result():
    datasets = [_arrays(*d) for d in DATASETS]
    moments = np.array(
        [[c.mean(), c.var(ddof=1), c.size, t.mean(), t.var(ddof=1), t.size] for c, t in datasets]
    )

    arrays = compare_moments(*moments.T)

    for i, (c, t) in enumerate(datasets):
        assert arrays.p_value[i] == pytest.approx(
            sps.ttest_ind(t, c, equal_var=False).pvalue, **TOL
        )


PROPORTIONS = [
    # (conversions_c, n_c, conversions_t, n_t)
    (1000, 10000, 1100, 10000),
    (12, 150, 25, 160),
    (500, 5000, 470, 4500),
    (3, 40, 0, 35),
]


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("counts", PROPORTIONS)
def test_proportions_ztest_matches_statsmodels(counts, alternative):
    cc, nc, ct, nt = counts
    sm_alternative = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}

    ours = proportions_ztest(
        SampleStats.binomial(nc, cc), SampleStats.binomial(nt, ct), alternative=alternative
    )
    z, p = sm_proportions_ztest([ct, cc], [nt, nc], alternative=sm_alternative[alternative])

    assert ours.statistic == pytest.approx(z, **TOL)
    assert ours.p_value == pytest.approx(p, **TOL)


@pytest.mark.parametrize("counts", PROPORTIONS)
def test_proportions_interval_matches_statsmodels_wald_interval(counts):
    cc, nc, ct, nt = counts

    ours = proportions_ztest(SampleStats.binomial(nc, cc), SampleStats.binomial(nt, ct))
    low, high = confint_proportions_2indep(ct, nt, cc, nc, method="wald", compare="diff")

    assert ours.absolute_ci[0] == pytest.approx(low, **TOL)
    assert ours.absolute_ci[1] == pytest.approx(high, **TOL)


def test_proportions_ztest_rejects_non_binary_data():
    with pytest.raises(ValueError, match="0/1"):
        proportions_ztest(SampleStats.from_values([0, 2, 3]), SampleStats.binomial(10, 3))
