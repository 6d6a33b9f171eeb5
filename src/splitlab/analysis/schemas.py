"""The results document (seed 000's shape plus a per-metric breakdown)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, field_serializer


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class MetricSummary(BaseModel):
    n: int
    sum: float
    mean: float | None
    variance: float | None


class VariantResult(BaseModel):
    variant_key: str
    name: str
    is_control: bool
    allocation: float
    users: int
    metrics: dict[str, MetricSummary]


class VariantStats(BaseModel):
    variant_key: str
    is_control: bool
    users: int
    mean: float | None = Field(
        description="Rate for conversions, mean otherwise (CUPED-adjusted if used)"
    )
    variance: float | None

    @field_serializer("mean", "variance")
    def _clean(self, value: float | None) -> float | None:
        return _finite(value)


class ComparisonResult(BaseModel):
    variant_key: str
    status: str
    absolute_lift: float | None
    absolute_ci: tuple[float | None, float | None]
    relative_lift: float | None
    relative_ci: tuple[float | None, float | None]
    p_value: float | None
    p_value_adjusted: float | None
    significant: bool
    chance_to_beat_control: float | None
    risk: dict[str, float | None] = Field(
        description="Expected relative loss of choosing each side"
    )
    credible_interval: tuple[float | None, float | None]
    power: float | None = Field(
        description="Power to detect the experiment's minimum detectable effect"
    )

    @field_serializer(
        "absolute_lift",
        "relative_lift",
        "p_value",
        "p_value_adjusted",
        "chance_to_beat_control",
        "power",
    )
    def _clean(self, value: float | None) -> float | None:
        return _finite(value)

    @field_serializer("absolute_ci", "relative_ci", "credible_interval")
    def _clean_pair(
        self, value: tuple[float | None, float | None]
    ) -> tuple[float | None, float | None]:
        return (_finite(value[0]), _finite(value[1]))

    @field_serializer("risk")
    def _clean_risk(self, value: dict[str, float | None]) -> dict[str, float | None]:
        return {k: _finite(v) for k, v in value.items()}


class MetricResult(BaseModel):
    name: str
    event_type: str
    kind: str
    role: str
    higher_is_better: bool
    method: str
    correction: str
    variance_reduction: float | None = Field(description="CUPED: share of variance removed")
    variants: list[VariantStats]
    comparisons: list[ComparisonResult]

    @field_serializer("variance_reduction")
    def _clean(self, value: float | None) -> float | None:
        return _finite(value)


class SrmResult(BaseModel):
    status: str
    p_value: float | None
    statistic: float | None
    alarm: bool
    threshold: float
    observed: dict[str, int]
    expected: dict[str, float]

    @field_serializer("p_value", "statistic")
    def _clean(self, value: float | None) -> float | None:
        return _finite(value)


class DisagreementCheck(BaseModel):
    """Exposures reported by SDKs (``POST /api/v1/exposures/batch``) whose variant differs from
    the server's decision for the same attributes: a stale payload, a paused experiment, or
    targeting on stored user properties the SDK did not have. They count as what the user saw;
    many of them mean SDKs and server disagree and the split may be biased."""

    total: int
    per_variant: dict[str, int] = Field(description="By the variant the SDK reported")
    share: float | None = Field(description="Of all randomised exposed users (None: none yet)")


class SampleSizeEstimate(BaseModel):
    metric: str
    minimum_detectable_effect: float
    users_per_variant: dict[str, int]
    total_users: int
    exposures_per_day: float | None
    days_remaining: int | None = Field(
        description="Days until every variant has the larger of this and min_sample_size users"
    )


class ExperimentResults(BaseModel):
    experiment_key: str
    status: str
    total_users: int = Field(description="Randomised exposed users: the units analysed")
    overridden_users: int = Field(
        description="Users whose variant was forced (QA overrides), left out of every statistic"
    )
    variant_metrics: list[VariantResult]
    is_significant: bool
    p_value: float | None
    winning_variant: str | None
    recommendation: str
    statistical_power: float | None
    method: str
    method_description: str
    confidence_level: float
    control_variant: str
    primary_metric: str | None
    srm: SrmResult
    exposure_disagreements: DisagreementCheck
    metrics: list[MetricResult]
    sample_size: SampleSizeEstimate | None

    @field_serializer("p_value", "statistical_power")
    def _clean(self, value: float | None) -> float | None:
        return _finite(value)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
