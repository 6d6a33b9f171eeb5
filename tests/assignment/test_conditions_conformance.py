"""GrowthBook SDK specification: the targeting condition language (``evalCondition``, all cases)."""

from __future__ import annotations

from typing import Any

import pytest

from splitlab.assignment.conditions import eval_condition
from tests.assignment.conformance import section


@pytest.mark.parametrize("case", section("evalCondition"))
def test_eval_condition_matches_spec(case: list[Any]) -> None:
    _, condition, attributes, expected, *rest = case
    saved_groups = rest[0] if rest else None
    assert eval_condition(attributes, condition, saved_groups) is expected
