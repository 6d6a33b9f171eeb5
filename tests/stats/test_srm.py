import math

import numpy as np
import pytest
from scipy import stats as sps

from splitlab.stats import srm_test

CASES = [
    ([5000, 5000], [0.5, 0.5]),
    ([5100, 4900], [1, 1]),
    ([1000, 2100, 2900], [0.2, 0.3, 0.5]),
    ([10, 0], [0.5, 0.5]),
    ([123456, 123001, 124990, 120000], [25, 25, 25, 25]),
]


@pytest.mark.parametrize(("observed", "weights"), CASES)
def test_srm_matches_scipy_chisquare(observed, weights):
    w = np.asarray(weights, dtype=float)
    expected = sum(observed) * w / w.sum()

    ours = srm_test(observed, weights)
    oracle = sps.chisquare(observed, expected)

    assert ours.statistic == pytest.approx(oracle.statistic, rel=1e-9, abs=1e-12)
    assert ours.p_value == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)
    assert ours.df == len(observed) - 1


def test_srm_alarms_below_one_in_a_thousand():
    assert srm_test([10_000, 10_500], [0.5, 0.5]).alarm is True


def test_srm_does_not_alarm_on_a_plausible_split():
    assert srm_test([10_000, 10_100], [0.5, 0.5]).alarm is False


def test_srm_threshold_is_configurable():
    result = srm_test([10_000, 10_300], [0.5, 0.5], threshold=0.05)

    assert result.p_value > 0.001
    assert result.alarm is True


def test_srm_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="weights"):
        srm_test([1, 2, 3], [0.5, 0.5])


@pytest.mark.parametrize("weights", [[1.0, -1.0], [0.0, 0.0], [1.0, float("nan")]])
def test_srm_rejects_negative_missing_or_all_zero_weights(weights):
    with pytest.raises(ValueError, match="non-negative"):
        srm_test([1, 2], weights)


def test_a_switched_off_variant_without_units_is_left_out_of_the_test():
    observed, weights = [5100, 0, 4900], [50, 0, 50]

    ours = srm_test(observed, weights)
    oracle = sps.chisquare([5100, 4900], [5000, 5000])

    assert ours.df == 1
    assert ours.statistic == pytest.approx(oracle.statistic, rel=1e-9)
    assert ours.p_value == pytest.approx(oracle.pvalue, rel=1e-9)
    assert ours.expected == (5000.0, 0.0, 5000.0)


def test_units_in_a_switched_off_variant_are_an_alarm():
    result = srm_test([5000, 1, 5000], [50, 0, 50])

    assert (result.statistic, result.p_value, result.alarm) == (math.inf, 0.0, True)


def test_all_traffic_to_one_variant_as_allocated_is_no_alarm():
    result = srm_test([300, 0], [100, 0])

    assert (result.df, result.p_value, result.alarm) == (0, 1.0, False)
