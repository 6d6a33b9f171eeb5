"""The SQL push-down equals the same aggregation computed in Python from the raw rows."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from splitlab.app import create_app
from splitlab.assignment import repository as assignments
from splitlab.config import Settings
from splitlab.events import repository as events
from splitlab.events import totals
from splitlab.events.aggregates import MetricSpec, sufficient_statistics
from splitlab.events.repository import NewEvent
from splitlab.metrics.model import MetricKind
from splitlab.storage.base import Base
from splitlab.storage.engine import Database
from splitlab.storage.models import Event, Experiment, Exposure, Variant, VariantTotal
from tests.conftest import ADMIN_SECRET
from tests.factories import experiment_body

T0 = datetime(2026, 1, 10, tzinfo=UTC)
METRICS = [
    MetricSpec("purchase", "purchase", MetricKind.CONVERSION),
    MetricSpec("revenue", "purchase", MetricKind.NUMERIC),
    MetricSpec("views", "view", MetricKind.COUNT),
]


def seed_data(client: TestClient, db: Database, users: int = 120) -> Experiment:
    """Exposures at known times and events before, after and far before them, stored through
    the write paths in both orders: some events before their user's exposure, some after."""
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
    other = other_experiment(client, db)
    rng = random.Random(7)
    with db.session_scope() as session:
        experiment = session.scalars(
            select(Experiment).where(Experiment.key == "checkout-test")
        ).one()
        variants = list(
            session.scalars(
                select(Variant)
                .where(Variant.experiment_id == experiment.id)
                .order_by(Variant.position)
            )
        )
        workspace = experiment.workspace_id
        exposures: list[dict[str, Any]] = []
        early: list[NewEvent] = []
        late: list[NewEvent] = []
        for i in range(users):
            exposed = T0 + timedelta(hours=rng.randint(0, 100))
            exposures.append(
                {
                    "workspace_id": workspace,
                    "experiment_id": experiment.id,
                    "variant_id": variants[i % 3].id,
                    "user_id": f"u{i}",
                    "bucket_version": 0,
                    # a few forced users, whose events must not count
                    "is_override": i % 17 == 0,
                    "context": {},
                    "exposed_at": exposed,
                }
            )
            for j in range(rng.randint(0, 6)):
                kind = rng.choice(["purchase", "view", "other"])
                when = exposed + timedelta(hours=rng.uniform(-20 * 24, 10 * 24))
                value = round(rng.uniform(0, 50), 2) if rng.random() < 0.8 else None
                tag = rng.choice([experiment.id, None, other])
                event = NewEvent(tag, f"e{i}-{j}", f"u{i}", kind, value, {}, when)
                (early if rng.random() < 0.5 else late).append(event)
        # events of a user never exposed
        early.append(NewEvent(None, "ghost", "ghost", "purchase", 100.0, {}, T0))
        events.insert_events(session, workspace, T0, early)
        assignments.insert_exposures(session, exposures)
        events.insert_events(session, workspace, T0, late)
    return experiment


def other_experiment(client: TestClient, db: Database) -> int:
    """Another experiment's id: events tagged with it never count for this one."""
    assert client.post(
        "/api/experiments/", json=experiment_body(key="other-test", name="Other")
    ).is_success
    with db.session_scope() as session:
        return session.scalars(select(Experiment.id).where(Experiment.key == "other-test")).one()


def python_oracle(
    db: Database, experiment_id: int, window_days: int = 14
) -> dict[str, dict[str, tuple[float, ...]]]:
    with db.session_scope() as session:
        exposures = list(
            session.execute(
                select(Exposure.user_id, Variant.key, Exposure.exposed_at)
                .join(Variant, Variant.id == Exposure.variant_id)
                .where(Exposure.experiment_id == experiment_id, Exposure.is_override.is_(False))
            )
        )
        events = list(
            session.execute(
                select(Event.user_id, Event.event_type, Event.value, Event.timestamp).where(
                    (Event.experiment_id == experiment_id) | Event.experiment_id.is_(None)
                )
            )
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
    """Events stored before and after their user's exposure, tagged with this experiment, with
    none or with another; forced users; a user never exposed: as Python counts them."""
    experiment = seed_data(client, db)
    assert set(statistics(db, experiment)) == {"control", "a", "b"}
    assert_matches_oracle(db, experiment)


def test_users_without_events_count_as_zero(client: TestClient, db: Database) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    for i in range(10):
        client.post("/api/experiments/checkout-test/assignments", json={"user_id": f"s{i}"})
    with db.session_scope() as session:
        experiment = session.scalars(select(Experiment)).one()
        got = sufficient_statistics(
            session,
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
            experiment_id=experiment.id,
            bucket_version=0,
            metrics=METRICS,
        )
    assert stored == [t for t, _ in events]
    (variant,) = got.values()
    assert (variant["revenue"].sum, variant["revenue"].pre_sum) == (110.0, 1.0)


Stats = dict[str, dict[str, tuple[float, ...]]]


def statistics(db: Database, experiment: Experiment) -> Stats:
    with db.session_scope() as session:
        got = sufficient_statistics(
            session,
            experiment_id=experiment.id,
            bucket_version=0,
            metrics=METRICS,
        )
    return {
        variant: {
            name: (a.n, a.sum, a.sum_sq, a.pre_sum, a.pre_sum_sq, a.sum_cross)
            for name, a in metrics.items()
        }
        for variant, metrics in got.items()
    }


def assert_close(got: Stats, expected: Stats) -> None:
    assert set(got) == set(expected)
    for variant, metrics in expected.items():
        assert set(got[variant]) == set(metrics)
        for name, values in metrics.items():
            assert got[variant][name] == pytest.approx(values, rel=1e-9, abs=1e-6), (variant, name)


def rollup(db: Database, experiment_id: int, *, recomputed: bool = False) -> dict[Any, Any]:
    """The experiment's ``variant_totals`` rows by key; ``recomputed``: as ``refresh_rollup``
    would rebuild them from ``exposure_totals`` (in a transaction rolled back)."""
    keys = ("experiment_id", "bucket_version", "variant_id", "event_type")
    with db.engine.connect() as connection, Session(connection) as session:
        if recomputed:
            totals.refresh_rollup(session, experiment_id)
        rows = session.scalars(
            select(VariantTotal).where(VariantTotal.experiment_id == experiment_id)
        )
        found = {
            tuple(getattr(r, k) for k in keys): [getattr(r, c) for c in totals.ROLLUP_COLUMNS]
            for r in rows
        }
        session.rollback()
    return found


def assert_matches_oracle(db: Database, experiment: Experiment) -> None:
    assert_close(statistics(db, experiment), python_oracle(db, experiment.id))
    kept, recomputed = rollup(db, experiment.id), rollup(db, experiment.id, recomputed=True)
    # A key whose events were all folded out again holds zeros: as good as no row.
    zeros = [0] * len(totals.ROLLUP_COLUMNS)
    for key in kept.keys() | recomputed.keys():
        expected = recomputed.get(key, zeros)
        assert kept.get(key, zeros) == pytest.approx(expected, rel=1e-9, abs=1e-6), key


def test_rebuilding_the_totals_from_raw_rows_changes_nothing(
    client: TestClient, db: Database
) -> None:
    experiment = seed_data(client, db)
    before = statistics(db, experiment)
    with db.session_scope() as session:
        totals.rebuild(session, experiment.id)
    assert_close(statistics(db, experiment), before)
    assert_matches_oracle(db, experiment)


def test_retention_cleanup_takes_deleted_events_out_of_the_totals(
    client: TestClient, db: Database
) -> None:
    experiment = seed_data(client, db)
    assert client.post("/api/experiments/checkout-test/conclude", json={}).is_success
    with db.session_scope() as session:
        stored = session.scalar(select(func.count()).select_from(Event))
    response = client.post(
        "/api/v1/data-management/cleanup",
        json={"retention_days": 30, "cleanup_events": True, "cleanup_assignments": False},
    )
    assert response.status_code == 200, response.text
    with db.session_scope() as session:
        left = session.scalar(select(func.count()).select_from(Event))
    # Events tagged with the draft experiment are protected; the others were all old enough.
    assert 0 < left < stored
    assert_matches_oracle(db, experiment)
    assert all(m["revenue"][1] == pytest.approx(0) for m in statistics(db, experiment).values())


def test_retention_cleanup_takes_deleted_exposures_out_of_the_rollup(
    client: TestClient, db: Database
) -> None:
    experiment = seed_data(client, db)
    assert client.post("/api/experiments/checkout-test/conclude", json={}).is_success
    with db.session_scope() as session:
        # Half the exposures are old enough to go; the rest stay, with their events.
        ids = session.scalars(select(Exposure.id).where(Exposure.experiment_id == experiment.id))
        old = [i for i in ids if i % 2]
        for exposure in session.scalars(select(Exposure).where(Exposure.id.in_(old))):
            exposure.exposed_at -= timedelta(days=400)
        session.flush()
        totals.rebuild(session, experiment.id)  # the exposure times moved under the totals
    response = client.post(
        "/api/v1/data-management/cleanup",
        json={"retention_days": 500, "cleanup_events": False, "cleanup_assignments": True},
    )
    assert response.status_code == 200, response.text
    assert response.json()["deleted"]["assignments"] == len(old)
    statistics_left = statistics(db, experiment)
    assert sum(m["views"][0] for m in statistics_left.values()) > 0
    assert_matches_oracle(db, experiment)


def test_forcing_an_exposed_user_takes_them_out_of_the_analysis(
    client: TestClient, db: Database
) -> None:
    experiment = seed_data(client, db)
    before = statistics(db, experiment)
    with db.session_scope() as session:
        rows = session.execute(
            select(Exposure.user_id, Variant.key)
            .join(Variant, Variant.id == Exposure.variant_id)
            .where(Exposure.experiment_id == experiment.id, Exposure.is_override.is_(False))
            .order_by(Exposure.id)
            .limit(12)
        ).all()
    for user_id, key in rows:
        forced = "a" if key != "a" else "b"
        response = client.post(
            "/api/experiments/checkout-test/assignments",
            json={"user_id": user_id, "force_variant": forced},
        )
        assert response.json()["variant_key"] == forced
    after = statistics(db, experiment)
    assert sum(m["views"][0] for m in after.values()) > 0
    assert after != before
    assert_matches_oracle(db, experiment)


def test_the_migration_backfills_totals_of_data_stored_before_it(
    database_url: str, tmp_path: Any
) -> None:
    """Rows written under revision 0003 (no totals) are folded in by the upgrade to 0004."""
    from splitlab.storage.migrate import downgrade, upgrade

    database = Database(database_url)
    try:
        with TestClient(
            create_app(Settings(database_url=database_url, admin_token=SecretStr(ADMIN_SECRET)))
        ) as app:
            app.headers["Authorization"] = f"Bearer {ADMIN_SECRET}"
            experiment = seed_data(app, database)
            expected = python_oracle(database, experiment.id)
            downgrade(database.engine, "0003")
            upgrade(database.engine)
            assert_close(statistics(database, experiment), expected)
    finally:
        with database.session_scope() as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(table.delete())
        database.dispose()
