"""One metric, several treatments: every comparison with the control, in one vectorised pass.

:func:`analyse` combines the pieces of :mod:`splitlab.stats`: optional CUPED adjustment, Welch (or
two-proportion z) tests with absolute and relative intervals, optional sequential (always-valid)
inference, multiple-comparison adjustment across the treatments, and the Bayesian chance to beat
control and risk. Data that cannot be analysed yields a per-comparison status, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from splitlab.stats.bayesian import DEFAULT_PRIOR, GaussianPrior, bayesian_from_estimates
from splitlab.stats.corrections import Correction, adjust_p_values
from splitlab.stats.cuped import cuped_from_sums
from splitlab.stats.frequentist import (
    ComparisonArrays,
    check_alternative,
    check_confidence_level,
    compare_moments,
    compare_proportions,
)
from splitlab.stats.sequential import DEFAULT_SEQUENTIAL_TUNING
from splitlab.stats.statistics import Alternative, RegressionStats, SampleStats, Status

__all__ = ["Comparison", "MetricAnalysis", "VariantSummary", "analyse"]

FloatArray = npt.NDArray[np.float64]
Test = Literal["welch", "z"]


@dataclass(frozen=True, slots=True)
class VariantSummary:
    """A variant's units, mean and (unbiased) variance as analysed (CUPED-adjusted if used)."""

    n: int
    mean: float
    variance: float


@dataclass(frozen=True, slots=True)
class Comparison:
    """One treatment against the control.

    ``variant`` is the treatment's position in the variant list (control is 0). ``significant``
    uses the adjusted p-value. Lifts are ``treatment - control`` (absolute) and
    ``treatment/control - 1`` (relative); the Bayesian fields describe the relative lift.
    """

    variant: int
    status: Status
    mean_control: float
    mean_treatment: float
    absolute_lift: float
    absolute_ci: tuple[float, float]
    relative_lift: float
    relative_ci: tuple[float, float]
    p_value: float
    adjusted_p_value: float
    significant: bool
    chance_to_beat_control: float
    risk_control: float
    risk_treatment: float
    credible_interval: tuple[float, float]


@dataclass(frozen=True, slots=True)
class MetricAnalysis:
    """Every comparison of one metric, with the settings that produced it."""

    method: str
    correction: Correction
    confidence_level: float
    alternative: Alternative
    variants: tuple[VariantSummary, ...]
    comparisons: tuple[Comparison, ...]
    cuped_theta: float | None = None
    variance_reduction: float | None = None


Stats = SampleStats | RegressionStats


def _moments(
    stats: Sequence[Stats], use_cuped: bool
) -> tuple[FloatArray, FloatArray, FloatArray, float | None, float | None]:
    if use_cuped:
        rows = []
        for s in stats:
            if not isinstance(s, RegressionStats):
                raise TypeError("CUPED needs RegressionStats for every variant")
            rows.append((s.n, s.sum_x, s.sum_x2, s.sum_y, s.sum_y2, s.sum_xy))
        cuped = cuped_from_sums(*np.asarray(rows, dtype=np.float64).T)
        ratio = float(cuped.variance_ratio)
        reduction = None if math.isnan(ratio) else 1.0 - ratio
        return cuped.mean, cuped.variance, cuped.n, float(cuped.theta), reduction
    plain = [s.y if isinstance(s, RegressionStats) else s for s in stats]
    mean = np.array([s.mean for s in plain], dtype=np.float64)
    variance = np.array([s.variance for s in plain], dtype=np.float64)
    n = np.array([s.n for s in plain], dtype=np.float64)
    return mean, variance, n, None, None


def _z_arrays(
    stats: Sequence[Stats], confidence_level: float, alternative: Alternative
) -> ComparisonArrays:
    plain = [s.y if isinstance(s, RegressionStats) else s for s in stats]
    for s in plain:
        if not math.isclose(s.sum, s.sum_sq, rel_tol=1e-12, abs_tol=1e-12):
            raise ValueError("the z-test needs conversion data (0/1 values: sum_sq == sum)")
    return compare_proportions(
        plain[0].sum,
        plain[0].n,
        [s.sum for s in plain[1:]],
        [s.n for s in plain[1:]],
        confidence_level=confidence_level,
        alternative=alternative,
    )


def analyse(
    control: Stats,
    treatments: Sequence[Stats],
    *,
    confidence_level: float = 0.95,
    alternative: Alternative = "two-sided",
    correction: Correction = "holm",
    test: Test = "welch",
    sequential: bool = False,
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    cuped: bool | None = None,
    prior: GaussianPrior = DEFAULT_PRIOR,
    higher_is_better: bool = True,
) -> MetricAnalysis:
    """Compare every treatment with the control on one metric.

    Estimators: Welch's t-test (:func:`~splitlab.stats.frequentist.compare_moments`) or, with
    ``test="z"``, the two-proportion z-test; delta-method relative lift (gbstats); with
    ``sequential=True`` asymptotic confidence sequences and always-valid p-values (Waudby-Smith et
    al. 2023); p-values adjusted across the treatments by ``correction`` (Holm 1979 by default);
    chance to beat control, risks and credible interval from the Gaussian model of the relative lift
    under ``prior`` (:mod:`splitlab.stats.bayesian`). CUPED (Deng et al. 2013) is applied when
    ``cuped`` is true, or when it is ``None`` and every input is :class:`RegressionStats`.

    Assumptions: independent units randomised to variants; approximately normal means; for CUPED,
    a covariate measured before exposure; for ``test="z"``, 0/1 values. Degenerate comparisons get a
    non-``ok`` status and NaN statistics and are left out of the multiple-comparison family.
    """
    check_alternative(alternative)
    alpha = check_confidence_level(confidence_level)
    stats = [control, *treatments]
    if not treatments:
        raise ValueError("analyse needs at least one treatment")
    use_cuped = all(isinstance(s, RegressionStats) for s in stats) if cuped is None else cuped
    if test == "z" and (use_cuped or sequential):
        raise ValueError("the z-test supports neither CUPED nor sequential testing; use welch")
    mean, variance, n, theta, reduction = _moments(stats, use_cuped)

    if test == "z":
        arrays = _z_arrays(stats, confidence_level, alternative)
        method = "z"
    else:
        arrays = compare_moments(
            mean[0],
            variance[0],
            n[0],
            mean[1:],
            variance[1:],
            n[1:],
            confidence_level=confidence_level,
            alternative=alternative,
            sequential_tuning=sequential_tuning if sequential else None,
        )
        method = "welch-sequential" if sequential else "welch"
    if use_cuped:
        method += "+cuped"

    adjusted = adjust_p_values(arrays.p_value, correction)
    bayes = bayesian_from_estimates(
        arrays.relative_lift,
        arrays.relative_variance,
        prior=prior,
        credible_level=confidence_level,
        higher_is_better=higher_is_better,
    )

    comparisons = []
    for i in range(len(treatments)):
        p_adj = float(adjusted[i])
        comparisons.append(
            Comparison(
                variant=i + 1,
                status=Status(str(arrays.status[i])),
                mean_control=float(arrays.mean_control[i]),
                mean_treatment=float(arrays.mean_treatment[i]),
                absolute_lift=float(arrays.absolute_lift[i]),
                absolute_ci=(
                    float(arrays.absolute_ci_lower[i]),
                    float(arrays.absolute_ci_upper[i]),
                ),
                relative_lift=float(arrays.relative_lift[i]),
                relative_ci=(
                    float(arrays.relative_ci_lower[i]),
                    float(arrays.relative_ci_upper[i]),
                ),
                p_value=float(arrays.p_value[i]),
                adjusted_p_value=p_adj,
                significant=p_adj < alpha,
                chance_to_beat_control=float(bayes.chance_to_beat_control[i]),
                risk_control=float(bayes.risk_control[i]),
                risk_treatment=float(bayes.risk_treatment[i]),
                credible_interval=(float(bayes.credible_lower[i]), float(bayes.credible_upper[i])),
            )
        )
    variants = tuple(
        VariantSummary(int(n[v]), float(mean[v]), float(variance[v])) for v in range(len(stats))
    )
    return MetricAnalysis(
        method=method,
        correction=correction,
        confidence_level=confidence_level,
        alternative=alternative,
        variants=variants,
        comparisons=tuple(comparisons),
        cuped_theta=theta,
        variance_reduction=reduction,
    )
