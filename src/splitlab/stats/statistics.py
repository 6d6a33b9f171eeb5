"""Sufficient statistics: the only inputs the statistics engine needs.

A variant's metric is summarised by ``n`` (units), ``Σx`` and ``Σx²``; CUPED additionally needs the
pre-exposure covariate's sums and the cross-product ``Σxy``. All of them are plain sums, so SQL can
compute them with ``COUNT``/``SUM`` and partial aggregates (days, segments, shards) combine with
``+``. This mirrors the statistic objects of GrowthBook's gbstats
(https://github.com/growthbook/growthbook/tree/main/packages/stats).

Malformed input (a negative count, a negative sum of squares) raises :class:`ValueError` where it
enters; data that is merely too thin to analyse is reported through :class:`Status` by the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "Alternative",
    "RegressionStats",
    "SampleStats",
    "Status",
]

Alternative = Literal["two-sided", "greater", "less"]
"""The alternative hypothesis about ``treatment - control``, named as in :mod:`scipy.stats`."""

# A variance below this fraction of the mean square is indistinguishable from rounding error in
# ``Σx² - (Σx)²/n`` (catastrophic cancellation), so it is reported as exactly zero.
_RELATIVE_VARIANCE_FLOOR = 64 * np.finfo(np.float64).eps


class Status(StrEnum):
    """Outcome of an analysis: ``ok`` or the reason the data could not be analysed (fully).

    ``non_positive_control_mean`` means only the relative lift is undefined (control mean zero,
    negative, or too close to zero to divide by); absolute results are still reported.
    ``degenerate_variant``: the delta method gives the relative lift no spread at all (a treatment
    without a single conversion, or both variants constant), so its interval and the Bayesian
    figures (which rest on it) are left out; the absolute results are still reported.
    """

    OK = "ok"
    EMPTY_VARIANT = "empty_variant"
    INSUFFICIENT_DATA = "insufficient_data"
    ZERO_VARIANCE = "zero_variance"
    NON_POSITIVE_CONTROL_MEAN = "non_positive_control_mean"
    DEGENERATE_VARIANT = "degenerate_variant"

    @property
    def has_absolute(self) -> bool:
        """Whether the absolute lift, its interval and the p-value are reported."""
        return self in (Status.OK, Status.NON_POSITIVE_CONTROL_MEAN, Status.DEGENERATE_VARIANT)


def _variance(n: int, total: float, total_sq: float) -> float:
    """Unbiased (n - 1 denominator) variance from sums, clamped to 0 inside rounding error."""
    if n < 2:
        return math.nan
    mean_sq = total_sq / n
    centred = total_sq - total * total / n
    if centred <= _RELATIVE_VARIANCE_FLOOR * mean_sq * n:
        return 0.0
    return centred / (n - 1)


def _check_count(n: int) -> None:
    if n < 0:
        raise ValueError(f"a count of units cannot be negative (got n={n})")


@dataclass(frozen=True, slots=True)
class SampleStats:
    """Sufficient statistics of one metric in one variant: ``n``, ``Σx`` and ``Σx²``.

    A conversion (binomial) metric is the special case ``x ∈ {0, 1}``, where ``Σx² = Σx``; build it
    with :meth:`binomial`. Variance uses the ``n - 1`` denominator (unbiased estimator).
    """

    n: int
    sum: float
    sum_sq: float

    def __post_init__(self) -> None:
        _check_count(self.n)
        if self.sum_sq < 0:
            raise ValueError(f"a sum of squares cannot be negative (got {self.sum_sq})")

    def __add__(self, other: SampleStats) -> SampleStats:
        if not isinstance(other, SampleStats):
            return NotImplemented
        return SampleStats(self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq)

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> SampleStats:
        """Sufficient statistics of a one-dimensional array of per-unit values."""
        array = np.asarray(values, dtype=np.float64).ravel()
        return cls(int(array.size), float(array.sum()), float(np.dot(array, array)))

    @classmethod
    def binomial(cls, n: int, conversions: int) -> SampleStats:
        """Statistics of a conversion metric: ``conversions`` of ``n`` units converted (0/1)."""
        _check_count(n)
        if not 0 <= conversions <= n:
            raise ValueError(f"conversions must be between 0 and n={n} (got {conversions})")
        return cls(n, float(conversions), float(conversions))

    @property
    def mean(self) -> float:
        """Sample mean ``Σx / n`` (NaN when ``n == 0``)."""
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Unbiased sample variance ``(Σx² - (Σx)²/n) / (n - 1)`` (NaN when ``n < 2``)."""
        return _variance(self.n, self.sum, self.sum_sq)

    @property
    def std(self) -> float:
        """Sample standard deviation (square root of :attr:`variance`)."""
        return math.sqrt(self.variance) if self.n >= 2 else math.nan


@dataclass(frozen=True, slots=True)
class RegressionStats:
    """Joint sufficient statistics of a pre-exposure covariate ``x`` and a metric ``y`` (CUPED).

    ``x`` is usually the same metric measured before each unit's first exposure; ``y`` is the metric
    after exposure. Units with no pre-period data contribute ``x = 0``.
    """

    n: int
    sum_x: float
    sum_x2: float
    sum_y: float
    sum_y2: float
    sum_xy: float

    def __post_init__(self) -> None:
        _check_count(self.n)
        if self.sum_x2 < 0 or self.sum_y2 < 0:
            raise ValueError("a sum of squares cannot be negative")

    def __add__(self, other: RegressionStats) -> RegressionStats:
        if not isinstance(other, RegressionStats):
            return NotImplemented
        return RegressionStats(
            self.n + other.n,
            self.sum_x + other.sum_x,
            self.sum_x2 + other.sum_x2,
            self.sum_y + other.sum_y,
            self.sum_y2 + other.sum_y2,
            self.sum_xy + other.sum_xy,
        )

    @classmethod
    def from_values(cls, x: npt.ArrayLike, y: npt.ArrayLike) -> RegressionStats:
        """Sufficient statistics of paired per-unit arrays ``x`` (covariate) and ``y`` (metric)."""
        xs = np.asarray(x, dtype=np.float64).ravel()
        ys = np.asarray(y, dtype=np.float64).ravel()
        if xs.shape != ys.shape:
            raise ValueError(f"x and y must have the same length ({xs.size} != {ys.size})")
        return cls(
            int(xs.size),
            float(xs.sum()),
            float(np.dot(xs, xs)),
            float(ys.sum()),
            float(np.dot(ys, ys)),
            float(np.dot(xs, ys)),
        )

    @property
    def x(self) -> SampleStats:
        """The covariate's own sufficient statistics."""
        return SampleStats(self.n, self.sum_x, self.sum_x2)

    @property
    def y(self) -> SampleStats:
        """The metric's own sufficient statistics (what an unadjusted analysis uses)."""
        return SampleStats(self.n, self.sum_y, self.sum_y2)

    @property
    def covariance(self) -> float:
        """Unbiased sample covariance ``(Σxy - Σx·Σy/n) / (n - 1)`` (NaN when ``n < 2``)."""
        if self.n < 2:
            return math.nan
        return (self.sum_xy - self.sum_x * self.sum_y / self.n) / (self.n - 1)
