"""Events and exposures of the same users written at the same time: every event counted once.

An event batch and a new exposure of the same user, committed concurrently, cannot see each
other's rows; without the bucket locks of ``events.totals`` such events are folded by neither
side (PostgreSQL, read committed). SQLite serialises writers, and is checked the same way.
"""

from __future__ import annotations

import random
import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from splitlab.assignment import repository as assignments
from splitlab.events import repository as events
from splitlab.events.repository import NewEvent
from splitlab.storage.base import utcnow
from splitlab.storage.engine import Database
from splitlab.storage.models import Experiment, Variant
from tests.events.test_aggregates import assert_matches_oracle
from tests.factories import experiment_body

USERS = 400


def test_concurrent_events_and_exposures_are_each_counted_once(
    client: TestClient, db: Database
) -> None:
    assert client.post("/api/experiments/", json=experiment_body()).is_success
    assert client.post("/api/experiments/checkout-test/start").is_success
    with db.session_scope() as session:
        experiment = session.scalars(select(Experiment)).one()
        variants = list(session.scalars(select(Variant.id).order_by(Variant.position)))
    workspace, now = experiment.workspace_id, utcnow()
    start = threading.Barrier(3)
    failures: list[BaseException] = []

    def expose() -> None:
        start.wait()
        for i in range(USERS):
            row = {
                "workspace_id": workspace,
                "experiment_id": experiment.id,
                "variant_id": variants[i % 2],
                "user_id": f"c{i}",
                "bucket_version": 0,
                "is_override": False,
                "context": {},
                "exposed_at": now,
            }
            with db.session_scope() as session:
                assignments.insert_exposures(session, [row])

    def track(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for batch in range(USERS // 4):
            rows = [
                NewEvent(
                    None,
                    f"t{seed}-{batch}-{k}",
                    f"c{rng.randrange(USERS)}",
                    rng.choice(["purchase", "view"]),
                    float(rng.randint(1, 9)),
                    {},
                    now + timedelta(minutes=rng.uniform(-60, 60)),
                )
                for k in range(8)
            ]
            with db.session_scope() as session:
                events.insert_events(session, workspace, now, rows)

    def guarded(target: object, *args: object) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)  # type: ignore[operator]
            except BaseException as exc:
                failures.append(exc)

        return threading.Thread(target=run)

    threads = [guarded(expose), guarded(track, 1), guarded(track, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []
    assert_matches_oracle(db, experiment)
