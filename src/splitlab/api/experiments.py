"""``/api/experiments``: seed 000's key-addressed API, and seed 003's dialect beside it.

Each document's own spelling of the collection picks its dialect: ``/api/experiments/`` (trailing
slash, as seed 000 writes it) is seed 000's, ``/api/experiments`` (none, as seed 003 writes it) is
seed 003's, where ``workspaceId`` is required (400 without it). A seed 003 request sent to the
slashed path (``workspaceId`` in the query or body) is still served as seed 003. Both translate
into the same experiment service.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from splitlab.api import legacy
from splitlab.api.deps import Reader, WorkspaceDep, Writer
from splitlab.api.handlers import clean_errors, error_responses, summarise
from splitlab.api.schemas import (
    ExperimentBodyBase,
    ExperimentPatchBase,
    ExperimentReadBase,
    JsonObject,
    LifecycleEventRead,
    settings_changes,
)
from splitlab.config import Settings
from splitlab.errors import InvalidJson, ValidationFailed
from splitlab.experiments import service
from splitlab.experiments.model import ExperimentStatus
from splitlab.experiments.schemas import (
    KEY_PATTERN,
    ExperimentChanges,
    ExperimentSpec,
    VariantSpec,
)
from splitlab.runtime.unit_of_work import SessionDep, get_settings
from splitlab.storage.models import Experiment

M = TypeVar("M", bound=BaseModel)

router = APIRouter(prefix="/api/experiments", tags=["experiments"])

ERRORS = error_responses(
    {
        400: "Malformed request (seed 003 dialect)",
        401: "Missing, invalid, revoked or expired token",
        403: "The token's scope does not allow this",
        404: "No such experiment in this workspace",
        409: "Duplicate key or name, or an illegal lifecycle transition",
        422: "Request validation failed",
    }
)


class VariantIn(BaseModel):
    # Unknown fields are an error: a misspelt "allocation_pct" must not become an equal split.
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    name: str | None = Field(default=None, max_length=200)
    allocation: float | None = Field(default=None, ge=0, le=100)
    is_control: bool | None = None
    config: JsonObject = Field(default_factory=dict)


class VariantOut(BaseModel):
    key: str
    name: str
    allocation: float
    is_control: bool
    config: dict[str, Any]


class ExperimentCreate(ExperimentBodyBase):
    variants: list[VariantIn] | None = None


class ExperimentUpdate(ExperimentPatchBase):
    variants: list[VariantIn] | None = None


class ExperimentRead(ExperimentReadBase):
    variants: list[VariantOut]

    @classmethod
    def of(cls, experiment: Experiment, workspace_key: str) -> ExperimentRead:
        return cls(
            **cls.common(experiment, workspace_key),
            variants=[
                VariantOut(
                    key=v.key,
                    name=v.name,
                    allocation=v.allocation,
                    is_control=v.is_control,
                    config=v.config or {},
                )
                for v in experiment.variants
            ],
        )


class ExperimentList(BaseModel):
    experiments: list[ExperimentRead]
    total: int
    page: int
    page_size: int
    total_pages: int


class ConcludeBody(BaseModel):
    winning_variant: str | None = None
    notes: str | None = None


class LifecycleHistory(BaseModel):
    experiment_key: str
    events: list[LifecycleEventRead]


class ExperimentStatsRead(BaseModel):
    total_experiments: int
    running_experiments: int
    completed_experiments: int
    draft_experiments: int
    paused_experiments: int
    cancelled_experiments: int
    total_users_assigned: int
    total_metrics_tracked: int


def to_specs(variants: list[VariantIn] | None) -> list[VariantSpec] | None:
    if variants is None:
        return None
    try:
        return [VariantSpec.model_validate(v.model_dump()) for v in variants]
    except ValidationError as exc:
        errors = clean_errors(exc.errors(include_url=False))
        raise ValidationFailed(summarise(errors), details=errors) from None


async def json_body(request: Request) -> Any:
    """The raw JSON body, for the collection routes whose dialect depends on its content."""
    if not await request.body():
        return {}
    try:
        return await request.json()
    except (ValueError, RecursionError) as error:
        raise InvalidJson.of(error) from None


JsonBody = Annotated[Any, Depends(json_body)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EitherShape = ExperimentRead | legacy.LegacyExperiment


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidJson.not_an_object()
    return body


#: Far beyond any real page, and small enough that ``page * page_size`` fits every backend.
MAX_PAGE = 2**31 - 1


def _int(name: str, raw: str | None, default: int, maximum: int = MAX_PAGE) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        bound = f" between 1 and {maximum}"
        raise ValidationFailed(
            f"{name} must be an integer{bound}",
            details=[{"loc": ["query", name], "msg": f"must be an integer{bound}", "type": "int"}],
        )
    return int(raw)


def _statuses(raw: str | None) -> list[ExperimentStatus] | None:
    if not raw:
        return None
    words = [word.strip().lower() for word in raw.split(",") if word.strip()]
    try:
        return [ExperimentStatus(word) for word in words]
    except ValueError:
        allowed = ", ".join(s.value for s in ExperimentStatus)
        raise ValidationFailed(
            f"status must be one of: {allowed}",
            details=[{"loc": ["query", "status"], "msg": f"one of {allowed}", "type": "enum"}],
        ) from None


#: Required, but read by hand: seed 003 answers its absence with its own 400, not a 422.
WORKSPACE_ID_PARAMETER = {
    "name": "workspaceId",
    "in": "query",
    "required": True,
    "description": "The workspace to list",
    "schema": {"type": "string", "minLength": 1},
}


@router.get(
    "",
    response_model=legacy.LegacyPage,
    responses=ERRORS,
    openapi_extra={"parameters": [WORKSPACE_ID_PARAMETER]},
    summary="Seed 003: a workspace's experiments, as {data, meta} pages",
)
def list_workspace_experiments(
    request: Request,
    session: SessionDep,
    principal: Reader,
    settings: SettingsDep,
    status_filter: Annotated[
        str | None, Query(alias="status", description="active, inactive or completed")
    ] = None,
    page: Annotated[str | None, Query(description="Page number, from 1")] = None,
    limit: Annotated[str | None, Query(description="Items per page (≤ 100; default 10)")] = None,
    sort_by: Annotated[
        str | None, Query(alias="sortBy", description=", ".join(legacy.SORT_FIELDS))
    ] = None,
    sort_order: Annotated[str | None, Query(alias="sortOrder", description="asc or desc")] = None,
) -> legacy.LegacyPage:
    return legacy.list_page(
        session,
        settings,
        principal,
        workspace_id=request.query_params.get("workspaceId"),
        status=status_filter,
        page=page,
        limit=limit,
        sort_by=sort_by,
        sort_order=sort_order,
    )


@router.get(
    "/",
    response_model=None,
    responses={200: {"model": ExperimentList}, **ERRORS},
    summary="List experiments (seed 000)",
)
def list_experiments(
    request: Request,
    session: SessionDep,
    principal: Reader,
    settings: SettingsDep,
    workspace: WorkspaceDep,
    status_filter: Annotated[
        str | None,
        Query(alias="status", description="draft, running, paused, completed, cancelled"),
    ] = None,
    page: Annotated[str | None, Query(description="Page number, from 1")] = None,
    page_size: Annotated[
        str | None, Query(description="Items per page (≤ 100; default 50)")
    ] = None,
    search: Annotated[str | None, Query(description="Substring of name or key")] = None,
) -> ExperimentList | legacy.LegacyPage:
    query = request.query_params
    if "workspaceId" in query:  # seed 003's query on seed 000's spelling of the path
        return list_workspace_experiments(
            request,
            session,
            principal,
            settings,
            status_filter=status_filter,
            page=page,
            limit=query.get("limit"),
            sort_by=query.get("sortBy"),
            sort_order=query.get("sortOrder"),
        )
    size = _int("page_size", page_size, 50, maximum=100)
    result = service.list_experiments(
        session,
        workspace,
        statuses=_statuses(status_filter),
        search=search,
        page=_int("page", page, 1),
        size=size,
    )
    return ExperimentList(
        experiments=[ExperimentRead.of(e, workspace.key) for e in result.items],
        total=result.total,
        page=result.page,
        page_size=result.size,
        total_pages=result.total_pages,
    )


def _body(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=legacy.LegacyExperiment,
    responses=ERRORS,
    openapi_extra=_body(legacy.LegacyCreate),
    summary="Seed 003: create an experiment in a workspace",
)
def create_workspace_experiment(
    session: SessionDep, principal: Writer, settings: SettingsDep, body: JsonBody
) -> legacy.LegacyExperiment:
    return legacy.create(session, settings, principal, body)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    responses={201: {"model": ExperimentRead}, **ERRORS},
    openapi_extra=_body(ExperimentCreate),
    summary="Create an experiment (seed 000)",
)
def create_experiment(
    session: SessionDep,
    principal: Writer,
    settings: SettingsDep,
    workspace: WorkspaceDep,
    body: JsonBody,
) -> EitherShape:
    data = _object(body)
    if "workspaceId" in data:  # seed 003's body on seed 000's spelling of the path
        return legacy.create(session, settings, principal, data)
    payload = _validate(ExperimentCreate, data)
    experiment = service.create_experiment(
        session,
        workspace,
        ExperimentSpec(
            key=payload.key,
            name=payload.name,
            description=payload.description,
            hypothesis=payload.hypothesis,
            variants=to_specs(payload.variants),
            targeting=payload.targeting,
            settings=payload.config,
            start_date=payload.start_date,
            end_date=payload.end_date,
            created_by=payload.created_by,
        ),
        actor=principal.actor,
    )
    return ExperimentRead.of(experiment, workspace.key)


def _validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate a body read by hand, failing exactly as FastAPI's own body validation would."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


@router.patch(
    "",
    response_model=legacy.LegacyExperiment,
    responses=ERRORS,
    openapi_extra=_body(legacy.LegacyStatusChange),
    summary="Seed 003: activate, deactivate or complete an experiment",
)
def patch_experiment_status(
    session: SessionDep, principal: Writer, settings: SettingsDep, body: JsonBody
) -> legacy.LegacyExperiment:
    return legacy.change_status(session, settings, principal, body)


@router.get("/stats", response_model=ExperimentStatsRead, responses=ERRORS)
def experiment_stats(
    session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> ExperimentStatsRead:
    """Counts of the workspace's experiments by status, assigned users and tracked metrics."""
    stats = service.experiment_stats(session, workspace)
    return ExperimentStatsRead(
        total_experiments=stats.total,
        running_experiments=stats.by_status["running"],
        completed_experiments=stats.by_status["completed"],
        draft_experiments=stats.by_status["draft"],
        paused_experiments=stats.by_status["paused"],
        cancelled_experiments=stats.by_status["cancelled"],
        total_users_assigned=stats.total_users_assigned,
        total_metrics_tracked=stats.total_metrics_tracked,
    )


@router.get("/{key}", response_model=ExperimentRead, responses=ERRORS)
def get_experiment(
    key: str, session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> ExperimentRead:
    """One experiment, by key (or integer id)."""
    return ExperimentRead.of(service.get_experiment(session, workspace, key), workspace.key)


@router.put("/{key}", response_model=ExperimentRead, responses=ERRORS)
def update_experiment(
    key: str,
    body: ExperimentUpdate,
    session: SessionDep,
    principal: Writer,
    workspace: WorkspaceDep,
) -> ExperimentRead:
    """Edit an experiment; variants and allocations only while it is a draft (409 otherwise)."""
    experiment = service.update_experiment(
        session, workspace, key, to_changes(body), actor=principal.actor
    )
    return ExperimentRead.of(experiment, workspace.key)


def to_changes(
    body: ExperimentPatchBase, variants: list[VariantSpec] | None = None
) -> ExperimentChanges:
    sent = body.model_fields_set
    fields: dict[str, Any] = {
        name: getattr(body, name)
        for name in (
            "key",
            "name",
            "description",
            "hypothesis",
            "targeting",
            "start_date",
            "end_date",
        )
        if name in sent
    }
    fields.update(settings_changes(body.config))
    if "variants" in sent:
        fields["variants"] = (
            variants if variants is not None else to_specs(getattr(body, "variants", None))
        )
    return ExperimentChanges.model_validate(fields)


@router.delete("/{key}", response_model=ExperimentRead, responses=ERRORS)
def cancel_experiment(
    key: str, session: SessionDep, principal: Writer, workspace: WorkspaceDep
) -> ExperimentRead:
    """Cancel an experiment. Its history and data are kept; a completed one cannot be cancelled."""
    experiment = service.cancel_experiment(session, workspace, key, actor=principal.actor)
    return ExperimentRead.of(experiment, workspace.key)


@router.post("/{key}/start", response_model=ExperimentRead, responses=ERRORS)
def start_experiment(
    key: str, session: SessionDep, principal: Writer, workspace: WorkspaceDep
) -> ExperimentRead:
    """Start a draft or resume a paused experiment."""
    experiment = service.start_experiment(session, workspace, key, actor=principal.actor)
    return ExperimentRead.of(experiment, workspace.key)


@router.post("/{key}/pause", response_model=ExperimentRead, responses=ERRORS)
def pause_experiment(
    key: str, session: SessionDep, principal: Writer, workspace: WorkspaceDep
) -> ExperimentRead:
    """Pause a running experiment: no new assignments until it is started again."""
    experiment = service.pause_experiment(session, workspace, key, actor=principal.actor)
    return ExperimentRead.of(experiment, workspace.key)


@router.post("/{key}/conclude", response_model=ExperimentRead, responses=ERRORS)
def conclude_experiment(
    key: str,
    session: SessionDep,
    principal: Writer,
    workspace: WorkspaceDep,
    body: ConcludeBody | None = None,
) -> ExperimentRead:
    """Complete a running or paused experiment, recording the winning variant and notes."""
    body = body or ConcludeBody()
    experiment = service.conclude_experiment(
        session,
        workspace,
        key,
        winning_variant=body.winning_variant,
        notes=body.notes,
        actor=principal.actor,
    )
    return ExperimentRead.of(experiment, workspace.key)


@router.get("/{key}/events", response_model=LifecycleHistory, responses=ERRORS)
def lifecycle_events(
    key: str, session: SessionDep, _: Reader, workspace: WorkspaceDep
) -> LifecycleHistory:
    """The experiment's lifecycle history: every transition and edit, oldest first."""
    experiment, events = service.lifecycle_history(session, workspace, key)
    return LifecycleHistory(
        experiment_key=experiment.key, events=[LifecycleEventRead.of(e) for e in events]
    )
