"""Assignment inputs, validated where they enter: the bodies of the assignment routes.

The FastAPI routes (``api.assignments``, ``api.v1.assignments``) and the front door's fast path
(``runtime.fastpath``) validate a request against these same models, so both answer alike.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

#: Users per batch request.
MAX_BATCH = 10_000

UserId = Annotated[str, Field(min_length=1, max_length=255)]


# -- seed 000: /api/experiments/{key}/assignments ---------------------------------------------


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    user_attributes: dict[str, Any] = Field(
        default_factory=dict, description="Targeting attributes; they win over stored properties"
    )
    force_variant: str | None = Field(
        default=None, description="Force this variant (when the experiment allows overrides)"
    )
    context: dict[str, Any] = Field(default_factory=dict, description="Stored with the exposure")


class BatchUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    user_attributes: dict[str, Any] = Field(default_factory=dict)


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[BatchUser] = Field(min_length=1, max_length=MAX_BATCH)


# -- seed 001: /api/v1/assignments and /api/v1/evaluate ---------------------------------------


class AssignmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment_id: StrictInt | StrictStr = Field(description="Integer id (or key)")
    user_id: UserId
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="Request context (ip, user_agent, page, …); also targetable",
    )
    attributes: dict[str, Any] = Field(default_factory=dict)
    force_variant: str | None = None


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment_id: StrictInt | StrictStr
    user_ids: list[UserId] = Field(min_length=1, max_length=MAX_BATCH)
    context: dict[str, Any] = Field(default_factory=dict)


class EvaluateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    attributes: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
