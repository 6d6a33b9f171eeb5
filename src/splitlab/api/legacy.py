"""Seed 003's dialect: workspace-scoped experiments, camelCase fields, ``{data, meta}`` pages.

Mounted on ``/api/experiments`` beside seed 000, chosen by the presence of ``workspaceId``. Status
words map onto the canonical lifecycle: ``inactive`` = draft or paused, ``active`` = running.
Malformed input is a 400 here (seed 003's convention), in the one error shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_serializer,
)
from sqlalchemy.orm import Session

from splitlab.api.deps import workspace_for
from splitlab.api.handlers import bad_request_from
from splitlab.api.schemas import JsonObject
from splitlab.auth.service import Principal
from splitlab.config import Settings
from splitlab.errors import BadRequest, InvalidJson, NotFound, ValidationFailed
from splitlab.experiments import service
from splitlab.experiments.errors import ExperimentNotFound
from splitlab.experiments.model import (
    ExperimentStatus,
    LegacyStatus,
    legacy_statuses,
    to_legacy,
)
from splitlab.experiments.schemas import KEY_PATTERN, ExperimentChanges, ExperimentSpec
from splitlab.storage.base import as_id
from splitlab.storage.models import Experiment, Workspace
from splitlab.workspaces import service as workspaces

P = ParamSpec("P")
R = TypeVar("R")

INVALID_STATUS = "Invalid status. Must be one of: active, inactive, completed"
#: Far beyond any real page, and small enough that ``page * limit`` fits every backend.
MAX_PAGE = 2**31 - 1
SORT_FIELDS = ("createdAt", "updatedAt", "name", "status", "startDate", "endDate")


def js_iso(value: datetime | None) -> str | None:
    """JavaScript's ``Date.toISOString()``: UTC, millisecond precision, ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LegacyExperiment(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    key: str
    name: str
    description: str | None
    variant_id: str | None = Field(alias="variantId")
    workspace_id: str = Field(alias="workspaceId")
    status: str
    start_date: datetime | None = Field(alias="startDate")
    end_date: datetime | None = Field(alias="endDate")
    metrics: dict[str, Any] | None
    created_by: str | None = Field(alias="createdBy")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")

    @field_serializer("start_date", "end_date", "created_at", "updated_at")
    def _dates(self, value: datetime | None) -> str | None:
        return js_iso(value)

    @classmethod
    def of(cls, experiment: Experiment, workspace_key: str) -> LegacyExperiment:
        return cls(
            id=str(experiment.id),
            key=experiment.key,
            name=experiment.name,
            description=experiment.description,
            variant_id=experiment.variant_ref,
            workspace_id=workspace_key,
            status=to_legacy(ExperimentStatus(experiment.status)),
            start_date=experiment.start_date,
            end_date=experiment.end_date,
            metrics=experiment.metrics,
            created_by=experiment.created_by,
            created_at=experiment.created_at,
            updated_at=experiment.updated_at,
        )


class LegacyMeta(BaseModel):
    page: int
    limit: int
    total: int
    total_pages: int = Field(serialization_alias="totalPages")


class LegacyPage(BaseModel):
    data: list[LegacyExperiment]
    meta: LegacyMeta


class LegacyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=200)
    workspace_id: str = Field(alias="workspaceId", min_length=1, max_length=100)
    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    description: str | None = None
    hypothesis: str | None = None
    variant_id: str | None = Field(default=None, alias="variantId", max_length=200)
    status: str | None = None
    start_date: AwareDatetime | None = Field(default=None, alias="startDate")
    end_date: AwareDatetime | None = Field(default=None, alias="endDate")
    metrics: JsonObject | None = None
    created_by: str | None = Field(default=None, alias="createdBy", max_length=200)


class LegacyStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # Strict: JSON true is not experiment 1.
    id: StrictStr | StrictInt
    status: str
    metrics: JsonObject | None = None
    preserve_dates: bool = Field(default=False, alias="preserveDates")
    workspace_id: str | None = Field(default=None, alias="workspaceId")


def workspace_required(where: str) -> BadRequest:
    """Seed 003's own error, with a pointer for a seed 000 caller who left off the slash."""
    return BadRequest(
        "workspaceId is required",
        code="workspace_required",
        details=[
            {
                "loc": [where, "workspaceId"],
                "msg": "required on /api/experiments (seed 003); seed 000's collection is "
                "/api/experiments/ (with the trailing slash)",
                "type": "missing",
            }
        ],
    )


def _legacy_word(value: str) -> LegacyStatus:
    try:
        return LegacyStatus(value.strip().lower())
    except ValueError:
        raise BadRequest(INVALID_STATUS, code="invalid_status") from None


def _positive_int(name: str, raw: str | None, default: int, maximum: int = MAX_PAGE) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise BadRequest(f"{name} must be a positive integer", code="validation_error")
    value = int(raw)
    if value > maximum:
        raise BadRequest(f"{name} must be at most {maximum}", code="validation_error")
    return value


def list_page(
    session: Session,
    settings: Settings,
    principal: Principal,
    *,
    workspace_id: str | None,
    status: str | None,
    page: str | None,
    limit: str | None,
    sort_by: str | None,
    sort_order: str | None,
) -> LegacyPage:
    if workspace_id is None or not workspace_id.strip():
        raise workspace_required("query")
    statuses = legacy_statuses(_legacy_word(status)) if status else None
    page_number = _positive_int("page", page, 1)
    size = _positive_int("limit", limit, 10, maximum=100)
    sort_field = sort_by or "createdAt"
    if sort_field not in SORT_FIELDS:
        raise BadRequest(
            f"Invalid sortBy. Must be one of: {', '.join(SORT_FIELDS)}", code="validation_error"
        )
    order = (sort_order or "desc").lower()
    if order not in ("asc", "desc"):
        raise BadRequest("Invalid sortOrder. Must be one of: asc, desc", code="validation_error")

    workspace = _find_workspace(session, settings, principal, workspace_id)
    if workspace is None:  # a workspace nobody has written to yet: empty, not an error
        return LegacyPage(
            data=[], meta=LegacyMeta(page=page_number, limit=size, total=0, total_pages=0)
        )
    result = service.list_experiments(
        session,
        workspace,
        statuses=statuses,
        page=page_number,
        size=size,
        sort_by=sort_field,
        descending=order == "desc",
    )
    return LegacyPage(
        data=[LegacyExperiment.of(e, workspace.key) for e in result.items],
        meta=LegacyMeta(
            page=result.page, limit=result.size, total=result.total, total_pages=result.total_pages
        ),
    )


def _find_workspace(
    session: Session, settings: Settings, principal: Principal, key: str
) -> Workspace | None:
    if principal.workspace_id is not None:
        return workspace_for(session, settings, principal, key)
    return workspaces.get_by_key(session, key)


#: Service field names as seed 003 spells them, for the errors it returns.
_WIRE_NAMES = {
    "start_date": "startDate",
    "end_date": "endDate",
    "variant_ref": "variantId",
    "created_by": "createdBy",
    "workspace_id": "workspaceId",
}


def _wire_name(part: Any) -> Any:
    return _WIRE_NAMES.get(part, part) if isinstance(part, str) else part


def _bad_request(exc: ValidationFailed) -> BadRequest:
    """A domain rule's 422 as seed 003 says it: 400, with the field named in camelCase."""
    field, colon, rest = exc.message.partition(":")
    message = f"{_wire_name(field)}{colon}{rest}" if colon else exc.message
    details = exc.details
    if isinstance(details, list):
        details = [
            {**item, "loc": [_wire_name(part) for part in item.get("loc", [])]}
            if isinstance(item, dict)
            else item
            for item in details
        ]
    return BadRequest(message, code=exc.code, details=details)


def _seed_003_errors(call: Callable[P, R]) -> Callable[P, R]:
    """Seed 003 answers every invalid input with 400 (its own convention), never 422."""

    @functools.wraps(call)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        except ValidationFailed as exc:
            raise _bad_request(exc) from None

    return wrapper


@_seed_003_errors
def create(
    session: Session, settings: Settings, principal: Principal, body: Any
) -> LegacyExperiment:
    if not isinstance(body, dict):
        raise InvalidJson.not_an_object()
    if not body.get("workspaceId"):
        raise workspace_required("body")
    if not body.get("name"):
        raise BadRequest("name is required", code="validation_error")
    try:
        payload = LegacyCreate.model_validate(body)
    except ValidationError as exc:
        raise bad_request_from(exc) from None
    status = ExperimentStatus.DRAFT
    if payload.status is not None:
        word = _legacy_word(payload.status)
        if word is LegacyStatus.COMPLETED:
            raise BadRequest(
                "A new experiment cannot be completed; create it inactive or active",
                code="invalid_status",
            )
        status = ExperimentStatus.RUNNING if word is LegacyStatus.ACTIVE else status
    workspace = workspaces.for_caller(
        session,
        bound_to=principal.workspace_id,
        requested=payload.workspace_id,
        default=settings.default_workspace,
        create=True,
    )
    experiment = service.create_experiment(
        session,
        workspace,
        ExperimentSpec(
            key=payload.key,
            name=payload.name,
            description=payload.description,
            hypothesis=payload.hypothesis,
            status=status,
            start_date=payload.start_date,
            end_date=payload.end_date,
            created_by=payload.created_by,
            variant_ref=payload.variant_id,
            metrics=payload.metrics,
        ),
        actor=principal.actor,
    )
    return LegacyExperiment.of(experiment, workspace.key)


@_seed_003_errors
def change_status(
    session: Session, settings: Settings, principal: Principal, body: Any
) -> LegacyExperiment:
    if not isinstance(body, dict):
        raise InvalidJson.not_an_object()
    if body.get("id") in (None, ""):
        raise BadRequest("id is required", code="validation_error")
    if not body.get("status"):
        raise BadRequest("status is required", code="validation_error")
    try:
        payload = LegacyStatusChange.model_validate(body)
    except ValidationError as exc:
        raise bad_request_from(exc) from None
    _legacy_word(payload.status)  # seed 003's three words only
    workspace, ref = _locate(session, settings, principal, payload)
    experiment = service.revise(
        session,
        workspace,
        ref,
        ExperimentChanges(metrics=payload.metrics)
        if "metrics" in payload.model_fields_set
        else None,
        payload.status,
        actor=principal.actor,
        preserve_dates=payload.preserve_dates,
        unknown_status=lambda _: BadRequest(INVALID_STATUS, code="invalid_status"),
    )
    return LegacyExperiment.of(experiment, workspace.key)


def _locate(
    session: Session, settings: Settings, principal: Principal, payload: LegacyStatusChange
) -> tuple[Workspace, str | int]:
    """Seed 003 addresses an experiment by id alone; a key works too when workspaceId is given."""
    ref = str(payload.id)
    if payload.workspace_id:
        try:
            return workspace_for(session, settings, principal, payload.workspace_id), ref
        except NotFound:
            raise ExperimentNotFound() from None
    experiment_id = as_id(ref)
    workspace = service.workspace_of(session, experiment_id) if experiment_id is not None else None
    if experiment_id is None or workspace is None or not principal.sees(workspace.id):
        raise ExperimentNotFound()
    return workspace, experiment_id
