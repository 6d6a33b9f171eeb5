"""Recording events: single, batched, and seed 000's per-experiment metric tracking."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from splitlab.assignment import repository as assignments
from splitlab.errors import (
    Conflict,
    InvalidJson,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from splitlab.events import repository
from splitlab.events.schemas import MAX_ID, CheckedEvent, EventIn, fast_batch
from splitlab.experiments import service as experiments
from splitlab.metrics import service as metrics
from splitlab.metrics.model import KIND_WORDS, MetricKind
from splitlab.storage.base import utcnow
from splitlab.storage.models import Event, Experiment, Workspace

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 5 * 1024 * 1024
_EVENT_LIST = TypeAdapter(list[EventIn])


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    error: str
    details: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BatchResult:
    received: int
    accepted: int
    duplicates: int
    rejected: list[Rejection]
    event_ids: list[str | None]


def _new_event(event: CheckedEvent, experiment_id: int | None) -> repository.NewEvent:
    return repository.NewEvent(
        experiment_id,
        event.event_id or uuid.uuid4().hex,
        event.user_id,
        event.event_type,
        event.value,
        event.properties,
        event.timestamp,
    )


def _experiment_ids(
    session: Session, workspace: Workspace, refs: set[int | str]
) -> dict[int | str, int]:
    """Resolve experiment refs of one workspace in one query, as ``get_experiment`` would: an
    integer is an id; a string is a key, else (if it is a number) an id."""
    if not refs:
        return {}
    keys = {r for r in refs if isinstance(r, str)}
    ids = {int(r) for r in refs if isinstance(r, int) or r.isdecimal()}
    ids = {i for i in ids if 0 < i <= MAX_ID}
    by_key: dict[str, int] = {}
    by_id: set[int] = set()
    for experiment_id, key in session.execute(
        select(Experiment.id, Experiment.key).where(
            Experiment.workspace_id == workspace.id,
            Experiment.key.in_(keys) | Experiment.id.in_(ids),
        )
    ):
        by_key[key] = experiment_id
        by_id.add(experiment_id)
    found: dict[int | str, int] = {}
    for ref in refs:
        if isinstance(ref, str) and ref in by_key:
            found[ref] = by_key[ref]
        elif isinstance(ref, int) or ref.isdecimal():
            number = int(ref)
            if number in by_id:
                found[ref] = number
    return found


def record_event(session: Session, workspace: Workspace, event: EventIn) -> tuple[Event, bool]:
    """Store one event; returns the stored event and whether it was new (False: a duplicate)."""
    experiment_id = None
    if event.experiment_id is not None:
        experiment_id = experiments.get_experiment(session, workspace, event.experiment_id).id
    new = _new_event(event.checked(), experiment_id)
    inserted = repository.insert_events(session, workspace.id, utcnow(), [new])
    stored = repository.get_events(session, workspace.id, [new.event_id])[0]
    return stored, bool(inserted)


def rejection(index: int, exc: ValidationError) -> Rejection:
    """A batch item that failed validation: its index, its first error, and all of them."""
    errors: list[dict[str, Any]] = [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
    ]
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"])
    return Rejection(index, f"{where}: {first['msg']}" if where else first["msg"], errors)


def _validate(
    raw_events: list[Any], now: datetime
) -> tuple[list[tuple[int, CheckedEvent]], list[Rejection]]:
    """Every event validated; the whole list in one pass when all are valid (the usual case),
    else one by one, so each invalid event is reported with its own index and reasons."""
    context = {"now": now}
    try:
        events = _EVENT_LIST.validate_python(raw_events, context=context)
        return [(index, event.checked()) for index, event in enumerate(events)], []
    except ValidationError:
        pass
    valid: list[tuple[int, CheckedEvent]] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(raw_events):
        try:
            valid.append((index, EventIn.model_validate(raw, context=context).checked()))
        except ValidationError as exc:
            rejected.append(rejection(index, exc))
    return valid, rejected


def batch_items(body: bytes, field: str) -> list[Any]:
    """The ``field`` list of a batch body (``{"events": [...]}``), as JSON; 422 if it is not
    one. Shared by the event and exposure batches."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:  # too deep: valid JSON, but not for us
        raise InvalidJson.of(error) from None
    items = data.get(field) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InvalidJson.not_an_object(f'{{"{field}": [...]}}')
    return items


def record_batch_body(session: Session, workspace: Workspace, body: bytes) -> BatchResult:
    """``record_batch`` of a request body: a body of good events is validated straight from its
    bytes (``schemas.fast_batch``); any other goes through ``json`` and ``EventIn`` per event."""
    now = utcnow()
    checked = fast_batch(body, now, max_events=MAX_BATCH_EVENTS)
    if checked is None:
        return record_batch(session, workspace, batch_items(body, "events"), now=now)
    return _store_batch(session, workspace, now, len(checked), list(enumerate(checked)), [])


def record_batch(
    session: Session, workspace: Workspace, raw_events: list[Any], *, now: datetime | None = None
) -> BatchResult:
    """Validate each event on its own; store the valid ones, report the rest by index."""
    if len(raw_events) > MAX_BATCH_EVENTS:
        raise PayloadTooLarge(f"At most {MAX_BATCH_EVENTS} events per batch")
    now = now or utcnow()
    valid, rejected = _validate(raw_events, now)
    return _store_batch(session, workspace, now, len(raw_events), valid, rejected)


def _store_batch(
    session: Session,
    workspace: Workspace,
    now: datetime,
    received: int,
    valid: list[tuple[int, CheckedEvent]],
    rejected: list[Rejection],
) -> BatchResult:
    refs = {e.experiment_ref for _, e in valid if e.experiment_ref is not None}
    experiment_ids = _experiment_ids(session, workspace, refs)
    rows: list[repository.NewEvent] = []
    event_ids: list[str | None] = [None] * received
    seen: set[str] = set()
    duplicates = 0
    for index, event in valid:
        experiment_id = None
        if event.experiment_ref is not None:
            experiment_id = experiment_ids.get(event.experiment_ref)
            if experiment_id is None:
                rejected.append(Rejection(index, "experiment_id: Experiment not found"))
                continue
        row = _new_event(event, experiment_id)
        event_ids[index] = row.event_id
        if row.event_id in seen:
            duplicates += 1  # the same event twice in one batch is stored once
            continue
        seen.add(row.event_id)
        rows.append(row)
    inserted = repository.insert_events(session, workspace.id, now, rows)
    duplicates += len(rows) - inserted
    rejected.sort(key=lambda r: r.index)
    return BatchResult(
        received=received,
        accepted=inserted,
        duplicates=duplicates,
        rejected=rejected,
        event_ids=event_ids,
    )


def track_metric(
    session: Session,
    workspace: Workspace,
    ref: str,
    *,
    user_id: str,
    variant_key: str,
    metric_name: str,
    value: float,
    metric_type: str | None,
    event_id: str | None = None,
    timestamp: datetime | None = None,
) -> tuple[str, Event, bool, str]:
    """Seed 000's metric tracking: the value must belong to the user's own exposure.

    ``metric_type`` names the metric's kind: a new metric is defined with it (numeric when not
    given); a defined metric must be of that kind (409 otherwise). Returns the experiment's key,
    the stored event, whether it was new, and the metric's kind.
    """
    kind = None
    if metric_type is not None:
        kind = KIND_WORDS.get(metric_type.strip().lower())
        if kind is None:
            allowed = ", ".join(sorted({k.value for k in KIND_WORDS.values()}))
            raise ValidationFailed(
                f"metric_type must be one of: {allowed}",
                details=[
                    {"loc": ["body", "metric_type"], "msg": "unknown metric type", "type": "enum"}
                ],
            )
    experiment = experiments.get_experiment(session, workspace, ref)
    exposure = assignments.find_exposure(session, experiment.id, experiment.bucket_version, user_id)
    if exposure is None:
        raise Conflict(
            f"User '{user_id}' is not in experiment '{experiment.key}': assign them first",
            code="not_in_experiment",
        )
    if exposure[0] != variant_key:
        raise Conflict(
            f"User '{user_id}' is in variant '{exposure[0]}', not '{variant_key}'",
            code="variant_mismatch",
        )
    metric = metrics.ensure_metric(
        session, experiment, name=metric_name, kind=kind or MetricKind.NUMERIC
    )
    if kind is not None and metric.kind != kind.value:
        raise Conflict(
            f"Metric '{metric_name}' is defined as {metric.kind}, not {kind.value}",
            code="metric_kind_mismatch",
        )
    event = EventIn(
        experiment_id=experiment.id,
        user_id=user_id,
        # A defined metric may read another event type than its name: track what it reads.
        event_type=metric.event_type,
        value=value,
        properties={"variant_key": variant_key, "metric_type": metric_type or metric.kind},
        event_id=event_id,
        timestamp=timestamp,
    )
    new = _new_event(event.checked(), experiment.id)
    inserted = repository.insert_events(session, workspace.id, utcnow(), [new])
    stored = repository.get_events(session, workspace.id, [new.event_id])[0]
    return experiment.key, stored, bool(inserted), metric.kind


@dataclass(frozen=True, slots=True)
class ValueSummary:
    count: int
    sum: float
    mean: float | None
    min: float | None
    max: float | None


def variant_metrics(
    session: Session, workspace: Workspace, ref: str, variant_key: str
) -> tuple[Experiment, int, dict[str, ValueSummary]]:
    """Seed 000's per-variant view: exposed users and, per metric, the values tracked."""
    experiment = experiments.get_experiment(session, workspace, ref)
    variant = next((v for v in experiment.variants if v.key == variant_key), None)
    if variant is None:
        raise NotFound(f"Variant '{variant_key}' not found", code="variant_not_found")
    users = repository.exposed_users(session, experiment.id, experiment.bucket_version, variant.id)
    rows = repository.variant_metric_summary(
        session,
        workspace_id=workspace.id,
        experiment_id=experiment.id,
        bucket_version=experiment.bucket_version,
        variant_id=variant.id,
    )
    by_type = {
        event_type: ValueSummary(count, total, total / count if count else None, low, high)
        for event_type, count, total, low, high in rows
    }
    # By metric name: a defined metric may read an event type of another name (several may
    # read the same one); event types no metric reads keep their own name.
    summary: dict[str, ValueSummary] = {}
    read: set[str] = set()
    for metric in metrics.list_metrics(session, experiment.id):
        if metric.event_type in by_type:
            summary[metric.name] = by_type[metric.event_type]
            read.add(metric.event_type)
    for event_type, values in by_type.items():
        if event_type not in read:
            summary.setdefault(event_type, values)
    return experiment, users, summary
