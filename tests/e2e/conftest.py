"""A real ``splitlab serve`` process on a free port, for end-to-end tests over real HTTP."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

ADMIN = "e2e-admin-secret-0123456789abcdef"


def require_node(purpose: str) -> str:
    """``node`` >= 20 for ``purpose``, or a reason: skip locally, fail under ``CI=true``."""
    from tests.conftest import IN_CI

    node = shutil.which("node")
    if node is None:
        problem = f"{purpose} needs node >= 20 on PATH"
    else:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout
        found = re.match(r"v(\d+)\.", version)
        if found and int(found.group(1)) >= 20:
            return node
        problem = f"{purpose} needs node >= 20, found {version.strip()!r}"
    if IN_CI:
        pytest.fail(f"CI=true but {problem}")
    pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    database_url: str
    process: subprocess.Popen[str]
    log: Path
    handle: IO[str]

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.handle.close()


def splitlab_executable() -> list[str]:
    script = shutil.which("splitlab", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "splitlab.cli"]


def start_server(
    tmp: Path,
    *args: str,
    env: dict[str, str] | None = None,
    database_url: str | None = None,
    port: int | None = None,
) -> Server:
    """A healthy ``splitlab serve`` process (on ``port`` when given: a restart in place)."""
    port = port or free_port()
    log = tmp / f"server-{port}-{time.monotonic_ns()}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPLITLAB_")}
    environment.update(env or {})
    database_url = database_url or f"sqlite:///{tmp / f'e2e-{port}.db'}"
    command = [
        *splitlab_executable(),
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
        *args,
    ]
    handle = log.open("w")
    process = subprocess.Popen(
        command, stdout=handle, stderr=subprocess.STDOUT, env=environment, text=True, cwd=tmp
    )
    server = Server(
        url=f"http://127.0.0.1:{port}",
        database_url=database_url,
        process=process,
        log=log,
        handle=handle,
    )
    deadline = time.monotonic() + 60  # generous: CI machines can be loaded
    while time.monotonic() < deadline:
        if process.poll() is not None:
            handle.close()
            raise RuntimeError(f"splitlab serve exited early:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"splitlab serve did not become healthy:\n{server.output()}")


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Start servers for the module; all are stopped at its end."""
    started: list[Server] = []
    tmp = tmp_path_factory.mktemp("e2e")

    def _start(
        *args: str, env: dict[str, str] | None = None, database_url: str | None = None
    ) -> Server:
        server = start_server(tmp, *args, env=env, database_url=database_url)
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def anonymous_server(serve: Callable[..., Server]) -> Server:
    """Seed 000's and 003's documented mode: requests without a token are let in."""
    return serve(env={"SPLITLAB_ANONYMOUS_ACCESS": "experiment"})


@pytest.fixture(scope="module")
def admin_server(serve: Callable[..., Server]) -> Server:
    return serve(env={"SPLITLAB_ADMIN_TOKEN": ADMIN})


@pytest.fixture
def http(admin_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=admin_server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10
    ) as client:
        yield client


def scratch_database(backend: str, tmp_path: Path, name: str) -> Iterator[str]:
    """An empty database URL for a server to migrate on start: a SQLite file in ``tmp_path``,
    or a scratch PostgreSQL database, dropped afterwards (skipped without PostgreSQL locally,
    a failure under CI=true)."""
    from tests.conftest import _create_postgres_database, _drop_postgres_database, require_service

    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / name}"
        return
    server = require_service("PostgreSQL", "SPLITLAB_TEST_POSTGRES_URL")
    database, url = _create_postgres_database(server)
    try:
        yield url
    finally:
        _drop_postgres_database(server, database)
