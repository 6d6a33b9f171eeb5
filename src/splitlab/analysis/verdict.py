"""The verdict: whether there is a winner, and one sentence saying what to do and why.

A winner is named only when the primary metric improves significantly in its good direction, no
guardrail is significantly harmed, every variant has reached the minimum sample size, and the
split passes the sample-ratio-mismatch check.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from splitlab.analysis.schemas import ComparisonResult, MetricResult, SampleSizeEstimate, SrmResult
from splitlab.storage.models import Experiment

#: Below this power to detect the minimum detectable effect, a significant result says so.
LOW_POWER = 0.5


@dataclass(frozen=True, slots=True)
class Verdict:
    winner: str | None
    is_significant: bool
    p_value: float | None
    power: float | None
    recommendation: str


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value * 100:+.1f}%"


def _good(metric: MetricResult, comparison: ComparisonResult) -> bool:
    """Whether the treatment moved the metric in its good direction: the sign of the absolute
    difference, which is always defined (a relative lift is NaN when the control's mean is 0,
    and has the wrong sign when it is negative: -0.50 to -0.20 is +0.30, but "-60 %")."""
    lift = comparison.absolute_lift
    if lift is None or not math.isfinite(lift):
        return False
    return (lift > 0) == metric.higher_is_better


def _number(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.4g}"


def _difference(metric: MetricResult, value: float | None) -> str:
    """An absolute difference in the metric's unit: percentage points for a conversion rate."""
    if value is not None and math.isfinite(value) and metric.kind == "conversion":
        return f"{value * 100:+.2f} pp"
    return _number(value)


def _relative_known(c: ComparisonResult) -> bool:
    return c.relative_lift is not None and math.isfinite(c.relative_lift)


def _lift(metric: MetricResult, c: ComparisonResult) -> str:
    """The relative lift, or the absolute difference when there is no ratio (control mean 0)."""
    if _relative_known(c):
        return _pct(c.relative_lift)
    return f"{_difference(metric, c.absolute_lift)} absolute"


def _evidence(metric: MetricResult, c: ComparisonResult, confidence: str) -> str:
    """The interval the verdict quotes: the absolute difference's, from the same test as the
    p-value that made it significant (one construction: they can never disagree)."""
    low, high = c.absolute_ci
    interval = f"{confidence} interval [{_difference(metric, low)}, {_difference(metric, high)}]"
    if _relative_known(c):
        return f"{_difference(metric, c.absolute_lift)}, {interval}"
    return interval


_UNUSABLE = {
    "zero_variance": "every user has the same value so far (e.g. nobody has converted)",
    "non_positive_control_mean": "the control's mean is 0, so the relative MDE means nothing yet",
    "insufficient_data": "a variant has fewer than 2 users",
    "empty_variant": "a variant has no users",
}


def _more_days(days: int | None) -> str:
    if not days:
        return ""
    return f"; about {days} more day{'s' if days != 1 else ''} at the current rate"


def decide_verdict(
    *,
    experiment: Experiment,
    users: dict[str, int],
    metrics: list[MetricResult],
    primary: MetricResult | None,
    srm: SrmResult,
    estimate: SampleSizeEstimate | None,
    overridden: int = 0,
    min_sample_days: int | None = None,
) -> Verdict:
    """The winner (if any) and one sentence saying what to do and why (``_decide``); for a
    completed or cancelled experiment, what was decided and what the data showed, never an
    instruction to keep running or to send traffic to an experiment that takes none."""
    verdict = _decide(
        experiment=experiment,
        users=users,
        metrics=metrics,
        primary=primary,
        srm=srm,
        estimate=estimate,
        overridden=overridden,
        min_sample_days=min_sample_days,
    )
    if experiment.status not in ("completed", "cancelled"):
        return verdict
    if experiment.status == "completed":
        decided = (
            f"Completed with {experiment.winning_variant} as the winner"
            if experiment.winning_variant
            else "Completed without a winner"
        )
    else:
        decided = "Cancelled"
    showed = verdict.recommendation
    for instruction in ("Keep running: ", "Ship ", "Stop "):
        if showed.startswith(instruction):
            showed = showed.removeprefix(instruction)
            break
    showed = re.sub(r"[:;,]? ?(start it and )?send traffic\.?$", ".", showed)
    # The results name the winner that was decided (the data's own verdict is in the sentence).
    return dataclasses.replace(
        verdict,
        winner=experiment.winning_variant if experiment.status == "completed" else None,
        recommendation=f"{decided}. What the data showed: {showed}",
    )


def _decide(
    *,
    experiment: Experiment,
    users: dict[str, int],
    metrics: list[MetricResult],
    primary: MetricResult | None,
    srm: SrmResult,
    estimate: SampleSizeEstimate | None,
    overridden: int = 0,
    min_sample_days: int | None = None,
) -> Verdict:
    """The winner (if any) and one sentence saying what to do and why.

    ``min_sample_days`` is how long until every variant reaches ``min_sample_size`` at the
    current exposure rate; ``estimate.days_remaining`` how long until the MDE's sample size (and
    the minimum) is reached.
    """
    total = sum(users.values())
    confidence = f"{experiment.confidence_level * 100:g}%"
    if total == 0:
        if overridden:
            return Verdict(
                None,
                False,
                None,
                None,
                f"Only forced (override) users so far ({overridden:,}), and they are not "
                "randomised, so they are left out: send traffic through normal assignment.",
            )
        hint = "start it and send traffic" if experiment.status == "draft" else "send traffic"
        return Verdict(None, False, None, None, f"No users have been exposed yet: {hint}.")
    if srm.alarm:
        split = " / ".join(f"{k} {v:,}" for k, v in users.items())
        return Verdict(
            None,
            False,
            None,
            None,
            f"Investigate before trusting any result: the exposed split ({split}) does not match "
            f"the allocation (sample ratio mismatch, p = {srm.p_value:.2g}).",
        )
    if primary is None:
        return Verdict(
            None, False, None, None, "Track a metric for this experiment to get a verdict."
        )

    # Guardrails and the primary metric, significantly worse: stop.
    for metric in metrics:
        if metric.role not in ("guardrail", "primary"):
            continue
        for c in metric.comparisons:
            if c.significant and not _good(metric, c):
                what = "guardrail" if metric.role == "guardrail" else "primary metric"
                return Verdict(
                    None,
                    primary is metric,
                    c.p_value_adjusted,
                    c.power,
                    f"Stop {c.variant_key}: it significantly harms the {what} {metric.name} "
                    f"({_lift(metric, c)}; {_evidence(metric, c, confidence)}).",
                )

    winners = [c for c in primary.comparisons if c.significant and _good(primary, c)]
    best_p = min(
        (c.p_value_adjusted for c in primary.comparisons if c.p_value_adjusted is not None),
        default=None,
    )
    powers = [
        c.power for c in primary.comparisons if c.power is not None and math.isfinite(c.power)
    ]
    power = min(powers) if powers else None
    # A variant switched off (allocation 0) is not being tested: it cannot hold the others back.
    active = {v.key for v in experiment.variants if v.allocation > 0}
    short = {k: n for k, n in users.items() if k in active and n < experiment.min_sample_size}
    to_decide = _more_days(
        estimate.days_remaining
        if estimate is not None and estimate.days_remaining is not None
        else min_sample_days
    )
    if winners:
        # Every winner moved the same metric the good way against the same control: the largest
        # difference is the largest improvement (and, unlike the ratio, always defined).
        best = max(winners, key=lambda c: abs(c.absolute_lift or 0.0))
        if short:
            needed = ", ".join(f"{k} has {n:,}" for k, n in short.items())
            return Verdict(
                None,
                True,
                best.p_value_adjusted,
                power,
                f"Keep running: {best.variant_key} looks better on {primary.name} "
                f"({_lift(primary, best)}), but every variant needs "
                f"{experiment.min_sample_size:,} users before a winner is named "
                f"({needed}){_more_days(min_sample_days)}.",
            )
        caution = ""
        if power is not None and power < LOW_POWER:
            # Significant at low power: a real effect, but measured lifts that clear the bar
            # from a small sample overstate it (the winner's curse).
            mde = f"{experiment.minimum_detectable_effect * 100:g}%"
            caution = (
                f" The power to detect a {mde} lift is only {power * 100:.0f}%, so the true lift "
                "is likely smaller than measured."
            )
        return Verdict(
            best.variant_key,
            True,
            best.p_value_adjusted,
            power,
            f"Ship {best.variant_key}: it improves {primary.name} by {_lift(primary, best)} "
            f"({_evidence(primary, best, confidence)}) with no guardrail harmed.{caution}",
        )
    if short:
        needed = ", ".join(f"{k} has {n:,}" for k, n in short.items())
        return Verdict(
            None,
            False,
            best_p,
            power,
            f"Keep running: each variant needs at least {experiment.min_sample_size:,} users "
            f"({needed}){to_decide}.",
        )
    mde = f"{experiment.minimum_detectable_effect * 100:g}%"
    if power is None:
        # No comparison could be powered, so "no difference" would say nothing: name the reason.
        statuses = [c.status for c in primary.comparisons if c.status in _UNUSABLE]
        reason = _UNUSABLE[statuses[0]] if statuses else "its variances are not yet estimable"
        return Verdict(
            None,
            False,
            best_p,
            None,
            f"Keep running: {primary.name} cannot be compared yet because {reason}{to_decide}.",
        )
    if power < 0.8:
        return Verdict(
            None,
            False,
            best_p,
            power,
            f"Keep running: no significant difference on {primary.name} yet, and the power to "
            f"detect a {mde} lift is only {power * 100:.0f}%{to_decide}.",
        )
    return Verdict(
        None,
        False,
        best_p,
        power,
        f"Inconclusive: no significant difference on {primary.name}; with "
        f"{power * 100:.0f}% power to detect a {mde} lift, any real effect is likely "
        "smaller than that.",
    )
