"""A body that does not arrive in time is answered 408, and nothing waits on it any longer."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from splitlab.app import create_app
from splitlab.config import Settings
from splitlab.runtime import guard
from tests.conftest import ADMIN_SECRET
from tests.e2e.conftest import free_port


def test_a_body_that_stops_arriving_gets_408_and_the_server_goes_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "BODY_DEADLINE", 1.0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/experiments/ HTTP/1.1\r\nHost: splitlab\r\n"
                b"Authorization: Bearer " + ADMIN_SECRET.encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                b'{"key": "slow"'
            )
            started = time.monotonic()
            answer = sock.recv(65536)
            waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"code":"request_timeout"' in answer
        assert waited < 5  # the deadline plus the watchdog's one-second sweep
        created = httpx.post(
            f"http://127.0.0.1:{port}/api/experiments/",
            headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
            json={
                "key": "after",
                "name": "after",
                "variants": [{"key": "a", "allocation": 50}, {"key": "b", "allocation": 50}],
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
    finally:
        server.should_exit = True
        thread.join(timeout=10)
