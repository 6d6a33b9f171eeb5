"""Prometheus metrics: request counts and latency per route, experiments by status.

Each app gets its own registry (no process-global state, so tests can build many apps). With
several workers each process exposes its own counters, as Prometheus expects of scraped targets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from splitlab.experiments import repository as experiments
from splitlab.experiments.model import ExperimentStatus

if TYPE_CHECKING:
    from splitlab.storage.engine import Database


class AppMetrics:
    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "splitlab_http_requests",
            "HTTP requests by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "splitlab_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        #: Business figures (experiments by status, across every workspace): shown only to
        #: unbound tokens that may read, never on the public or a workspace-bound scrape.
        self.business = CollectorRegistry(auto_describe=True)
        self.business.register(_ExperimentCollector(db))


class RequestPathCollector(Collector):
    """The request path's own counters (``runtime``): group commits, admission refusals and
    gate waits, read from the objects that keep them at scrape time."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        yield from self._families(fill=True)

    def _families(self, *, fill: bool = False) -> Iterator[Metric]:
        commits = CounterMetricFamily(
            "splitlab_group_commits", "Transactions of the group committer of exposures"
        )
        jobs = CounterMetricFamily(
            "splitlab_group_commit_jobs", "Requests' jobs written by the group committer"
        )
        refused = CounterMetricFamily(
            "splitlab_gate_refusals", "Requests answered 503 by a database gate", labels=["gate"]
        )
        waiting = GaugeMetricFamily(
            "splitlab_gate_waiting", "Requests waiting for a database gate", labels=["gate"]
        )
        if fill:
            committer = self.state.committer
            commits.add_metric([], committer.transactions)
            jobs.add_metric([], committer.jobs)
            gates = self.state.gates
            for gate in {id(g): g for g in (gates.session, gates.read, gates.fill)}.values():
                refused.add_metric([gate.name], gate.refused)
                waiting.add_metric([gate.name], gate.waiting)
        yield from (commits, jobs, refused, waiting)


class _ExperimentCollector(Collector):
    """Experiments by status, read from the database at scrape time (never a stale copy)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "splitlab_experiments", "Experiments by lifecycle status", labels=["status"]
        )

    def describe(self) -> Iterator[Metric]:
        """The metric's name for registration, so building the app queries nothing."""
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        gauge = self._family()
        with self.db.session_scope(readonly=True) as session:
            counts = experiments.count_by_status(session, None)
        for status in ExperimentStatus:
            gauge.add_metric([status.value], counts.get(status.value, 0))
        yield gauge


def route_template(scope: Scope) -> str:
    """The matched route's full template (``/api/v1/experiments/{id}``). A route of an
    included router is labelled by its own path in ``scope["route"]`` (``/experiments/{id}``):
    the full one is in FastAPI's effective route context, when there is one."""
    context = scope.get("fastapi", {}).get("effective_route_context")
    full = getattr(context, "path_format", None)
    if full:
        return str(full)
    return getattr(scope.get("route"), "path", None) or "unmatched"


class MetricsMiddleware:
    """Pure ASGI middleware: times each HTTP request and labels it by its route template."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled children, looked up once per label set (``labels()`` takes a lock and
        # builds a key on every call: a few microseconds a request on the hot path).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = route_template(scope)
            method = scope.get("method", "GET")
            counter = self._counters.get((method, template, status_code))
            if counter is None:
                counter = self.metrics.requests.labels(method, template, str(status_code))
                self._counters[(method, template, status_code)] = counter
            counter.inc()
            histogram = self._histograms.get((method, template))
            if histogram is None:
                histogram = self.metrics.latency.labels(method, template)
                self._histograms[(method, template)] = histogram
            histogram.observe(time.perf_counter() - started)
