"""Every API operation as a :class:`Call`: built once, sent by the sync or the async client."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict, TypeVar

import httpx
from typing_extensions import Unpack

from splitlab.client._http import Call, dumps, model, raw_json, segment
from splitlab.client.models import (
    Assignment,
    Event,
    EventBatchResult,
    EventsPage,
    Experiment,
    ExperimentResults,
    ExposureBatchResult,
    LifecycleEvent,
    Metric,
    Report,
    SampleSize,
    TrackedMetric,
    User,
)

#: The server's limits for one batch request (``POST /api/v1/events/batch``).
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 5 * 1024 * 1024
#: Room left under the server's byte limit for the ``{"events": [...]}`` envelope.
_BATCH_BYTE_BUDGET = MAX_BATCH_BYTES - 64 * 1024
MAX_BATCH_USERS = 10_000
#: The server's limit of exposures per request (``POST /api/v1/exposures/batch``; 5 MB too).
MAX_BATCH_EXPOSURES = 10_000

Json = dict[str, Any]
T = TypeVar("T")

_experiment = model(Experiment)
_experiments_page = model(dict[str, Any])
_history = model(dict[str, Any])
_metric = model(Metric)
_metrics = model(list[Metric])
_user = model(User)
_users = model(list[User])
_assignment = model(Assignment)
_event = model(Event)
_batch = model(EventBatchResult)
_exposure_batch = model(ExposureBatchResult)
_results = model(ExperimentResults)
_sample_size = model(SampleSize)
_reports = model(list[Report])
_events_page = model(EventsPage)
_tracked = model(TrackedMetric)


def _drop_none(values: Mapping[str, Any]) -> Json:
    return {k: v for k, v in values.items() if v is not None}


def new_event_id() -> str:
    """A fresh client event id: re-sending it later stores the event once."""
    return uuid.uuid4().hex


def now() -> datetime:
    return datetime.now(UTC)


# --- experiments (seed 000's key-addressed API) -------------------------------------------------


def _variant(variant: str | Mapping[str, Any]) -> Json:
    return {"key": variant} if isinstance(variant, str) else dict(variant)


def create_experiment(
    key: str,
    name: str,
    variants: Sequence[str | Mapping[str, Any]] | None,
    fields: Mapping[str, Any],
) -> Call[Experiment]:
    body: Json = {"key": key, "name": name, **_drop_none(fields)}
    if variants is not None:
        body["variants"] = [_variant(v) for v in variants]
    return Call("POST", "/api/experiments/", _experiment, json=body, idempotent=False)


def _parse_page(response: httpx.Response) -> tuple[list[Experiment], int]:
    page = _experiments_page(response)
    items = [Experiment.model_validate(e) for e in page["experiments"]]
    return items, int(page["total_pages"])


def list_experiments_page(
    page: int, status: str | None, search: str | None, page_size: int = 100
) -> Call[tuple[list[Experiment], int]]:
    params = _drop_none({"status": status, "search": search, "page": page, "page_size": page_size})
    return Call("GET", "/api/experiments/", _parse_page, params=params)


def get_experiment(ref: str | int) -> Call[Experiment]:
    return Call("GET", f"/api/experiments/{segment(ref)}", _experiment)


def update_experiment(ref: str | int, changes: Mapping[str, Any]) -> Call[Experiment]:
    body = dict(changes)
    if "variants" in body and body["variants"] is not None:
        body["variants"] = [_variant(v) for v in body["variants"]]
    return Call("PUT", f"/api/experiments/{segment(ref)}", _experiment, json=body)


def transition(ref: str | int, action: str, body: Json | None = None) -> Call[Experiment]:
    path = f"/api/experiments/{segment(ref)}/{action}"
    return Call("POST", path, _experiment, json=body, idempotent=False)


def cancel_experiment(ref: str | int) -> Call[Experiment]:
    return Call("DELETE", f"/api/experiments/{segment(ref)}", _experiment)


def _parse_history(response: httpx.Response) -> list[LifecycleEvent]:
    return [LifecycleEvent.model_validate(e) for e in _history(response)["events"]]


def experiment_history(ref: str | int) -> Call[list[LifecycleEvent]]:
    return Call("GET", f"/api/experiments/{segment(ref)}/events", _parse_history)


def define_metric(experiment: str | int, body: Json) -> Call[Metric]:
    path = f"/api/v1/experiments/{segment(experiment)}/metrics"
    return Call("POST", path, _metric, json=_drop_none(body), idempotent=False)


def list_metrics(experiment: str | int) -> Call[list[Metric]]:
    return Call("GET", f"/api/v1/experiments/{segment(experiment)}/metrics", _metrics)


def delete_metric(experiment: str | int, name: str) -> Call[None]:
    path = f"/api/v1/experiments/{segment(experiment)}/metrics/{segment(name)}"
    return Call("DELETE", path, _nothing, idempotent=False)


def _nothing(response: httpx.Response) -> None:
    return None


# --- users (seed 001) ----------------------------------------------------------------------------


def create_user(user_id: str, fields: Mapping[str, Any]) -> Call[User]:
    body = {"user_id": user_id, **_drop_none(fields)}
    return Call("POST", "/api/v1/users/", _user, json=body, idempotent=False)


def get_user(user_id: str) -> Call[User]:
    return Call("GET", f"/api/v1/users/{segment(user_id)}", _user)


def update_user(user_id: str, fields: Mapping[str, Any]) -> Call[User]:
    return Call("PUT", f"/api/v1/users/{segment(user_id)}", _user, json=_drop_none(fields))


def list_users(skip: int, limit: int) -> Call[list[User]]:
    return Call("GET", "/api/v1/users/", _users, params={"skip": skip, "limit": limit})


# --- assignments ---------------------------------------------------------------------------


def assign(
    experiment: str | int,
    user_id: str,
    attributes: Mapping[str, Any] | None,
    force_variant: str | None,
    context: Mapping[str, Any] | None,
) -> Call[Assignment]:
    body = _drop_none(
        {
            "user_id": user_id,
            "user_attributes": dict(attributes) if attributes else None,
            "force_variant": force_variant,
            "context": dict(context) if context else None,
        }
    )
    return Call(
        "POST", f"/api/experiments/{segment(experiment)}/assignments", _assignment, json=body
    )


def get_assignment(experiment: str | int, user_id: str) -> Call[Assignment]:
    path = f"/api/experiments/{segment(experiment)}/assignments/{segment(user_id)}"
    return Call("GET", path, _assignment)


def _parse_evaluation(response: httpx.Response) -> dict[str, Assignment]:
    return {
        key: Assignment.model_validate(value)
        for key, value in response.json()["assignments"].items()
    }


def evaluate(
    user_id: str, attributes: Mapping[str, Any] | None, context: Mapping[str, Any] | None
) -> Call[dict[str, Assignment]]:
    body = _drop_none(
        {
            "user_id": user_id,
            "attributes": dict(attributes) if attributes else None,
            "context": dict(context) if context else None,
        }
    )
    return Call("POST", "/api/v1/evaluate", _parse_evaluation, json=body)


def _parse_batch_assignments(response: httpx.Response) -> list[Assignment]:
    return [Assignment.model_validate(a) for a in response.json()["assignments"]]


def assign_batches(
    experiment: str | int, users: Iterable[str | tuple[str, Mapping[str, Any]]]
) -> Iterator[Call[list[Assignment]]]:
    """One call per 10,000 users; a user is an id, or ``(id, attributes)``."""
    path = f"/api/experiments/{segment(experiment)}/assignments/batch"
    chunk: list[Json] = []
    for user in users:
        if isinstance(user, str):
            chunk.append({"user_id": user})
        else:
            user_id, attributes = user
            chunk.append({"user_id": user_id, "user_attributes": dict(attributes)})
        if len(chunk) == MAX_BATCH_USERS:
            yield Call("POST", path, _parse_batch_assignments, json={"users": chunk})
            chunk = []
    if chunk:
        yield Call("POST", path, _parse_batch_assignments, json={"users": chunk})


# --- events ------------------------------------------------------------------------------------


class EventFields(TypedDict, total=False):
    """The optional parts of an event, as ``track()`` takes them."""

    experiment: str | int | None  # the experiment's key or id
    value: float | None  # the event's value (else ``properties["value"]`` when numeric)
    properties: Mapping[str, Any] | None
    timestamp: datetime | None  # when it happened; default now
    event_id: str | None  # default: a fresh id, so retries are stored once


def event_body(user_id: str, event_type: str, **fields: Unpack[EventFields]) -> Json:
    """A seed-001 event with its ``event_id`` and ``timestamp`` fixed now, so a retry (or a
    re-sent batch) is recognised as the same event and keeps the time it happened."""
    properties = fields.get("properties")
    timestamp = fields.get("timestamp") or now()
    return _drop_none(
        {
            "event_id": fields.get("event_id") or new_event_id(),
            "experiment_id": fields.get("experiment"),
            "user_id": user_id,
            "event_type": event_type,
            "value": fields.get("value"),
            "properties": dict(properties) if properties else None,
            "timestamp": timestamp.isoformat(),
        }
    )


def with_identity(event: Mapping[str, Any]) -> Json:
    """``event`` with an ``event_id`` and a ``timestamp`` when it has none."""
    filled = dict(event)
    filled.setdefault("event_id", new_event_id())
    filled.setdefault("timestamp", now().isoformat())
    return filled


def track(event: Json) -> Call[Event]:
    return Call("POST", "/api/v1/events/", _event, json=event)


def _batch_call(encoded: list[bytes]) -> Call[EventBatchResult]:
    content = b'{"events":[' + b",".join(encoded) + b"]}"
    return Call("POST", "/api/v1/events/batch", _batch, content=content)


def _chunked(
    encoded: Iterable[bytes], limit: int, make: Callable[[list[bytes]], Call[T]]
) -> Iterator[tuple[int, Call[T]]]:
    """``(number of items, call)`` pairs of at most ``limit`` items and under 5 MB each."""
    chunk: list[bytes] = []
    size = 0
    for item in encoded:
        if chunk and (len(chunk) == limit or size + len(item) > _BATCH_BYTE_BUDGET):
            yield len(chunk), make(chunk)
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield len(chunk), make(chunk)


def batch_calls(encoded: Iterable[bytes]) -> Iterator[tuple[int, Call[EventBatchResult]]]:
    """``(number of events, call)`` pairs of at most 10,000 events and under 5 MB each, in
    order, from events already encoded as JSON."""
    return _chunked(encoded, MAX_BATCH_EVENTS, _batch_call)


def track_batches(events: Iterable[Json]) -> Iterator[tuple[int, Call[EventBatchResult]]]:
    """:func:`batch_calls` for events not yet encoded."""
    return batch_calls(dumps(event) for event in events)


# --- exposures (SDKs that assign locally) -----------------------------------------------------


def exposure_body(
    experiment_key: str,
    user_id: str,
    variant_key: str,
    attributes: Mapping[str, Any] | None = None,
    timestamp: datetime | None = None,
    exposure_id: str | None = None,
) -> Json:
    """An exposure as ``POST /api/v1/exposures/batch`` takes it, its ``exposure_id`` and
    ``timestamp`` (when the variant was shown) fixed now."""
    return {
        "exposure_id": exposure_id or new_event_id(),
        "experiment_key": experiment_key,
        "variant_key": variant_key,
        "user_id": user_id,
        "attributes": dict(attributes) if attributes else {},
        "timestamp": (timestamp or now()).isoformat(),
    }


def exposure_with_identity(exposure: Mapping[str, Any]) -> Json:
    """``exposure`` with an ``exposure_id`` and a ``timestamp`` when it has none."""
    filled = dict(exposure)
    filled.setdefault("exposure_id", new_event_id())
    filled.setdefault("timestamp", now().isoformat())
    return filled


def _exposure_batch_call(encoded: list[bytes]) -> Call[ExposureBatchResult]:
    content = b'{"exposures":[' + b",".join(encoded) + b"]}"
    return Call("POST", "/api/v1/exposures/batch", _exposure_batch, content=content)


def exposure_batch_calls(
    encoded: Iterable[bytes],
) -> Iterator[tuple[int, Call[ExposureBatchResult]]]:
    """:func:`batch_calls` for exposures already encoded as JSON (10,000 and 5 MB a call)."""
    return _chunked(encoded, MAX_BATCH_EXPOSURES, _exposure_batch_call)


def track_metric(experiment: str | int, body: Json) -> Call[TrackedMetric]:
    return Call("POST", f"/api/experiments/{segment(experiment)}/metrics", _tracked, json=body)


# --- results, analytics, SDK ---------------------------------------------------------------------


def results(experiment: str | int) -> Call[ExperimentResults]:
    return Call("GET", f"/api/experiments/{segment(experiment)}/results", _results)


def sample_size(params: Mapping[str, Any]) -> Call[SampleSize]:
    return Call("GET", "/api/v1/sample-size", _sample_size, params=_drop_none(params))


def reports(experiment: str | int | None, days: int) -> Call[list[Report]]:
    params = _drop_none({"experiment_id": experiment, "days": days})
    return Call("GET", "/api/v1/analytics/reports", _reports, params=params)


def events_page(limit: int, offset: int, event_type: str | None) -> Call[EventsPage]:
    params = _drop_none({"limit": limit, "offset": offset, "event_type": event_type})
    return Call("GET", "/api/v1/analytics/events", _events_page, params=params)


def summary() -> Call[Json]:
    return Call("GET", "/api/v1/analytics/summary", raw_json)


def sdk_payload() -> Call[Json]:
    return Call("GET", "/api/v1/sdk", raw_json)


def health() -> Call[Json]:
    return Call("GET", "/health", raw_json)
