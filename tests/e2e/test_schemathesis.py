"""A bounded schemathesis run against the served OpenAPI document, on SQLite and PostgreSQL.

A real ``splitlab serve`` per backend; schemathesis (its CLI, as a user would run it) derives
requests from ``/api/v1/openapi.json`` — the documented examples, boundary and wrong-type values
for every parameter and body field (its coverage phase), random valid and invalid inputs, and
stateful sequences — and checks every answer: never a server error, and every 4xx in the one
error shape (``schemathesis_hooks.one_error_shape``). A fixed seed keeps a run reproducible; a
failure prints schemathesis' report with a ``curl`` line for each failing request.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN, Server, scratch_database

pytestmark = pytest.mark.e2e

#: Test cases per operation and phase: about 5,000 requests per backend, a minute or so.
MAX_EXAMPLES = 30
SEED = 20261206


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_no_server_errors_and_one_error_shape(
    backend: str, serve: Callable[..., Server], tmp_path: Path
) -> None:
    for url in scratch_database(backend, tmp_path, "schemathesis.db"):
        server = serve(env={"SPLITLAB_ADMIN_TOKEN": ADMIN}, database_url=url)
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "NO_COLOR": "1",
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.url}/api/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {ADMIN}",
                "--checks",
                "not_a_server_error,one_error_shape",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--mode",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                str(SEED),
                "--workers",
                "1",
                "--no-color",
            ],
            env=env,
            cwd=tmp_path,  # its cache (.schemathesis/) stays out of the checkout
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        report = f"{done.stdout}\n{done.stderr}"
        assert done.returncode == 0, f"{report}\n--- server log ---\n{server.output()[-20000:]}"
        assert "passed" in report, report
        assert " 0 generated" not in report, report
