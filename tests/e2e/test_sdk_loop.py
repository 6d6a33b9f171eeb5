"""The SDK loop with the official GrowthBook SDKs against a real ``splitlab serve``.

The JavaScript SDK (``@growthbook/growthbook`` 1.8.0 from npm, under Node's test runner:
``js/sdk-loop``) and the Python SDK (``growthbook`` from PyPI) each fetch the payload from
``/api/features/{clientKey}`` with an ``sdk`` key, evaluate 1,200 users (non-ASCII ids among
them) on every experiment feature, send what their tracking callback reports to
``/api/v1/exposures/batch`` and purchases to ``/api/v1/events/batch``. Then:

- each running experiment's results count exactly the users the SDK put in each variant, with no
  exposure disagreement, and the purchases in every variant's metrics;
- paused and completed experiments served their control and winner to everyone, and recorded
  nothing;
- the server gives the same answer for the same user and attributes: the reported users are
  sticky to what the SDK showed (asked after the results were checked, and recording nothing
  more), and 300 users the SDK evaluated without reporting are assigned as the SDK decided.

Node and ``js/sdk-loop/node_modules`` (``npm ci`` there) are needed for the JavaScript half:
without them it skips with a reason locally and fails under ``CI=true``, like PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI
from tests.e2e.conftest import (
    ADMIN,
    Server,
    require_node,
    scratch_database,
    splitlab_executable,
    start_server,
)

pytestmark = pytest.mark.e2e

JS_DIR = Path(__file__).resolve().parents[2] / "js" / "sdk-loop"
JS_SDK_VERSION = "1.8.0"
BATCH = 250

COUNTRIES = ("de", "DE", "De", "fr", "us", "at", "dex", "deu")
PLANS = ("free", "pro", "enterprise")
#: Ids whose hashes need the right UTF-8/UTF-16 handling in every SDK and in the server.
SPECIAL_IDS = (
    "İpek",
    "José",
    "用户",
    "\U0001f600",
    "Zoë Ünal",
    "\U0001f469\u200d\U0001f4bb",
    "Ångström",
    "\uff46\uff55\uff4c\uff4c",  # fullwidth "full"
    "𠀀𠀁",
    "user with spaces/and/slashes",
)


def variants(*specs: tuple[str, float, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"key": key, "allocation": allocation, "is_control": i == 0, "config": config}
        for i, (key, allocation, config) in enumerate(specs)
    ]


TWO_WAY = variants(
    ("control", 50, {"headline": "Buy now"}), ("treatment", 50, {"headline": "Jetzt kaufen ✓"})
)
EXPERIMENTS: list[dict[str, Any]] = [
    {
        "key": "uneven",
        "name": "Uneven three-way split",
        "variants": variants(
            ("a", 20, {}),
            ("b", 30, {"color": "blue", "size": 2}),
            ("c", 50, {"color": "green", "tags": ["x", "y"], "nested": {"ok": True}}),
        ),
    },
    {
        "key": "german",
        "name": "Germany only (case-insensitive regex)",
        "variants": TWO_WAY,
        "targeting": {"condition": {"country": {"$regexi": "^de$"}}},
    },
    {
        "key": "namespaced",
        "name": "First half of a namespace, 80 % coverage",
        "variants": TWO_WAY,
        "targeting": {"namespace": ["ns", 0, 0.5], "percentage": 80},
    },
    {"key": "rebucketed", "name": "Bucket version raised to 2", "variants": TWO_WAY},
    {"key": "paused", "name": "Paused", "variants": TWO_WAY},
    {"key": "completed", "name": "Completed with a winner", "variants": TWO_WAY},
]
RUNNING = ("uneven", "german", "namespaced", "rebucketed")
#: What paused and completed experiments serve everyone: the control, the winner.
SERVED = {"paused": "control", "completed": "treatment"}
#: Each experiment's variant configs by variant key (control first).
CONFIGS = {e["key"]: {v["key"]: v["config"] for v in e["variants"]} for e in EXPERIMENTS}
#: Users the server assigned in ``rebucketed`` before its bucket version was raised.
PRE_ASSIGNED = 150


def user(user_id: str, i: int) -> dict[str, Any]:
    return {"id": user_id, "attributes": {"country": COUNTRIES[i % 8], "plan": PLANS[i % 3]}}


def users(prefix: str, count: int) -> list[dict[str, Any]]:
    ids = [f"{prefix}{special}" for special in SPECIAL_IDS]
    ids += [f"{prefix}user-{i}" for i in range(count - len(ids))]
    return [user(u, i) for i, u in enumerate(ids)]


def loop_input() -> dict[str, Any]:
    reported = users("", 1_200)
    return {
        "experiments": [{"key": e["key"]} for e in EXPERIMENTS],
        "users": reported,
        "fresh_users": users("fresh-", 300),
        # every fourth reported user buys once, for 5 to 13; half of them are sent before the
        # exposures (they happen after, but a transport may deliver them first)
        "purchases": [
            {"user_id": u["id"], "value": float(5 + i % 9), "early": i % 8 == 0}
            for i, u in enumerate(reported)
            if i % 4 == 0
        ],
    }


# --- the two SDKs ---------------------------------------------------------------------------


def require_node_sdk() -> str:
    """The ``node`` to run ``js/sdk-loop`` with: skip without it locally, fail under CI=true."""
    node = require_node("the JavaScript SDK test")
    installed = JS_DIR / "node_modules" / "@growthbook" / "growthbook" / "package.json"
    problem = None
    if not installed.exists():
        problem = f"the JavaScript SDK test needs `npm ci` in {JS_DIR} (node_modules missing)"
    elif (got := json.loads(installed.read_text())["version"]) != JS_SDK_VERSION:
        problem = f"js/sdk-loop has @growthbook/growthbook {got}, not {JS_SDK_VERSION}: npm ci"
    if problem is None:
        return node
    if IN_CI:
        pytest.fail(f"CI=true but {problem}")
    pytest.skip(problem)


def run_js_sdk(url: str, key: str, spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    node = require_node_sdk()
    (tmp / "in.json").write_text(json.dumps(spec))
    env = {
        **os.environ,
        "SPLITLAB_URL": url,
        "SPLITLAB_CLIENT_KEY": key,
        "SDK_LOOP_INPUT": str(tmp / "in.json"),
        "SDK_LOOP_OUTPUT": str(tmp / "out.json"),
    }
    done = subprocess.run(
        [node, "--test", "sdk-loop.test.js"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"node --test failed:\n{done.stdout}\n{done.stderr}"
    output: dict[str, Any] = json.loads((tmp / "out.json").read_text())
    assert output["sdk"] == f"@growthbook/growthbook {JS_SDK_VERSION}"
    return output


def post_in_batches(
    http: httpx.Client, path: str, field: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    totals: dict[str, Any] = {"received": 0, "accepted": 0, "duplicates": 0, "rejected": []}
    for start in range(0, len(items), BATCH):
        response = http.post(path, json={field: items[start : start + BATCH]})
        assert response.status_code == 200, response.text
        answer = response.json()
        for name in ("received", "accepted", "duplicates"):
            totals[name] += answer[name]
        totals["rejected"] += answer["rejected"]
    return totals


def run_python_sdk(url: str, key: str, spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The same loop as ``js/sdk-loop/sdk-loop.test.js``, with GrowthBook's Python SDK."""
    from growthbook import GrowthBook

    exposures: list[dict[str, Any]] = []

    def on_experiment_viewed(experiment: Any, result: Any, user_context: Any) -> None:
        exposures.append(
            {
                "experiment_key": experiment.key,
                "variant_key": result.key,
                "variation_id": result.variationId,
                "user_id": str(result.hashValue),
                "attributes": user_context.attributes,
                "timestamp": datetime.now(UTC).isoformat(),
                "exposure_id": f"py:{experiment.key}:{result.hashValue}",
            }
        )

    def evaluate(gb: Any, people: list[dict[str, Any]]) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for person in people:
            gb.set_attributes({"id": person["id"], **person["attributes"]})
            mine = {}
            for experiment in spec["experiments"]:
                result = gb.eval_feature(experiment["key"])
                mine[experiment["key"]] = {
                    "value": result.value,
                    "config": gb.get_feature_value(experiment["key"] + ":config", None),
                    "source": result.source,
                    "in_experiment": bool(
                        result.experimentResult and result.experimentResult.inExperiment
                    ),
                }
            answers[person["id"]] = mine
        return answers

    gb = GrowthBook(api_host=url, client_key=key, on_experiment_viewed=on_experiment_viewed)
    gb.load_features()
    assert set(gb.get_features()) >= {e["key"] for e in EXPERIMENTS}
    answers = evaluate(gb, spec["users"])
    gb.destroy()
    quiet = GrowthBook(api_host=url, client_key=key)  # evaluates, reports nothing
    quiet.load_features()
    fresh = evaluate(quiet, spec["fresh_users"])
    quiet.destroy()

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
        events = {
            early: [
                {
                    "user_id": p["user_id"],
                    "event_type": "purchase",
                    "value": p["value"],
                    "event_id": f"py-purchase:{p['user_id']}",
                }
                for p in spec["purchases"]
                if p["early"] is early
            ]
            for early in (True, False)
        }
        first = post_in_batches(http, "/api/v1/events/batch", "events", events[True])
        exposure_totals = post_in_batches(http, "/api/v1/exposures/batch", "exposures", exposures)
        then = post_in_batches(http, "/api/v1/events/batch", "events", events[False])
        event_totals = {
            "accepted": first["accepted"] + then["accepted"],
            "rejected": first["rejected"] + then["rejected"],
        }
    return {
        "answers": answers,
        "fresh": fresh,
        "exposures": exposures,
        "exposure_totals": exposure_totals,
        "event_totals": event_totals,
    }


SDKS: dict[str, Callable[[str, str, dict[str, Any], Path], dict[str, Any]]] = {
    "js": run_js_sdk,
    "python": run_python_sdk,
}


# --- the server -----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from scratch_database(request.param, tmp_path, "sdk-loop.db")


@pytest.fixture
def server(backend_url: str, tmp_path: Path) -> Iterator[Server]:
    server = start_server(tmp_path, env={"SPLITLAB_ADMIN_TOKEN": ADMIN}, database_url=backend_url)
    try:
        yield server
    finally:
        server.stop()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def assign(http: httpx.Client, key: str, people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Server-side assignments of ``people`` (recorded, as every server assignment is)."""
    body = {"users": [{"user_id": p["id"], "user_attributes": p["attributes"]} for p in people]}
    answers: list[dict[str, Any]] = ok(
        http.post(f"/api/experiments/{key}/assignments/batch", json=body)
    )["assignments"]
    assert [a["user_id"] for a in answers] == [p["id"] for p in people]
    return answers


def sdk_key(http: httpx.Client, server: Server, *, with_cli: bool) -> str:
    """A new ``sdk`` key, from the API or from ``splitlab token create`` (both documented)."""
    if not with_cli:
        return str(
            ok(http.post("/api/v1/api-tokens/", json={"name": "web", "scope": "sdk"}), 201)["token"]
        )
    command = [*splitlab_executable(), "token", "create", "--scope", "sdk", "--name", "web"]
    done = subprocess.run(
        [*command, "--database-url", server.database_url],
        env={k: v for k, v in os.environ.items() if not k.startswith("SPLITLAB_")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def prepare(
    http: httpx.Client, server: Server, spec: dict[str, Any], *, with_cli: bool
) -> tuple[str, list[dict[str, Any]]]:
    """The experiments in their states, two metrics on purchases each, and an ``sdk`` key.
    Returns the key and the server's assignments in ``rebucketed`` at bucket version 0."""
    for body in EXPERIMENTS:
        ok(http.post("/api/experiments/", json=body), 201)
        for metric in (
            {"name": "purchased", "event_type": "purchase", "kind": "conversion"},
            {"name": "revenue", "event_type": "purchase", "kind": "numeric"},
        ):
            ok(http.post(f"/api/experiments/{body['key']}/metric-definitions", json=metric), 201)
        ok(http.post(f"/api/experiments/{body['key']}/start"))
    ok(http.post("/api/experiments/paused/pause"))
    ok(http.post("/api/experiments/completed/conclude", json={"winning_variant": "treatment"}))
    before = assign(http, "rebucketed", spec["users"][:PRE_ASSIGNED])
    changed = ok(http.put("/api/experiments/rebucketed", json={"config": {"bucket_version": 2}}))
    assert changed["config"]["bucket_version"] == 2
    return sdk_key(http, server, with_cli=with_cli), before


def results(http: httpx.Client) -> dict[str, dict[str, Any]]:
    return {e["key"]: ok(http.get(f"/api/experiments/{e['key']}/results")) for e in EXPERIMENTS}


def users_per_variant(result: dict[str, Any]) -> dict[str, int]:
    return {v["variant_key"]: v["users"] for v in result["variant_metrics"]}


# --- the loop -------------------------------------------------------------------------------


@pytest.fixture(params=list(SDKS))
def sdk(request: pytest.FixtureRequest) -> str:
    """Which SDK; the JavaScript one is checked for before any server starts."""
    if request.param == "js":
        require_node_sdk()
    return str(request.param)


def test_growthbook_sdk_loop(sdk: str, server: Server, tmp_path: Path) -> None:
    spec = loop_input()
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
    ) as http:
        key, before_rebucketing = prepare(http, server, spec, with_cli=sdk == "python")
        rule = ok(http.get(f"/api/features/{key}"))["features"]["rebucketed"]["rules"][0]
        assert rule["seed"] == "rebucketed/2"

        out = SDKS[sdk](server.url, key, spec, tmp_path)
        shown = check_what_the_sdk_showed(spec, out)
        old = [a["variant_key"] for a in before_rebucketing]
        new = [out["answers"][u["id"]]["rebucketed"]["value"] for u in spec["users"][:PRE_ASSIGNED]]
        assert old != new, "bucket version 2 re-randomised nobody"

        # The results count exactly what the SDK reported, and the purchases after it.
        first = results(http)
        check_results(spec, out, shown, first)
        # Only then ask the server about the same users, which records nothing more...
        check_the_server_agrees(http, spec["users"], out["answers"], reported=True)
        assert {k: users_per_variant(r) for k, r in results(http).items()} == {
            k: users_per_variant(r) for k, r in first.items()
        }
        # ... and about users the SDK evaluated without reporting, which the server records now.
        fresh = check_the_server_agrees(http, spec["fresh_users"], out["fresh"], reported=False)
        assert sum(fresh["german"].values()) > 0
        for exp_key, result in results(http).items():
            assert users_per_variant(result) == {
                v: shown[exp_key][v] + fresh[exp_key][v] for v in CONFIGS[exp_key]
            }
            assert result["exposure_disagreements"]["total"] == 0


def check_what_the_sdk_showed(spec: dict[str, Any], out: dict[str, Any]) -> dict[str, Counter[str]]:
    """A variant key and its config from each experiment's two features, control/winner from
    paused/completed ones, one report per user in an experiment (the config feature's rule is
    the same experiment), each rule on the path meant. Returns the users shown each variant."""
    answers: dict[str, dict[str, Any]] = out["answers"]
    exposures: list[dict[str, Any]] = out["exposures"]
    assert list(answers) == [u["id"] for u in spec["users"]]
    shown: dict[str, Counter[str]] = {k: Counter() for k in CONFIGS}
    for user_id, mine in answers.items():
        for exp_key, answer in mine.items():
            assert answer["config"] == CONFIGS[exp_key][answer["value"]], (user_id, answer)
            if exp_key in SERVED:
                assert answer["value"] == SERVED[exp_key]
                assert (answer["source"], answer["in_experiment"]) == ("defaultValue", False)
            elif answer["in_experiment"]:
                assert answer["source"] == "experiment"
                shown[exp_key][answer["value"]] += 1
            else:
                assert answer["value"] == "control"
    reported = Counter((e["experiment_key"], e["user_id"]) for e in exposures)
    assert set(reported.values()) == {1}
    assert set(reported) == {
        (exp_key, user_id)
        for user_id, mine in answers.items()
        for exp_key, answer in mine.items()
        if answer["in_experiment"]
    }
    assert {k for k, _ in reported} == set(RUNNING)
    for e in exposures:
        assert answers[e["user_id"]][e["experiment_key"]]["value"] == e["variant_key"]
        assert list(CONFIGS[e["experiment_key"]]).index(e["variant_key"]) == e["variation_id"]
    assert out["exposure_totals"] == {
        "received": len(exposures),
        "accepted": len(exposures),
        "duplicates": 0,
        "rejected": [],
    }
    assert out["event_totals"] == {"accepted": len(spec["purchases"]), "rejected": []}

    # Every rule let users in and kept others out, on the path meant.
    country = {u["id"]: u["attributes"]["country"] for u in spec["users"]}
    german = {u for u, mine in answers.items() if mine["german"]["in_experiment"]}
    assert german == {u for u, c in country.items() if c.lower() == "de"}
    assert {country[u] for u in german} == {"de", "DE", "De"}
    assert 400 < sum(shown["namespaced"].values()) < 600  # 50 % namespace x 80 % coverage
    assert all(sum(shown[k].values()) == len(answers) for k in ("uneven", "rebucketed"))
    assert 180 < shown["uneven"]["a"] < 300 < shown["uneven"]["b"] < 420 < shown["uneven"]["c"]
    return shown


def check_results(
    spec: dict[str, Any],
    out: dict[str, Any],
    shown: dict[str, Counter[str]],
    first: dict[str, dict[str, Any]],
) -> None:
    purchases = {p["user_id"]: p["value"] for p in spec["purchases"]}
    for exp_key, result in first.items():
        assert users_per_variant(result) == {v: shown[exp_key][v] for v in CONFIGS[exp_key]}
        assert result["exposure_disagreements"]["total"] == 0, result
        if exp_key in SERVED:
            assert result["total_users"] == 0
            continue
        for variant in result["variant_metrics"]:
            buyers = [
                u
                for u, mine in out["answers"].items()
                if mine[exp_key]["in_experiment"]
                and mine[exp_key]["value"] == variant["variant_key"]
                and u in purchases
            ]
            metrics = variant["metrics"]
            assert metrics["purchased"]["n"] == variant["users"] > 0
            assert metrics["purchased"]["sum"] == len(buyers) > 0
            assert metrics["revenue"]["sum"] == pytest.approx(sum(purchases[u] for u in buyers))


def check_the_server_agrees(
    http: httpx.Client,
    people: list[dict[str, Any]],
    answers: dict[str, dict[str, Any]],
    *,
    reported: bool,
) -> dict[str, Counter[str]]:
    """The server's answer for each user with the same attributes is the SDK's: sticky to it
    when the SDK reported the user, freshly assigned the same otherwise; out of the experiment,
    or paused/completed, with the same value. Returns the users newly assigned each variant."""
    assigned: dict[str, Counter[str]] = {k: Counter() for k in CONFIGS}
    for exp_key in CONFIGS:
        for person, server in zip(people, assign(http, exp_key, people), strict=True):
            mine = answers[person["id"]][exp_key]
            assert (server["variant_key"], server["variant_config"], server["in_experiment"]) == (
                mine["value"],
                mine["config"],
                mine["in_experiment"],
            ), (exp_key, person, server)
            if mine["in_experiment"]:
                assert server["reason"] == ("sticky" if reported else "assigned")
                assigned[exp_key][mine["value"]] += not reported
            elif exp_key in SERVED:
                assert server["reason"] == "not_running"
            else:
                assert server["reason"] in ("not_targeted", "namespace", "coverage")
    return assigned
