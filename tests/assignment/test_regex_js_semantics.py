"""``$regex``/``$regexi`` exactly as JavaScript runs them, checked against ``vectors_regex_js.json``.

The vectors come from V8 (Node 20) and the real GrowthBook SDK (see ``produced_by`` and
``gen_vectors_regex_js.js``): ``new RegExp(p)`` / ``new RegExp(p, "i")``, no ``u`` flag. They pin
JS's non-unicode case-insensitivity over every BMP code unit (long s, the Kelvin sign and ``İ`` are
not ASCII letters' case variants), JS's ``\\s``/``.``/``\\d``/``\\w``/``\\b``, ``[\\s\\S]`` and
``[^]``, Annex B syntax, and which patterns ``new RegExp`` refuses, which saving refuses too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from splitlab.assignment.conditions import (
    MAX_REGEX_SIZE,
    _canonical_units,
    _code_units,
    _js_regex,
    check_condition,
    compile_condition,
    eval_condition,
    js_canonicalize,
    js_regex_problem,
)
from splitlab.errors import ValidationFailed

_VECTORS = json.loads(
    (Path(__file__).resolve().parent / "vectors_regex_js.json").read_text(encoding="utf-8")
)
_TEXTS: list[str] = _VECTORS["texts"]
_ALL_UNITS = "".join(chr(unit) for unit in range(0x10000))


def _ranges(units: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for unit in units:
        if out and unit == out[-1][1] + 1:
            out[-1][1] = unit
        else:
            out.append([unit, unit])
    return out


def _regex(pattern: str, insensitive: bool) -> dict[str, Any]:
    return {"x": {"$regexi" if insensitive else "$regex": pattern}}


def test_vectors_record_their_provenance_and_both_outcomes() -> None:
    assert _VECTORS["produced_by"]["sdk"].startswith("@growthbook/growthbook@")
    assert _VECTORS["produced_by"]["node"].startswith("v")
    assert {err is None for _, err in _VECTORS["validity"]} == {True, False}
    rows = "".join(plain + insensitive for _, plain, insensitive in _VECTORS["matrix"])
    assert set(rows) == {"0", "1"}
    assert len(_VECTORS["canonical_classes"]) > 1000


def test_case_classes_are_javascripts_over_every_bmp_code_unit() -> None:
    """/\\uXXXX/i matches exactly the units with the same Canonicalize, for all 65536 units."""
    classes: dict[int, list[int]] = {}
    for unit in range(0x10000):
        classes.setdefault(js_canonicalize(unit), []).append(unit)
    ours = sorted(members for members in classes.values() if len(members) > 1)
    assert ours == sorted(_VECTORS["canonical_classes"])


def test_the_known_traps_are_in_the_vectors_as_javascript_has_them() -> None:
    by_unit = {u: tuple(c) for c in _VECTORS["canonical_classes"] for u in c}
    assert by_unit[ord("k")] == (ord("K"), ord("k"))  # not the Kelvin sign U+212A
    assert by_unit[ord("s")] == (ord("S"), ord("s"))  # not long s U+017F
    assert by_unit[ord("i")] == (ord("I"), ord("i"))  # neither U+0130 nor U+0131
    for alone in (0x212A, 0x017F, 0x0130, 0x0131, 0x00DF):  # each only itself
        assert alone not in by_unit


@pytest.mark.parametrize("members", _VECTORS["canonical_classes"][::7], ids=lambda m: f"{m[0]:04x}")
def test_each_member_of_a_case_class_matches_the_others(members: list[int]) -> None:
    for unit in members:
        condition = _regex(f"^\\u{unit:04x}$", True)
        for other in members:
            assert eval_condition({"x": chr(other)}, condition), (hex(unit), hex(other))
        assert not eval_condition({"x": chr(members[0] ^ 0x100)}, condition)


@pytest.mark.parametrize("scan", [pytest.param(s, id=f"{s[0]}/{s[1]}") for s in _VECTORS["scans"]])
def test_whole_bmp_scan_matches_javascript(scan: list[Any]) -> None:
    pattern, flags, expected = scan
    compiled = _js_regex(pattern, flags == "i")
    assert compiled is not None
    text = _canonical_units(_ALL_UNITS) if flags == "i" else _code_units(_ALL_UNITS)
    found = [m.start() for m in compiled.pattern.finditer(text)]
    assert _ranges(found) == expected


@pytest.mark.parametrize(
    "row", [pytest.param(r, id=f"{i:03d}") for i, r in enumerate(_VECTORS["validity"])]
)
def test_refuses_exactly_what_new_regexp_refuses(row: list[Any]) -> None:
    pattern, js_error = row
    for insensitive in (False, True):
        problem = js_regex_problem(pattern, insensitive)
        assert (problem is None) == (js_error is None), (pattern, js_error, problem)
        if js_error is not None:
            assert not eval_condition({"x": pattern}, _regex(pattern, insensitive))


@pytest.mark.parametrize(
    "row", [pytest.param(r, id=f"{i:03d}") for i, r in enumerate(_VECTORS["matrix"])]
)
def test_pattern_text_matrix_matches_the_sdk(row: list[str]) -> None:
    pattern, plain, insensitive = row
    for flag, expected in ((False, plain), (True, insensitive)):
        condition = _regex(pattern, flag)
        compiled = compile_condition(condition)
        got = "".join("1" if eval_condition({"x": t}, condition) else "0" for t in _TEXTS)
        got_compiled = "".join("1" if compiled({"x": t}) else "0" for t in _TEXTS)
        wrong = [t for t, e, g in zip(_TEXTS, expected, got, strict=True) if e != g]
        assert not wrong, (pattern, "i" if flag else "", wrong)
        assert got_compiled == got


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=f"{i:02d}") for i, c in enumerate(_VECTORS["cases"])]
)
def test_condition_matches_the_sdk(case: list[Any]) -> None:
    condition, attributes, expected = case
    assert eval_condition(attributes, condition) is expected
    assert compile_condition(condition)(attributes) is expected


def test_astral_characters_are_two_code_units() -> None:
    assert not eval_condition({"x": "😀"}, _regex("^.$", False))
    assert eval_condition({"x": "😀"}, _regex("^..$", False))
    assert eval_condition({"x": "😀"}, _regex("^\\uD83D\\uDE00$", True))


# --- refusing what JavaScript cannot compile ---------------------------------------------------

BAD = "(unclosed"


@pytest.mark.parametrize(
    "condition",
    [
        {"email": {"$regex": BAD}},
        {"email": {"$regexi": BAD}},
        {"$and": [{"a": 1}, {"$or": [{"b": {"$regex": BAD}}]}]},
        {"$nor": [{"email": {"$regex": BAD}}]},
        {"$not": {"email": {"$regex": BAD}}},
        {"email": {"$not": {"$regex": BAD}}},
        {"tags": {"$elemMatch": {"$regex": BAD}}},
        {"tags": {"$elemMatch": {"k": {"$regexi": BAD}}}},
        {"tags": {"$all": ["a", {"$regex": BAD}]}},
        {"a.b": {"$exists": True, "$regex": BAD}},
        {"email": {"$regex": 5}},
    ],
)
def test_check_condition_finds_a_bad_pattern_anywhere(condition: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_condition(condition)
    assert raised.value.details[0]["loc"] == ["targeting", "condition"]
    assert "regular expression" in raised.value.message


def test_check_condition_names_the_pattern_and_javascripts_reason() -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_condition({"email": {"$regex": "[z-a]"}})
    assert '"[z-a]"' in raised.value.message
    assert "Range out of order in character class" in raised.value.message


@pytest.mark.parametrize(
    "condition",
    [
        {"email": {"$regex": "^[\\s\\S]*@example\\.com$"}},
        {"email": {"$regexi": "(?<=@)EXAMPLE\\.com$"}},
        {"email": {"$regex": "[^]"}},
        {"doc": {"literal": {"$regex": "("}}},  # a literal object, compared, never compiled
        {"$savedGroup": {"id": "g"}},
        {},
    ],
)
def test_check_condition_accepts_valid_patterns_and_literals(condition: dict[str, Any]) -> None:
    check_condition(condition)


def test_a_repetition_too_large_to_unroll_is_refused_and_matches_nobody() -> None:
    pattern = f"a{{{MAX_REGEX_SIZE + 1}}}"
    problem = js_regex_problem(pattern)
    assert problem is not None
    assert "unroll" in problem
    assert not eval_condition({"x": "a" * (MAX_REGEX_SIZE + 1)}, _regex(pattern, False))
    assert js_regex_problem("a{2,99999999999}") is None  # a large maximum costs nothing


def _experiment(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": "regex-check",
        "name": "Regex check",
        "variants": [{"key": "a", "allocation": 50}, {"key": "b", "allocation": 50}],
        "targeting": {"condition": condition},
    }


def test_saving_an_uncompilable_regex_is_a_422(client: TestClient) -> None:
    condition = {"$or": [{"country": "NL"}, {"email": {"$regexi": "a**"}}]}
    response = client.post("/api/experiments/", json=_experiment(condition))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert '$regexi "a**"' in body["error"]
    assert "Nothing to repeat" in body["error"]
    assert body["details"][0]["loc"] == ["targeting", "condition"]
    assert client.get("/api/experiments/regex-check").status_code == 404


def test_updating_to_an_uncompilable_regex_is_a_422(client: TestClient) -> None:
    good = {"email": {"$regex": "[\\s\\S]+@example\\.com$"}}
    assert client.post("/api/experiments/", json=_experiment(good)).status_code == 201
    bad = {"targeting": {"condition": {"email": {"$regex": "(?<name"}}}}
    response = client.put("/api/experiments/regex-check", json=bad)
    assert response.status_code == 422, response.text
    assert "Invalid capture group name" in response.json()["error"]
    saved = client.get("/api/experiments/regex-check").json()
    assert saved["targeting"]["condition"] == good
