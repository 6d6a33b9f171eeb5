"""``compile_condition`` answers exactly as ``eval_condition``: the spec, the JS vectors, and more.

The assignment hot path evaluates compiled conditions, so every case the interpreter is held to
runs through the compiled form too, and hypothesis compares the two on generated conditions built
from the shapes the compiler handles inline (``$in``/``$nin`` over strings, ``$eq``/``$ne`` on a
string, ``$exists``, literals, ``$and``/``$or``/``$nor``/``$not``) and attributes of every JSON type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitlab.assignment.conditions import compile_condition, eval_condition
from tests.assignment.conformance import section

_JS_VECTORS = json.loads(
    (Path(__file__).resolve().parent / "vectors_conditions_js.json").read_text(encoding="utf-8")
)["cases"]


@pytest.mark.parametrize("case", section("evalCondition"))
def test_compiled_condition_matches_spec(case: list[Any]) -> None:
    _, condition, attributes, expected, *rest = case
    saved_groups = rest[0] if rest else None
    assert compile_condition(condition, saved_groups)(attributes) is expected


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"{i:02d}") for i, c in enumerate(_JS_VECTORS)]
)
def test_compiled_condition_matches_js_sdk(case: list[Any]) -> None:
    condition, attributes, expected = case
    assert compile_condition(condition)(attributes) is expected


NAMES = st.sampled_from(["a", "b", "c.d", "tags"])
WORDS = st.sampled_from(["x", "y", "1", "", "null", "true"])
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=True, allow_infinity=False)
    | WORDS
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORDS, inner, max_size=2),
    max_leaves=6,
)
OPERATORS = (
    st.builds(lambda v: {"$in": v}, st.lists(WORDS | JSON_SCALARS, max_size=3))
    | st.builds(lambda v: {"$nin": v}, st.lists(WORDS, max_size=3) | JSON_SCALARS)
    | st.builds(lambda v: {"$eq": v}, WORDS | JSON_SCALARS)
    | st.builds(lambda v: {"$ne": v}, WORDS | JSON_SCALARS)
    | st.builds(lambda v: {"$exists": v}, JSON_SCALARS)
    | st.builds(lambda v: {"$gt": v}, WORDS | st.integers(-3, 3))
)
LEAVES = st.dictionaries(NAMES, OPERATORS | JSON_VALUES, min_size=1, max_size=2)
CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: (
        st.builds(lambda c: {"$and": c}, st.lists(inner, max_size=3))
        | st.builds(lambda c: {"$or": c}, st.lists(inner, max_size=3))
        | st.builds(lambda c: {"$nor": c}, st.lists(inner, max_size=3))
        | st.builds(lambda c: {"$not": c}, inner)
    ),
    max_leaves=5,
)
ATTRIBUTES = st.dictionaries(NAMES | st.just("c"), JSON_VALUES, max_size=4).map(
    lambda attrs: {**attrs, "c": {"d": attrs.get("c")}} if "c" in attrs else attrs
)


@settings(max_examples=1500, deadline=None)
@given(condition=CONDITIONS, attributes=ATTRIBUTES)
def test_compiled_condition_agrees_with_the_interpreter(
    condition: dict[str, Any], attributes: dict[str, Any]
) -> None:
    assert compile_condition(condition)(attributes) is eval_condition(attributes, condition)


def test_a_compiled_condition_reads_attributes_of_each_call() -> None:
    premium = compile_condition({"plan": {"$in": ["premium", "team"]}, "country": "US"})
    assert premium({"plan": "team", "country": "US"}) is True
    assert premium({"plan": ["free", "premium"], "country": "US"}) is True
    assert premium({"plan": "free", "country": "US"}) is False
    assert premium({"country": "US"}) is False
