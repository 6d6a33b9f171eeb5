"""``analyse``: an experiment's aggregates → statistics → results and a verdict.

One SQL query returns every metric's sufficient statistics per variant (plus pre-exposure sums
for CUPED); everything after that is arithmetic on a handful of numbers, so results are cheap
enough to recompute on every page load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy.orm import Session

from splitlab.analysis import repository
from splitlab.analysis.planning import sequential_tuning
from splitlab.analysis.schemas import (
    ComparisonResult,
    DisagreementCheck,
    ExperimentResults,
    MetricResult,
    MetricSummary,
    SampleSizeEstimate,
    SrmResult,
    VariantResult,
    VariantStats,
)
from splitlab.analysis.verdict import Verdict, decide_verdict
from splitlab.events.aggregates import (
    MetricAggregate,
    MetricSpec,
    exposure_counts,
    sufficient_statistics,
)
from splitlab.experiments import service as experiments
from splitlab.metrics import service as metrics_service
from splitlab.metrics.model import MetricKind
from splitlab.stats import (
    Correction,
    GaussianPrior,
    RegressionStats,
    SampleStats,
    VariantSummary,
    achieved_power,
    adjust_p_values,
    analyse,
    days_needed,
    sample_size,
    srm_test,
)
from splitlab.storage.base import utcnow
from splitlab.storage.models import Experiment, Metric, Variant, Workspace


@dataclass(frozen=True, slots=True)
class _Ordered:
    """Variants with the control first: the order every statistics call expects."""

    variants: list[Variant]

    @classmethod
    def of(cls, experiment: Experiment) -> _Ordered:
        control = [v for v in experiment.variants if v.is_control]
        return cls(control + [v for v in experiment.variants if not v.is_control])

    @property
    def control(self) -> Variant:
        return self.variants[0]

    @property
    def treatments(self) -> list[Variant]:
        return self.variants[1:]


def _stats(
    aggregate: MetricAggregate | None, users: int, use_cuped: bool
) -> SampleStats | RegressionStats:
    if aggregate is None:
        return (
            RegressionStats(users, 0.0, 0.0, 0.0, 0.0, 0.0)
            if use_cuped
            else SampleStats(users, 0.0, 0.0)
        )
    if use_cuped:
        return RegressionStats(
            aggregate.n,
            aggregate.pre_sum,
            aggregate.pre_sum_sq,
            aggregate.sum,
            aggregate.sum_sq,
            aggregate.sum_cross,
        )
    return SampleStats(aggregate.n, aggregate.sum, aggregate.sum_sq)


def _summary_stats(summary: VariantSummary) -> SampleStats:
    """Sufficient statistics with the analysed (possibly CUPED-adjusted) mean and variance."""
    n = summary.n
    if n == 0 or not math.isfinite(summary.mean):
        return SampleStats(n, 0.0, 0.0)
    spread = (n - 1) * summary.variance if n >= 2 and math.isfinite(summary.variance) else 0.0
    return SampleStats(n, n * summary.mean, spread + n * summary.mean**2)


def _cuped_usable(experiment: Experiment, aggregates: list[MetricAggregate | None]) -> bool:
    """CUPED needs pre-exposure data with some spread in every variant, else it cannot help."""
    if not experiment.cuped:
        return False
    for aggregate in aggregates:
        if aggregate is None or aggregate.n < 2:
            return False
        pre_variance = aggregate.pre_sum_sq - aggregate.pre_sum**2 / aggregate.n
        if not pre_variance > 1e-12:
            return False
    return True


def _tuning(experiment: Experiment) -> float:
    return sequential_tuning(experiment.sequential_tuning, experiment.planned_sample_size)


def _prior(experiment: Experiment) -> GaussianPrior:
    """The experiment's prior on the relative lift; no standard deviation is a flat prior."""
    if experiment.prior_stddev is None:
        return GaussianPrior(mean=experiment.prior_mean, variance=0.0, proper=False)
    return GaussianPrior(mean=experiment.prior_mean, variance=experiment.prior_stddev**2)


#: The families p-values are adjusted within: a metric's role decides its family.
_FAMILIES = {
    "primary": "the primary metric's treatments",
    "secondary": "secondary metrics",
    "guardrail": "guardrails",
}


def _adjust_families(experiment: Experiment, results: list[MetricResult]) -> list[MetricResult]:
    """Adjust p-values within each family of comparisons, with the experiment's correction:
    the primary metric across its treatments (the verdict's), the secondary metrics across
    metrics and treatments, the guardrails across metrics and treatments (five guardrails
    tested at 5 % each stop 23 % of A/A experiments; adjusted, at most 5 %)."""
    alpha = 1 - experiment.confidence_level
    method = cast(Correction, experiment.correction)
    adjusted: dict[tuple[int, int], float] = {}
    #: Tests in each family: the comparisons with a p-value (the others are left out of it).
    sizes: dict[str, int] = {}
    for role in _FAMILIES:
        members = [
            (m, c)
            for m, metric in enumerate(results)
            if metric.role == role
            for c in range(len(metric.comparisons))
        ]
        raw = [results[m].comparisons[c].p_value for m, c in members]
        tested = [math.nan if p is None else p for p in raw]
        values = adjust_p_values(tested, method)
        adjusted.update(zip(members, (float(v) for v in values), strict=True))
        sizes[role] = sum(not math.isnan(p) for p in tested)
    out = []
    for m, metric in enumerate(results):
        comparisons = []
        for c, comparison in enumerate(metric.comparisons):
            p = adjusted.get((m, c), math.nan)
            comparisons.append(
                comparison.model_copy(
                    update={
                        "p_value_adjusted": None if math.isnan(p) else p,
                        "significant": (not math.isnan(p)) and p < alpha,
                    }
                )
            )
        family = _FAMILIES.get(metric.role, metric.role)
        described = f"{method} across {family} ({sizes.get(metric.role, 0)} tests)"
        out.append(metric.model_copy(update={"comparisons": comparisons, "correction": described}))
    return out


def _analyse_metric(
    experiment: Experiment,
    metric: Metric,
    ordered: _Ordered,
    aggregates: dict[str, dict[str, MetricAggregate]],
    users: dict[str, int],
) -> MetricResult:
    per_variant = [aggregates.get(v.key, {}).get(metric.name) for v in ordered.variants]
    use_cuped = _cuped_usable(experiment, per_variant)
    stats = [
        _stats(a, users[v.key], use_cuped)
        for a, v in zip(per_variant, ordered.variants, strict=True)
    ]
    analysis = analyse(
        stats[0],
        stats[1:],
        confidence_level=experiment.confidence_level,
        # Adjusted afterwards, across the metric's whole family (``_adjust_families``).
        correction="none",
        sequential=experiment.sequential_testing,
        sequential_tuning=_tuning(experiment),
        cuped=use_cuped,
        prior=_prior(experiment),
        higher_is_better=metric.higher_is_better,
    )
    alpha = 1 - experiment.confidence_level
    # Power for the test actually run: with CUPED, on the adjusted (smaller) variances, the same
    # ones the sample-size estimate uses.
    analysed = [_summary_stats(v) for v in analysis.variants]
    comparisons = []
    for variant, comparison, treatment in zip(
        ordered.treatments, analysis.comparisons, analysed[1:], strict=True
    ):
        power = achieved_power(
            analysed[0],
            treatment,
            mde=experiment.minimum_detectable_effect,
            alpha=alpha,
            sequential_tuning=_tuning(experiment) if experiment.sequential_testing else None,
        )
        comparisons.append(
            ComparisonResult(
                variant_key=variant.key,
                status=comparison.status.value,
                absolute_lift=comparison.absolute_lift,
                absolute_ci=comparison.absolute_ci,
                relative_lift=comparison.relative_lift,
                relative_ci=comparison.relative_ci,
                p_value=comparison.p_value,
                p_value_adjusted=comparison.adjusted_p_value,
                significant=comparison.significant,
                chance_to_beat_control=comparison.chance_to_beat_control,
                risk={"control": comparison.risk_control, "treatment": comparison.risk_treatment},
                credible_interval=comparison.credible_interval,
                power=power.power,
            )
        )
    return MetricResult(
        name=metric.name,
        event_type=metric.event_type,
        kind=metric.kind,
        role=metric.role,
        higher_is_better=metric.higher_is_better,
        method=analysis.method,
        correction=analysis.correction,
        variance_reduction=analysis.variance_reduction,
        variants=[
            VariantStats(
                variant_key=v.key,
                is_control=v.is_control,
                users=s.n,
                mean=s.mean,
                variance=s.variance,
            )
            for v, s in zip(ordered.variants, analysis.variants, strict=True)
        ],
        comparisons=comparisons,
    )


def _method_description(experiment: Experiment, metric_results: list[MetricResult]) -> str:
    parts = [
        "Welch's t-test with always-valid confidence sequences (sequential)"
        if experiment.sequential_testing
        else "Welch's t-test (fixed horizon)",
        "delta-method intervals on relative lift",
        f"p-values adjusted ({experiment.correction}) within each family: the primary "
        "metric's treatments, secondary metrics, guardrails",
        "Bayesian chance to beat control",
    ]
    if any("cuped" in m.method for m in metric_results):
        parts.append("CUPED variance reduction on a 14-day pre-exposure window")
    return "; ".join(parts)


def _exposure_rates(
    experiment: Experiment,
    users: dict[str, int],
    span: tuple[datetime | None, datetime | None],
) -> dict[str, float] | None:
    """Randomised exposures per day and variant, over the time the experiment has exposed users.

    A running experiment's window ends now; a paused or finished one's at its last exposure, so
    a pause does not dilute the rate. The window is at least an hour, so the first minutes of
    traffic do not extrapolate to absurd rates.
    """
    first, last = span
    if first is None:
        return None
    end = utcnow() if experiment.status == "running" or last is None else last
    elapsed_days = max((end - first).total_seconds() / 86400, 1 / 24)
    return {key: n / elapsed_days for key, n in users.items()}


def _days_to(targets: dict[str, int], users: dict[str, int], rates: dict[str, float]) -> int | None:
    """Whole days until every variant has its target number of users at its current rate."""
    days = [days_needed(targets[key], rates[key], users[key]) for key in targets]
    if any(d is None for d in days):
        return None
    return max((d for d in days if d is not None), default=0)


def _sample_size(
    experiment: Experiment,
    ordered: _Ordered,
    primary: MetricResult | None,
    users: dict[str, int],
    rates: dict[str, float] | None,
) -> SampleSizeEstimate | None:
    """Users needed for the primary metric's MDE, and days left at the current exposure rate.

    The target of each variant is the larger of what the MDE needs and ``min_sample_size`` (no
    winner is named before it), so ``days_remaining`` answers "how much longer to keep running".
    """
    if primary is None:
        return None
    control = primary.variants[0]
    if (
        control.mean is None
        or control.variance is None
        or not control.mean > 0
        or control.users < 2
    ):
        return None
    # A variant switched off (allocation 0) gets no users and needs none.
    active = [v for v in ordered.variants if v.allocation > 0]
    if ordered.control not in active or len(active) < 2:
        return None
    try:
        estimate = sample_size(
            baseline_mean=control.mean,
            baseline_variance=control.variance,
            mde=experiment.minimum_detectable_effect,
            alpha=1 - experiment.confidence_level,
            n_variants=len(active),
            weights=[v.allocation for v in active],
            sequential_tuning=_tuning(experiment) if experiment.sequential_testing else None,
        )
    except ValueError:
        # The MDE is too small beside this metric's spread for any experiment to detect: no
        # estimate, as for a metric that cannot be planned.
        return None
    if estimate.status.value != "ok":
        return None
    per_variant = {v.key: 0 for v in ordered.variants} | dict(
        zip((v.key for v in active), estimate.users_per_variant, strict=True)
    )
    needed = {v.key: max(per_variant[v.key], experiment.min_sample_size) for v in active}
    return SampleSizeEstimate(
        metric=primary.name,
        minimum_detectable_effect=experiment.minimum_detectable_effect,
        users_per_variant=per_variant,
        total_users=estimate.total_users,
        exposures_per_day=sum(rates.values()) if rates is not None else None,
        days_remaining=_days_to(needed, users, rates) if rates is not None else None,
    )


def experiment_results(session: Session, workspace: Workspace, ref: str | int) -> ExperimentResults:
    """Every metric of the experiment analysed, the SRM check, and the verdict."""
    experiment = experiments.get_experiment(session, workspace, ref)
    ordered = _Ordered.of(experiment)
    definitions = metrics_service.list_metrics(session, experiment.id)
    counts = exposure_counts(session, experiment.id, experiment.bucket_version)
    users = {v.key: counts.get(v.id, 0) for v in ordered.variants}
    overridden = repository.override_count(session, experiment.id, experiment.bucket_version)
    aggregates = (
        sufficient_statistics(
            session,
            experiment_id=experiment.id,
            bucket_version=experiment.bucket_version,
            metrics=[MetricSpec(m.name, m.event_type, MetricKind(m.kind)) for m in definitions],
            counts=counts,
        )
        if definitions
        else {}
    )
    metric_results = _adjust_families(
        experiment,
        [_analyse_metric(experiment, m, ordered, aggregates, users) for m in definitions],
    )
    srm = srm_test(
        [users[v.key] for v in ordered.variants], [v.allocation for v in ordered.variants]
    )
    srm_result = SrmResult(
        status=srm.status.value,
        p_value=srm.p_value,
        statistic=srm.statistic,
        alarm=srm.alarm,
        threshold=srm.threshold,
        observed=users,
        expected={v.key: e for v, e in zip(ordered.variants, srm.expected, strict=True)},
    )
    disagreeing = repository.disagreement_counts(session, experiment.id, experiment.bucket_version)
    per_variant = {v.key: disagreeing.get(v.id, 0) for v in ordered.variants}
    disagreements = DisagreementCheck(
        total=sum(per_variant.values()),
        per_variant=per_variant,
        share=sum(per_variant.values()) / sum(users.values()) if sum(users.values()) else None,
    )
    primary = next((m for m in metric_results if m.role == "primary"), None)
    rates = _exposure_rates(
        experiment,
        users,
        repository.exposure_span(session, experiment.id, experiment.bucket_version),
    )
    estimate = _sample_size(experiment, ordered, primary, users, rates)
    verdict: Verdict = decide_verdict(
        experiment=experiment,
        users=users,
        metrics=metric_results,
        primary=primary,
        srm=srm_result,
        estimate=estimate,
        overridden=overridden,
        min_sample_days=_days_to(
            {v.key: experiment.min_sample_size for v in ordered.variants if v.allocation > 0},
            users,
            rates,
        )
        if rates is not None
        else None,
    )
    return ExperimentResults(
        experiment_key=experiment.key,
        status=experiment.status,
        total_users=sum(users.values()),
        overridden_users=overridden,
        variant_metrics=[
            VariantResult(
                variant_key=v.key,
                name=v.name,
                is_control=v.is_control,
                allocation=v.allocation,
                users=users[v.key],
                metrics={
                    name: MetricSummary(
                        n=a.n,
                        sum=a.sum,
                        mean=a.sum / a.n if a.n else None,
                        # SampleStats clamps rounding error in Σx² - (Σx)²/n to exactly 0.
                        variance=SampleStats(a.n, a.sum, a.sum_sq).variance if a.n > 1 else None,
                    )
                    for name, a in aggregates.get(v.key, {}).items()
                },
            )
            for v in ordered.variants
        ],
        is_significant=verdict.is_significant,
        p_value=verdict.p_value,
        winning_variant=verdict.winner,
        recommendation=verdict.recommendation,
        statistical_power=verdict.power,
        method=metric_results[0].method
        if metric_results
        else ("welch-sequential" if experiment.sequential_testing else "welch"),
        method_description=_method_description(experiment, metric_results),
        confidence_level=experiment.confidence_level,
        control_variant=ordered.control.key,
        primary_metric=primary.name if primary else None,
        srm=srm_result,
        exposure_disagreements=disagreements,
        metrics=metric_results,
        sample_size=estimate,
    )
