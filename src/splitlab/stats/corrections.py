"""Multiple-comparison corrections for the p-values of several treatment-vs-control comparisons."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["Correction", "adjust_p_values"]

Correction = Literal["holm", "bh", "bonferroni", "none"]

FloatArray = npt.NDArray[np.float64]


def _holm(p: FloatArray) -> FloatArray:
    order = np.argsort(p)
    m = p.size
    stepped = np.maximum.accumulate(p[order] * np.arange(m, 0, -1))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _benjamini_hochberg(p: FloatArray) -> FloatArray:
    order = np.argsort(p)
    m = p.size
    # Same operation order as statsmodels, so even subnormal p-values agree bit for bit.
    scaled = p[order] / (np.arange(1, m + 1) / m)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def adjust_p_values(p_values: npt.ArrayLike, method: Correction = "holm") -> FloatArray:
    """Adjusted p-values for a family of tests; reject a hypothesis when its adjusted p < alpha.

    Estimators:
    - ``holm`` (default): Holm's step-down procedure, ``p̃_(i) = max_{j≤i} min(1, (m-j+1) p_(j))``;
      controls the family-wise error rate under any dependence. Holm (1979), "A simple sequentially
      rejective multiple test procedure", Scand. J. Statist. 6.
    - ``bh``: Benjamini-Hochberg step-up, ``p̃_(i) = min_{j≥i} min(1, m p_(j) / j)``; controls the
      false discovery rate for independent or positively dependent tests. Benjamini & Hochberg
      (1995), J. R. Statist. Soc. B 57.
    - ``bonferroni``: ``min(1, m p)``; ``none``: the raw p-values.

    NaN p-values (comparisons that could not be analysed) stay NaN and do not count towards ``m``.
    Equals ``statsmodels.stats.multitest.multipletests(p, method="holm" | "fdr_bh" |
    "bonferroni")[1]`` on the finite p-values.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("p_values must be one-dimensional")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    adjusted = np.full_like(p, np.nan)
    finite = ~np.isnan(p)
    valid = p[finite]
    if valid.size == 0:
        return adjusted
    if method == "holm":
        adjusted[finite] = _holm(valid)
    elif method == "bh":
        adjusted[finite] = _benjamini_hochberg(valid)
    elif method == "bonferroni":
        adjusted[finite] = np.minimum(valid * valid.size, 1.0)
    elif method == "none":
        adjusted[finite] = valid
    else:
        raise ValueError(f"unknown correction {method!r}; use holm, bh, bonferroni or none")
    return adjusted
