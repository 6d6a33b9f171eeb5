"""Seed 001 experiments: CRUD by integer id (or key), ``allocation_pct``, status through PUT."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from splitlab.api.deps import Reader, WorkspaceDep, Writer
from splitlab.api.experiments import to_changes
from splitlab.api.schemas import (
    ExperimentBodyBase,
    ExperimentPatchBase,
    ExperimentReadBase,
    JsonObject,
)
from splitlab.api.v1.common import ERRORS, Limit, Skip, set_total
from splitlab.errors import ValidationFailed
from splitlab.experiments import service
from splitlab.experiments.model import ExperimentStatus, parse_status
from splitlab.experiments.schemas import KEY_PATTERN, ExperimentSpec, VariantSpec
from splitlab.runtime.unit_of_work import SessionDep
from splitlab.storage.models import Experiment

router = APIRouter(prefix="/experiments", tags=["v1: experiments"])


class VariantInV1(BaseModel):
    # Unknown fields are an error: seed 000's "allocation" here must not become an equal split.
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    name: str | None = Field(default=None, max_length=200)
    allocation_pct: float | None = Field(default=None, ge=0, le=100)
    is_control: bool | None = None
    config: JsonObject = Field(default_factory=dict)


class VariantOutV1(BaseModel):
    id: int
    key: str
    name: str
    allocation_pct: float
    is_control: bool
    config: dict[str, Any]


class ExperimentCreateV1(ExperimentBodyBase):
    variants: list[VariantInV1] | None = None
    status: str | None = Field(default=None, description="draft (default) or ACTIVE/running")


class ExperimentUpdateV1(ExperimentPatchBase):
    variants: list[VariantInV1] | None = None
    status: str | None = Field(
        default=None, description="Any lifecycle word in any case, e.g. ACTIVE, PAUSED, COMPLETED"
    )


class ExperimentReadV1(ExperimentReadBase):
    variants: list[VariantOutV1]

    @classmethod
    def of(cls, experiment: Experiment, workspace_key: str) -> ExperimentReadV1:
        return cls(
            **cls.common(experiment, workspace_key),
            variants=[
                VariantOutV1(
                    id=v.id,
                    key=v.key,
                    name=v.name,
                    allocation_pct=v.allocation,
                    is_control=v.is_control,
                    config=v.config or {},
                )
                for v in experiment.variants
            ],
        )


def _specs(variants: list[VariantInV1] | None) -> list[VariantSpec] | None:
    if variants is None:
        return None
    return [
        VariantSpec(
            key=v.key,
            name=v.name,
            allocation=v.allocation_pct,
            is_control=v.is_control,
            config=v.config,
        )
        for v in variants
    ]


def _unknown_status(word: str) -> ValidationFailed:
    allowed = ", ".join(s.value.upper() for s in ExperimentStatus)
    return ValidationFailed(
        f"status: unknown status '{word}' (use one of {allowed}, or ACTIVE / INACTIVE)",
        details=[{"loc": ["body", "status"], "msg": "unknown status", "type": "enum"}],
    )


def _status(word: str) -> ExperimentStatus:
    parsed = parse_status(word)
    if parsed is None:
        raise _unknown_status(word)
    return parsed


@router.post(
    "/", status_code=status.HTTP_201_CREATED, response_model=ExperimentReadV1, responses=ERRORS
)
def create_experiment(
    body: ExperimentCreateV1, session: SessionDep, principal: Writer, workspace: WorkspaceDep
) -> ExperimentReadV1:
    """Create an experiment in the caller's workspace."""
    initial = _status(body.status) if body.status else ExperimentStatus.DRAFT
    experiment = service.create_experiment(
        session,
        workspace,
        ExperimentSpec(
            key=body.key,
            name=body.name,
            description=body.description,
            hypothesis=body.hypothesis,
            variants=_specs(body.variants),
            targeting=body.targeting,
            settings=body.config,
            status=initial,
            start_date=body.start_date,
            end_date=body.end_date,
            created_by=body.created_by,
        ),
        actor=principal.actor,
    )
    return ExperimentReadV1.of(experiment, workspace.key)


@router.get("/", response_model=list[ExperimentReadV1], responses=ERRORS)
def list_experiments(
    response: Response,
    session: SessionDep,
    _: Reader,
    workspace: WorkspaceDep,
    skip: Skip = 0,
    limit: Limit = 100,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
) -> list[ExperimentReadV1]:
    """The workspace's experiments, newest first; the total is in ``X-Total-Count``."""
    statuses = [_status(status_filter)] if status_filter else None
    page = service.list_experiments(session, workspace, statuses=statuses, offset=skip, size=limit)
    set_total(response, page.total)
    return [ExperimentReadV1.of(e, workspace.key) for e in page.items]


@router.get("/{experiment_id}", response_model=ExperimentReadV1, responses=ERRORS)
def get_experiment(
    experiment_id: str, session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> ExperimentReadV1:
    """One experiment by integer id (or key)."""
    experiment = service.get_experiment(session, workspace, experiment_id)
    return ExperimentReadV1.of(experiment, workspace.key)


@router.put("/{experiment_id}", response_model=ExperimentReadV1, responses=ERRORS)
def update_experiment(
    experiment_id: str,
    body: ExperimentUpdateV1,
    session: SessionDep,
    principal: Writer,
    workspace: WorkspaceDep,
) -> ExperimentReadV1:
    """Edit fields and/or change status (``"ACTIVE"`` starts it) in one transaction."""
    experiment = service.revise(
        session,
        workspace,
        experiment_id,
        to_changes(body, _specs(body.variants)),
        body.status,
        actor=principal.actor,
        unknown_status=_unknown_status,
    )
    return ExperimentReadV1.of(experiment, workspace.key)


@router.delete("/{experiment_id}", response_model=ExperimentReadV1, responses=ERRORS)
def delete_experiment(
    experiment_id: str, session: SessionDep, principal: Writer, workspace: WorkspaceDep
) -> ExperimentReadV1:
    """Cancel the experiment (history and collected data are kept)."""
    experiment = service.cancel_experiment(session, workspace, experiment_id, actor=principal.actor)
    return ExperimentReadV1.of(experiment, workspace.key)
