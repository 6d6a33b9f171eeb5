import math

import numpy as np
import pytest

from splitlab.stats import (
    DEFAULT_SEQUENTIAL_TUNING,
    SampleStats,
    confidence_sequence_halfwidth,
    mixture_p_value,
    welch_test,
)
from splitlab.stats.sequential import optimal_rho_squared


def test_rho_squared_follows_waudby_smith_eq_161():
    alpha, tuning = 0.05, 5000.0

    expected = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning

    assert optimal_rho_squared(alpha, tuning) == pytest.approx(expected, rel=1e-15)


def test_halfwidth_matches_the_closed_form_boundary():
    variance, n, alpha = 0.0004, 8000.0, 0.05
    rho2 = optimal_rho_squared(alpha, DEFAULT_SEQUENTIAL_TUNING)
    expected = math.sqrt(variance * n) * math.sqrt(
        2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha)
    )

    assert float(confidence_sequence_halfwidth(variance, n, alpha)) == pytest.approx(
        expected, rel=1e-12
    )


def test_halfwidth_is_tightest_near_the_tuning_sample_size():
    # With the variance of a mean shrinking like 1/N, scale-free width is N-independent; what the
    # tuning minimises is the ratio to the fixed-horizon width.
    ns = np.array([500.0, 5000.0, 50000.0])
    ratio = confidence_sequence_halfwidth(1.0 / ns, ns, 0.05) / (1.96 / np.sqrt(ns))

    assert ratio[1] < ratio[0]
    assert ratio[1] < ratio[2]


def test_sequential_interval_is_wider_than_the_fixed_horizon_interval():
    rng = np.random.default_rng(3)
    control = SampleStats.from_values(rng.normal(0, 1, 2000))
    treatment = SampleStats.from_values(rng.normal(0.1, 1, 2000))

    fixed = welch_test(control, treatment)
    sequential = welch_test(control, treatment, sequential_tuning=DEFAULT_SEQUENTIAL_TUNING)

    assert sequential.absolute_ci[0] < fixed.absolute_ci[0]
    assert sequential.absolute_ci[1] > fixed.absolute_ci[1]
    assert sequential.p_value >= fixed.p_value
    assert sequential.method == "welch-sequential"


@pytest.mark.parametrize("z", [0.0, 1.0, 2.5, 3.1, 3.2, 5.0])
def test_p_value_is_below_alpha_exactly_when_the_sequence_excludes_zero(z):
    n, alpha = 4000.0, 0.05
    variance = 0.01**2
    estimate = z * math.sqrt(variance)

    p = float(mixture_p_value(z, n, alpha))
    half = float(confidence_sequence_halfwidth(variance, n, alpha))

    assert (p < alpha) == (abs(estimate) > half)


def test_one_sided_p_value_is_one_when_the_estimate_points_the_other_way():
    assert float(mixture_p_value(-4.0, 5000.0, 0.05, alternative="greater")) == 1.0
    assert float(mixture_p_value(4.0, 5000.0, 0.05, alternative="less")) == 1.0


def test_p_value_never_exceeds_one_and_underflows_to_zero_quietly():
    p = mixture_p_value(np.array([0.0, 60.0]), 5000.0, 0.05)

    assert p[0] == 1.0
    assert p[1] == 0.0


def test_tuning_parameter_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        optimal_rho_squared(0.05, 0.0)
