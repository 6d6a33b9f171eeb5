"""``splitlab experiments list`` and ``splitlab results KEY`` against a real server."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from splitlab.client import Splitlab
from splitlab.remote_cli import percent
from tests.e2e.conftest import ADMIN, Server, splitlab_executable

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def splitlab(admin_server: Server) -> Iterator[Splitlab]:
    with Splitlab(admin_server.url, ADMIN) as client:
        client.create_experiment("cli-button", "CLI button colour", ["control", "treatment"])
        client.define_metric("cli-button", "purchase", "conversion")
        client.start_experiment("cli-button")
        client.create_experiment("cli-draft", "A draft", ["a", "b", "c"])
        assignments = client.assign_batch("cli-button", [f"cli-{i}" for i in range(400)])
        client.track_batch(
            {"user_id": a.user_id, "event_type": "purchase", "experiment_id": "cli-button"}
            for i, a in enumerate(assignments)
            if i % (4 if a.variant_key == "treatment" else 8) == 0
        )
        yield client


def run(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"SPLITLAB_URL": server.url, "SPLITLAB_TOKEN": ADMIN, "COLUMNS": "160"}
    return subprocess.run(
        [*splitlab_executable(), *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_experiments_list_prints_a_table(admin_server: Server, splitlab: Splitlab) -> None:
    out = run(admin_server, "experiments", "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["ID", "KEY", "NAME", "STATUS", "VARIANTS", "STARTED"]
    button = next(line for line in lines if "cli-button" in line)
    assert "running" in button
    assert "control 50%, treatment 50%" in button
    drafts = run(admin_server, "experiments", "list", "--status", "draft")
    assert "cli-draft" in drafts.stdout
    assert "cli-button" not in drafts.stdout


def test_results_prints_the_verdict_per_metric_and_variant(
    admin_server: Server, splitlab: Splitlab
) -> None:
    document = splitlab.results("cli-button")
    out = run(admin_server, "results", "cli-button")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "purchase" in text
    metric = document.metrics[0]
    for variant in metric.variants:
        assert f"{variant.users:,}" in text
        assert percent(variant.mean) in text
    (comparison,) = metric.comparisons
    assert percent(comparison.relative_lift, signed=True) in text
    assert document.recommendation.split()[0] in text
    assert "Sample ratio" in text


def test_results_of_an_unknown_experiment_fails_with_the_servers_message(
    admin_server: Server, splitlab: Splitlab
) -> None:
    out = run(admin_server, "results", "does-not-exist")
    assert out.returncode == 1
    assert "experiment_not_found" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_bad_token_is_a_clear_error(admin_server: Server) -> None:
    env_override = ["--token", "slk_not-a-real-token"]
    out = run(admin_server, "experiments", "list", *env_override)
    assert out.returncode == 1
    assert "401" in out.stderr
