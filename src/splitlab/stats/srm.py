"""Sample ratio mismatch (SRM): is the observed split of units consistent with the allocation?

A mismatch means assignment or exposure logging is broken (bots, redirects, crashes in one arm), and
then no metric comparison can be trusted, however significant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from splitlab.stats.statistics import Status

__all__ = ["DEFAULT_SRM_THRESHOLD", "SrmResult", "srm_test"]

DEFAULT_SRM_THRESHOLD = 0.001
"""p-value below which an SRM alarm is raised (a strict threshold, because the check runs on every
look at every experiment and a false alarm stops a healthy experiment)."""


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Chi-square goodness-of-fit test of observed unit counts against the allocation."""

    status: Status
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    statistic: float
    df: int
    p_value: float
    threshold: float

    @property
    def alarm(self) -> bool:
        """Whether the split is implausible under the allocation (``p < threshold``)."""
        return self.status is Status.OK and self.p_value < self.threshold


def srm_test(
    observed: Sequence[int],
    weights: Sequence[float],
    *,
    threshold: float = DEFAULT_SRM_THRESHOLD,
) -> SrmResult:
    """Pearson chi-square goodness-of-fit test of per-variant unit counts against the allocation.

    Estimator: expected counts ``E_v = N w_v / Σw``, statistic ``Σ (O_v - E_v)² / E_v`` referred to
    a chi-square distribution with ``k - 1`` degrees of freedom. Assumptions: units assigned
    independently with the given probabilities; expected counts large enough (≳ 5) for the
    chi-square approximation. With no units at all the status is ``empty_variant`` (nothing to
    test). Weights need not sum to 1. A variant with weight 0 (switched off) is left out of the
    test while it has no units; any unit in it is impossible under the allocation, so the statistic
    is infinite and the p-value 0. Reference: Pearson (1900); Fabijan et al. (2019), "Diagnosing
    sample ratio mismatch in online controlled experiments", KDD. Equals
    ``scipy.stats.chisquare(observed, expected)`` over the variants with positive weight.
    """
    if len(observed) != len(weights):
        raise ValueError(f"{len(observed)} observed counts but {len(weights)} weights")
    if len(observed) < 2:
        raise ValueError("an SRM check needs at least two variants")
    if any(o < 0 for o in observed):
        raise ValueError("observed counts cannot be negative")
    if any(not (w >= 0 and math.isfinite(w)) for w in weights) or not sum(weights) > 0:
        raise ValueError("allocation weights must be finite, non-negative and not all zero")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1) (got {threshold})")
    counts = np.asarray(observed, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    total = counts.sum()
    expected = total * w / w.sum()
    active = w > 0
    df = int(active.sum()) - 1

    def result(status: Status, statistic: float, p_value: float) -> SrmResult:
        return SrmResult(
            status=status,
            observed=tuple(int(o) for o in observed),
            expected=tuple(float(e) for e in expected),
            statistic=statistic,
            df=df,
            p_value=p_value,
            threshold=threshold,
        )

    if total == 0:
        return result(Status.EMPTY_VARIANT, math.nan, math.nan)
    if np.any(counts[~active] > 0):
        return result(Status.OK, math.inf, 0.0)
    if df == 0:
        # One variant takes all the traffic and has all the units: exactly as allocated.
        return result(Status.OK, 0.0, 1.0)
    c, e = counts[active], expected[active]
    statistic = float(np.sum((c - e) ** 2 / e))
    return result(Status.OK, statistic, float(special.chdtrc(df, statistic)))
