"""CUPED: variance reduction with a pre-exposure covariate.

Each unit's metric ``y`` is adjusted by ``θ (x - x̄)`` where ``x`` is the same metric measured before
the unit's first exposure and ``x̄`` the mean of ``x`` over all variants. Because ``x`` is measured
before assignment it is independent of the treatment, so the adjustment leaves the expected
difference in means unchanged while removing the part of the variance that ``x`` explains (a
fraction ``rho²``, the squared correlation). The adjusted means and variances feed the same Welch
test.

Reference: Deng, Xu, Kohavi & Walker (2013), "Improving the sensitivity of online controlled
experiments by utilizing pre-experiment data", WSDM; GrowthBook's regression adjustment
(https://docs.growthbook.io/statistics/cuped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from splitlab.stats.statistics import RegressionStats

__all__ = ["CupedAdjustment", "CupedArrays", "cuped_adjust", "cuped_from_sums"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CupedArrays:
    """Vectorised adjustment; the last axis indexes variants, leading axes are independent sets."""

    theta: FloatArray
    mean: FloatArray
    variance: FloatArray
    n: FloatArray
    variance_ratio: FloatArray


@dataclass(frozen=True, slots=True)
class CupedAdjustment:
    """CUPED result for one metric: per-variant adjusted moments, in the variants' order.

    ``variance_ratio`` is the pooled within-variant variance after adjustment divided by before
    (≈ ``1 - rho²``); ``variance_reduction`` is ``1 - variance_ratio``.
    """

    theta: float
    means: tuple[float, ...]
    variances: tuple[float, ...]
    ns: tuple[int, ...]
    variance_ratio: float

    @property
    def variance_reduction(self) -> float:
        """Fraction of the metric's variance removed by the adjustment."""
        return 1.0 - self.variance_ratio


def cuped_from_sums(
    n: npt.ArrayLike,
    sum_x: npt.ArrayLike,
    sum_x2: npt.ArrayLike,
    sum_y: npt.ArrayLike,
    sum_y2: npt.ArrayLike,
    sum_xy: npt.ArrayLike,
) -> CupedArrays:
    """CUPED-adjusted means and variances from per-variant sums (last axis = variants).

    Estimator: ``θ = Σ_v S_xy,v / Σ_v S_xx,v`` from the within-variant centred cross-products
    (ordinary least squares of ``y`` on ``x`` with a variant fixed effect, so a treatment effect
    does not leak into ``θ``); adjusted mean ``ȳ_v - θ (x̄_v - x̄)``; adjusted variance
    ``(S_yy,v - 2θ S_xy,v + θ² S_xx,v) / (n_v - 1)``. ``θ = 0`` when ``x`` has no variance.

    Assumptions: ``x`` is unaffected by the treatment (measured before exposure); enough units that
    the estimation error of ``θ`` is negligible (it is ignored in the variance). Reference: Deng et
    al. (2013), WSDM, §3.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (n, sum_x, sum_x2, sum_y, sum_y2, sum_xy)]
    nn, sx, sx2, sy, sy2, sxy = np.broadcast_arrays(*arrays)
    with np.errstate(all="ignore"):
        safe_n = np.where(nn > 0, nn, 1.0)
        sxx_c = np.maximum(sx2 - sx * sx / safe_n, 0.0)
        syy_c = np.maximum(sy2 - sy * sy / safe_n, 0.0)
        sxy_c = sxy - sx * sy / safe_n
        pooled_sxx = sxx_c.sum(axis=-1)
        pooled_syy = syy_c.sum(axis=-1)
        theta = np.where(pooled_sxx > 0, sxy_c.sum(axis=-1) / pooled_sxx, 0.0)
        th = theta[..., np.newaxis]
        total_n = nn.sum(axis=-1, keepdims=True)
        grand_x = np.where(total_n > 0, sx.sum(axis=-1, keepdims=True) / total_n, 0.0)
        mean = np.where(nn > 0, (sy - th * (sx - grand_x * nn)) / safe_n, np.nan)
        resid = np.maximum(syy_c - 2.0 * th * sxy_c + th * th * sxx_c, 0.0)
        variance = np.where(nn >= 2, resid / (nn - 1.0), np.nan)
        ratio = np.where(pooled_syy > 0, resid.sum(axis=-1) / pooled_syy, np.nan)
    return CupedArrays(
        theta=np.asarray(theta, dtype=np.float64),
        mean=np.asarray(mean, dtype=np.float64),
        variance=np.asarray(variance, dtype=np.float64),
        n=np.asarray(nn, dtype=np.float64),
        variance_ratio=np.asarray(ratio, dtype=np.float64),
    )


def cuped_adjust(stats: Sequence[RegressionStats]) -> CupedAdjustment:
    """CUPED adjustment of one metric across variants (control first by convention).

    Estimator, assumptions and reference as in :func:`cuped_from_sums`.
    """
    if not stats:
        raise ValueError("cuped_adjust needs at least one variant")
    columns = np.array(
        [[s.n, s.sum_x, s.sum_x2, s.sum_y, s.sum_y2, s.sum_xy] for s in stats], dtype=np.float64
    )
    arrays = cuped_from_sums(*columns.T)
    return CupedAdjustment(
        theta=float(arrays.theta),
        means=tuple(float(m) for m in arrays.mean),
        variances=tuple(float(v) for v in arrays.variance),
        ns=tuple(s.n for s in stats),
        variance_ratio=float(arrays.variance_ratio),
    )
