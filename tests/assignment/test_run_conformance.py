"""GrowthBook SDK specification, ``run`` section: the bucketing-relevant part of an experiment run.

``evaluate`` replays the JS SDK's ``runExperiment`` steps that belong to the pure core (hash
attribute, active flag, namespace, condition with saved groups, hash version and seed, coverage,
weights, explicit ranges, ``force``) on top of our functions. Cases that depend on SDK features
outside it are skipped, each with its reason in ``SKIPPED``; a test keeps that list exact.
"""

from __future__ import annotations

from typing import Any

import pytest

from splitlab.assignment.conditions import eval_condition
from splitlab.assignment.hashing import (
    assign,
    choose_variation,
    get_bucket_ranges,
    hash,
    in_namespace,
)
from tests.assignment.conformance import load_cases, section

SKIPPED = {
    "globally disabled": "context `enabled: false` is an SDK client switch; Splitlab stops an experiment through its status",
    "querystring force": "URL query-string overrides are a browser SDK feature; Splitlab overrides are force_variant in the service",
    "querystring force with inactive": "URL query-string overrides are a browser SDK feature",
    "Force variation from context": "forced variations from the SDK context (dev tools); Splitlab overrides live in the service",
    "Skips experiments in QA mode": "QA mode is an SDK client setting",
    "Works in QA mode if forced in context": "QA mode and context-forced variations are SDK client settings",
    "Works in QA mode if forced in experiment": "QA mode is an SDK client setting",
    "Filtered, included": "experiment `filters` (multi-range hash filters) are not in Splitlab's model; it uses namespaces",
    "Filtered, excluded": "experiment `filters` are not in Splitlab's model",
    "Filtered, ignore namespace": "experiment `filters` are not in Splitlab's model",
    "Prerequisite condition passes": "parentConditions evaluate other feature flags, which Splitlab does not serve",
    "Prerequisite condition fails": "parentConditions evaluate other feature flags, which Splitlab does not serve",
}
SUPPORTED_CONTEXT = {"attributes", "savedGroups"}
SUPPORTED_EXPERIMENT = {
    "key", "variations", "weights", "coverage", "hashAttribute", "hashVersion", "seed",
    "namespace", "condition", "force", "active", "ranges",
}  # fmt: skip


def _user_id(value: Any) -> str:
    # The SDK concatenates the attribute into the hashed string: JS String() of it.
    return value if isinstance(value, str) else str(value)


def evaluate(context: dict[str, Any], experiment: dict[str, Any]) -> tuple[Any, bool, bool]:
    """``(value, in_experiment, hash_used)`` as the JS SDK's ``run`` computes them."""
    variations = experiment["variations"]

    def result(index: int, hash_used: bool = False) -> tuple[Any, bool, bool]:
        if not 0 <= index < len(variations):
            return variations[0], False, False
        return variations[index], True, hash_used

    if len(variations) < 2 or experiment.get("active") is False:
        return result(-1)
    attributes = context.get("attributes") or {}
    raw_id = attributes.get(experiment.get("hashAttribute") or "id")
    if raw_id is None or raw_id == "" or raw_id is False or raw_id == 0:
        return result(-1)
    user_id = _user_id(raw_id)
    namespace = experiment.get("namespace")
    if namespace and not in_namespace(user_id, tuple(namespace)):
        return result(-1)
    condition = experiment.get("condition")
    if condition and not eval_condition(attributes, condition, context.get("savedGroups")):
        return result(-1)
    n = hash(
        experiment.get("seed") or experiment["key"], user_id, experiment.get("hashVersion") or 1
    )
    if n is None:
        return result(-1)
    ranges = experiment.get("ranges") or get_bucket_ranges(
        len(variations), experiment.get("coverage", 1), experiment.get("weights")
    )
    assigned = choose_variation(n, ranges)
    if assigned < 0:
        return result(-1)
    if "force" in experiment:
        return result(experiment["force"])
    return result(assigned, hash_used=True)


def _unsupported(case: list[Any]) -> set[str]:
    _, context, experiment, *_ = case
    return (set(context) - SUPPORTED_CONTEXT) | (set(experiment) - SUPPORTED_EXPERIMENT)


def _run_cases() -> list[Any]:
    return [
        pytest.param(p.values[0], id=p.id, marks=pytest.mark.skip(reason=SKIPPED[p.values[0][0]]))
        if p.values[0] is not None and p.values[0][0] in SKIPPED
        else p
        for p in section("run")
    ]


@pytest.mark.parametrize("case", _run_cases())
def test_run_case_matches_spec(case: list[Any]) -> None:
    _, context, experiment, value, in_experiment, hash_used = case
    assert evaluate(context, experiment) == (value, in_experiment, hash_used)


_PLAIN = {"key", "variations", "weights", "coverage", "hashVersion", "seed", "namespace"}


def _assign_cases() -> list[Any]:
    """Run cases that ``assign``'s own arguments describe completely (no harness needed)."""
    return [
        p
        for p in section("run")
        if p.values[0] is None
        or (
            set(p.values[0][1]) <= {"attributes"}
            and set(p.values[0][2]) <= _PLAIN
            and len(p.values[0][2]["variations"]) >= 2
        )
    ]


@pytest.mark.parametrize("case", _assign_cases())
def test_assign_agrees_with_run_case(case: list[Any]) -> None:
    _, context, experiment, value, in_experiment, _ = case
    variations = experiment["variations"]
    index, _ = assign(
        experiment.get("seed") or experiment["key"],
        experiment.get("hashVersion") or 1,
        _user_id((context.get("attributes") or {}).get("id") or ""),
        experiment.get("weights") or [1 / len(variations)] * len(variations),
        experiment.get("coverage", 1),
        tuple(experiment["namespace"]) if "namespace" in experiment else None,
    )
    assert index == (variations.index(value) if in_experiment else -1)


def test_skip_list_is_exactly_the_cases_outside_the_core() -> None:
    data = load_cases()
    if data is None:
        pytest.skip("conformance cases not found")
    outside = {case[0] for case in data["run"] if _unsupported(case)}
    assert outside == set(SKIPPED)
