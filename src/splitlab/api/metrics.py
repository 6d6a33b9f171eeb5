"""Metric definitions of an experiment: seed 000 path and its v1 twin."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from splitlab.api.deps import Reader, WorkspaceDep, Writer
from splitlab.api.experiments import ERRORS
from splitlab.experiments import service as experiments
from splitlab.metrics import service
from splitlab.metrics.model import MetricKind, MetricRole
from splitlab.runtime.unit_of_work import SessionDep
from splitlab.storage.models import Metric

router = APIRouter(tags=["metrics"])
PATHS = ("/api/experiments/{key}/metric-definitions", "/api/v1/experiments/{key}/metrics")


class MetricCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    event_type: str | None = Field(
        default=None, max_length=200, description="The event type it reads (default: the name)"
    )
    kind: MetricKind = Field(description="conversion, numeric or count")
    role: MetricRole | None = Field(
        default=None, description="primary, secondary or guardrail (default: first is primary)"
    )
    higher_is_better: bool = True


class MetricRead(BaseModel):
    id: int
    name: str
    event_type: str
    kind: MetricKind
    role: MetricRole
    higher_is_better: bool

    @classmethod
    def of(cls, metric: Metric) -> MetricRead:
        return cls(
            id=metric.id,
            name=metric.name,
            event_type=metric.event_type,
            kind=MetricKind(metric.kind),
            role=MetricRole(metric.role),
            higher_is_better=metric.higher_is_better,
        )


def _list(key: str, session: SessionDep, _: Reader, workspace: WorkspaceDep) -> list[MetricRead]:
    """The experiment's metric definitions, primary first."""
    experiment = experiments.get_experiment(session, workspace, key)
    return [MetricRead.of(m) for m in service.list_metrics(session, experiment.id)]


def _create(
    key: str, body: MetricCreate, session: SessionDep, _: Writer, workspace: WorkspaceDep
) -> MetricRead:
    """Define a metric: which event it reads, how it aggregates, its role and good direction."""
    experiment = experiments.get_experiment(session, workspace, key)
    metric = service.define_metric(
        session,
        experiment,
        name=body.name,
        kind=body.kind,
        event_type=body.event_type,
        role=body.role,
        higher_is_better=body.higher_is_better,
    )
    return MetricRead.of(metric)


def _delete(
    key: str, name: str, session: SessionDep, _: Writer, workspace: WorkspaceDep
) -> Response:
    """Remove a metric definition (its events stay)."""
    experiment = experiments.get_experiment(session, workspace, key)
    service.delete_metric(session, experiment, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


for path in PATHS:
    router.add_api_route(
        path,
        _list,
        methods=["GET"],
        response_model=list[MetricRead],
        responses=ERRORS,
        summary="List metric definitions",
    )
    router.add_api_route(
        path,
        _create,
        methods=["POST"],
        response_model=MetricRead,
        status_code=status.HTTP_201_CREATED,
        responses=ERRORS,
        summary="Define a metric",
    )
    router.add_api_route(
        f"{path}/{{name}}",
        _delete,
        methods=["DELETE"],
        status_code=status.HTTP_204_NO_CONTENT,
        responses=ERRORS,
        summary="Delete a metric definition",
    )
