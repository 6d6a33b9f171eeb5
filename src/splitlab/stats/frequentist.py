"""Frequentist comparison of a treatment with the control: Welch's t-test, two-proportion z-test.

The kernel :func:`compare_moments` works on numpy arrays (one element per comparison), so many
variants, metrics or simulated experiments are analysed in one call; :func:`welch_test` and
:func:`proportions_ztest` are the one-comparison conveniences over :class:`SampleStats`.

Relative lift ``mean_t / mean_c - 1`` and its interval use the delta method exactly as GrowthBook's
gbstats frequentist engine does (https://docs.growthbook.io/statistics/details): the ratio's
variance is ``v_t / (m_c² n_t) + v_c m_t² / (m_c⁴ n_c)`` and the interval uses the Welch degrees of
freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from splitlab.stats.sequential import confidence_sequence_halfwidth, mixture_p_value
from splitlab.stats.statistics import Alternative, SampleStats, Status

__all__ = [
    "ComparisonArrays",
    "FrequentistResult",
    "compare_moments",
    "compare_proportions",
    "proportions_ztest",
    "welch_test",
]

FloatArray = npt.NDArray[np.float64]
Distribution = Literal["t", "normal"]

_ALTERNATIVES = ("two-sided", "greater", "less")


def check_confidence_level(confidence_level: float) -> float:
    """Validate a confidence level and return ``alpha = 1 - confidence_level``."""
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1) (got {confidence_level})")
    return 1.0 - confidence_level


def check_alternative(alternative: str) -> None:
    """Reject an alternative hypothesis other than two-sided, greater or less."""
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES} (got {alternative!r})")


@dataclass(frozen=True, slots=True)
class ComparisonArrays:
    """Vectorised frequentist results, one element per comparison (see :func:`compare_moments`)."""

    status: npt.NDArray[np.str_]
    mean_control: FloatArray
    mean_treatment: FloatArray
    absolute_lift: FloatArray
    absolute_ci_lower: FloatArray
    absolute_ci_upper: FloatArray
    relative_lift: FloatArray
    relative_ci_lower: FloatArray
    relative_ci_upper: FloatArray
    relative_variance: FloatArray
    standard_error: FloatArray
    df: FloatArray
    statistic: FloatArray
    p_value: FloatArray


@dataclass(frozen=True, slots=True)
class FrequentistResult:
    """One treatment-vs-control comparison.

    When ``status`` is ``non_positive_control_mean`` the absolute lift, interval and p-value are
    still valid; only the relative lift and its interval are NaN. With ``degenerate_variant`` the
    relative lift is reported but its interval is NaN. Any other non-``ok`` status leaves every
    statistic NaN.
    """

    status: Status
    method: str
    alternative: Alternative
    confidence_level: float
    mean_control: float
    mean_treatment: float
    absolute_lift: float
    absolute_ci: tuple[float, float]
    relative_lift: float
    relative_ci: tuple[float, float]
    standard_error: float
    df: float
    statistic: float
    p_value: float

    @property
    def significant(self) -> bool:
        """Whether the p-value is below ``alpha = 1 - confidence_level``."""
        return self.p_value < 1.0 - self.confidence_level


def _status(
    mc: FloatArray,
    nc: FloatArray,
    nt: FloatArray,
    se: FloatArray,
    degenerate: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.str_]:
    status = np.full(mc.shape, Status.OK.value, dtype="<U32")
    if degenerate is not None:
        status[degenerate] = Status.DEGENERATE_VARIANT.value
    status[~(mc > 0)] = Status.NON_POSITIVE_CONTROL_MEAN.value
    status[~(se > 0)] = Status.ZERO_VARIANCE.value
    status[(nc < 2) | (nt < 2)] = Status.INSUFFICIENT_DATA.value
    status[(nc == 0) | (nt == 0)] = Status.EMPTY_VARIANT.value
    return status


def _p_value(statistic: FloatArray, df: FloatArray, alternative: Alternative) -> FloatArray:
    # stdtr(df, x) is the Student t CDF (the normal CDF when df is infinite), as scipy.stats.t uses.
    if alternative == "two-sided":
        return np.asarray(2.0 * special.stdtr(df, -np.abs(statistic)), dtype=np.float64)
    if alternative == "greater":
        return np.asarray(special.stdtr(df, -statistic), dtype=np.float64)
    return np.asarray(special.stdtr(df, statistic), dtype=np.float64)


def _interval(
    point: FloatArray, halfwidth: FloatArray, alternative: Alternative
) -> tuple[FloatArray, FloatArray]:
    lower = point - halfwidth
    upper = point + halfwidth
    if alternative == "greater":
        upper = np.full_like(point, math.inf)
    elif alternative == "less":
        lower = np.full_like(point, -math.inf)
    return lower, upper


def compare_moments(
    mean_control: npt.ArrayLike,
    variance_control: npt.ArrayLike,
    n_control: npt.ArrayLike,
    mean_treatment: npt.ArrayLike,
    variance_treatment: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    *,
    confidence_level: float = 0.95,
    alternative: Alternative = "two-sided",
    distribution: Distribution = "t",
    sequential_tuning: float | None = None,
) -> ComparisonArrays:
    """Welch's unequal-variance t-test of ``treatment - control``, vectorised over comparisons.

    Estimator: the difference in sample means with standard error ``√(v_t/n_t + v_c/n_c)`` and the
    Welch-Satterthwaite degrees of freedom; ``distribution="normal"`` uses the normal limit
    (``df = ∞``) instead. Relative lift ``m_t/m_c - 1`` gets a delta-method interval (gbstats).
    With ``sequential_tuning`` set, intervals are always-valid confidence sequences and the p-value
    is the always-valid mixture p-value (see :mod:`splitlab.stats.sequential`).

    Assumptions: units independent within and between variants; sample means approximately normal
    (central limit theorem), which needs enough units when the metric is skewed.

    Reference: B. L. Welch (1947), "The generalization of 'Student's' problem when several different
    population variances are involved", Biometrika 34; same results as
    ``scipy.stats.ttest_ind(treatment, control, equal_var=False)``.
    """
    alpha = check_confidence_level(confidence_level)
    check_alternative(alternative)
    mc, vc, nc, mt, vt, nt = (
        np.atleast_1d(np.asarray(a, dtype=np.float64))
        for a in (
            mean_control,
            variance_control,
            n_control,
            mean_treatment,
            variance_treatment,
            n_treatment,
        )
    )
    mc, vc, nc, mt, vt, nt = np.broadcast_arrays(mc, vc, nc, mt, vt, nt)
    with np.errstate(all="ignore"):
        se2_c = vc / nc
        se2_t = vt / nt
        variance = se2_c + se2_t
        se = np.sqrt(variance)
        diff = mt - mc
        if distribution == "normal":
            df = np.full_like(diff, math.inf)
        else:
            df = variance**2 / (se2_c**2 / (nc - 1) + se2_t**2 / (nt - 1))
        statistic = diff / se
        relative = mt / mc - 1.0
        relative_variance = vt / (mc**2 * nt) + vc * mt**2 / (mc**4 * nc)
        # A control mean so close to 0 that the ratio's variance overflows counts as 0.
        status = _status(
            np.where(np.isfinite(relative_variance), mc, 0.0),
            nc,
            nt,
            se,
            # No spread, or one too small to invert (a subnormal: 1/V overflows in the posterior).
            ~(relative_variance >= np.finfo(np.float64).tiny),
        )
        valid = np.isin(status, [s.value for s in Status if s.has_absolute])
        relative_ok = status == Status.OK.value
        # All-equal values in one arm: the ratio itself is known, its delta-method spread is not.
        relative_known = relative_ok | (status == Status.DEGENERATE_VARIANT.value)

        if sequential_tuning is None:
            two_sided = alternative == "two-sided"
            q = special.stdtrit(df, 1.0 - (alpha / 2.0 if two_sided else alpha))
            abs_half = q * se
            rel_half = q * np.sqrt(relative_variance)
            p_value = _p_value(statistic, df, alternative)
        else:
            total = nc + nt
            abs_half = confidence_sequence_halfwidth(variance, total, alpha, sequential_tuning)
            rel_half = confidence_sequence_halfwidth(
                relative_variance, total, alpha, sequential_tuning
            )
            p_value = mixture_p_value(statistic, total, alpha, sequential_tuning, alternative)

        abs_lo, abs_hi = _interval(diff, abs_half, alternative)
        rel_lo, rel_hi = _interval(relative, rel_half, alternative)

    nan = np.nan

    def keep(values: FloatArray, mask: npt.NDArray[np.bool_]) -> FloatArray:
        return np.where(mask, values, nan)

    return ComparisonArrays(
        status=status,
        mean_control=np.where(nc > 0, mc, nan),
        mean_treatment=np.where(nt > 0, mt, nan),
        absolute_lift=keep(diff, valid),
        absolute_ci_lower=keep(abs_lo, valid),
        absolute_ci_upper=keep(abs_hi, valid),
        relative_lift=keep(relative, relative_known),
        relative_ci_lower=keep(rel_lo, relative_ok),
        relative_ci_upper=keep(rel_hi, relative_ok),
        relative_variance=keep(relative_variance, relative_ok),
        standard_error=keep(se, valid),
        df=keep(df, valid),
        statistic=keep(statistic, valid),
        p_value=keep(p_value, valid),
    )


def result_at(
    arrays: ComparisonArrays,
    index: int,
    *,
    method: str,
    alternative: Alternative,
    confidence_level: float,
) -> FrequentistResult:
    """The ``index``-th comparison of ``arrays`` as a :class:`FrequentistResult`."""
    a, i = arrays, index
    return FrequentistResult(
        status=Status(str(a.status[i])),
        method=method,
        alternative=alternative,
        confidence_level=confidence_level,
        mean_control=float(a.mean_control[i]),
        mean_treatment=float(a.mean_treatment[i]),
        absolute_lift=float(a.absolute_lift[i]),
        absolute_ci=(float(a.absolute_ci_lower[i]), float(a.absolute_ci_upper[i])),
        relative_lift=float(a.relative_lift[i]),
        relative_ci=(float(a.relative_ci_lower[i]), float(a.relative_ci_upper[i])),
        standard_error=float(a.standard_error[i]),
        df=float(a.df[i]),
        statistic=float(a.statistic[i]),
        p_value=float(a.p_value[i]),
    )


def welch_test(
    control: SampleStats,
    treatment: SampleStats,
    *,
    confidence_level: float = 0.95,
    alternative: Alternative = "two-sided",
    sequential_tuning: float | None = None,
) -> FrequentistResult:
    """Welch's t-test of ``mean(treatment) - mean(control)`` from sufficient statistics.

    Estimator, assumptions and reference as in :func:`compare_moments`: difference in means,
    Welch-Satterthwaite df, delta-method relative lift (gbstats). Equals
    ``scipy.stats.ttest_ind(treatment_values, control_values, equal_var=False)``.
    """
    arrays = compare_moments(
        control.mean,
        control.variance,
        control.n,
        treatment.mean,
        treatment.variance,
        treatment.n,
        confidence_level=confidence_level,
        alternative=alternative,
        sequential_tuning=sequential_tuning,
    )
    method = "welch" if sequential_tuning is None else "welch-sequential"
    return result_at(
        arrays, 0, method=method, alternative=alternative, confidence_level=confidence_level
    )


def compare_proportions(
    conversions_control: npt.ArrayLike,
    n_control: npt.ArrayLike,
    conversions_treatment: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    *,
    confidence_level: float = 0.95,
    alternative: Alternative = "two-sided",
) -> ComparisonArrays:
    """Two-proportion z-test of ``rate(treatment) - rate(control)``, vectorised over comparisons.

    Estimator: the statistic uses the pooled rate under the null,
    ``z = (p_t - p_c) / √(p̄(1-p̄)(1/n_t + 1/n_c))``; the interval for the absolute lift is the
    unpooled Wald interval ``± z_{1-alpha/2} √(p_t(1-p_t)/n_t + p_c(1-p_c)/n_c)``, and the relative
    lift interval is the delta method with the same per-arm variances.

    Assumptions: independent Bernoulli units; ``n·p`` and ``n·(1-p)`` large enough for the normal
    approximation.

    Reference: Fleiss, Levin & Paik, *Statistical Methods for Rates and Proportions* (3rd ed.,
    2003), ch. 3; equals ``statsmodels.stats.proportion.proportions_ztest`` (statistic, p-value) and
    ``confint_proportions_2indep(method="wald")`` (interval).
    """
    cc, nc, ct, nt = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(a, dtype=np.float64))
            for a in (conversions_control, n_control, conversions_treatment, n_treatment)
        )
    )
    if np.any((cc < 0) | (cc > nc) | (ct < 0) | (ct > nt)):
        raise ValueError("conversions must be between 0 and the number of units")
    with np.errstate(all="ignore"):
        pc = cc / nc
        pt = ct / nt
        # Wald (n denominator) per-arm variances of a Bernoulli variable.
        wald = compare_moments(
            pc,
            pc * (1.0 - pc),
            nc,
            pt,
            pt * (1.0 - pt),
            nt,
            confidence_level=confidence_level,
            alternative=alternative,
            distribution="normal",
        )
        pooled = (cc + ct) / (nc + nt)
        pooled_se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / nt + 1.0 / nc))
        statistic = (pt - pc) / pooled_se
        infinite = np.full_like(statistic, math.inf)
        p_value = _p_value(statistic, infinite, alternative)
    valid = ~np.isnan(wald.p_value) & (pooled_se > 0)
    return replace(
        wald,
        standard_error=np.where(valid, pooled_se, np.nan),
        statistic=np.where(valid, statistic, np.nan),
        p_value=np.where(valid, p_value, np.nan),
    )


def _binary_conversions(stats: SampleStats) -> float:
    if not math.isclose(stats.sum, stats.sum_sq, rel_tol=1e-12, abs_tol=1e-12) or not (
        0.0 <= stats.sum <= stats.n
    ):
        raise ValueError("the z-test needs conversion data (0/1 values: sum_sq == sum)")
    return stats.sum


def proportions_ztest(
    control: SampleStats,
    treatment: SampleStats,
    *,
    confidence_level: float = 0.95,
    alternative: Alternative = "two-sided",
) -> FrequentistResult:
    """Two-proportion z-test for a conversion metric given as :class:`SampleStats` (0/1 values).

    Estimator, assumptions and reference as in :func:`compare_proportions` (pooled-variance z
    statistic, unpooled Wald intervals, delta-method relative lift).
    """
    arrays = compare_proportions(
        _binary_conversions(control),
        control.n,
        _binary_conversions(treatment),
        treatment.n,
        confidence_level=confidence_level,
        alternative=alternative,
    )
    return result_at(
        arrays, 0, method="z", alternative=alternative, confidence_level=confidence_level
    )
