import math

import numpy as np
import pytest

from splitlab.stats import RegressionStats, SampleStats


def test_from_values_gives_count_sum_and_sum_of_squares():
    stats = SampleStats.from_values([1.0, 2.0, 4.0])

    assert stats == SampleStats(3, 7.0, 21.0)


def test_mean_and_variance_use_the_n_minus_one_denominator():
    values = np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    stats = SampleStats.from_values(values)

    assert stats.mean == pytest.approx(values.mean(), rel=1e-12)
    assert stats.variance == pytest.approx(values.var(ddof=1), rel=1e-12)
    assert stats.std == pytest.approx(values.std(ddof=1), rel=1e-12)


def test_binomial_stats_have_sum_of_squares_equal_to_conversions():
    stats = SampleStats.binomial(n=200, conversions=30)

    assert stats == SampleStats(200, 30.0, 30.0)
    assert stats.variance == pytest.approx(0.15 * 0.85 * 200 / 199, rel=1e-12)


def test_adding_stats_equals_stats_of_the_concatenated_values():
    a = np.array([1.5, -2.0, 3.25])
    b = np.array([0.5, 8.0])

    combined = SampleStats.from_values(a) + SampleStats.from_values(b)

    assert combined == SampleStats.from_values(np.concatenate([a, b]))


def test_empty_stats_have_nan_mean_and_variance_without_warnings():
    empty = SampleStats(0, 0.0, 0.0)

    assert math.isnan(empty.mean)
    assert math.isnan(empty.variance)


def test_a_single_unit_has_a_mean_but_no_variance():
    one = SampleStats.from_values([3.0])

    assert one.mean == 3.0
    assert math.isnan(one.variance)


def test_constant_values_have_exactly_zero_variance_despite_rounding():
    stats = SampleStats.from_values(np.full(1000, 0.1))

    assert stats.variance == 0.0


def test_negative_count_is_rejected():
    with pytest.raises(ValueError, match="negative"):
        SampleStats(-1, 0.0, 0.0)


def test_conversions_above_n_are_rejected():
    with pytest.raises(ValueError, match="conversions"):
        SampleStats.binomial(n=10, conversions=11)


def test_regression_stats_expose_covariance_and_marginals():
    rng = np.random.default_rng(7)
    x = rng.normal(size=50)
    y = 2 * x + rng.normal(size=50)

    stats = RegressionStats.from_values(x, y)

    assert stats.covariance == pytest.approx(np.cov(x, y, ddof=1)[0, 1], rel=1e-10)
    assert stats.x == SampleStats.from_values(x)
    assert stats.y == SampleStats.from_values(y)


def test_adding_regression_stats_equals_stats_of_the_concatenated_pairs():
    x1, y1 = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    x2, y2 = np.array([4.0]), np.array([-1.0])

    combined = RegressionStats.from_values(x1, y1) + RegressionStats.from_values(x2, y2)

    assert combined == RegressionStats.from_values(np.r_[x1, x2], np.r_[y1, y2])


def test_regression_stats_reject_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="same length"):
        RegressionStats.from_values([1.0, 2.0], [1.0])
