"""Wire shapes shared by the seed-000 and seed-001 dialects (snake_case)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from splitlab.experiments.schemas import KEY_PATTERN, ExperimentSettings
from splitlab.storage.base import MAX_INT
from splitlab.storage.models import Experiment, LifecycleEvent

#: Deeper free-form JSON than any real config or property bag; deeper still cannot be serialised.
MAX_JSON_DEPTH = 32


def _storable(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not JSON numbers")
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    for child in children:
        _storable(child, depth + 1)


def _check_storable(value: dict[str, Any]) -> dict[str, Any]:
    _storable(value)
    return value


#: A free-form JSON object that can be stored and sent back as JSON (Python's parser lets NaN in).
JsonObject = Annotated[dict[str, Any], AfterValidator(_check_storable)]


class ErrorBody(BaseModel):
    error: str
    code: str
    details: Any | None = None


class SettingsPatch(BaseModel):
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


class ExperimentBodyBase(BaseModel):
    """Fields a client may send when creating an experiment (anything else is a 422)."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, pattern=KEY_PATTERN, examples=["checkout-button-test"])
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    hypothesis: str | None = None
    targeting: JsonObject = Field(default_factory=dict)
    config: ExperimentSettings = Field(default_factory=ExperimentSettings)
    # Aware only: a naive timestamp is ambiguous, and storing one used to crash (500).
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    created_by: str | None = Field(default=None, max_length=200)


class ExperimentPatchBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    hypothesis: str | None = None
    targeting: JsonObject | None = None
    config: SettingsPatch | None = None
    # Aware only: a naive timestamp is ambiguous, and storing one used to crash (500).
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None


class ExperimentReadBase(BaseModel):
    id: int
    key: str
    name: str
    description: str | None
    hypothesis: str | None
    status: str
    workspace: str
    targeting: dict[str, Any]
    config: ExperimentSettings
    start_date: datetime | None
    end_date: datetime | None
    winning_variant: str | None
    conclusion_notes: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def common(cls, experiment: Experiment, workspace_key: str) -> dict[str, Any]:
        return {
            "id": experiment.id,
            "key": experiment.key,
            "name": experiment.name,
            "description": experiment.description,
            "hypothesis": experiment.hypothesis,
            "status": experiment.status,
            "workspace": workspace_key,
            "targeting": experiment.targeting or {},
            "config": ExperimentSettings(
                sticky_bucketing=experiment.sticky_bucketing,
                override_enabled=experiment.override_enabled,
                min_sample_size=experiment.min_sample_size,
                confidence_level=experiment.confidence_level,
                hash_seed=experiment.hash_seed,
                bucket_version=experiment.bucket_version,
                sequential_testing=experiment.sequential_testing,
                cuped=experiment.cuped,
                minimum_detectable_effect=experiment.minimum_detectable_effect,
            ),
            "start_date": experiment.start_date,
            "end_date": experiment.end_date,
            "winning_variant": experiment.winning_variant,
            "conclusion_notes": experiment.conclusion_notes,
            "created_by": experiment.created_by,
            "created_at": experiment.created_at,
            "updated_at": experiment.updated_at,
        }


class LifecycleEventRead(BaseModel):
    id: int
    action: str
    from_status: str | None
    to_status: str | None
    actor: str | None
    changes: dict[str, Any]
    notes: str | None
    created_at: datetime

    @classmethod
    def of(cls, event: LifecycleEvent) -> LifecycleEventRead:
        return cls(
            id=event.id,
            action=event.action,
            from_status=event.from_status,
            to_status=event.to_status,
            actor=event.actor,
            changes=event.changes or {},
            notes=event.notes,
            created_at=event.created_at,
        )


def settings_changes(patch: SettingsPatch | None) -> dict[str, Any]:
    if patch is None:
        return {}
    return {field: getattr(patch, field) for field in patch.model_fields_set}
