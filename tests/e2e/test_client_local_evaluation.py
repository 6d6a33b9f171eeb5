"""The client's local evaluation of the SDK payload agrees with the server for 10,000 users."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from splitlab.client import Splitlab
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
