"""Concurrent first requests for one user produce exactly one exposure (a constraint, not luck)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from splitlab.assignment.service import Assigner, AssignmentRequest
from splitlab.config import Settings
from splitlab.storage.engine import Database
from splitlab.storage.models import Exposure, Variant
from splitlab.workspaces import service as workspaces
from tests.factories import experiment_body


def test_concurrent_first_assignments_write_one_exposure(
    client: TestClient, settings: Settings
) -> None:
    client.post("/api/experiments/", json=experiment_body())
    client.post("/api/experiments/checkout-test/start")
    db = Database(settings.database_url)
    assigner = Assigner()
    barrier = threading.Barrier(8)

    def first_request(n: int) -> tuple[str, bool]:
        """(variant answered, whether this request forced it)."""
        barrier.wait()
        with db.session_scope() as session:
            workspace = workspaces.require(session, "default")
            # Half of them force a variant, so the racers do not all agree on the answer.
            force = "treatment" if n % 2 else None
            answer = assigner.assign(
                session, workspace, "checkout-test", AssignmentRequest("racer", force_variant=force)
            )
            return answer.variant_key, force is not None

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(first_request, range(8)))
        with db.session_scope() as session:
            rows = session.scalar(select(func.count()).select_from(Exposure))
            stored = session.scalars(select(Exposure)).one()
            stored_key = {v.id: v.key for v in session.scalars(select(Variant))}[stored.variant_id]
    finally:
        db.dispose()
    assert rows == 1
    # Every request that did not force a variant answered with the one stored first.
    assert [variant for variant, forced in answers if not forced] == [stored_key] * 4
