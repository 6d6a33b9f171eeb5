"""The background batcher loses nothing when the server restarts in the middle of a run."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from splitlab.client import RetryPolicy, Splitlab
from tests.e2e.conftest import ADMIN, start_server
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
