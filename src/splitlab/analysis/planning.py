"""Planning an experiment: users per variant for a minimum detectable effect, and days needed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from splitlab.errors import ValidationFailed
from splitlab.stats import (
    DEFAULT_SEQUENTIAL_TUNING,
    SampleSizeResult,
    days_needed,
    sample_size,
    sample_size_proportion,
)


@dataclass(frozen=True, slots=True)
class SampleSizePlan:
    result: SampleSizeResult
    days_needed: int | None


def sequential_tuning(explicit: float | None, planned_sample_size: int | None) -> float:
    """The sequential test's tuning: the users at which its confidence sequence is narrowest.

    An explicit tuning wins; else the planned sample size (tuned to where the experiment is meant
    to end, it needs about 2.4x rather than 3.5x the fixed-horizon sample for the same width);
    else 5,000. Either way it is fixed before the data: a tuning chosen from the data would void
    the always-valid guarantee.
    """
    if explicit is not None:
        return float(explicit)
    if planned_sample_size is not None:
        return float(planned_sample_size)
    return DEFAULT_SEQUENTIAL_TUNING


def _invalid(message: str, field: str) -> ValidationFailed:
    details: list[dict[str, Any]] = [
        {"loc": ["query", field], "msg": message, "type": "value_error"}
    ]
    return ValidationFailed(message, details=details)


def _solved(solver: Callable[..., SampleSizeResult], **inputs: Any) -> SampleSizeResult:
    """The solver's answer; inputs it refuses (an effect too small for any experiment to
    detect) are a validation error on ``mde``."""
    try:
        return solver(**inputs)
    except ValueError as exc:
        raise _invalid(str(exc), "mde") from None


def plan_sample_size(
    *,
    mde: float,
    baseline_rate: float | None,
    baseline_mean: float | None,
    baseline_variance: float | None,
    relative: bool,
    alpha: float,
    target_power: float,
    n_variants: int,
    allocation: Sequence[float] | None,
    exposures_per_day: float | None,
    sequential_tuning: float | None = None,
) -> SampleSizePlan:
    """Users each variant needs so every treatment-vs-control test reaches ``target_power``.

    Conversion metrics give ``baseline_rate``; numeric ones ``baseline_mean`` and
    ``baseline_variance``. Inputs the calculator cannot use (a lift beyond a rate of 100 %, a
    non-positive weight, a relative MDE on a non-positive baseline) are a validation error that
    names the offending parameter. With ``sequential_tuning`` the plan is for the always-valid
    (sequential) test, which needs more users for the same power.
    """
    if allocation is not None:
        if len(allocation) != n_variants:
            raise _invalid("allocation needs one weight per variant", "allocation")
        if any(not w > 0 for w in allocation):
            raise _invalid("every allocation weight must be positive", "allocation")
    if baseline_rate is not None:
        treated = baseline_rate * (1.0 + mde) if relative else baseline_rate + mde
        if not 0.0 < treated < 1.0:
            raise _invalid(
                f"a {mde:g} {'relative' if relative else 'absolute'} lift on a rate of "
                f"{baseline_rate:g} gives {treated:g}, which is not a rate between 0 and 1",
                "mde",
            )
        result = _solved(
            sample_size_proportion,
            baseline_rate=baseline_rate,
            mde=mde,
            relative=relative,
            alpha=alpha,
            target_power=target_power,
            n_variants=n_variants,
            weights=allocation,
            sequential_tuning=sequential_tuning,
        )
    elif baseline_mean is not None and baseline_variance is not None:
        if relative and not baseline_mean > 0:
            raise _invalid(
                "a relative MDE needs a positive baseline_mean (or pass relative=false)",
                "baseline_mean",
            )
        result = _solved(
            sample_size,
            baseline_mean=baseline_mean,
            baseline_variance=baseline_variance,
            mde=mde,
            relative=relative,
            alpha=alpha,
            target_power=target_power,
            n_variants=n_variants,
            weights=allocation,
            sequential_tuning=sequential_tuning,
        )
    else:
        raise _invalid(
            "Give baseline_rate (conversion) or baseline_mean and baseline_variance (numeric)",
            "baseline_rate",
        )
    if result.status.value != "ok":
        raise _invalid(f"No sample size for these inputs ({result.status.value})", "mde")
    days = days_needed(result.total_users, exposures_per_day) if exposures_per_day else None
    return SampleSizePlan(result, days)
