"""PostgreSQL goes away under a running server, then comes back (issue 17).

The server reaches PostgreSQL through a TCP proxy in this test; cutting the proxy (its listener
and every open connection) is an outage the server cannot tell from a real one. While it lasts,
every route that needs the database answers ``503 unavailable`` with ``Retry-After`` in the one
error shape (never a 500), the connection stays usable, ``/health`` says so, and ``/metrics``
still serves what it holds in memory. Once the proxy is back, the server answers again without
a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from splitlab.storage.engine import normalise_url
from tests.e2e.conftest import ADMIN, free_port, scratch_database, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


class Proxy:
    """A TCP proxy in a thread of its own: ``cut()`` closes the listener and every connection,
    ``restore()`` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.restore()

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    def restore(self) -> None:
        async def listen() -> asyncio.AbstractServer:
            return await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self.server = self._run(listen())

    def cut(self) -> None:
        async def close() -> None:
            assert self.server is not None
            self.server.close()
            for writer in self.writers:
                writer.transport.abort()
            self.writers.clear()

        self._run(close())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        # Closed here, not left to the garbage collector: an unclosed loop's self-pipe sockets
        # are reported (and fail, with warnings as errors) in whatever test runs next.
        self.loop.close()


@pytest.fixture
def proxied_url(tmp_path: Path) -> Iterator[tuple[str, Proxy]]:
    for url in scratch_database("postgres", tmp_path, "outage"):
        parsed = make_url(normalise_url(url))
        proxy = Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        try:
            yield parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
        finally:
            proxy.stop()


def test_an_outage_is_503_with_retry_after_and_the_server_recovers(
    tmp_path: Path, proxied_url: tuple[str, Proxy]
) -> None:
    url, proxy = proxied_url
    server = start_server(tmp_path, env={"SPLITLAB_ADMIN_TOKEN": ADMIN}, database_url=url)
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
        ) as http:
            body = {
                "key": "outage",
                "name": "Outage",
                "variants": [{"key": "a", "is_control": True}, {"key": "b"}],
            }
            assert http.post("/api/experiments/", json=body).status_code == 201
            assert http.post("/api/experiments/outage/start").status_code == 200
            assert http.post(
                "/api/experiments/outage/assignments", json={"user_id": "u0"}
            ).is_success

            proxy.cut()
            calls = [
                ("POST", "/api/experiments/outage/assignments", {"user_id": "u1"}),
                ("GET", "/api/experiments/", None),
                ("GET", "/api/experiments/outage/results", None),
                ("POST", "/api/v1/events/batch", {"events": [{"user_id": "u", "event_type": "x"}]}),
                ("POST", "/api/v1/experiments/", {**body, "key": "new"}),
            ]
            for method, path, payload in calls:
                started = time.monotonic()
                response = http.request(method, path, json=payload)
                assert response.status_code == 503, (method, path, response.text)
                assert response.headers["retry-after"] == "1"
                assert response.json()["code"] == "unavailable"
                assert response.headers.get("connection") != "close"
                assert time.monotonic() - started < 20, (method, path)
            health = http.get("/health")
            assert health.status_code == 503
            assert health.json()["database"]["status"] != "ok"
            metrics = http.get("/metrics")
            assert metrics.status_code == 200
            assert "splitlab_http_requests_total" in metrics.text

            proxy.restore()
            deadline = time.monotonic() + 30
            while http.get("/health").status_code != 200:
                assert time.monotonic() < deadline, "the server did not recover"
                time.sleep(0.5)
            answer = None
            while answer is None or answer.status_code == 503:
                assert time.monotonic() < deadline, "assignments did not recover"
                answer = http.post("/api/experiments/outage/assignments", json={"user_id": "u2"})
            assert answer.status_code == 200, answer.text
            assert http.get("/api/experiments/outage/results").status_code == 200
    finally:
        server.stop()
