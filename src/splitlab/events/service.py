"""Recording events: single, batched, and seed 000's per-experiment metric tracking."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from splitlab.assignment import repository as assignments
from splitlab.errors import Conflict, ValidationFailed
from splitlab.events import repository
from splitlab.events.schemas import EventIn
from splitlab.experiments import service as experiments
from splitlab.metrics import service as metrics
from splitlab.metrics.model import KIND_WORDS
from splitlab.storage.base import as_id, utcnow
from splitlab.storage.models import Event, Experiment, Workspace

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 5 * 1024 * 1024


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


def _row(
    workspace: Workspace, event: EventIn, experiment_id: int | None, now: datetime
) -> dict[str, Any]:
    return {
        "workspace_id": workspace.id,
        "experiment_id": experiment_id,
        "event_id": event.event_id or uuid.uuid4().hex,
        "user_id": event.user_id,
        "event_type": event.event_type,
        "value": event.numeric_value(),
        "properties": event.properties,
        "timestamp": event.timestamp or now,
        "received_at": now,
    }


def _experiment_ids(session: Session, workspace: Workspace, refs: set[str]) -> dict[str, int]:
    """Resolve experiment ids or keys of one workspace in a single query."""
    if not refs:
        return {}
    numeric = {i for i in map(as_id, refs) if i is not None}
    rows = session.execute(
        select(Experiment.id, Experiment.key).where(
            Experiment.workspace_id == workspace.id,
            Experiment.key.in_(refs) | Experiment.id.in_(numeric),
        )
    )
    found: dict[str, int] = {}
    for experiment_id, key in rows:
        found[key] = experiment_id
        found.setdefault(str(experiment_id), experiment_id)
    return found


def record_event(session: Session, workspace: Workspace, event: EventIn) -> tuple[Event, bool]:
    """Store one event; returns the stored event and whether it was new (False: a duplicate)."""
    experiment_id = None
    if event.experiment_id is not None:
        experiment_id = experiments.get_experiment(session, workspace, event.experiment_id).id
    row = _row(workspace, event, experiment_id, utcnow())
    inserted = repository.insert_events(session, [row])
    stored = repository.get_events(session, workspace.id, [row["event_id"]])[0]
    return stored, bool(inserted)


def record_batch(session: Session, workspace: Workspace, raw_events: list[Any]) -> BatchResult:
    """Validate each event on its own; store the valid ones, report the rest by index."""
    if len(raw_events) > MAX_BATCH_EVENTS:
        from splitlab.errors import PayloadTooLarge

        raise PayloadTooLarge(f"At most {MAX_BATCH_EVENTS} events per batch")
    now = utcnow()
    rejected: list[Rejection] = []
    valid: list[tuple[int, EventIn]] = []
    for index, raw in enumerate(raw_events):
        try:
            valid.append((index, EventIn.model_validate(raw)))
        except ValidationError as exc:
            errors: list[dict[str, Any]] = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
            ]
            first = errors[0]
            where = ".".join(str(p) for p in first["loc"])
            rejected.append(
                Rejection(index, f"{where}: {first['msg']}" if where else first["msg"], errors)
            )

    refs = {str(e.experiment_id) for _, e in valid if e.experiment_id is not None}
    experiment_ids = _experiment_ids(session, workspace, refs)
    rows: list[dict[str, Any]] = []
    event_ids: list[str | None] = [None] * len(raw_events)
    seen: set[str] = set()
    duplicates = 0
    for index, event in valid:
        experiment_id = None
        if event.experiment_id is not None:
            experiment_id = experiment_ids.get(str(event.experiment_id))
            if experiment_id is None:
                rejected.append(Rejection(index, "experiment_id: Experiment not found"))
                continue
        row = _row(workspace, event, experiment_id, now)
        event_ids[index] = row["event_id"]
        if row["event_id"] in seen:
            duplicates += 1  # the same event twice in one batch is stored once
            continue
        seen.add(row["event_id"])
        rows.append(row)
    inserted = repository.insert_events(session, rows)
    duplicates += len(rows) - len(inserted)
    rejected.sort(key=lambda r: r.index)
    return BatchResult(
        received=len(raw_events),
        accepted=len(inserted),
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
    metric_type: str,
    event_id: str | None = None,
    timestamp: datetime | None = None,
) -> tuple[str, Event, bool]:
    """Seed 000's metric tracking: the value must belong to the user's own exposure."""
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
    metrics.ensure_metric(session, experiment, name=metric_name, kind=kind)
    event = EventIn(
        experiment_id=experiment.id,
        user_id=user_id,
        event_type=metric_name,
        value=value,
        properties={"variant_key": variant_key, "metric_type": metric_type},
        event_id=event_id,
        timestamp=timestamp,
    )
    row = _row(workspace, event, experiment.id, utcnow())
    inserted = repository.insert_events(session, [row])
    stored = repository.get_events(session, workspace.id, [row["event_id"]])[0]
    return experiment.key, stored, bool(inserted)


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
    from splitlab.errors import NotFound

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
    summary = {
        event_type: ValueSummary(count, total, total / count if count else None, low, high)
        for event_type, count, total, low, high in rows
    }
    return experiment, users, summary
