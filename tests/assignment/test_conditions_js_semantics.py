"""Condition edge cases beyond the shared spec, answered by the real GrowthBook JS SDK.

``vectors_conditions_js.json`` holds ``evalCondition`` results of ``@growthbook/growthbook`` (see its
``produced_by``): JS coercions, relational comparison, the regex dialect, paths and versions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from splitlab.assignment.conditions import eval_condition, padded_version_string

_VECTORS = json.loads(
    (Path(__file__).resolve().parent / "vectors_conditions_js.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"{i:02d}") for i, c in enumerate(_VECTORS["cases"])]
)
def test_condition_matches_js_sdk(case: list[Any]) -> None:
    condition, attributes, expected = case
    assert eval_condition(attributes, condition) is expected


def test_saved_group_list_reads_its_attribute() -> None:
    groups = {"beta": {"type": "list", "attributeKey": "email", "values": ["a@x.io"]}}
    assert eval_condition({"email": "a@x.io"}, {"$savedGroup": {"id": "beta"}}, groups)
    assert not eval_condition({"email": "b@x.io"}, {"$savedGroup": {"id": "beta"}}, groups)


def test_saved_group_condition_cycle_matches_nobody() -> None:
    groups = {"loop": {"type": "condition", "condition": {"$savedGroup": {"id": "loop"}}}}
    assert not eval_condition({}, {"$savedGroup": {"id": "loop"}}, groups)


def test_not_in_unknown_group_passes_but_condition_group_matches_nobody() -> None:
    groups = {"cond": {"type": "condition", "condition": {"id": "1"}}}
    assert eval_condition({"id": "1"}, {"id": {"$notInGroup": "missing"}}, groups)
    assert not eval_condition({"id": "1"}, {"id": {"$notInGroup": "cond"}}, groups)


def test_release_sorts_after_its_prerelease() -> None:
    assert padded_version_string("1.0.0") > padded_version_string("1.0.0-beta.2")
    assert padded_version_string("v1.10.0") > padded_version_string("1.9.9")
