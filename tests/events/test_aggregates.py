"""The SQL push-down equals the same aggregation computed in Python from the raw rows."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from splitlab.events.aggregates import MetricSpec, sufficient_statistics
from splitlab.metrics.model import MetricKind
from splitlab.storage.engine import Database
from splitlab.storage.models import Event, Experiment, Exposure, Variant
from tests.factories import experiment_body

T0 = datetime(2026, 1, 10, tzinfo=UTC)
METRICS = [
    MetricSpec("purchase", "purchase", MetricKind.CONVERSION),
    MetricSpec("revenue", "purchase", MetricKind.NUMERIC),
    MetricSpec("views", "view", MetricKind.COUNT),
]


def seed_data(client: TestClient, db: Database, users: int = 120) -> Experiment:
    """Exposures at known times and events before, after and far before them."""
    client.post(
        "/api/experiments/",
        json=experiment_body(
            variants=[
                {"key": "control", "allocation": 34},
                {"key": "a", "allocation": 33},
                {"key": "b", "allocation": 33},
            ]
        ),
    )
    client.post("/api/experiments/checkout-test/start")
    rng = random.Random(7)
    with db.session_scope() as session:
        experiment = session.scalars(select(Experiment)).one()
        variants = list(session.scalars(select(Variant).order_by(Variant.position)))
        for i in range(users):
            exposed = T0 + timedelta(hours=rng.randint(0, 100))
            session.add(
                Exposure(
                    workspace_id=experiment.workspace_id,
                    experiment_id=experiment.id,
                    variant_id=variants[i % 3].id,
                    user_id=f"u{i}",
                    bucket_version=0,
                    is_override=False,
                    context={},
                    exposed_at=exposed,
                )
            )
            for j in range(rng.randint(0, 6)):
                kind = rng.choice(["purchase", "view", "other"])
                when = exposed + timedelta(hours=rng.uniform(-20 * 24, 10 * 24))
                value = round(rng.uniform(0, 50), 2) if rng.random() < 0.8 else None
                session.add(
                    Event(
                        workspace_id=experiment.workspace_id,
                        experiment_id=rng.choice([experiment.id, None]),
                        event_id=f"e{i}-{j}",
                        user_id=f"u{i}",
                        event_type=kind,
                        value=value,
                        properties={},
                        timestamp=when,
                        received_at=when,
                    )
                )
        # an exposed-but-silent user, and events of a user never exposed
        session.add(
            Event(
                workspace_id=experiment.workspace_id,
                experiment_id=None,
                event_id="ghost",
                user_id="ghost",
                event_type="purchase",
                value=100.0,
                properties={},
                timestamp=T0,
                received_at=T0,
            )
        )
    return experiment


def python_oracle(db: Database, window_days: int = 14) -> dict[str, dict[str, tuple[float, ...]]]:
    with db.session_scope() as session:
        exposures = list(
            session.execute(
                select(Exposure.user_id, Variant.key, Exposure.exposed_at).join(
                    Variant, Variant.id == Exposure.variant_id
                )
            )
        )
        events = list(
            session.execute(select(Event.user_id, Event.event_type, Event.value, Event.timestamp))
        )
    by_user = defaultdict(list)
    for user, kind, value, when in events:
        by_user[user].append((kind, value, when))
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0] * 6))
    for user, variant, exposed in exposures:
        for metric in METRICS:

            def value_in(
                lo: datetime,
                hi: datetime | None,
                metric: MetricSpec = metric,
                user: str = user,
            ) -> float:
                matching = [
                    (v, t)
                    for k, v, t in by_user[user]
                    if k == metric.event_type and t >= lo and (hi is None or t < hi)
                ]
                if metric.kind is MetricKind.CONVERSION:
                    return 1.0 if matching else 0.0
                if metric.kind is MetricKind.COUNT:
                    return float(len(matching))
                return float(sum(v or 0.0 for v, _ in matching))

            x = value_in(exposed, None)
            p = value_in(exposed - timedelta(days=window_days), exposed)
            acc = out[variant][metric.name]
            for k, v in enumerate([1, x, x * x, p, p * p, x * p]):
                acc[k] += v
    return {v: {m: tuple(vals) for m, vals in ms.items()} for v, ms in out.items()}


def test_push_down_matches_python_for_every_metric_kind(client: TestClient, db: Database) -> None:
    experiment = seed_data(client, db)
    with db.session_scope() as session:
        got = sufficient_statistics(
            session,
            workspace_id=experiment.workspace_id,
            experiment_id=experiment.id,
            bucket_version=0,
            metrics=METRICS,
        )
    expected = python_oracle(db)
    assert set(got) == set(expected) == {"control", "a", "b"}
    for variant, metrics in expected.items():
        for name, (n, s, s2, p, p2, xp) in metrics.items():
            agg = got[variant][name]
            assert agg.n == n
            assert (
                agg.sum,
                agg.sum_sq,
                agg.pre_sum,
                agg.pre_sum_sq,
                agg.sum_cross,
            ) == pytest.approx((s, s2, p, p2, xp), rel=1e-9, abs=1e-6), (variant, name)


def test_users_without_events_count_as_zero(client: TestClient, db: Database) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    for i in range(10):
        client.post("/api/experiments/checkout-test/assignments", json={"user_id": f"s{i}"})
    with db.session_scope() as session:
        experiment = session.scalars(select(Experiment)).one()
        got = sufficient_statistics(
            session,
            workspace_id=experiment.workspace_id,
            experiment_id=experiment.id,
            bucket_version=0,
            metrics=METRICS,
        )
    assert sum(v["purchase"].n for v in got.values()) == 10
    assert all(v["revenue"].sum == 0 for v in got.values())


def test_events_before_exposure_are_excluded(client: TestClient, db: Database) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    client.post(
        "/api/v1/events/",
        json={
            "user_id": "early",
            "event_type": "purchase",
            "timestamp": "2020-01-01T00:00:00Z",
            "properties": {"value": 5},
        },
    )
    client.post("/api/experiments/checkout-test/assignments", json={"user_id": "early"})
    with db.session_scope() as session:
        experiment = session.scalars(select(Experiment)).one()
        got = sufficient_statistics(
            session,
            workspace_id=experiment.workspace_id,
            experiment_id=experiment.id,
            bucket_version=0,
            metrics=METRICS,
        )
    (variant,) = got.values()
    assert (variant["purchase"].n, variant["purchase"].sum, variant["revenue"].sum) == (1, 0, 0)


def test_batched_timestamps_compare_with_exposure_times_to_the_microsecond(
    client: TestClient, db: Database
) -> None:
    """Events stored through the batch endpoint (one JSON array unpacked by the database) keep
    timestamps that order exactly like the exposure times the ORM stored, in any time zone."""
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    client.post("/api/experiments/checkout-test/assignments", json={"user_id": "edge"})
    with db.session_scope() as session:
        exposed = session.scalars(select(Exposure.exposed_at)).one()
    plus_five = timezone(timedelta(hours=5))
    events = [
        (exposed - timedelta(microseconds=1), 1.0),
        (exposed, 10.0),
        ((exposed + timedelta(microseconds=1)).astimezone(plus_five), 100.0),
    ]
    response = client.post(
        "/api/v1/events/batch",
        json={
            "events": [
                {
                    "user_id": "edge",
                    "event_type": "purchase",
                    "value": v,
                    "timestamp": t.isoformat(),
                }
                for t, v in events
            ]
        },
    )
    assert response.json()["accepted"] == 3
    with db.session_scope() as session:
        experiment = session.scalars(select(Experiment)).one()
        stored = sorted(session.scalars(select(Event.timestamp)))
        got = sufficient_statistics(
            session,
            workspace_id=experiment.workspace_id,
            experiment_id=experiment.id,
            bucket_version=0,
            metrics=METRICS,
        )
    assert stored == [t for t, _ in events]
    (variant,) = got.values()
    assert (variant["revenue"].sum, variant["revenue"].pre_sum) == (110.0, 1.0)
