"""Splitlab's statistics engine: a pure numpy/scipy library over sufficient statistics.

Summarise each variant's metric as :class:`SampleStats` (``n``, ``Σx``, ``Σx²``) — or
:class:`RegressionStats` to use a pre-exposure covariate (CUPED) — and call :func:`analyse`::

    from splitlab.stats import SampleStats, analyse, srm_test

    control = SampleStats.binomial(n=10_000, conversions=1_000)
    treatment = SampleStats.binomial(n=10_000, conversions=1_100)
    result = analyse(control, [treatment])
    result.comparisons[0].relative_lift, result.comparisons[0].p_value
    srm_test([10_000, 10_000], [0.5, 0.5]).alarm

Nothing here imports the web or database layers; results carry a :class:`Status` instead of raising
on data that cannot be analysed.
"""

from splitlab.stats.bayesian import (
    DEFAULT_PRIOR,
    BayesianArrays,
    BayesianResult,
    GaussianPrior,
    bayesian_from_estimates,
    bayesian_test,
)
from splitlab.stats.corrections import Correction, adjust_p_values
from splitlab.stats.cuped import CupedAdjustment, CupedArrays, cuped_adjust, cuped_from_sums
from splitlab.stats.frequentist import (
    ComparisonArrays,
    FrequentistResult,
    compare_moments,
    compare_proportions,
    proportions_ztest,
    welch_test,
)
from splitlab.stats.power import (
    PowerResult,
    SampleSizeResult,
    achieved_power,
    days_needed,
    power,
    sample_size,
    sample_size_proportion,
    sequential_power,
)
from splitlab.stats.results import Comparison, MetricAnalysis, VariantSummary, analyse
from splitlab.stats.sequential import (
    DEFAULT_SEQUENTIAL_TUNING,
    confidence_sequence_halfwidth,
    mixture_p_value,
)
from splitlab.stats.srm import DEFAULT_SRM_THRESHOLD, SrmResult, srm_test
from splitlab.stats.statistics import Alternative, RegressionStats, SampleStats, Status

__all__ = [
    "DEFAULT_PRIOR",
    "DEFAULT_SEQUENTIAL_TUNING",
    "DEFAULT_SRM_THRESHOLD",
    "Alternative",
    "BayesianArrays",
    "BayesianResult",
    "Comparison",
    "ComparisonArrays",
    "Correction",
    "CupedAdjustment",
    "CupedArrays",
    "FrequentistResult",
    "GaussianPrior",
    "MetricAnalysis",
    "PowerResult",
    "RegressionStats",
    "SampleSizeResult",
    "SampleStats",
    "SrmResult",
    "Status",
    "VariantSummary",
    "achieved_power",
    "adjust_p_values",
    "analyse",
    "bayesian_from_estimates",
    "bayesian_test",
    "compare_moments",
    "compare_proportions",
    "confidence_sequence_halfwidth",
    "cuped_adjust",
    "cuped_from_sums",
    "days_needed",
    "mixture_p_value",
    "power",
    "proportions_ztest",
    "sample_size",
    "sample_size_proportion",
    "sequential_power",
    "srm_test",
    "welch_test",
]
