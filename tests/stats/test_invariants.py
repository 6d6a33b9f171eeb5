"""Properties any correct two-sample analysis has, checked on generated data with hypothesis."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from splitlab.stats import (
    RegressionStats,
    SampleStats,
    Status,
    adjust_p_values,
    analyse,
    welch_test,
)

values = arrays(
    np.float64,
    st.integers(min_value=3, max_value=60),
    elements=st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False),
)


def _spread(a: np.ndarray) -> bool:
    # Keep clear of near-constant arrays, where Σx² - (Σx)²/n loses every significant digit.
    return float(np.std(a)) > 0.1


def _test(control: np.ndarray, treatment: np.ndarray):
    return welch_test(SampleStats.from_values(control), SampleStats.from_values(treatment))


@given(values, values)
def test_swapping_variants_flips_the_lift_and_keeps_the_p_value(a, b):
    assume(_spread(a) and _spread(b))

    forward, backward = _test(a, b), _test(b, a)

    assert backward.absolute_lift == pytest.approx(-forward.absolute_lift, rel=1e-9, abs=1e-9)
    assert backward.statistic == pytest.approx(-forward.statistic, rel=1e-9, abs=1e-9)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-9, abs=1e-12)


@given(values, values, st.floats(min_value=-1000, max_value=1000))
def test_adding_a_constant_to_every_value_leaves_p_unchanged(a, b, shift):
    assume(_spread(a) and _spread(b))

    plain, shifted = _test(a, b), _test(a + shift, b + shift)

    assert shifted.p_value == pytest.approx(plain.p_value, rel=1e-6, abs=1e-9)
    assert shifted.absolute_lift == pytest.approx(plain.absolute_lift, rel=1e-6, abs=1e-6)


@given(values, values, st.floats(min_value=0.01, max_value=100))
def test_scaling_every_value_leaves_p_unchanged_and_scales_the_lift(a, b, scale):
    assume(_spread(a) and _spread(b))

    plain, scaled = _test(a, b), _test(a * scale, b * scale)

    assert scaled.p_value == pytest.approx(plain.p_value, rel=1e-7, abs=1e-12)
    assert scaled.absolute_lift == pytest.approx(plain.absolute_lift * scale, rel=1e-7, abs=1e-9)


@given(values, values, st.floats(min_value=0.01, max_value=100))
def test_scaling_by_a_positive_constant_leaves_the_relative_lift_unchanged(a, b, scale):
    assume(_spread(a) and _spread(b) and a.mean() > 1)

    plain, scaled = _test(a + 0, b), _test(a * scale, b * scale)

    assert scaled.relative_lift == pytest.approx(plain.relative_lift, rel=1e-7, abs=1e-9)


@given(values, values)
def test_adding_stats_equals_the_stats_of_the_concatenated_values(a, b):
    combined = SampleStats.from_values(a) + SampleStats.from_values(b)
    direct = SampleStats.from_values(np.concatenate([a, b]))

    assert combined.n == direct.n
    assert combined.sum == pytest.approx(direct.sum, rel=1e-9, abs=1e-9)
    assert combined.sum_sq == pytest.approx(direct.sum_sq, rel=1e-9, abs=1e-9)


@given(values, values)
def test_adding_regression_stats_equals_the_stats_of_the_concatenated_pairs(a, b):
    combined = RegressionStats.from_values(a, a[::-1]) + RegressionStats.from_values(b, b * 2)
    direct = RegressionStats.from_values(np.r_[a, b], np.r_[a[::-1], b * 2])

    assert combined.n == direct.n
    assert combined.sum_xy == pytest.approx(direct.sum_xy, rel=1e-9, abs=1e-9)
    assert combined.sum_y2 == pytest.approx(direct.sum_y2, rel=1e-9, abs=1e-9)


@given(values, values)
def test_the_interval_contains_the_estimate_and_p_is_a_probability(a, b):
    assume(_spread(a) or _spread(b))

    result = _test(a, b)

    assert 0.0 <= result.p_value <= 1.0
    assert result.absolute_ci[0] <= result.absolute_lift <= result.absolute_ci[1]


@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=10))
def test_holm_never_lowers_a_p_value_and_bh_never_exceeds_holm(p):
    holm = adjust_p_values(p, "holm")
    bh = adjust_p_values(p, "bh")

    assert np.all(holm >= np.asarray(p) - 1e-15)
    assert np.all(bh <= holm + 1e-15)


small_stats = st.builds(
    lambda n, mean, spread: SampleStats(n, n * mean, n * (mean * mean + spread)),
    st.integers(min_value=0, max_value=5),
    st.floats(min_value=-3, max_value=3),
    st.sampled_from([0.0, 0.5, 2.0]),
)


@settings(max_examples=200)
@given(small_stats, st.lists(small_stats, min_size=1, max_size=4), st.booleans())
def test_analyse_returns_a_status_for_any_data_without_raising(control, treatments, sequential):
    result = analyse(control, treatments, sequential=sequential)

    for comparison in result.comparisons:
        assert isinstance(comparison.status, Status)
        if comparison.status is Status.OK:
            assert 0.0 <= comparison.p_value <= 1.0
            assert 0.0 <= comparison.chance_to_beat_control <= 1.0
        elif comparison.status.has_absolute:
            assert 0.0 <= comparison.p_value <= 1.0
            assert math.isnan(comparison.chance_to_beat_control)
        else:
            assert math.isnan(comparison.p_value)


@settings(max_examples=300)
@given(small_stats, small_stats, st.booleans())
def test_significance_and_the_absolute_interval_are_one_construction(control, treatment, seq):
    """The verdict quotes the absolute interval beside the significance it reports: for one
    treatment (nothing to adjust), p < alpha exactly when that interval excludes 0."""
    result = analyse(control, [treatment], sequential=seq)
    (c,) = result.comparisons
    if not c.status.has_absolute or not math.isfinite(c.p_value):
        return
    low, high = c.absolute_ci
    if min(abs(c.p_value - 0.05), abs(low), abs(high)) < 1e-9:
        return  # on the boundary itself, rounding decides
    assert c.significant == (low > 0 or high < 0), (c.p_value, low, high)
