"""Power and sample size for comparing a treatment's mean (or rate) with the control's.

Power is computed for the test the engine runs: a two-sample comparison of means with standard error
``√(v_c/n_c + v_t/n_t)``. The default uses the normal approximation (what the Welch test converges
to at experiment sizes); ``distribution="t"`` uses the noncentral t with ``n_c + n_t - 2`` degrees
of freedom, the exact power of the pooled-variance t-test.

Reference: Cohen, *Statistical Power Analysis for the Behavioral Sciences* (2nd ed., 1988), ch. 2;
Chow, Shao & Wang, *Sample Size Calculations in Clinical Research* (2nd ed., 2008), §3.2 and §4.2.
Cross-checked against ``statsmodels.stats.power.NormalIndPower`` / ``TTestIndPower``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from splitlab.stats.sequential import DEFAULT_SEQUENTIAL_TUNING, confidence_sequence_halfwidth
from splitlab.stats.statistics import Alternative, SampleStats, Status

__all__ = [
    "PowerResult",
    "SampleSizeResult",
    "achieved_power",
    "days_needed",
    "power",
    "sample_size",
    "sample_size_proportion",
    "sequential_power",
]

FloatArray = npt.NDArray[np.float64]
Distribution = Literal["normal", "t"]
MultipleTesting = Literal["bonferroni", "none"]


@dataclass(frozen=True, slots=True)
class PowerResult:
    """Achieved power for a minimum detectable effect; NaN fields unless ``status`` is ``ok``."""

    status: Status
    power: float
    absolute_effect: float
    standard_error: float


@dataclass(frozen=True, slots=True)
class SampleSizeResult:
    """Units each variant needs (control first) so every comparison reaches the target power."""

    status: Status
    users_per_variant: tuple[int, ...]
    total_users: int
    absolute_effect: float
    alpha_per_comparison: float
    target_power: float


#: More units than any experiment will ever see; a plan that needs more is refused (and past it
#: the search's doubling would stop being exact in floating point).
MAX_UNITS = 1e15


def _alpha_tail(alpha: float, alternative: Alternative) -> float:
    return alpha / 2.0 if alternative == "two-sided" else alpha


def _nct_cdf(df: FloatArray, lam: FloatArray, x: FloatArray) -> FloatArray:
    """The noncentral t CDF, ``P(T <= x)``. ``special.nctdtr`` answers NaN far in a tail (large
    noncentrality); there the value is 0 or 1 to double precision, and the normal approximation
    ``Φ((x(1 - 1/4df) - λ) / √(1 + x²/2df))`` (Abramowitz & Stegun 26.7.10) gives it."""
    exact = special.nctdtr(df, lam, x)
    approx = special.ndtr((x * (1.0 - 1.0 / (4.0 * df)) - lam) / np.sqrt(1.0 + x * x / (2.0 * df)))
    return np.asarray(
        np.where(np.isnan(exact) & ~np.isnan(approx), approx, exact), dtype=np.float64
    )


def power(
    effect: npt.ArrayLike,
    n_control: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    variance_control: npt.ArrayLike,
    variance_treatment: npt.ArrayLike | None = None,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    distribution: Distribution = "normal",
) -> FloatArray:
    """Probability that a level-``alpha`` two-sample test rejects when the true lift is ``effect``.

    Estimator: with ``λ = effect / √(v_c/n_c + v_t/n_t)`` and critical value ``c``, two-sided power
    is ``P(T > c) + P(T < -c)`` where ``T`` is ``N(λ, 1)`` (``distribution="normal"``) or noncentral
    t with ``n_c + n_t - 2`` df and noncentrality ``λ`` (``"t"``); ``greater``/``less`` keep one
    tail. ``variance_treatment`` defaults to ``variance_control``.

    Assumptions: independent units, approximately normal means; for ``"t"``, equal variances.
    Reference: Cohen (1988) ch. 2; equals ``NormalIndPower().power`` / ``TTestIndPower().power``
    with ``effect_size = effect/sd`` and ``ratio = n_t/n_c``.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha})")
    if variance_treatment is None:
        variance_treatment = variance_control
    d, nc, nt, vc, vt = (
        np.asarray(a, dtype=np.float64)
        for a in (effect, n_control, n_treatment, variance_control, variance_treatment)
    )
    tail = _alpha_tail(alpha, alternative)
    with np.errstate(all="ignore"):
        lam = d / np.sqrt(vc / nc + vt / nt)
        result = np.zeros(np.broadcast(lam, nc, nt).shape, dtype=np.float64)
        if distribution == "normal":
            crit = special.ndtri(1.0 - tail)
            if alternative in ("two-sided", "greater"):
                result = result + special.ndtr(lam - crit)
            if alternative in ("two-sided", "less"):
                result = result + special.ndtr(-crit - lam)
        else:
            df = nc + nt - 2.0
            crit = special.stdtrit(df, 1.0 - tail)
            if alternative in ("two-sided", "greater"):
                result = result + (1.0 - _nct_cdf(df, lam, crit))
            if alternative in ("two-sided", "less"):
                result = result + _nct_cdf(df, lam, -crit)
    return np.asarray(result, dtype=np.float64)


def sequential_power(
    effect: npt.ArrayLike,
    n_control: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    variance_control: npt.ArrayLike,
    variance_treatment: npt.ArrayLike | None = None,
    *,
    alpha: float = 0.05,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> FloatArray:
    """Probability that the always-valid confidence sequence excludes 0 at the current sizes.

    Estimator: the sequence's half-width is ``c_N · SE`` with ``c_N = √(N · 2(Nrho²+1)/(N²rho²) ·
    ln(√(Nrho²+1)/alpha))`` (``N = n_c + n_t``, ``rho²`` from the tuning parameter), so with
    ``λ = effect / SE`` the power is ``Φ(λ - c_N) + Φ(-c_N - λ)``: the fixed-horizon formula with
    the wider boundary. It is the power of a look taken now (earlier looks can only add to the
    chance of having rejected). Assumptions: as :func:`power` (normal approximation).
    Reference: Waudby-Smith et al. (2023), arXiv:2103.06476, eq. 155 and 161.
    """
    if variance_treatment is None:
        variance_treatment = variance_control
    d, nc, nt, vc, vt = (
        np.asarray(a, dtype=np.float64)
        for a in (effect, n_control, n_treatment, variance_control, variance_treatment)
    )
    with np.errstate(all="ignore"):
        se = np.sqrt(vc / nc + vt / nt)
        crit = confidence_sequence_halfwidth(se * se, nc + nt, alpha, tuning) / se
        lam = d / se
        result = special.ndtr(lam - crit) + special.ndtr(-crit - lam)
    return np.asarray(result, dtype=np.float64)


def achieved_power(
    control: SampleStats,
    treatment: SampleStats,
    *,
    mde: float,
    relative: bool = True,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    sequential_tuning: float | None = None,
) -> PowerResult:
    """Power the experiment has, at its current sizes, to detect a lift of ``mde``.

    Estimator: :func:`power` with the observed sizes and variances (normal approximation), or
    :func:`sequential_power` when ``sequential_tuning`` is given (the test is then the
    always-valid one, two-sided); the absolute effect is ``mde · mean_c`` when ``relative`` else
    ``mde``. Assumptions: the observed variances are close to the true ones; the effect is the
    minimum detectable effect chosen before the experiment (power computed from the *observed*
    effect is uninformative; Hoenig & Heisey 2001, "The abuse of power", Am. Stat. 55).
    """
    nan = math.nan
    if min(control.n, treatment.n) == 0:
        return PowerResult(Status.EMPTY_VARIANT, nan, nan, nan)
    if min(control.n, treatment.n) < 2:
        return PowerResult(Status.INSUFFICIENT_DATA, nan, nan, nan)
    if relative and not control.mean > 0:
        return PowerResult(Status.NON_POSITIVE_CONTROL_MEAN, nan, nan, nan)
    se = math.sqrt(control.variance / control.n + treatment.variance / treatment.n)
    if se == 0.0:
        return PowerResult(Status.ZERO_VARIANCE, nan, nan, nan)
    effect = mde * control.mean if relative else mde
    if sequential_tuning is not None:
        value = sequential_power(
            effect,
            control.n,
            treatment.n,
            control.variance,
            treatment.variance,
            alpha=alpha,
            tuning=sequential_tuning,
        )
        return PowerResult(Status.OK, float(value), effect, se)
    value = power(
        effect,
        control.n,
        treatment.n,
        control.variance,
        treatment.variance,
        alpha=alpha,
        alternative=alternative,
    )
    return PowerResult(Status.OK, float(value), effect, se)


def _normalised_weights(weights: Sequence[float] | None, n_variants: int) -> FloatArray:
    if weights is None:
        if n_variants < 2:
            raise ValueError(f"an experiment needs at least two variants (got {n_variants})")
        return np.full(n_variants, 1.0 / n_variants)
    w = np.asarray(weights, dtype=np.float64)
    if w.size < 2 or np.any(~(w > 0)):
        raise ValueError("weights need at least two variants, all positive")
    return np.asarray(w / w.sum(), dtype=np.float64)


def sample_size(
    *,
    baseline_mean: float,
    baseline_variance: float,
    mde: float,
    relative: bool = True,
    alpha: float = 0.05,
    target_power: float = 0.8,
    n_variants: int = 2,
    weights: Sequence[float] | None = None,
    correction: MultipleTesting = "bonferroni",
    alternative: Alternative = "two-sided",
    treatment_variance: float | None = None,
    distribution: Distribution = "normal",
    sequential_tuning: float | None = None,
) -> SampleSizeResult:
    """Units per variant so each treatment-vs-control comparison has ``target_power`` at the MDE.

    Estimator: with allocation weights ``w`` (control first; equal when omitted) and total ``N``,
    comparison ``v`` has ``SE² = (var_c/w_c + var_t/w_v)/N``; ``N`` is the smallest total at which
    :func:`power` reaches ``target_power`` for every comparison (solved exactly, not by the
    one-tail shortcut ``(z_{1-alpha/2}+z_{1-β})²``), and each variant gets ``⌈w_v N⌉``. With
    ``correction="bonferroni"`` each comparison is tested at ``alpha / (variants - 1)``. With
    ``sequential_tuning`` the power is :func:`sequential_power` (the always-valid test, two-sided):
    the units needed for the sequence to exclude 0 when the experiment reaches that size.

    Assumptions: as :func:`power`; the baseline variance is known; the treatment variance equals
    ``treatment_variance`` (default: the baseline's). Reference: Chow, Shao & Wang (2008) §3.2.
    """
    w = _normalised_weights(weights, n_variants)
    if not 0.0 < target_power < 1.0:
        raise ValueError(f"target_power must be in (0, 1) (got {target_power})")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha})")
    if mde == 0:
        raise ValueError("the minimum detectable effect cannot be 0")
    if baseline_variance < 0 or (treatment_variance is not None and treatment_variance < 0):
        raise ValueError("variances cannot be negative")
    comparisons = w.size - 1
    alpha_each = alpha / comparisons if correction == "bonferroni" else alpha
    effect = mde * baseline_mean if relative else mde
    vc = baseline_variance
    vt = vc if treatment_variance is None else treatment_variance
    nan_result = SampleSizeResult(
        Status.ZERO_VARIANCE, tuple(0 for _ in w), 0, effect, alpha_each, target_power
    )
    if relative and baseline_mean <= 0:
        return SampleSizeResult(
            Status.NON_POSITIVE_CONTROL_MEAN,
            tuple(0 for _ in w),
            0,
            math.nan,
            alpha_each,
            target_power,
        )
    if vc + vt == 0:
        return nan_result
    wc = float(w[0])

    def shortfall(total: float, wt: float) -> float:
        if sequential_tuning is not None:
            reached = sequential_power(
                effect, wc * total, wt * total, vc, vt, alpha=alpha_each, tuning=sequential_tuning
            )
            return float(reached) - target_power
        value = power(
            effect,
            wc * total,
            wt * total,
            vc,
            vt,
            alpha=alpha_each,
            alternative=alternative,
            distribution=distribution,
        )
        return float(value) - target_power

    required = 0.0
    tail = _alpha_tail(alpha_each, alternative)
    z_sum = float(special.ndtri(1.0 - tail) + special.ndtri(target_power))
    for wt in w[1:]:
        # The one-tail normal formula is an upper bound for the normal case; double until t holds.
        # Compared before squaring: effect² underflows to 0 and the bound overflows past 1e308.
        scaled = max(z_sum, 1.0) * math.sqrt(vc / wc + vt / float(wt))
        if not abs(effect) * math.sqrt(MAX_UNITS) >= scaled:
            raise ValueError(
                f"an effect of {effect:g} is too small to detect: it needs more than "
                f"{MAX_UNITS:.0e} units"
            )
        upper = (scaled / abs(effect)) ** 2 + 8.0 / wc
        while shortfall(upper, float(wt)) < 0:
            upper *= 2.0
        lower = 4.0 / min(wc, float(wt))
        if shortfall(lower, float(wt)) >= 0:
            required = max(required, lower)
            continue
        root = optimize.brentq(shortfall, lower, upper, args=(float(wt),), xtol=1e-10, rtol=1e-14)
        required = max(required, float(root))
    # A hair of slack keeps 1000.0000000001 from becoming 1001 through rounding error.
    per_variant = tuple(math.ceil(float(wv) * required * (1.0 - 1e-12)) for wv in w)
    return SampleSizeResult(
        Status.OK, per_variant, sum(per_variant), effect, alpha_each, target_power
    )


def sample_size_proportion(
    *,
    baseline_rate: float,
    mde: float,
    relative: bool = True,
    alpha: float = 0.05,
    target_power: float = 0.8,
    n_variants: int = 2,
    weights: Sequence[float] | None = None,
    correction: MultipleTesting = "bonferroni",
    alternative: Alternative = "two-sided",
    sequential_tuning: float | None = None,
) -> SampleSizeResult:
    """Sample size for a conversion metric from its baseline rate.

    Estimator: :func:`sample_size` with Bernoulli variances ``p_c(1-p_c)`` and ``p_t(1-p_t)``
    (``p_t = p_c(1 + mde)`` if ``relative`` else ``p_c + mde``), i.e. the unpooled normal
    approximation; ``sequential_tuning`` as in :func:`sample_size`. Assumptions: independent
    Bernoulli units, ``n p`` not small. Reference: Chow, Shao & Wang (2008) §4.2.
    """
    if not 0.0 < baseline_rate < 1.0:
        raise ValueError(f"baseline_rate must be in (0, 1) (got {baseline_rate})")
    treated = baseline_rate * (1.0 + mde) if relative else baseline_rate + mde
    if not 0.0 < treated < 1.0:
        raise ValueError(f"the treatment rate implied by the MDE ({treated}) is not in (0, 1)")
    return sample_size(
        baseline_mean=baseline_rate,
        baseline_variance=baseline_rate * (1.0 - baseline_rate),
        mde=mde,
        relative=relative,
        alpha=alpha,
        target_power=target_power,
        n_variants=n_variants,
        weights=weights,
        correction=correction,
        alternative=alternative,
        treatment_variance=treated * (1.0 - treated),
        sequential_tuning=sequential_tuning,
    )


def days_needed(
    required_total: int, exposures_per_day: float, already_exposed: int = 0
) -> int | None:
    """Whole days until ``required_total`` units are exposed at the current daily rate.

    Estimator: ``⌈(required - already) / rate⌉`` (0 when already reached). Assumes the exposure rate
    stays constant. Returns ``None`` when nothing is being exposed (the target is never reached).
    """
    if exposures_per_day < 0 or required_total < 0 or already_exposed < 0:
        raise ValueError("counts and rates cannot be negative")
    remaining = required_total - already_exposed
    if remaining <= 0:
        return 0
    if exposures_per_day == 0:
        return None
    return math.ceil(remaining / exposures_per_day)
