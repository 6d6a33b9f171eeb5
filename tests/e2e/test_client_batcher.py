"""The background batcher loses nothing when the server restarts in the middle of a run, and
carries exposures in requests the server takes."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from splitlab.client import FeatureSet, RetryPolicy, Splitlab
from tests.e2e.conftest import ADMIN, Server, start_server
from tests.e2e.test_event_durability import stored_event_ids

pytestmark = pytest.mark.e2e

TOTAL = 20_000


def test_batcher_survives_a_server_restart_with_every_event_stored_once(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'batcher.db'}"
    env = {"SPLITLAB_ADMIN_TOKEN": ADMIN}
    server = start_server(tmp_path, "--log-level", "warning", env=env, database_url=database)
    port = urlparse(server.url).port
    sent: list[str] = []
    halfway = threading.Event()
    restarted = threading.Event()
    retry = RetryPolicy(attempts=3, backoff=0.1, max_backoff=0.5)
    try:
        with Splitlab(server.url, ADMIN, retry=retry, timeout=30) as client:
            batcher = client.batcher(max_batch=500, flush_interval=0.05)

            def produce() -> None:
                for i in range(TOTAL):
                    sent.append(batcher.track(f"user-{i % 977}", "view", value=float(i % 7)))
                    if i == TOTAL // 2:
                        halfway.set()
                        restarted.wait(120)

            producer = threading.Thread(target=produce)
            producer.start()
            assert halfway.wait(120)
            server.process.send_signal(signal.SIGKILL)  # mid-run, batches in flight
            server.process.wait()
            server.stop()
            acknowledged_before = batcher.stats.accepted
            server = start_server(
                tmp_path, "--log-level", "warning", env=env, database_url=database, port=port
            )
            restarted.set()
            producer.join(120)
            batcher.close(timeout=120)
    finally:
        restarted.set()
        server.stop()

    stats = batcher.stats
    assert stats.resends >= 1, "the restart never reached the batcher"
    assert acknowledged_before < TOTAL
    stored = stored_event_ids(database)
    assert len(stored) == len(set(stored)) == TOTAL
    assert set(stored) == set(sent)
    assert stats.accepted + stats.duplicates >= TOTAL
    assert stats.rejected == 0


def test_batcher_sends_more_exposures_than_one_request_takes(admin_server: Server) -> None:
    """12,000 exposures leave as requests of at most 10,000; re-sent users are duplicates, and an
    exposure naming no variant of the experiment is refused to ``on_error``."""
    key = "bx-exposures"
    users = 12_000
    refused: list[tuple[str, list[dict[str, Any]]]] = []
    with Splitlab(admin_server.url, ADMIN, timeout=60) as client:
        client.create_experiment(key, key, ["control", "treatment"])
        client.start_experiment(key)
        features = FeatureSet(client.sdk_payload())
        shown = [features.assign(key, f"bx-{i}").variant_key for i in range(users)]
        with client.batcher(
            max_batch=10_000,
            max_queue=20_000,
            flush_interval=60,
            on_error=lambda error, items: refused.append((error.code, items)),
        ) as batcher:
            for i, variant in enumerate(shown):
                batcher.expose(key, f"bx-{i}", str(variant), attributes={"n": i})
            for i in range(500):  # again: the first exposure stands
                batcher.expose(key, f"bx-{i}", str(shown[i]))
            bad = batcher.expose(key, "bx-bad", "no-such-variant")
        stats = batcher.exposure_stats
        results = client.results(key)
    assert (stats.queued, stats.accepted, stats.duplicates, stats.rejected) == (
        users + 501,
        users,
        500,
        1,
    )
    assert stats.batches >= 2  # 12,501 items cannot go in one request
    assert [(code, [item["exposure_id"] for item in items]) for code, items in refused] == [
        ("invalid_exposure", [bad])
    ]
    users_of = {v.variant_key: v.users for v in results.variant_metrics}
    assert users_of == {v: shown.count(v) for v in ("control", "treatment")}
    assert results.exposure_disagreements.total == 0
