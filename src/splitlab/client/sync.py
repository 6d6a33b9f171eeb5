"""The synchronous Splitlab client."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from typing_extensions import Unpack

from splitlab.client import _calls
from splitlab.client._base import client_options
from splitlab.client._http import Call, RetryPolicy, result, retryable, unsent
from splitlab.client.errors import TransportError
from splitlab.client.models import (
    Assignment,
    Event,
    EventBatchResult,
    EventsPage,
    Experiment,
    ExperimentResults,
    LifecycleEvent,
    Metric,
    Report,
    SampleSize,
    TrackedMetric,
    User,
)

if TYPE_CHECKING:
    from splitlab.client.batcher import ErrorHandler, EventBatcher
    from splitlab.client.local import LocalEvaluator

T = TypeVar("T")


class Splitlab:
    """A Splitlab server, over HTTP.

    ``url`` and ``token`` default to ``$SPLITLAB_URL`` (else ``http://127.0.0.1:8000``) and
    ``$SPLITLAB_TOKEN``; ``workspace`` picks a workspace for an unbound token. Every method raises
    :class:`~splitlab.client.errors.APIError` (with the server's ``error``, ``code`` and status)
    or :class:`~splitlab.client.errors.TransportError`; connection errors and 5xx answers are
    retried by ``retry``, 4xx answers never.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        workspace: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._http = httpx.Client(
            **client_options(url, token, workspace, timeout), transport=transport
        )

    @property
    def url(self) -> str:
        return str(self._http.base_url)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Splitlab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send(self, call: Call[T], retry: RetryPolicy | None = None) -> T:
        """Send one call, retrying connection errors and 5xx answers."""
        policy = retry or self.retry
        delays = policy.delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(call.method, call.path, **call.request_kwargs())
            except httpx.TransportError as exc:
                delay = next(delays, None) if call.idempotent or unsent(exc) else None
                if delay is None:
                    raise TransportError(
                        f"{call.method} {call.path} failed after {attempt} attempts: {exc!r}",
                        attempts=attempt,
                    ) from exc
                time.sleep(delay)
                continue
            if retryable(response, call):
                delay = next(delays, None)
                if delay is not None:
                    time.sleep(delay)
                    continue
            return result(call, response)

    # --- experiments --------------------------------------------------------------------------

    def create_experiment(
        self,
        key: str,
        name: str,
        variants: Sequence[str | Mapping[str, Any]] | None = None,
        *,
        description: str | None = None,
        hypothesis: str | None = None,
        targeting: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Experiment:
        """Create a draft. ``variants`` are keys (an equal split) or seed-000 variant objects
        (``key``, ``name``, ``allocation`` in percent, ``is_control``, ``config``)."""
        fields = {
            "description": description,
            "hypothesis": hypothesis,
            "targeting": targeting,
            "config": config,
        }
        return self.send(_calls.create_experiment(key, name, variants, fields))

    def list_experiments(
        self, status: str | None = None, *, search: str | None = None
    ) -> list[Experiment]:
        """Every experiment of the workspace (all pages), newest first."""
        return list(self.iter_experiments(status, search=search))

    def iter_experiments(
        self, status: str | None = None, *, search: str | None = None
    ) -> Iterator[Experiment]:
        page, pages = 1, 1
        while page <= pages:
            items, pages = self.send(_calls.list_experiments_page(page, status, search))
            yield from items
            page += 1

    def get_experiment(self, experiment: str | int) -> Experiment:
        return self.send(_calls.get_experiment(experiment))

    def update_experiment(self, experiment: str | int, **changes: Any) -> Experiment:
        """Edit fields (``name``, ``description``, ``targeting``, ``config``, and ``variants``
        while a draft); only what is passed changes."""
        return self.send(_calls.update_experiment(experiment, changes))

    def start_experiment(self, experiment: str | int) -> Experiment:
        return self.send(_calls.transition(experiment, "start"))

    def pause_experiment(self, experiment: str | int) -> Experiment:
        return self.send(_calls.transition(experiment, "pause"))

    def conclude_experiment(
        self, experiment: str | int, winning_variant: str | None = None, notes: str | None = None
    ) -> Experiment:
        body = {"winning_variant": winning_variant, "notes": notes}
        return self.send(_calls.transition(experiment, "conclude", body))

    def cancel_experiment(self, experiment: str | int) -> Experiment:
        return self.send(_calls.cancel_experiment(experiment))

    def experiment_history(self, experiment: str | int) -> list[LifecycleEvent]:
        return self.send(_calls.experiment_history(experiment))

    def define_metric(
        self,
        experiment: str | int,
        name: str,
        kind: str,
        *,
        event_type: str | None = None,
        role: str | None = None,
        higher_is_better: bool = True,
    ) -> Metric:
        """Declare a metric over events: ``kind`` conversion, numeric or count; ``role``
        primary, secondary or guardrail (the first defined is primary); ``event_type`` defaults
        to ``name``."""
        body = {
            "name": name,
            "kind": kind,
            "event_type": event_type,
            "role": role,
            "higher_is_better": higher_is_better,
        }
        return self.send(_calls.define_metric(experiment, body))

    def list_metrics(self, experiment: str | int) -> list[Metric]:
        return self.send(_calls.list_metrics(experiment))

    def delete_metric(self, experiment: str | int, name: str) -> None:
        self.send(_calls.delete_metric(experiment, name))

    # --- users ----------------------------------------------------------------------------------

    def create_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> User:
        """Register a user; ``properties`` become targeting attributes on every assignment."""
        fields = {"email": email, "name": name, "properties": properties}
        return self.send(_calls.create_user(user_id, fields))

    def get_user(self, user_id: str) -> User:
        return self.send(_calls.get_user(user_id))

    def update_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> User:
        fields = {"email": email, "name": name, "properties": properties}
        return self.send(_calls.update_user(user_id, fields))

    def list_users(self, *, skip: int = 0, limit: int = 100) -> list[User]:
        return self.send(_calls.list_users(skip, limit))

    # --- assignments ----------------------------------------------------------------------------

    def assign(
        self,
        experiment: str | int,
        user_id: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        force_variant: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Assignment:
        """The user's variant (deterministic, sticky, recorded once as an exposure)."""
        return self.send(_calls.assign(experiment, user_id, attributes, force_variant, context))

    def get_assignment(self, experiment: str | int, user_id: str) -> Assignment:
        return self.send(_calls.get_assignment(experiment, user_id))

    def evaluate(
        self,
        user_id: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Assignment]:
        """Every running experiment of the workspace for one user, by experiment key."""
        return self.send(_calls.evaluate(user_id, attributes, context))

    def assign_batch(
        self, experiment: str | int, users: Iterable[str | tuple[str, Mapping[str, Any]]]
    ) -> list[Assignment]:
        """Assign many users (ids, or ``(id, attributes)``), 10,000 per request."""
        return [a for call in _calls.assign_batches(experiment, users) for a in self.send(call)]

    # --- events ---------------------------------------------------------------------------------

    def track(
        self,
        user_id: str,
        event_type: str,
        **fields: Unpack[_calls.EventFields],
    ) -> Event:
        """Record one event; its ``event_id`` is made here, so retries store it once."""
        return self.send(_calls.track(_calls.event_body(user_id, event_type, **fields)))

    def track_batch(self, events: Iterable[Mapping[str, Any]]) -> EventBatchResult:
        """Record seed-001 events in as few requests as the server's limits allow.

        Events without an ``event_id`` or ``timestamp`` get one here, before the first attempt.
        Invalid events are listed in ``rejected`` (by index into ``events``); the rest are stored.
        """
        total = EventBatchResult(received=0, accepted=0, duplicates=0, rejected=[], event_ids=[])
        for _, call in _calls.track_batches(_calls.with_identity(e) for e in events):
            total += self.send(call)
        return total

    def track_metric(
        self,
        experiment: str | int,
        user_id: str,
        variant_key: str,
        metric_name: str,
        value: float,
        metric_type: str | None = None,
    ) -> TrackedMetric:
        """Seed 000's metric tracking (checked against the user's exposure)."""
        body = _calls.with_identity(
            {
                "user_id": user_id,
                "variant_key": variant_key,
                "metric_name": metric_name,
                "value": value,
                **({} if metric_type is None else {"metric_type": metric_type}),
            }
        )
        return self.send(_calls.track_metric(experiment, body))

    def batcher(
        self,
        *,
        max_batch: int = 1000,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        on_error: ErrorHandler | None = None,
    ) -> EventBatcher:
        """A background batcher sending events by size and time; close it to flush."""
        from splitlab.client.batcher import EventBatcher

        return EventBatcher(
            self,
            max_batch=max_batch,
            flush_interval=flush_interval,
            max_queue=max_queue,
            on_error=on_error,
        )

    # --- results and analytics ---------------------------------------------------------------

    def results(self, experiment: str | int) -> ExperimentResults:
        """The verdict: per-metric lifts, intervals, p-values, SRM and the recommendation."""
        return self.send(_calls.results(experiment))

    def sample_size(self, mde: float, **params: Any) -> SampleSize:
        """Users per variant to detect ``mde`` (``baseline_rate`` or ``baseline_mean`` and
        ``baseline_variance``; ``alpha``, ``power``, ``variants``, ``exposures_per_day``)."""
        return self.send(_calls.sample_size({"mde": mde, **params}))

    def reports(self, experiment: str | int | None = None, *, days: int = 90) -> list[Report]:
        """Per experiment, variant and day: exposures, events, conversions, value sums."""
        return self.send(_calls.reports(experiment, days))

    def events(
        self, *, limit: int = 100, offset: int = 0, event_type: str | None = None
    ) -> EventsPage:
        return self.send(_calls.events_page(limit, offset, event_type))

    def summary(self) -> dict[str, Any]:
        return self.send(_calls.summary())

    def sdk_payload(self) -> dict[str, Any]:
        """The running experiments as a GrowthBook SDK payload."""
        return self.send(_calls.sdk_payload())

    def local_evaluator(
        self,
        *,
        refresh_interval: float = 30.0,
        record_exposures: bool = True,
        batcher: EventBatcher | None = None,
        exposure_cache_size: int = 200_000,
    ) -> LocalEvaluator:
        """Assign in process from the SDK payload, refreshed every ``refresh_interval`` s.

        Each user in a running experiment is recorded as exposed once (per experiment and
        bucket version, remembered for ``exposure_cache_size`` users), through ``batcher`` or
        one made for the evaluator; ``close()`` it (or use ``with``) to flush them. Pass
        ``record_exposures=False`` to record nothing."""
        from splitlab.client.local import LocalEvaluator

        return LocalEvaluator(
            self,
            refresh_interval=refresh_interval,
            record_exposures=record_exposures,
            batcher=batcher,
            exposure_cache_size=exposure_cache_size,
        )

    def health(self) -> dict[str, Any]:
        return self.send(_calls.health())
