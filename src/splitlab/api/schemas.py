"""Wire shapes shared by the seed-000 and seed-001 dialects (snake_case)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from splitlab.experiments.schemas import (
    KEY_PATTERN,
    ExperimentSettings,
    SettingsChanges,
    settings_of,
)
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


class SettingsPatch(SettingsChanges):
    """A partial edit of ``config``: only the settings sent change."""


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
            "config": settings_of(experiment),
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
    return {} if patch is None else patch.sent()
