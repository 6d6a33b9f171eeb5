"""Bayesian comparison: a Gaussian model of the lift with a conjugate normal prior.

Following GrowthBook's gbstats Bayesian engine (https://docs.growthbook.io/statistics/details): the
data's estimate of the lift (relative ``m_t/m_c - 1`` by default, or absolute ``m_t - m_c``) is
taken as normally distributed around the true lift with its delta-method variance; a normal prior on
the lift gives a normal posterior by precision weighting. From it come the chance that the treatment
beats the control, the expected loss (risk) of shipping either arm, and a credible interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from splitlab.stats.frequentist import check_confidence_level, compare_moments
from splitlab.stats.statistics import SampleStats, Status

__all__ = [
    "DEFAULT_PRIOR",
    "BayesianArrays",
    "BayesianResult",
    "GaussianPrior",
    "bayesian_from_estimates",
    "bayesian_test",
]

FloatArray = npt.NDArray[np.float64]
Scale = Literal["relative", "absolute"]


@dataclass(frozen=True, slots=True)
class GaussianPrior:
    """Normal prior ``N(mean, variance)`` on the lift; ``proper=False`` means a flat prior."""

    mean: float = 0.0
    variance: float = 0.3**2
    proper: bool = True

    def __post_init__(self) -> None:
        if self.proper and not self.variance > 0:
            raise ValueError(f"a proper prior needs a positive variance (got {self.variance})")


DEFAULT_PRIOR = GaussianPrior()
"""Weakly informative default: relative lift ~ N(0, 0.3²), i.e. lifts beyond ±60 % are a priori
unlikely. Typical experiments estimate the lift with a standard error of a few percent, so the data
dominates; the prior only tames absurd lifts from tiny samples. GrowthBook offers the same
N(0, 0.3²) as its proper prior. On the absolute scale pass a prior in the metric's own units."""


@dataclass(frozen=True, slots=True)
class BayesianArrays:
    """Vectorised posterior summaries, one element per comparison."""

    posterior_mean: FloatArray
    posterior_sd: FloatArray
    chance_to_beat_control: FloatArray
    risk_control: FloatArray
    risk_treatment: FloatArray
    credible_lower: FloatArray
    credible_upper: FloatArray


@dataclass(frozen=True, slots=True)
class BayesianResult:
    """Posterior of one comparison's lift. Fields are NaN unless ``status`` is ``ok``.

    ``risk_control`` is the expected lift forgone by keeping the control (``E[max(Δ, 0)]``),
    ``risk_treatment`` the expected loss from shipping the treatment (``E[max(-Δ, 0)]``), both on
    ``scale`` and in the metric's good direction.
    """

    status: Status
    scale: Scale
    posterior_mean: float
    posterior_sd: float
    chance_to_beat_control: float
    risk_control: float
    risk_treatment: float
    credible_interval: tuple[float, float]


def _positive_part_mean(mu: FloatArray, sigma: FloatArray) -> FloatArray:
    # E[max(X, 0)] for X ~ N(mu, sigma²): mu Φ(mu/sd) + sd φ(mu/sd).
    z = mu / sigma
    density = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.asarray(mu * special.ndtr(z) + sigma * density, dtype=np.float64)


def bayesian_from_estimates(
    estimate: npt.ArrayLike,
    variance: npt.ArrayLike,
    *,
    prior: GaussianPrior = DEFAULT_PRIOR,
    credible_level: float = 0.95,
    higher_is_better: bool = True,
) -> BayesianArrays:
    """Normal-normal posterior of a lift from its estimate and the estimate's variance.

    Estimator: posterior precision ``1/V + 1/τ²`` and mean ``(Δ̂/V + μ₀/τ²) / precision`` for a
    proper prior ``N(μ₀, τ²)`` (the data alone for a flat prior). Chance to beat control is
    ``P(Δ > 0)``; risks are ``E[max(Δ,0)]`` (control) and ``E[max(-Δ,0)]`` (treatment), computed in
    closed form; the credible interval is the equal-tailed posterior interval. With
    ``higher_is_better=False`` "beating" and the risks refer to ``-Δ``.

    Assumptions: the estimate is approximately normal around the true lift with known variance
    ``V`` (large-sample approximation); the prior is independent of the data.

    Reference: GrowthBook gbstats Bayesian engine (https://docs.growthbook.io/statistics/details);
    Gelman et al., *Bayesian Data Analysis* (3rd ed.), §2.5.
    """
    alpha = check_confidence_level(credible_level)
    est = np.atleast_1d(np.asarray(estimate, dtype=np.float64))
    var = np.atleast_1d(np.asarray(variance, dtype=np.float64))
    with np.errstate(all="ignore"):
        precision = 1.0 / var
        weighted = est * precision
        if prior.proper:
            precision = precision + 1.0 / prior.variance
            weighted = weighted + prior.mean / prior.variance
        mean = weighted / precision
        sd = np.sqrt(1.0 / precision)
        good = mean if higher_is_better else -mean
        chance = special.ndtr(good / sd)
        risk_control = _positive_part_mean(good, sd)
        risk_treatment = _positive_part_mean(-good, sd)
        half = special.ndtri(1.0 - alpha / 2.0) * sd
        # A zero-variance estimate (e.g. the delta method at a treatment mean of exactly 0) is a
        # point mass: the data overrides any prior and there is no uncertainty left.
        exact = var == 0
        mean = np.where(exact, est, mean)
        sd = np.where(exact, 0.0, sd)
        half = np.where(exact, 0.0, half)
        good = mean if higher_is_better else -mean
        chance = np.where(exact, np.sign(good) * 0.5 + 0.5, chance)
        risk_control = np.where(exact, np.maximum(good, 0.0), risk_control)
        risk_treatment = np.where(exact, np.maximum(-good, 0.0), risk_treatment)
    bad = ~((var >= 0) & np.isfinite(var) & np.isfinite(est))

    def keep(values: FloatArray) -> FloatArray:
        return np.asarray(np.where(bad, np.nan, values), dtype=np.float64)

    return BayesianArrays(
        posterior_mean=keep(mean),
        posterior_sd=keep(sd),
        chance_to_beat_control=keep(chance),
        risk_control=keep(risk_control),
        risk_treatment=keep(risk_treatment),
        credible_lower=keep(mean - half),
        credible_upper=keep(mean + half),
    )


def bayesian_result_at(
    arrays: BayesianArrays, index: int, *, status: Status, scale: Scale
) -> BayesianResult:
    """The ``index``-th comparison of ``arrays`` as a :class:`BayesianResult`."""
    a, i = arrays, index
    if status is not Status.OK:
        nan = math.nan
        return BayesianResult(status, scale, nan, nan, nan, nan, nan, (nan, nan))
    return BayesianResult(
        status=status,
        scale=scale,
        posterior_mean=float(a.posterior_mean[i]),
        posterior_sd=float(a.posterior_sd[i]),
        chance_to_beat_control=float(a.chance_to_beat_control[i]),
        risk_control=float(a.risk_control[i]),
        risk_treatment=float(a.risk_treatment[i]),
        credible_interval=(float(a.credible_lower[i]), float(a.credible_upper[i])),
    )


def bayesian_test(
    control: SampleStats,
    treatment: SampleStats,
    *,
    scale: Scale = "relative",
    prior: GaussianPrior = DEFAULT_PRIOR,
    credible_level: float = 0.95,
    higher_is_better: bool = True,
) -> BayesianResult:
    """Bayesian comparison of one treatment with the control from sufficient statistics.

    Estimator: the lift estimate and its variance from :func:`compare_moments` (relative lift with
    the delta-method variance ``v_t/(m_c² n_t) + v_c m_t²/(m_c⁴ n_c)``, or the absolute difference
    with ``v_t/n_t + v_c/n_c``), then :func:`bayesian_from_estimates`. Assumptions: as there, plus a
    positive control mean on the relative scale. Reference: GrowthBook gbstats Bayesian engine.
    """
    moments = compare_moments(
        control.mean,
        control.variance,
        control.n,
        treatment.mean,
        treatment.variance,
        treatment.n,
    )
    status = Status(str(moments.status[0]))
    if scale == "relative":
        estimate, variance = moments.relative_lift, moments.relative_variance
    else:
        estimate, variance = moments.absolute_lift, moments.standard_error**2
        if status is Status.NON_POSITIVE_CONTROL_MEAN:
            status = Status.OK
    arrays = bayesian_from_estimates(
        estimate,
        variance,
        prior=prior,
        credible_level=credible_level,
        higher_is_better=higher_is_better,
    )
    return bayesian_result_at(arrays, 0, status=status, scale=scale)
