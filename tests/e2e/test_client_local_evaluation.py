"""The client's local evaluation of the SDK payload agrees with the server for 10,000 users, and
the exposures it records are the users the results count."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from splitlab.client import AsyncSplitlab, BatcherStats, Splitlab
from tests.e2e.conftest import ADMIN, Server

pytestmark = pytest.mark.e2e

USERS = 10_000
PLANS = ("free", "pro", "enterprise")
ROLES = ("admin", "coordinator", "viewer")

EXPERIMENTS: list[dict[str, Any]] = [
    {  # uneven three-way split with 80 % coverage
        "key": "le-three-way",
        "variants": [
            {"key": "a", "allocation": 20, "is_control": True},
            {"key": "b", "allocation": 30},
            {"key": "c", "allocation": 50},
        ],
        "targeting": {"percentage": 80},
    },
    {  # seed 000 roles plus a GrowthBook condition
        "key": "le-targeted",
        "variants": ["control", "treatment"],
        "targeting": {"roles": ["admin", "coordinator"], "condition": {"plan": {"$ne": "free"}}},
    },
    {  # two mutually exclusive halves of one namespace, one with a custom seed
        "key": "le-left",
        "variants": ["control", "treatment"],
        "targeting": {"namespace": ["checkout", 0, 0.5]},
        "config": {"hash_seed": "custom-seed"},
    },
    {
        "key": "le-right",
        "variants": ["control", "treatment"],
        "targeting": {"namespace": ["checkout", 0.5, 1]},
    },
]


def attributes(i: int) -> dict[str, Any]:
    return {"plan": PLANS[i % 3], "role": ROLES[(i // 3) % 3], "age": 18 + i % 60}


@pytest.fixture(scope="module")
def splitlab(admin_server: Server) -> Iterator[Splitlab]:
    with Splitlab(admin_server.url, ADMIN) as client:
        for spec in EXPERIMENTS:
            client.create_experiment(
                spec["key"],
                spec["key"],
                spec["variants"],
                targeting=spec.get("targeting"),
                config=spec.get("config"),
            )
            client.start_experiment(spec["key"])
        yield client


def test_local_evaluation_matches_server_assignment_for_10000_users(splitlab: Splitlab) -> None:
    users = [(f"local-{i}", attributes(i)) for i in range(USERS)]
    with splitlab.local_evaluator(refresh_interval=3600) as local:
        assert local.features.experiments == sorted(e["key"] for e in EXPERIMENTS)
        mismatches = []
        in_experiment = dict.fromkeys(local.features.experiments, 0)
        for spec in EXPERIMENTS:
            for server in splitlab.assign_batch(spec["key"], users):
                i = int(server.user_id.split("-")[1])
                mine = local.assign(spec["key"], server.user_id, attributes(i))
                if (mine.variant_key, mine.in_experiment) != (
                    server.variant_key,
                    server.in_experiment,
                ):
                    mismatches.append((spec["key"], server.user_id, mine, server.variant_key))
                in_experiment[spec["key"]] += server.in_experiment
    assert mismatches == []
    # every rule really excluded some users and kept others, so each branch was compared
    assert all(0 < count < USERS for count in in_experiment.values()), in_experiment
    assert in_experiment["le-left"] + in_experiment["le-right"] == USERS


def test_refresh_picks_up_a_newly_started_experiment(splitlab: Splitlab) -> None:
    with splitlab.local_evaluator(refresh_interval=0.2) as local:
        assert local.assign("le-late", "u-1").variant_key is None
        splitlab.create_experiment("le-late", "Late", ["control", "treatment"])
        splitlab.start_experiment("le-late")
        local.refresh()
        answer = local.assign("le-late", "u-1")
        assert answer.in_experiment
        assert answer.variant_key == splitlab.assign("le-late", "u-1").variant_key


# --- exposures recorded by the local evaluator -------------------------------------------------
#
# Each experiment below targets its own ``suite`` attribute, so users of one test (and the
# ``evaluate`` calls of another) never fall into another test's experiment.

EXPOSED_USERS = 360


def suite_experiment(client: Splitlab, key: str, *, coverage: int = 80) -> None:
    client.create_experiment(
        key,
        key,
        [
            {"key": "a", "allocation": 20, "is_control": True, "config": {"colour": "grey"}},
            {"key": "b", "allocation": 30, "config": {"colour": "green"}},
            {"key": "c", "allocation": 50, "config": {"colour": "blue"}},
        ],
        targeting={"percentage": coverage, "condition": {"suite": key}},
    )
    client.start_experiment(key)


def suite_attributes(key: str, i: int) -> dict[str, Any]:
    return {"suite": key, "plan": PLANS[i % 3]}


def assert_results_count(client: Splitlab, key: str, assigned: dict[str, int]) -> None:
    results = client.results(key)
    users = {v.variant_key: v.users for v in results.variant_metrics}
    assert users == {variant: assigned.get(variant, 0) for variant in ("a", "b", "c")}
    assert results.total_users == sum(assigned.values())
    assert results.exposure_disagreements.total == 0


def test_local_assignments_are_the_users_the_results_count(splitlab: Splitlab) -> None:
    key = "le-exposed-sync"
    suite_experiment(splitlab, key)
    assigned: dict[str, int] = {}
    configs = {}
    with splitlab.local_evaluator(refresh_interval=3600) as local:
        for i in range(EXPOSED_USERS):
            for _ in range(2):  # evaluated twice: still one user
                answer = local.assign(key, f"sync-{i}", suite_attributes(key, i))
            if answer.in_experiment:
                assert answer.variant_key is not None
                assigned[answer.variant_key] = assigned.get(answer.variant_key, 0) + 1
            configs[answer.variant_key] = answer.variant_config
        assert local.batcher is not None
        stats = local.batcher.exposure_stats
    # 80 % coverage: some users were left out, and no variant went unassigned
    assert 0.7 * EXPOSED_USERS < sum(assigned.values()) < EXPOSED_USERS
    assert set(assigned) == {"a", "b", "c"}
    assert configs == {"a": {"colour": "grey"}, "b": {"colour": "green"}, "c": {"colour": "blue"}}
    assert stats.queued == stats.accepted == sum(assigned.values())
    assert (stats.duplicates, stats.rejected, stats.dropped) == (0, 0, 0)
    assert_results_count(splitlab, key, assigned)


def test_the_async_evaluator_records_through_an_sdk_client_key(
    splitlab: Splitlab, admin_server: Server
) -> None:
    key = "le-exposed-async"
    suite_experiment(splitlab, key)
    created = httpx.post(
        f"{admin_server.url}/api/v1/api-tokens/",
        json={"name": "browser key", "scope": "sdk"},
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    sdk_key = created.json()["token"]

    async def run() -> tuple[dict[str, int], BatcherStats]:
        assigned: dict[str, int] = {}
        async with AsyncSplitlab(admin_server.url, sdk_key) as client:
            local = await client.local_evaluator(refresh_interval=3600)
            for i in range(EXPOSED_USERS):
                answer = local.assign(key, f"async-{i}", suite_attributes(key, i))
                local.assign(key, f"async-{i}", suite_attributes(key, i))
                if answer.in_experiment:
                    assert answer.variant_key is not None
                    assigned[answer.variant_key] = assigned.get(answer.variant_key, 0) + 1
            assert local.batcher is not None
            await local.close()
            return assigned, local.batcher.exposure_stats

    assigned, stats = asyncio.run(run())
    assert 0.7 * EXPOSED_USERS < sum(assigned.values()) < EXPOSED_USERS
    assert stats.queued == stats.accepted == sum(assigned.values())
    assert stats.rejected == 0
    assert_results_count(splitlab, key, assigned)


def test_evaluating_a_user_again_sends_no_second_exposure(splitlab: Splitlab) -> None:
    key = "le-exposed-once"
    suite_experiment(splitlab, key, coverage=100)
    attrs = suite_attributes(key, 1)
    with splitlab.local_evaluator(refresh_interval=3600) as local:
        first = local.assign(key, "once-1", attrs)
        assert first.in_experiment
        answers = [local.evaluate("once-1", attrs), local.evaluate("once-1", attrs)]
        assert local.assign(key, "once-1", attrs) == first
        assert local.flush(30)
        assert local.batcher is not None
        stats = local.batcher.exposure_stats
        # once per experiment the user is in (others of the module are running too)
        assert stats.queued == sum(a.in_experiment for a in answers[0].values())
        assert stats.accepted == stats.queued
        assert stats.duplicates == 0
    assert_results_count(splitlab, key, {str(first.variant_key): 1})


def test_a_paused_experiment_records_no_exposure(splitlab: Splitlab) -> None:
    key = "le-exposed-paused"
    suite_experiment(splitlab, key, coverage=100)
    splitlab.pause_experiment(key)
    with splitlab.local_evaluator(refresh_interval=3600) as local:
        for i in range(50):
            answer = local.assign(key, f"paused-{i}", suite_attributes(key, i))
            assert (answer.variant_key, answer.in_experiment) == ("a", False)
            assert answer.variant_config == {"colour": "grey"}
            assert not local.evaluate(f"paused-{i}", suite_attributes(key, i))[key].in_experiment
        assert local.batcher is not None
        assert local.flush(30)
    assert_results_count(splitlab, key, {})


def test_record_exposures_false_records_nothing(splitlab: Splitlab) -> None:
    key = "le-exposed-off"
    suite_experiment(splitlab, key, coverage=100)
    with splitlab.local_evaluator(refresh_interval=3600, record_exposures=False) as local:
        assert local.batcher is None
        answers = [local.assign(key, f"off-{i}", suite_attributes(key, i)) for i in range(50)]
        assert all(a.in_experiment for a in answers)
    assert_results_count(splitlab, key, {})


def test_a_readonly_token_evaluates_and_closes_promptly(
    splitlab: Splitlab, admin_server: Server
) -> None:
    """A readonly token (all a local evaluator needed before it recorded exposures) may not
    write them: they are refused once, never retried until close gives up."""
    key = "le-readonly"
    suite_experiment(splitlab, key, coverage=100)
    created = httpx.post(
        f"{admin_server.url}/api/v1/api-tokens/",
        json={"name": "reader", "scope": "readonly"},
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    with Splitlab(admin_server.url, created.json()["token"]) as reader:
        started = time.monotonic()
        with reader.local_evaluator(refresh_interval=3600) as local:
            answers = [local.assign(key, f"ro-{i}", suite_attributes(key, i)) for i in range(20)]
            assert all(a.in_experiment for a in answers)
            assert local.flush(30)
            assert local.batcher is not None
            assert local.batcher.exposure_stats.rejected >= 20
        assert time.monotonic() - started < 15
    assert_results_count(splitlab, key, {})
