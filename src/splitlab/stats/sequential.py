"""Always-valid inference: asymptotic confidence sequences for a difference in means.

A confidence sequence covers the true effect at *every* sample size simultaneously with
probability ``1 - alpha``, so results may be looked at (and an experiment stopped) at any time
without inflating the false positive rate. We use the normal-mixture boundary of the asymptotic
confidence sequences of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023), "Time-uniform central
limit theory and asymptotic confidence sequences", arXiv:2103.06476 (eq. 155 and the rho of
eq. 161), which is also what GrowthBook uses for sequential testing
(https://docs.growthbook.io/statistics/sequential).

With ``N`` total units, an estimate whose variance is ``V`` (so ``s² = V·N``) and mixing parameter
``rho``, the half-width is ``s √( 2(N rho²+1)/(N² rho²) · ln(√(N rho²+1)/alpha) )``. ``rho`` is
tuned so the interval is tightest when ``N`` equals ``tuning`` ("expected number of units"; default
5,000 as GrowthBook).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from splitlab.stats.statistics import Alternative

__all__ = [
    "DEFAULT_SEQUENTIAL_TUNING",
    "confidence_sequence_halfwidth",
    "mixture_p_value",
    "optimal_rho_squared",
]

FloatArray = npt.NDArray[np.float64]

DEFAULT_SEQUENTIAL_TUNING = 5000.0
"""Default tuning parameter: the total sample size at which the sequence is tightest."""


def optimal_rho_squared(alpha: float, tuning: float) -> float:
    """Mixing variance ``rho²`` that minimises the half-width at ``N = tuning``.

    Estimator: ``rho² = (-2 ln alpha + ln(-2 ln alpha + 1)) / tuning`` (Waudby-Smith et al. 2023,
    eq. 161).
    Assumes ``0 < alpha < 1`` and ``tuning > 0``.
    """
    if tuning <= 0:
        raise ValueError(f"the sequential tuning parameter must be positive (got {tuning})")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha})")
    log_alpha = -2.0 * math.log(alpha)
    return (log_alpha + math.log(log_alpha + 1.0)) / tuning


def confidence_sequence_halfwidth(
    variance: npt.ArrayLike,
    n_total: npt.ArrayLike,
    alpha: float,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> FloatArray:
    """Half-width of the two-sided ``1 - alpha`` asymptotic confidence sequence around an estimate.

    Estimator: ``√(V N) · √( 2(N rho²+1)/(N² rho²) · ln(√(N rho²+1)/alpha) )`` where ``V`` is the
    estimate's variance (e.g. ``v_t/n_t + v_c/n_c``), ``N`` the total number of units and ``rho²``
    from :func:`optimal_rho_squared`. Assumptions: i.i.d. units with finite variance; the guarantee
    is asymptotic (it holds as the sample grows, like the CLT).
    Reference: Waudby-Smith et al. (2023), arXiv:2103.06476, eq. 155.
    """
    rho2 = optimal_rho_squared(alpha, tuning)
    v = np.asarray(variance, dtype=np.float64)
    n = np.asarray(n_total, dtype=np.float64)
    with np.errstate(all="ignore"):
        sigma2 = v * n
        nr = n * rho2 + 1.0
        radius = 2.0 * nr / (n * n * rho2) * np.log(np.sqrt(nr) / alpha)
        return np.asarray(np.sqrt(sigma2 * radius), dtype=np.float64)


def mixture_p_value(
    statistic: npt.ArrayLike,
    n_total: npt.ArrayLike,
    alpha: float,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    alternative: Alternative = "two-sided",
) -> FloatArray:
    """Always-valid p-value matching :func:`confidence_sequence_halfwidth`.

    Estimator: ``p = min(1, 1/M)`` with the normal-mixture martingale
    ``M = exp(rho² N z² / (2(N rho²+1))) / √(N rho²+1)`` evaluated at the null effect 0, where ``z``
    is the estimate divided by its standard error. ``p < alpha`` exactly when 0 lies outside the
    confidence sequence, and by Ville's inequality ``P(∃ N: p_N ≤ alpha) ≤ alpha`` under the null. A
    one-sided alternative uses the same (two-sided, hence conservative) boundary and returns 1 when
    the estimate points away from the alternative. ``rho²`` depends on ``alpha`` and ``tuning``, so
    pass the same values as for the interval. For a monotone p-value across looks, keep the running
    minimum. Reference: Waudby-Smith et al. (2023), arXiv:2103.06476; Howard et al. (2021),
    "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist. 49.
    """
    rho2 = optimal_rho_squared(alpha, tuning)
    z = np.asarray(statistic, dtype=np.float64)
    n = np.asarray(n_total, dtype=np.float64)
    with np.errstate(all="ignore"):
        nr = n * rho2 + 1.0
        log_m = rho2 * n * z * z / (2.0 * nr) - 0.5 * np.log(nr)
        p = np.minimum(1.0, np.exp(-log_m))
        if alternative == "greater":
            p = np.where(z > 0, p, 1.0)
        elif alternative == "less":
            p = np.where(z < 0, p, 1.0)
        return np.asarray(np.where(np.isnan(z), np.nan, p), dtype=np.float64)
