"""Degenerate data is an outcome with a status, never an exception (and never a warning)."""

import math

import pytest

from splitlab.stats import (
    SampleStats,
    Status,
    achieved_power,
    analyse,
    bayesian_test,
    proportions_ztest,
    srm_test,
    welch_test,
)

NORMAL = SampleStats.from_values([1.0, 2.0, 3.0, 4.0])


def test_empty_treatment_is_reported_as_empty_variant():
    result = welch_test(NORMAL, SampleStats(0, 0.0, 0.0))

    assert result.status is Status.EMPTY_VARIANT
    assert math.isnan(result.p_value)


def test_empty_control_is_reported_as_empty_variant():
    result = welch_test(SampleStats(0, 0.0, 0.0), NORMAL)

    assert result.status is Status.EMPTY_VARIANT


def test_a_single_unit_is_insufficient_data():
    result = welch_test(NORMAL, SampleStats.from_values([5.0]))

    assert result.status is Status.INSUFFICIENT_DATA
    assert math.isnan(result.absolute_lift)


def test_zero_variance_in_both_arms_is_reported():
    result = welch_test(SampleStats.from_values([2.0] * 5), SampleStats.from_values([3.0] * 5))

    assert result.status is Status.ZERO_VARIANCE
    assert math.isnan(result.p_value)


def test_zero_variance_in_one_arm_is_still_testable():
    result = welch_test(SampleStats.from_values([2.0] * 5), NORMAL)

    # A constant control still leaves the ratio a spread (the treatment's): everything stands.
    assert result.status is Status.OK
    assert 0 < result.p_value < 1
    assert math.isfinite(result.relative_ci[0])


def test_a_constant_arm_that_is_not_zero_keeps_its_relative_figures():
    """All converted (100 %) is constant too, but the ratio keeps the control's spread."""
    from splitlab.stats import analyse

    result = analyse(SampleStats.binomial(100, 50), [SampleStats.binomial(100, 100)])
    (comparison,) = result.comparisons
    assert comparison.status is Status.OK
    assert all(math.isfinite(x) for x in comparison.relative_ci)
    assert 0.5 < comparison.chance_to_beat_control <= 1.0


def test_a_treatment_without_conversions_is_not_a_certain_loss_b2():
    """B2: a treatment mean of exactly 0 gave the relative lift a zero-width interval
    [-100 %, -100 %], chance to beat control 0 and risk 1.0 while p = 0.32."""
    from splitlab.stats import analyse

    result = analyse(SampleStats.binomial(1000, 1), [SampleStats.binomial(1000, 0)])
    comparison = result.comparisons[0]
    assert comparison.status is Status.DEGENERATE_VARIANT
    assert comparison.relative_lift == pytest.approx(-1.0)
    assert all(math.isnan(x) for x in comparison.relative_ci)
    assert math.isnan(comparison.chance_to_beat_control)
    assert math.isnan(comparison.risk_treatment)
    # The absolute test is the Welch test scipy gives on the same 0/1 values.
    from scipy import stats as sps

    control = [1.0] + [0.0] * 999
    oracle = sps.ttest_ind([0.0] * 1000, control, equal_var=False)
    assert comparison.p_value == pytest.approx(oracle.pvalue, rel=1e-9)
    assert comparison.p_value > 0.3


def test_zero_control_mean_keeps_the_absolute_result_but_not_the_relative():
    control = SampleStats.binomial(100, 0)
    treatment = SampleStats.binomial(100, 5)

    result = welch_test(control, treatment)

    assert result.status is Status.NON_POSITIVE_CONTROL_MEAN
    assert result.absolute_lift == pytest.approx(0.05)
    assert 0 < result.p_value < 1
    assert math.isnan(result.relative_lift)
    assert math.isnan(result.relative_ci[0])


def test_zero_control_rate_in_the_ztest_keeps_the_absolute_result():
    result = proportions_ztest(SampleStats.binomial(100, 0), SampleStats.binomial(100, 5))

    assert result.status is Status.NON_POSITIVE_CONTROL_MEAN
    assert 0 < result.p_value < 1


def test_bayesian_on_zero_control_mean_returns_a_status():
    result = bayesian_test(SampleStats.binomial(100, 0), SampleStats.binomial(100, 5))

    assert result.status is Status.NON_POSITIVE_CONTROL_MEAN
    assert math.isnan(result.chance_to_beat_control)


def test_analyse_reports_each_comparison_status_and_adjusts_only_the_valid_ones():
    control = SampleStats.binomial(1000, 100)
    good = SampleStats.binomial(1000, 130)
    empty = SampleStats(0, 0.0, 0.0)

    result = analyse(control, [good, empty])

    assert [c.status for c in result.comparisons] == [Status.OK, Status.EMPTY_VARIANT]
    assert result.comparisons[0].adjusted_p_value == result.comparisons[0].p_value
    assert math.isnan(result.comparisons[1].adjusted_p_value)
    assert result.comparisons[1].significant is False


def test_analyse_of_all_empty_variants_returns_statuses():
    empty = SampleStats(0, 0.0, 0.0)

    result = analyse(empty, [empty, empty])

    assert {c.status for c in result.comparisons} == {Status.EMPTY_VARIANT}


def test_srm_with_no_units_is_empty_variant_without_alarm():
    result = srm_test([0, 0], [0.5, 0.5])

    assert result.status is Status.EMPTY_VARIANT
    assert result.alarm is False


def test_achieved_power_with_one_unit_is_insufficient_data():
    result = achieved_power(SampleStats.from_values([1.0]), NORMAL, mde=0.1)

    assert result.status is Status.INSUFFICIENT_DATA


def test_a_spread_too_small_to_invert_is_degenerate_not_nan():
    """Found by the property test: a treatment mean of 1.3e-154 leaves the ratio a subnormal
    variance, whose inverse overflows: the Bayesian figures came out NaN under status ok."""
    from splitlab.stats import analyse

    control = SampleStats.from_values([1.0, 2.0, 3.0])
    treatment = SampleStats.from_values([1.293460095071179e-154] * 3)
    (comparison,) = analyse(control, [treatment]).comparisons
    assert comparison.status is Status.DEGENERATE_VARIANT
    assert 0.0 <= comparison.p_value <= 1.0
