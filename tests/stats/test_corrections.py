import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from splitlab.stats import adjust_p_values

p_value_lists = st.lists(
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=12
)


@settings(max_examples=25, deadline=None)  # statsmodels' Holm takes ~20 ms per call
@given(p_value_lists)
def test_holm_matches_statsmodels(p_values):
    expected = multipletests(p_values, method="holm")[1]

    np.testing.assert_allclose(adjust_p_values(p_values, "holm"), expected, rtol=1e-12, atol=0)


@given(p_value_lists)
def test_benjamini_hochberg_matches_statsmodels(p_values):
    expected = multipletests(p_values, method="fdr_bh")[1]

    np.testing.assert_allclose(adjust_p_values(p_values, "bh"), expected, rtol=1e-12, atol=0)


@given(p_value_lists)
def test_bonferroni_matches_statsmodels(p_values):
    expected = multipletests(p_values, method="bonferroni")[1]

    np.testing.assert_allclose(adjust_p_values(p_values, "bonferroni"), expected, rtol=1e-12)


def test_holm_is_the_default():
    p = [0.01, 0.04, 0.03]

    np.testing.assert_array_equal(adjust_p_values(p), adjust_p_values(p, "holm"))


def test_none_returns_the_raw_p_values():
    np.testing.assert_array_equal(adjust_p_values([0.2, 0.01], "none"), [0.2, 0.01])


def test_nan_p_values_stay_nan_and_do_not_count_towards_the_family():
    adjusted = adjust_p_values([0.01, np.nan, 0.04], "holm")

    np.testing.assert_allclose(adjusted[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])
    assert np.isnan(adjusted[1])


def test_p_values_outside_the_unit_interval_are_rejected():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust_p_values([0.5, 1.5])


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values([0.5], "sidak")  # type: ignore[arg-type]
