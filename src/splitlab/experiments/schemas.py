"""Dialect-neutral inputs of the experiment service.

Each API dialect parses its own wire shape and translates it into these; the service never sees
camelCase, ``allocation_pct`` or seed 003's status words.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from splitlab.experiments.model import ExperimentStatus
from splitlab.stats import Correction
from splitlab.storage.base import MAX_INT

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class VariantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    name: str | None = Field(default=None, max_length=200)
    allocation: float | None = Field(default=None, ge=0, le=100)
    is_control: bool | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class ExperimentSettings(BaseModel):
    """Seed 000's experiment config options with their documented defaults."""

    model_config = ConfigDict(extra="forbid")

    sticky_bucketing: bool = True
    override_enabled: bool = True
    min_sample_size: int = Field(default=100, ge=1, le=MAX_INT)
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1)
    hash_seed: str | None = Field(
        default=None, max_length=200, description="Bucketing seed; the experiment key when unset"
    )
    bucket_version: int = Field(
        default=0, ge=0, le=MAX_INT, description="Raise it to re-randomise every user on purpose"
    )
    sequential_testing: bool = Field(
        default=False, description="Always-valid results: look at any time without inflating errors"
    )
    cuped: bool = Field(default=True, description="Variance reduction with pre-exposure data")
    minimum_detectable_effect: float = Field(
        default=0.05, gt=0, le=10, description="Relative lift the power figures are computed for"
    )
    correction: Correction = Field(
        default="holm",
        description="P-value adjustment within each family of comparisons: the primary "
        "metric's treatments, the secondary metrics', the guardrails' (holm, bh, bonferroni, "
        "none)",
    )
    planned_sample_size: int | None = Field(
        default=None,
        ge=2,
        le=MAX_INT,
        description="Users the experiment is planned for; tunes the sequential test to them",
    )
    sequential_tuning: float | None = Field(
        default=None,
        gt=0,
        le=1e12,
        description="The sequential test's tuning (users at which its intervals are narrowest); "
        "default: planned_sample_size, else 5,000. Fix it before looking at the data",
    )
    prior_mean: float = Field(
        default=0.0, ge=-10, le=10, description="Bayesian prior: mean of the relative lift"
    )
    prior_stddev: float | None = Field(
        default=0.3,
        ge=1e-6,
        le=100,
        description="Bayesian prior: standard deviation of the relative lift; null = flat prior",
    )


class ExperimentSpec(BaseModel):
    """Everything needed to create an experiment."""

    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    hypothesis: str | None = None
    variants: list[VariantSpec] | None = None
    targeting: dict[str, Any] = Field(default_factory=dict)
    settings: ExperimentSettings = Field(default_factory=ExperimentSettings)
    status: ExperimentStatus = ExperimentStatus.DRAFT
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    created_by: str | None = Field(default=None, max_length=200)
    variant_ref: str | None = Field(default=None, max_length=200)
    metrics: dict[str, Any] | None = None


class SettingsChanges(BaseModel):
    """A partial edit of :class:`ExperimentSettings`: the same fields and bounds, none required
    (only those sent, ``model_fields_set``, apply)."""

    model_config = ConfigDict(extra="forbid")

    sticky_bucketing: bool | None = None
    override_enabled: bool | None = None
    min_sample_size: int | None = Field(default=None, ge=1, le=MAX_INT)
    confidence_level: float | None = Field(default=None, gt=0.5, lt=1)
    hash_seed: str | None = Field(default=None, max_length=200)
    bucket_version: int | None = Field(default=None, ge=0, le=MAX_INT)
    sequential_testing: bool | None = None
    cuped: bool | None = None
    minimum_detectable_effect: float | None = Field(default=None, gt=0, le=10)
    correction: Correction | None = None
    planned_sample_size: int | None = Field(default=None, ge=2, le=MAX_INT)
    sequential_tuning: float | None = Field(default=None, gt=0, le=1e12)
    prior_mean: float | None = Field(default=None, ge=-10, le=10)
    prior_stddev: float | None = Field(default=None, ge=1e-6, le=100)

    def sent(self) -> dict[str, Any]:
        """The settings the client sent, by name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


#: Every setting's name, in one place: what is stored, read back, edited and shown.
SETTING_FIELDS: tuple[str, ...] = tuple(ExperimentSettings.model_fields)
#: The settings null is a value of (unset: the default tuning, a flat prior...).
NULLABLE_SETTINGS = frozenset(
    name
    for name, field in ExperimentSettings.model_fields.items()
    if type(None) in get_args(field.annotation)
)


def settings_of(experiment: Any) -> ExperimentSettings:
    """The stored settings of an experiment (any object with the settings as attributes)."""
    return ExperimentSettings.model_validate(
        {name: getattr(experiment, name) for name in SETTING_FIELDS}
    )


class ExperimentChanges(SettingsChanges):
    """A partial edit: only the fields the client actually sent (``model_fields_set``) apply."""

    model_config = ConfigDict(extra="ignore")

    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    hypothesis: str | None = None
    variants: list[VariantSpec] | None = None
    targeting: dict[str, Any] | None = None
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    variant_ref: str | None = Field(default=None, max_length=200)
    metrics: dict[str, Any] | None = None


class Page(BaseModel):
    page: int = Field(default=1, ge=1, le=MAX_INT)
    size: int = Field(default=50, ge=1, le=100)
