"""Seed 003's JavaScript examples, as written, with ``js/experiments-client`` against ``serve``.

``js/experiments-client/experiments.js`` is the ``'@/lib/api/experiments'`` module seed 003
imports (a resolve hook, ``alias.mjs``, maps that specifier for Node). Its tests, under Node's own
test runner, run the seed's "Using the API Client Functions" example and its React component's
calls without a token (the server runs with ``SPLITLAB_ANONYMOUS_ACCESS=experiment``: "no
authentication is required"), then pages, filters, encoding, the documented errors and a token set
with ``configure``. No npm packages: only Node >= 20, which skips this locally when missing and
fails it under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN, Server, require_node

pytestmark = pytest.mark.e2e

JS_DIR = Path(__file__).resolve().parents[2] / "js" / "experiments-client"


def test_seed003_examples_with_the_js_client(serve: Callable[..., Server]) -> None:
    node = require_node("the seed 003 JavaScript client test")
    server = serve(env={"SPLITLAB_ANONYMOUS_ACCESS": "experiment", "SPLITLAB_ADMIN_TOKEN": ADMIN})
    # No SPLITLAB_TOKEN from the caller's environment: the seed's examples carry no token.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPLITLAB_")}
    env |= {"SPLITLAB_URL": server.url, "SPLITLAB_TEST_ADMIN_TOKEN": ADMIN}
    done = subprocess.run(
        [node, "--import", "./alias.mjs", "--test", "experiments.test.js"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = f"{done.stdout}\n{done.stderr}"
    failure = f"node --test failed:\n{output}\n--- server log ---\n{server.output()}"
    assert done.returncode == 0, failure
    # Every test in the file ran and passed: none skipped (the token test needs the admin token).
    defined = len(re.findall(r"^test\(", (JS_DIR / "experiments.test.js").read_text(), re.M))
    counts = {k: int(n) for k, n in re.findall(r"^# (\w+) (\d+)$", done.stdout, re.M)}
    summary = {k: counts.get(k) for k in ("tests", "pass", "fail", "cancelled", "skipped", "todo")}
    assert summary == {
        "tests": defined,
        "pass": defined,
        "fail": 0,
        "cancelled": 0,
        "skipped": 0,
        "todo": 0,
    }, failure
