"""Results: seed 000's ``/api/experiments/{key}/results``, its v1 twin, and the sample-size tool."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, FiniteFloat

from splitlab.analysis import planning, service
from splitlab.analysis.schemas import ExperimentResults
from splitlab.api.deps import Reader, WorkspaceDep
from splitlab.api.experiments import ERRORS
from splitlab.runtime.unit_of_work import SessionDep

router = APIRouter(tags=["results"])


@router.get("/api/experiments/{key}/results", response_model=ExperimentResults, responses=ERRORS)
def experiment_results(
    key: str, session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> ExperimentResults:
    """Full results with statistics: per-metric breakdown, SRM check and the verdict."""
    return service.experiment_results(session, workspace, key)


@router.get(
    "/api/v1/experiments/{experiment_id}/results",
    response_model=ExperimentResults,
    responses=ERRORS,
    tags=["v1: experiments"],
)
def experiment_results_v1(
    experiment_id: str, session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> ExperimentResults:
    """The same results as ``/api/experiments/{key}/results``, by integer id (or key)."""
    return service.experiment_results(session, workspace, experiment_id)


class SampleSizeRead(BaseModel):
    users_per_variant: list[int] = Field(description="Control first, then each treatment")
    total_users: int
    absolute_effect: float
    alpha_per_comparison: float
    power: float
    days_needed: int | None = Field(description="At exposures_per_day, when given")


@router.get(
    "/api/v1/sample-size", response_model=SampleSizeRead, responses=ERRORS, tags=["v1: experiments"]
)
def sample_size_calculator(
    _: Reader,
    mde: Annotated[
        float,
        Query(
            gt=0, allow_inf_nan=False, description="Minimum detectable effect (relative by default)"
        ),
    ],
    baseline_rate: Annotated[
        float | None, Query(gt=0, lt=1, allow_inf_nan=False, description="For conversion metrics")
    ] = None,
    baseline_mean: Annotated[
        float | None, Query(allow_inf_nan=False, description="For numeric metrics")
    ] = None,
    baseline_variance: Annotated[
        float | None, Query(gt=0, allow_inf_nan=False, description="For numeric metrics")
    ] = None,
    relative: bool = True,
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
    power: Annotated[float, Query(gt=0, lt=1)] = 0.8,
    variants: Annotated[int, Query(ge=2, le=20)] = 2,
    allocation: Annotated[
        list[FiniteFloat] | None, Query(description="Weights, control first")
    ] = None,
    exposures_per_day: Annotated[float | None, Query(gt=0, allow_inf_nan=False)] = None,
    sequential_tuning: Annotated[
        float | None,
        Query(
            gt=0,
            allow_inf_nan=False,
            description="Plan for sequential testing with this tuning parameter (default off; "
            "experiments use 5000)",
        ),
    ] = None,
) -> SampleSizeRead:
    """Users per variant to detect ``mde`` with the given power, and days at the current rate."""
    plan = planning.plan_sample_size(
        mde=mde,
        baseline_rate=baseline_rate,
        baseline_mean=baseline_mean,
        baseline_variance=baseline_variance,
        relative=relative,
        alpha=alpha,
        target_power=power,
        n_variants=variants,
        allocation=allocation,
        exposures_per_day=exposures_per_day,
        sequential_tuning=sequential_tuning,
    )
    result = plan.result
    return SampleSizeRead(
        users_per_variant=list(result.users_per_variant),
        total_users=result.total_users,
        absolute_effect=result.absolute_effect,
        alpha_per_comparison=result.alpha_per_comparison,
        power=result.target_power,
        days_needed=plan.days_needed,
    )
