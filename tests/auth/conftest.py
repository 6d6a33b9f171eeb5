"""Helpers for the auth tests: tokens issued through the API, workspaces, real server processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from fastapi.testclient import TestClient

from splitlab.storage.engine import Database
from splitlab.workspaces import service as workspaces

WORKSPACE_A = "team-a"
WORKSPACE_B = "team-b"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def issue(client: TestClient, **body: Any) -> dict[str, Any]:
    """Create a token with the admin ``client``; the response includes the one-time secret."""
    body.setdefault("name", f"token {body.get('scope', 'readonly')}")
    response = client.post("/api/v1/api-tokens/", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def secret(client: TestClient, **body: Any) -> str:
    token: str = issue(client, **body)["token"]
    return token


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response has ``status`` and the one error shape, ``{"error", "code"}``."""
    assert response.status_code == status, (response.request.url, response.text)
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str), body
    assert isinstance(body.get("code"), str), body
    return body


def assert_unauthenticated(response: httpx.Response) -> None:
    assert_error(response, 401)
    assert response.headers.get("WWW-Authenticate") == "Bearer"


@pytest.fixture
def two_workspaces(db: Database) -> tuple[str, str]:
    """Workspaces A and B (besides the default), created directly: no API creates bare ones."""
    with db.session_scope() as session:
        workspaces.ensure(session, WORKSPACE_A)
        workspaces.ensure(session, WORKSPACE_B)
    return WORKSPACE_A, WORKSPACE_B


# --- real `splitlab` processes (end-to-end tests) -------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def splitlab_command() -> list[str]:
    script = shutil.which("splitlab", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "splitlab.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any ``SPLITLAB_*`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPLITLAB_")}
    env.update(extra)
    return env


def run_cli(
    *args: str, database_url: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*splitlab_command(), *args, "--database-url", database_url],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        timeout=60,
        check=False,
    )


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log: Path
    handle: IO[str]

    def output(self) -> str:
        self.handle.flush()
        return self.log.read_text()

    def stop(self) -> str:
        """Stop the process and return everything it wrote."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.handle.close()
        return self.log.read_text()


def start_server(
    tmp: Path, database_url: str, *args: str, env: dict[str, str] | None = None
) -> Server:
    """``splitlab serve`` on a free port, returned once ``/health`` answers."""
    port = free_port()
    log = tmp / f"serve-{port}.log"
    handle = log.open("w")
    process = subprocess.Popen(
        [*splitlab_command(), "serve", "--port", str(port), "--database-url", database_url, *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env or clean_env(),
        text=True,
        cwd=tmp,
    )
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log, handle=handle)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"splitlab serve exited early:\n{server.stop()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"splitlab serve did not become healthy:\n{server.stop()}")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts; any still running at its end are stopped."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()
