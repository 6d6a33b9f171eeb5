import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from splitlab.stats import (
    DEFAULT_PRIOR,
    GaussianPrior,
    SampleStats,
    Status,
    bayesian_from_estimates,
    bayesian_test,
)

FLAT = GaussianPrior(proper=False)


def test_flat_prior_posterior_is_the_estimate_and_its_standard_error():
    result = bayesian_from_estimates(0.04, 0.02**2, prior=FLAT)

    assert result.posterior_mean[0] == pytest.approx(0.04)
    assert result.posterior_sd[0] == pytest.approx(0.02)
    assert result.chance_to_beat_control[0] == pytest.approx(sps.norm.cdf(2.0), rel=1e-12)


def test_flat_prior_credible_interval_equals_the_normal_confidence_interval():
    result = bayesian_from_estimates(0.04, 0.02**2, prior=FLAT, credible_level=0.9)
    z = sps.norm.ppf(0.95)

    assert result.credible_lower[0] == pytest.approx(0.04 - z * 0.02, rel=1e-12)
    assert result.credible_upper[0] == pytest.approx(0.04 + z * 0.02, rel=1e-12)


def test_proper_prior_combines_by_precision_weighting():
    prior = GaussianPrior(mean=0.1, variance=0.05**2)
    data_var = 0.03**2

    result = bayesian_from_estimates(0.02, data_var, prior=prior)

    precision = 1 / data_var + 1 / prior.variance
    expected_mean = (0.02 / data_var + 0.1 / prior.variance) / precision
    assert result.posterior_mean[0] == pytest.approx(expected_mean, rel=1e-12)
    assert result.posterior_sd[0] == pytest.approx(math.sqrt(1 / precision), rel=1e-12)


def test_default_prior_barely_moves_a_well_measured_lift():
    result = bayesian_from_estimates(0.05, 0.01**2)

    assert DEFAULT_PRIOR.proper
    assert result.posterior_mean[0] == pytest.approx(0.05, rel=2e-3)


@pytest.mark.parametrize(("mean", "var"), [(0.03, 0.02**2), (-0.01, 0.05**2), (0.0, 0.1**2)])
def test_risks_are_the_expected_positive_and_negative_parts_of_the_posterior(mean, var):
    result = bayesian_from_estimates(mean, var, prior=FLAT)
    sd = math.sqrt(var)
    density = sps.norm(mean, sd).pdf

    gain, _ = integrate.quad(lambda x: x * density(x), 0, np.inf)
    loss, _ = integrate.quad(lambda x: -x * density(x), -np.inf, 0)

    assert result.risk_control[0] == pytest.approx(gain, rel=1e-7)
    assert result.risk_treatment[0] == pytest.approx(loss, rel=1e-7)


def test_lower_is_better_flips_the_chance_and_swaps_the_risks():
    higher = bayesian_from_estimates(0.03, 0.02**2, prior=FLAT)
    lower = bayesian_from_estimates(0.03, 0.02**2, prior=FLAT, higher_is_better=False)

    assert lower.chance_to_beat_control[0] == pytest.approx(1 - higher.chance_to_beat_control[0])
    assert lower.risk_control[0] == pytest.approx(higher.risk_treatment[0])
    assert lower.risk_treatment[0] == pytest.approx(higher.risk_control[0])


def test_bayesian_test_models_the_delta_method_relative_lift():
    control = SampleStats.binomial(10_000, 1_000)
    treatment = SampleStats.binomial(10_000, 1_100)
    pc, pt = 0.1, 0.11
    vc = pc * (1 - pc) * 10_000 / 9_999
    vt = pt * (1 - pt) * 10_000 / 9_999
    rel_var = vt / (pc**2 * 10_000) + vc * pt**2 / (pc**4 * 10_000)

    result = bayesian_test(control, treatment, prior=FLAT)

    assert result.status is Status.OK
    assert result.posterior_mean == pytest.approx(0.1, rel=1e-9)
    assert result.posterior_sd == pytest.approx(math.sqrt(rel_var), rel=1e-9)


def test_bayesian_test_on_the_absolute_scale_accepts_a_zero_control_mean():
    result = bayesian_test(
        SampleStats.binomial(500, 0), SampleStats.binomial(500, 10), scale="absolute", prior=FLAT
    )

    assert result.status is Status.OK
    assert result.posterior_mean == pytest.approx(0.02)


def test_a_proper_prior_needs_a_positive_variance():
    with pytest.raises(ValueError, match="positive variance"):
        GaussianPrior(variance=0.0)


def test_a_zero_variance_estimate_is_a_point_mass():
    result = bayesian_from_estimates(np.array([-1.0, 0.5]), np.array([0.0, 0.0]))

    np.testing.assert_array_equal(result.posterior_mean, [-1.0, 0.5])
    np.testing.assert_array_equal(result.chance_to_beat_control, [0.0, 1.0])
    np.testing.assert_array_equal(result.risk_treatment, [1.0, 0.0])
    np.testing.assert_array_equal(result.credible_lower, [-1.0, 0.5])
