import math

import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from splitlab.stats import SampleStats, Status, analyse, bayesian_test, welch_test

CONTROL = SampleStats.binomial(10_000, 1_000)
TREATMENTS = [
    SampleStats.binomial(10_000, 1_100),
    SampleStats.binomial(9_000, 930),
    SampleStats.binomial(10_500, 1_020),
]


def test_each_treatment_is_compared_with_the_control():
    result = analyse(CONTROL, TREATMENTS)

    for comparison, treatment in zip(result.comparisons, TREATMENTS, strict=True):
        single = welch_test(CONTROL, treatment)
        assert comparison.p_value == pytest.approx(single.p_value, rel=1e-12)
        assert comparison.absolute_ci == pytest.approx(single.absolute_ci, rel=1e-12)
        assert comparison.relative_ci == pytest.approx(single.relative_ci, rel=1e-12)
    assert [c.variant for c in result.comparisons] == [1, 2, 3]


def test_adjusted_p_values_are_holm_by_default():
    result = analyse(CONTROL, TREATMENTS)
    raw = [c.p_value for c in result.comparisons]

    expected = multipletests(raw, method="holm")[1]

    assert [c.adjusted_p_value for c in result.comparisons] == pytest.approx(expected, rel=1e-12)
    assert result.correction == "holm"


def test_benjamini_hochberg_is_available():
    result = analyse(CONTROL, TREATMENTS, correction="bh")
    raw = [c.p_value for c in result.comparisons]

    expected = multipletests(raw, method="fdr_bh")[1]

    assert [c.adjusted_p_value for c in result.comparisons] == pytest.approx(expected, rel=1e-12)


def test_significance_uses_the_adjusted_p_value():
    first = analyse(CONTROL, TREATMENTS).comparisons[0]

    assert first.p_value < 0.05
    assert first.adjusted_p_value >= 0.05
    assert first.significant is False


def test_bayesian_fields_match_the_standalone_bayesian_test():
    result = analyse(CONTROL, TREATMENTS)

    for comparison, treatment in zip(result.comparisons, TREATMENTS, strict=True):
        single = bayesian_test(CONTROL, treatment)
        assert comparison.chance_to_beat_control == pytest.approx(single.chance_to_beat_control)
        assert comparison.risk_treatment == pytest.approx(single.risk_treatment)
        assert comparison.credible_interval == pytest.approx(single.credible_interval)


def test_variant_summaries_list_control_first():
    result = analyse(CONTROL, TREATMENTS)

    assert [v.n for v in result.variants] == [10_000, 10_000, 9_000, 10_500]
    assert result.variants[0].mean == pytest.approx(0.1)
    assert result.variants[0].variance == pytest.approx(CONTROL.variance)


def test_z_test_option_uses_the_two_proportion_z_test():
    result = analyse(CONTROL, TREATMENTS, test="z")
    z = (0.11 - 0.1) / math.sqrt(0.105 * 0.895 * (2 / 10_000))

    assert result.method == "z"
    assert result.comparisons[0].p_value == pytest.approx(2 * sps.norm.sf(z), rel=1e-9)


def test_sequential_option_reports_the_method_and_larger_p_values():
    fixed = analyse(CONTROL, TREATMENTS)
    sequential = analyse(CONTROL, TREATMENTS, sequential=True)

    assert sequential.method == "welch-sequential"
    for f, s in zip(fixed.comparisons, sequential.comparisons, strict=True):
        assert s.p_value >= f.p_value


def test_one_sided_alternative_gives_an_open_interval():
    result = analyse(CONTROL, TREATMENTS, alternative="greater")

    assert result.comparisons[0].absolute_ci[1] == math.inf
    assert result.comparisons[0].absolute_ci[0] > 0


def test_lower_is_better_metrics_count_a_decrease_as_beating_control():
    worse = SampleStats.binomial(10_000, 900)

    result = analyse(CONTROL, [worse], higher_is_better=False)

    assert result.comparisons[0].chance_to_beat_control > 0.99


def test_z_test_cannot_be_combined_with_sequential_testing():
    with pytest.raises(ValueError, match="z-test"):
        analyse(CONTROL, TREATMENTS, test="z", sequential=True)


def test_analyse_needs_at_least_one_treatment():
    with pytest.raises(ValueError, match="treatment"):
        analyse(CONTROL, [])


def test_invalid_confidence_level_is_rejected():
    with pytest.raises(ValueError, match="confidence_level"):
        analyse(CONTROL, TREATMENTS, confidence_level=95)


def test_status_of_a_healthy_comparison_is_ok():
    assert analyse(CONTROL, TREATMENTS).comparisons[0].status is Status.OK
