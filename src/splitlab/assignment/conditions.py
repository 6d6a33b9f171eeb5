"""GrowthBook's targeting condition language, with the JavaScript reference SDK's semantics.

Pure: no I/O. Attributes and conditions are JSON values (``None``, ``bool``,
``int``/``float``, ``str``, ``list``, ``dict``); the rules are those of ``evalCondition`` in
``@growthbook/growthbook`` (``mongrule.ts``), JavaScript coercions included, because a GrowthBook
SDK evaluating a Splitlab payload client-side must reach the same answer as the server:

- a plain string condition compares ``String(value)`` (``1`` matches ``"1"``, ``null`` matches
  ``"null"``); a number condition compares ``Number(value)`` (``"5"`` and ``[5]`` match ``5``); a
  boolean compares truthiness (``null`` never matches); arrays and non-operator objects compare by
  ``JSON.stringify`` (key order counts);
- ``$eq``/``$ne`` are strict (``===``: no coercion, arrays and objects never equal);
  ``$lt``/``$lte``/``$gt``/``$gte`` are JS relational comparisons (two strings compare by UTF-16
  code units, anything else as numbers, so ``"10" > 9`` but ``"abc" > 1`` is false);
- ``$in``/``$nin`` use ``Array.prototype.includes`` (strict), intersecting when the attribute is an
  array; ``$exists`` treats a missing attribute like ``null``; ``$type`` reports JS types
  (``"null"``, ``"array"``, ``"object"``, ``"number"``, ...);
- ``$v*`` compare padded version strings; ``$inGroup``/``$notInGroup`` and ``$savedGroup`` read the
  saved groups passed alongside; unknown operators never match.

Regular expressions are parsed with JavaScript's grammar (``new RegExp(p)``, ``new RegExp(p, "i")``:
Annex B, no ``u`` flag) and rewritten for the ``regex`` engine, JS's case-insensitivity included
(see the regular expressions section); a pattern JS rejects (inline flags such as ``(?i)``)
matches nothing, and ``check_condition`` refuses it where targeting is saved. A dotted path
reads own keys only (array indices and ``length`` included), never inherited JS members such as
``toString``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any, NamedTuple, NoReturn

import regex

from splitlab.errors import ValidationFailed

__all__ = [
    "JsRegexError",
    "check_condition",
    "compile_condition",
    "eval_condition",
    "get_path",
    "js_canonicalize",
    "js_regex_problem",
    "padded_version_string",
]

_Groups = Mapping[str, Any]
_MISSING_GROUP = object()


def eval_condition(
    attributes: Any,
    condition: Any,
    saved_groups: _Groups | None = None,
) -> bool:
    """Whether ``attributes`` satisfy ``condition`` (GrowthBook ``evalCondition``)."""
    return _eval_condition(attributes, condition, saved_groups or {}, frozenset())


Predicate = Callable[[Any], bool]


def compile_condition(condition: Any, saved_groups: _Groups | None = None) -> Predicate:
    """``eval_condition`` with the condition fixed: parsed once, then a tree of closures.

    The assignment hot path evaluates one experiment's condition for every user; compiling it
    once takes the dispatch on operator names and literal types out of the per-user work. Every
    node does exactly what the interpreter below does (the common shapes inline, anything rare
    calls the interpreter), and the conformance cases run through both.
    """
    return _compile_condition(condition, saved_groups or {}, frozenset())


def _compile_condition(condition: Any, groups: _Groups, visited: frozenset[str]) -> Predicate:
    if not isinstance(condition, Mapping):
        return lambda obj: _eval_condition(obj, condition, groups, visited)
    parts: list[Predicate] = []
    for key, value in condition.items():
        if key in ("$or", "$nor"):
            subs = [_compile_condition(c, groups, visited) for c in _elements(value)]
            if not subs:  # an empty $or is true, so an empty $nor is false
                parts.append(_TRUE if key == "$or" else _FALSE)
            else:
                parts.append(_any_of(subs) if key == "$or" else _negate(_any_of(subs)))
        elif key == "$and":
            parts.append(
                _all_of([_compile_condition(c, groups, visited) for c in _elements(value)])
            )
        elif key == "$not":
            parts.append(_negate(_compile_condition(value, groups, visited)))
        elif key == "$savedGroup":
            parts.append(_saved_group(value, groups, visited))
        else:
            parts.append(_on_path(key, _compile_value(value, groups, visited)))
    return _all_of(parts)


def _TRUE(_: Any) -> bool:
    return True


def _FALSE(_: Any) -> bool:
    return False


def _any_of(parts: list[Predicate]) -> Predicate:
    return lambda obj: any(part(obj) for part in parts)


def _negate(part: Predicate) -> Predicate:
    return lambda obj: not part(obj)


def _saved_group(reference: Any, groups: _Groups, visited: frozenset[str]) -> Predicate:
    return lambda obj: _eval_saved_group(obj, reference, groups, visited)


def _all_of(parts: list[Predicate]) -> Predicate:
    if not parts:
        return _TRUE
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda obj: first(obj) and second(obj)
    return lambda obj: all(part(obj) for part in parts)


def _on_path(path: str, test: Predicate) -> Predicate:
    if "." in path:
        return lambda obj: test(get_path(obj, path))

    def on_key(obj: Any) -> bool:
        # For a dict, get_path of a one-part path is dict.get: a missing key reads as None.
        if type(obj) is dict:
            return test(obj.get(path))
        return test(get_path(obj, path))

    return on_key


def _compile_value(condition: Any, groups: _Groups, visited: frozenset[str]) -> Predicate:
    """``_eval_value`` with the condition fixed (never case-insensitive at this level)."""
    if isinstance(condition, str):
        return lambda value: (value if type(value) is str else _to_string(value)) == condition
    if isinstance(condition, bool):
        return lambda value: value is not None and _truthy(value) == condition
    if isinstance(condition, int | float):
        return lambda value: _to_number(value) == condition
    if condition is None:
        return lambda value: value is None
    if not _is_operator_object(condition):
        expected = _stringify(condition)
        return lambda value: _stringify(value) == expected
    return _all_of([_compile_operator(op, arg, groups, visited) for op, arg in condition.items()])


def _compile_operator(
    op: str, expected: Any, groups: _Groups, visited: frozenset[str]
) -> Predicate:
    if op in ("$in", "$nin"):
        if not isinstance(expected, list | tuple):
            return _FALSE
        if expected and all(type(e) is str for e in expected):
            # Strict equality against strings only: a string attribute is a set lookup, any other
            # type matches none of them; an array attribute matches when any element does.
            members = frozenset(expected)

            def found(actual: Any) -> bool:
                if isinstance(actual, str):
                    return actual in members
                if isinstance(actual, list | tuple):
                    return any(isinstance(a, str) and a in members for a in actual)
                return False

        else:

            def found(actual: Any) -> bool:
                return _is_in(actual, expected)

        return found if op == "$in" else _negate(found)
    if op == "$eq" and isinstance(expected, str):
        return lambda actual: isinstance(actual, str) and actual == expected
    if op == "$ne" and isinstance(expected, str):
        return lambda actual: not (isinstance(actual, str) and actual == expected)
    if op == "$exists":
        if _truthy(expected):
            return lambda actual: actual is not None
        return lambda actual: actual is None
    if op in ("$regex", "$regexi") and isinstance(expected, str):
        pattern = _js_regex(expected, op == "$regexi")
        if pattern is None:
            return _FALSE
        return lambda actual: _search(pattern, actual)
    return lambda actual: _eval_operator(op, actual, expected, groups, visited)


def _eval_condition(obj: Any, condition: Any, groups: _Groups, visited: frozenset[str]) -> bool:
    for key, value in _entries(condition):
        if key == "$or":
            if not _eval_or(obj, value, groups, visited):
                return False
        elif key == "$nor":
            if _eval_or(obj, value, groups, visited):
                return False
        elif key == "$and":
            if not all(_eval_condition(obj, c, groups, visited) for c in _elements(value)):
                return False
        elif key == "$not":
            if _eval_condition(obj, value, groups, visited):
                return False
        elif key == "$savedGroup":
            if not _eval_saved_group(obj, value, groups, visited):
                return False
        elif not _eval_value(value, get_path(obj, key), groups, False, visited):
            return False
    return True


def _eval_or(obj: Any, conditions: Any, groups: _Groups, visited: frozenset[str]) -> bool:
    items = list(_elements(conditions))
    if not items:  # JS: `if (!conditions.length) return true`
        return True
    return any(_eval_condition(obj, c, groups, visited) for c in items)


def _entries(value: Any) -> Iterator[tuple[str, Any]]:
    """``Object.entries``: an object's items, an array's or string's indexed elements."""
    if isinstance(value, Mapping):
        yield from value.items()
    elif isinstance(value, list | tuple | str):
        for i, item in enumerate(value):
            yield str(i), item


def _elements(value: Any) -> Iterator[Any]:
    """What a JS ``for (i < value.length)`` loop visits: an array's or string's elements."""
    if isinstance(value, list | tuple | str):
        yield from value


def _eval_saved_group(obj: Any, reference: Any, groups: _Groups, visited: frozenset[str]) -> bool:
    """``{"$savedGroup": {"id", "attributeKey"?}}``; anything unrecognised matches nobody."""
    if not isinstance(reference, Mapping):
        return False
    group_id = reference.get("id")
    attribute_key = reference.get("attributeKey")
    if not isinstance(group_id, str) or group_id in visited:
        return False
    if "attributeKey" in reference and not isinstance(attribute_key, str):
        return False
    entry = groups.get(group_id)
    if not isinstance(entry, Mapping):
        return False
    if entry.get("type") == "list":
        key = attribute_key if attribute_key is not None else entry.get("attributeKey")
        values = entry.get("values")
        if not isinstance(key, str) or not isinstance(values, list | tuple):
            return False
        return _is_in(get_path(obj, key), values)
    if entry.get("type") == "condition":
        inner = entry.get("condition")
        if not isinstance(inner, Mapping):
            return False
        return _eval_condition(obj, inner, groups, visited | {group_id})
    return False


def get_path(obj: Any, path: str) -> Any:
    """The value at a dot-separated path, or ``None`` when any step is missing."""
    current = obj
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list | tuple):
            if part == "length":
                current = len(current)
            elif _is_array_index(part) and int(part) < len(current):
                current = current[int(part)]
            else:
                return None
        else:
            return None
    return current


def _is_array_index(key: str) -> bool:
    # Canonical indices only, as JS property keys: "0", "12", never "01", "-0" or "1.0".
    return key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and len(key) <= 10


def _eval_value(
    condition: Any, value: Any, groups: _Groups, insensitive: bool, visited: frozenset[str]
) -> bool:
    """``evalConditionValue``: a literal (with JS coercion) or an object of operators."""
    if isinstance(condition, str):
        if insensitive:
            return _js_lower(_to_string(value)) == _js_lower(condition)
        return _to_string(value) == condition
    if isinstance(condition, bool):
        return value is not None and _truthy(value) == condition
    if isinstance(condition, int | float):
        return _to_number(value) == condition
    if condition is None:
        return value is None
    if not _is_operator_object(condition):
        return _stringify(value) == _stringify(condition)
    return all(
        _eval_operator(op, value, expected, groups, visited) for op, expected in condition.items()
    )


def _is_operator_object(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(str(k)[:1] == "$" for k in value)


def _eval_operator(
    op: str, actual: Any, expected: Any, groups: _Groups, visited: frozenset[str]
) -> bool:
    if op in _VERSION_OPS:
        return _VERSION_OPS[op](padded_version_string(actual), padded_version_string(expected))
    if op == "$eq":
        return _strict_equal(actual, expected)
    if op == "$ne":
        return not _strict_equal(actual, expected)
    if op == "$lt":
        return _less_than(actual, expected) is True
    if op == "$lte":
        return _less_than(expected, actual) is False
    if op == "$gt":
        return _less_than(expected, actual) is True
    if op == "$gte":
        return _less_than(actual, expected) is False
    if op == "$exists":
        return (actual is not None) if _truthy(expected) else actual is None
    if op in ("$in", "$nin", "$ini", "$nini"):
        if not isinstance(expected, list | tuple):
            return False
        found = _is_in(actual, expected, insensitive=op.endswith("i"))
        return found if op in ("$in", "$ini") else not found
    if op in ("$inGroup", "$notInGroup"):
        values = _group_values(groups, expected)
        if values is None:
            return False  # a malformed or condition group matches nobody, either way
        found = _is_in(actual, values)
        return found if op == "$inGroup" else not found
    if op == "$not":
        return not _eval_value(expected, actual, groups, False, visited)
    if op == "$size":
        if not isinstance(actual, list | tuple):
            return False
        return _eval_value(expected, len(actual), groups, False, visited)
    if op == "$elemMatch":
        return _elem_match(actual, expected, groups, visited)
    if op in ("$all", "$alli"):
        if not isinstance(expected, list | tuple) or not isinstance(actual, list | tuple):
            return False
        insensitive = op == "$alli"
        return all(
            any(_eval_value(e, a, groups, insensitive, visited) for a in actual) for e in expected
        )
    if op in ("$regex", "$regexi"):
        if not isinstance(expected, str):
            return False
        pattern = _js_regex(expected, op == "$regexi")
        return pattern is not None and _search(pattern, actual)
    if op == "$type":
        return bool(_js_type(actual) == expected)
    return False  # unknown operator


def _elem_match(actual: Any, expected: Any, groups: _Groups, visited: frozenset[str]) -> bool:
    if not isinstance(actual, list | tuple):
        return False
    on_value = _is_operator_object(expected)
    for item in actual:
        if item is None:
            continue  # only nullish elements are skipped; 0, "" and false are tested
        if on_value:
            if _eval_value(expected, item, groups, False, visited):
                return True
        elif _eval_condition(item, expected, groups, visited):
            return True
    return False


def _group_values(groups: _Groups, group_id: Any) -> list[Any] | tuple[Any, ...] | None:
    """A saved group's values: a v1 bare array or a v2 ``{"type": "list"}`` entry.

    An unknown id is an empty list (``$notInGroup`` passes, as it always has); a condition group,
    a malformed entry or an unknown type is ``None`` so that neither operator matches anyone.
    """
    entry = groups.get(_to_string(group_id), _MISSING_GROUP)
    if entry is _MISSING_GROUP:
        return []
    if isinstance(entry, list | tuple):
        return entry
    if isinstance(entry, Mapping) and entry.get("type") == "list":
        values = entry.get("values")
        return values if isinstance(values, list | tuple) else None
    return None


def _is_in(actual: Any, expected: Any, insensitive: bool = False) -> bool:
    """``expected.includes(actual)``, or any overlap when ``actual`` is an array."""
    candidates = actual if isinstance(actual, list | tuple) else (actual,)
    if insensitive:
        folded = [_fold(e) for e in expected]
        return any(_same_value_zero(_fold(c), e) for c in candidates for e in folded)
    return any(_same_value_zero(c, e) for c in candidates for e in expected)


def _fold(value: Any) -> Any:
    return _js_lower(value) if isinstance(value, str) else value


# --- JavaScript value semantics ------------------------------------------------------------------


def _js_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "unknown"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strict_equal(a: Any, b: Any) -> bool:
    """``a === b`` for JSON values: primitives by type and value, containers never (references)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def _same_value_zero(a: Any, b: Any) -> bool:
    """``Array.prototype.includes`` equality: ``===`` except that NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return _strict_equal(a, b)


def _truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if _is_number(value):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True  # true, arrays and objects, even empty ones


def _number_to_string(x: float) -> str:
    """ECMAScript ``Number::toString`` (shortest round-trip digits, JS exponent layout)."""
    if math.isnan(x):
        return "NaN"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _number_to_string(-x)
    if math.isinf(x):
        return "Infinity"
    mantissa, _, exponent = repr(x).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits_with_zeros = (whole + fraction).lstrip("0")
    digits = digits_with_zeros.rstrip("0")
    k = len(digits)
    # x = 0.d1..dk * 10**n
    n = int(exponent or "0") - len(fraction) + len(digits_with_zeros)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{'+' if n > 0 else '-'}{abs(n - 1)}"


def _to_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond double range is Infinity in JS
        return math.inf if value > 0 else -math.inf


def _to_string(value: Any) -> str:
    """``String(value)`` (``value + ""``) for JSON values."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_to_string(_to_float(value))
    if isinstance(value, list | tuple):
        return ",".join("" if v is None else _to_string(v) for v in value)
    return "[object Object]"


# StringToNumber: JS whitespace and line terminators are trimmed first.
_JS_SPACE = "".join(
    ["\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"]
    + [chr(c) for c in range(0x2000, 0x200B)]
)
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_RADIX = re.compile(r"0([xXoObB])([0-9a-fA-F]+)")


def _string_to_number(text: str) -> float:
    text = text.strip(_JS_SPACE)
    if not text:
        return 0.0
    if _DECIMAL.fullmatch(text):
        return float(text.replace("Infinity", "inf"))
    radix = _RADIX.fullmatch(text)
    if radix:
        base = {"x": 16, "o": 8, "b": 2}[radix.group(1).lower()]
        try:
            return _to_float(int(radix.group(2), base))
        except ValueError:  # digits outside the radix, e.g. "0b12"
            return math.nan
    return math.nan


def _to_number(value: Any) -> float:
    """``Number(value)`` (``value * 1``) for JSON values; arrays go through their string form."""
    if value is None or value is False:
        return 0.0
    if value is True:
        return 1.0
    if isinstance(value, int | float):
        return _to_float(value)
    if isinstance(value, str | list | tuple):
        return _string_to_number(_to_string(value))
    return math.nan


def _utf16_key(text: str) -> str | bytes:
    # JS orders strings by UTF-16 code unit; code points give the same order unless a character
    # above U+FFFF meets one in U+E000..U+FFFF, so only non-ASCII text pays for the encoding.
    return text if text.isascii() else text.encode("utf-16-be", "surrogatepass")


def _less_than(a: Any, b: Any) -> bool | None:
    """The abstract relational comparison ``a < b``: ``None`` when undefined (a NaN operand)."""
    if isinstance(a, list | tuple | Mapping):
        a = _to_string(a)
    if isinstance(b, list | tuple | Mapping):
        b = _to_string(b)
    if isinstance(a, str) and isinstance(b, str):
        ka, kb = _utf16_key(a), _utf16_key(b)
        if type(ka) is not type(kb):
            ka, kb = a.encode("utf-16-be", "surrogatepass"), b.encode("utf-16-be", "surrogatepass")
        return ka < kb  # type: ignore[operator]
    x, y = _to_number(a), _to_number(b)
    if math.isnan(x) or math.isnan(y):
        return None
    return x < y


def _js_lower(text: str) -> str:
    return text.lower()


def _stringify(value: Any) -> str | None:
    """``JSON.stringify`` for JSON values (JS number format and property order)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        x = _to_float(value)
        return _number_to_string(x) if math.isfinite(x) else "null"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_stringify(v) or "null" for v in value) + "]"
    if isinstance(value, Mapping):
        keys = [str(k) for k in value]
        index_keys = sorted((k for k in keys if _is_array_index(k)), key=int)
        ordered = index_keys + [k for k in keys if not _is_array_index(k)]
        by_str = {str(k): v for k, v in value.items()}
        return "{" + ",".join(f"{_quote(k)}:{_stringify(by_str[k])}" for k in ordered) + "}"
    return None


def _quote(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ch < " " or "\ud800" <= ch <= "\udfff":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


# --- versions ----------------------------------------------------------------------------------

_VERSION_STRIP = re.compile(r"^v|\+[^\n\r\u2028\u2029]*\Z")
_VERSION_SPLIT = re.compile(r"[-.]")
_DIGITS = re.compile(r"[0-9]+")


def padded_version_string(value: Any) -> str:
    """GrowthBook's ``paddedVersionString``: ``"v1.2.3-rc.1+b"`` → comparable ``"    1-    2-..."``.

    Numeric parts are left-padded to five characters so that plain string comparison orders them;
    a release without pre-release tag gets ``~`` appended so it sorts after its pre-releases.
    """
    if _is_number(value):
        value = _to_string(value)
    if not value or not isinstance(value, str):
        value = "0"
    return _padded(value)


@lru_cache(maxsize=1024)
def _padded(value: str) -> str:
    parts = _VERSION_SPLIT.split(_VERSION_STRIP.sub("", value))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(p.rjust(5, " ") if _DIGITS.fullmatch(p) else p for p in parts)


def _vcmp(a: str, b: str) -> int:
    ka, kb = a.encode("utf-16-be", "surrogatepass"), b.encode("utf-16-be", "surrogatepass")
    return (ka > kb) - (ka < kb)


_VERSION_OPS: dict[str, Callable[[str, str], bool]] = {
    "$veq": lambda a, b: a == b,
    "$vne": lambda a, b: a != b,
    "$vgt": lambda a, b: _vcmp(a, b) > 0,
    "$vgte": lambda a, b: _vcmp(a, b) >= 0,
    "$vlt": lambda a, b: _vcmp(a, b) < 0,
    "$vlte": lambda a, b: _vcmp(a, b) <= 0,
}


# --- regular expressions -----------------------------------------------------------------------
#
# The JS SDK compiles ``$regex`` as ``new RegExp(pattern)`` and ``$regexi`` as
# ``new RegExp(pattern, "i")``: no ``u`` flag, so patterns have ECMAScript's Annex B (web
# compatibility) grammar and match UTF-16 code units. ``_JsRegexParser`` parses that grammar as V8
# (Node 20) does, rejecting exactly what ``new RegExp`` rejects, and writes the same pattern for
# the ``regex`` engine, which can stop a search after a timeout (``re`` cannot) and allows
# lookbehind of any width. Nothing of Python's dialect survives: every class, escape and assertion
# is spelled out (``\d``, ``\w`` and ``\b`` are ASCII, ``\s`` is JS's whitespace, ``.`` stops at
# ``\n \r \u2028 \u2029``, ``$`` is the very end). Texts and patterns are read as code units, so an
# astral character is its surrogate pair and ``.`` matches half of an emoji, as in JS.
#
# ``i`` is not Python's IGNORECASE either. Without ``u``, JS compares ``Canonicalize(ch)``
# (ECMA-262 ``Canonicalize``): ``ch.toUpperCase()`` if that is one code unit, except that a
# non-ASCII unit never becomes an ASCII one; otherwise ``ch`` itself. So long s (U+017F) and the
# Kelvin sign (U+212A) match neither ``s`` nor ``k``, ``İ`` (U+0130) does not match ``i``, and
# ``ß`` (upper case "SS") matches only itself. Canonicalize is idempotent, so an ``i`` pattern runs
# case-sensitively over canonical units: the text is canonicalised before the search, literals are
# canonicalised, and each class gains the canonical images of its members.
#
# Known difference: JS empties a repeated group's captures at each iteration, Python keeps the
# previous one, which only a backreference to a group inside a repeated group can observe.

#: How long one ``$regex`` test may run. A pattern with catastrophic backtracking (``(a+)+$``)
#: against a long attribute would otherwise hold the process for minutes; past this it is a
#: non-match. Real targeting patterns finish in microseconds.
REGEX_TIMEOUT = 0.05

#: The ``regex`` engine unrolls counted repetition when it compiles (``a{1000000}`` takes half a
#: second, ``a{2147483647}`` all memory), so a pattern whose unrolled size passes this is refused
#: when saved, and matches nobody if met anyway.
MAX_REGEX_SIZE = 100_000

_log = logging.getLogger(__name__)


class JsRegexError(ValueError):
    """A pattern JavaScript's ``new RegExp`` rejects (or one too large to run here)."""


_Ranges = list[tuple[int, int]]  # inclusive code-unit ranges
_LAST_UNIT = 0xFFFF
_INFINITY = 2**31 - 1  # V8's kInfinity: a larger repetition count means "unbounded"


def _normalise(ranges: _Ranges) -> _Ranges:
    merged: _Ranges = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _complement(ranges: _Ranges) -> _Ranges:
    out: _Ranges = []
    start = 0
    for lo, hi in _normalise(ranges):
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= _LAST_UNIT:
        out.append((start, _LAST_UNIT))
    return out


_RX_DIGITS: _Ranges = [(0x30, 0x39)]
_RX_WORD: _Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_RX_SPACE: _Ranges = [  # WhiteSpace and LineTerminator
    (0x09, 0x0D),
    (0x20, 0x20),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
    (0xFEFF, 0xFEFF),
]
_RX_DOT = _complement([(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)])
_RX_CLASS_ESCAPES: dict[str, _Ranges] = {
    "d": _RX_DIGITS,
    "D": _complement(_RX_DIGITS),
    "w": _RX_WORD,
    "W": _complement(_RX_WORD),
    "s": _RX_SPACE,
    "S": _complement(_RX_SPACE),
}
_RX_W = "[0-9A-Z_a-z]"
_RX_BOUNDARY = {
    "b": f"(?:(?<={_RX_W})(?!{_RX_W})|(?<!{_RX_W})(?={_RX_W}))",
    "B": f"(?:(?<={_RX_W})(?={_RX_W})|(?<!{_RX_W})(?!{_RX_W}))",
}
_RX_CONTROL = {"f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_RX_OCTAL = frozenset("01234567")
_RX_BRACED = re.compile(r"\{([0-9]+)(?:(,)([0-9]*))?\}")
_RX_NUMBER = re.compile(r"[0-9]+")
_RX_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")
_RX_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_RX_NAME_ESCAPE = re.compile(r"\\u(?:\{([0-9A-Fa-f]{1,8})\}|([0-9A-Fa-f]{4}))")
_RX_NAMED_REFERENCE = re.compile("\x00([0-9]+)\x00")
_RX_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

# Upper-case pairs added in Unicode 16: Node 20's ICU (Unicode 17) has them, Python 3.11's 14 not.
_NEWER_UPPERCASE = {
    0x019B: 0xA7DC,
    0x0264: 0xA7CB,
    0x1C8A: 0x1C89,
    0xA7CD: 0xA7CC,
    0xA7CF: 0xA7CE,
    0xA7D3: 0xA7D2,
    0xA7D5: 0xA7D4,
    0xA7DB: 0xA7DA,
}


@lru_cache(maxsize=1)
def _canonical_map() -> dict[int, int]:
    """ECMAScript ``Canonicalize`` without the ``u`` flag, for each code unit it changes."""
    moved: dict[int, int] = {}
    for unit in range(_LAST_UNIT + 1):
        if 0xD800 <= unit <= 0xDFFF:
            continue  # surrogates have no case
        upper = chr(unit).upper()
        if len(upper) != 1:
            continue  # "ß".toUpperCase() is "SS": not a single code unit, so ß stays ß
        cu = ord(upper)
        if cu != unit and cu <= _LAST_UNIT and not (unit >= 0x80 and cu < 0x80):
            moved[unit] = cu
    moved.update(_NEWER_UPPERCASE)
    return moved


@lru_cache(maxsize=1)
def _canonical_translation() -> dict[int, str]:
    return {unit: chr(cu) for unit, cu in _canonical_map().items()}


@lru_cache(maxsize=1)
def _moved_units() -> list[int]:
    return sorted(_canonical_map())


def js_canonicalize(unit: int) -> int:
    """``Canonicalize(ch)`` of one UTF-16 code unit, as a regex with ``i`` and without ``u``."""
    return _canonical_map().get(unit, unit)


def _split_astral(match: re.Match[str]) -> str:
    offset = ord(match.group()) - 0x10000
    return chr(0xD800 | offset >> 10) + chr(0xDC00 | offset & 0x3FF)


def _code_units(text: str) -> str:
    """``text`` as a JS string: one character per UTF-16 code unit (astral ones as pairs)."""
    return text if text.isascii() else _RX_ASTRAL.sub(_split_astral, text)


def _canonical_units(text: str) -> str:
    if text.isascii():
        return text.upper()
    return _code_units(text).translate(_canonical_translation())


class _JsRegex(NamedTuple):
    source: str
    pattern: regex.Pattern[str]
    insensitive: bool


@lru_cache(maxsize=512)
def _js_regex(source: str, insensitive: bool) -> _JsRegex | None:
    """``new RegExp(source, insensitive ? "i" : undefined)`` for Python; ``None`` if it throws."""
    try:
        translated = _translate_regex(source, insensitive)
    except JsRegexError:
        return None
    try:
        return _JsRegex(source, regex.compile(translated, regex.V0), insensitive)
    except (regex.error, OverflowError, MemoryError):  # a translation bug: fail closed, loudly
        _log.error("targeting regex %r: its translation %r does not compile", source, translated)
        return None


def js_regex_problem(source: Any, insensitive: bool = False) -> str | None:
    """Why ``source`` cannot be a ``$regex`` (``$regexi``) pattern, or ``None`` if it can."""
    if not isinstance(source, str):
        return f"the pattern must be a string, not {_js_type(source)}"
    try:
        _translate_regex(source, insensitive)
    except JsRegexError as exc:
        return str(exc)
    if _js_regex(source, insensitive) is None:
        return "the server cannot run it"
    return None


def check_condition(condition: Any) -> None:
    """Refuse a condition holding a ``$regex``/``$regexi`` pattern JavaScript cannot compile.

    The SDK's ``new RegExp`` would throw and the rule would quietly match nobody; where targeting
    is saved this is a 422 naming the pattern instead. Every place a pattern is evaluated is
    visited: ``$and``/``$or``/``$nor``/``$not``, attribute paths, ``$not``, ``$size``,
    ``$elemMatch`` and ``$all``/``$alli`` operands.
    """
    for op, pattern in _regex_operands(condition):
        problem = js_regex_problem(pattern, op == "$regexi")
        if problem is not None:
            shown = json.dumps(pattern, ensure_ascii=False)
            message = f"{op} {shown} is not a valid JavaScript regular expression: {problem}"
            raise ValidationFailed(
                f"targeting.condition: {message}",
                details=[
                    {"loc": ["targeting", "condition"], "msg": message, "type": "value_error"}
                ],
            )


def _regex_operands(condition: Any) -> Iterator[tuple[str, Any]]:
    for key, value in _entries(condition):
        if key in ("$or", "$nor", "$and"):
            for sub in _elements(value):
                yield from _regex_operands(sub)
        elif key == "$not":
            yield from _regex_operands(value)
        elif key != "$savedGroup":
            yield from _value_regex_operands(value)


def _value_regex_operands(value: Any) -> Iterator[tuple[str, Any]]:
    if not _is_operator_object(value):
        return  # a literal: compared, never compiled
    for op, operand in value.items():
        if op in ("$regex", "$regexi"):
            yield op, operand
        elif op in ("$not", "$size"):
            yield from _value_regex_operands(operand)
        elif op == "$elemMatch":
            if _is_operator_object(operand):
                yield from _value_regex_operands(operand)
            else:
                yield from _regex_operands(operand)
        elif op in ("$all", "$alli"):
            for item in operand if isinstance(operand, list | tuple) else ():
                yield from _value_regex_operands(item)


def _search(compiled: _JsRegex, value: Any) -> bool:
    """``RegExp.prototype.test(String(value))``."""
    text = value if type(value) is str else _to_string(value)
    text = _canonical_units(text) if compiled.insensitive else _code_units(text)
    try:
        return compiled.pattern.search(text, timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        _log.warning(
            "targeting regex %r gave up after %.0f ms on a %d-character value: no match",
            compiled.source,
            REGEX_TIMEOUT * 1000,
            len(text),
        )
        return False


def _translate_regex(source: str, insensitive: bool = False) -> str:
    """A JS pattern (flags ``""`` or ``"i"``) as an equivalent ``regex`` pattern (version 0)."""
    return _JsRegexParser(source, insensitive).translate()


def _scan_captures(src: str) -> tuple[int, bool]:
    """V8's ``ScanForCaptures``: how many capturing groups, and whether any is named."""
    count, named, in_class, i = 0, False, False, 0
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            if not src.startswith("(?", i):
                count += 1
            elif src.startswith("(?<", i) and src[i + 3 : i + 4] not in ("=", "!"):
                count, named = count + 1, True
        i += 1
    return count, named


def _unit_text(unit: int) -> str:
    return f"\\x{unit:02x}" if unit < 0x100 else f"\\u{unit:04x}"


# What an atom is, for its quantifier: an assertion cannot repeat; Annex B lets a lookahead.
_ASSERTION, _LOOKBEHIND, _LOOKAHEAD, _UNIT, _SEQUENCE = range(5)


class _JsRegexParser:
    """ECMA-262 ``Pattern`` without the ``u`` flag, Annex B included, read as V8 reads it.

    ``translate`` returns the ``regex`` pattern or raises ``JsRegexError`` with V8's message.
    """

    def __init__(self, source: str, insensitive: bool) -> None:
        self.src = _code_units(source)
        self.pos = 0
        self.insensitive = insensitive
        self.capture_total, self.has_named = _scan_captures(self.src)
        self.captures = 0
        self.names: dict[str, int] = {}
        self.references: list[str] = []

    def fail(self, message: str) -> NoReturn:
        raise JsRegexError(message)

    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.src[i] if i < len(self.src) else ""

    def translate(self) -> str:
        text, size = self.disjunction()
        if self.pos < len(self.src):  # a disjunction stops early only at a ")"
            self.fail("Unmatched ')'")
        if size > MAX_REGEX_SIZE:
            self.fail(f"its repetitions unroll to more than {MAX_REGEX_SIZE} steps")
        for name in self.references:
            if name not in self.names:
                self.fail("Invalid named capture referenced")

        def backreference(match: re.Match[str]) -> str:
            number = self.names[self.references[int(match.group(1))]]
            return f"(?({number})\\g<{number}>)"

        return _RX_NAMED_REFERENCE.sub(backreference, text)

    def disjunction(self) -> tuple[str, int]:
        branches: list[str] = []
        size = 0
        while True:
            parts: list[str] = []
            while self.pos < len(self.src) and self.src[self.pos] not in "|)":
                text, term_size = self.term()
                parts.append(text)
                size += term_size
            branches.append("".join(parts))
            if self.peek() != "|":
                return "|".join(branches), size
            self.pos += 1

    def term(self) -> tuple[str, int]:
        text, size, kind = self.atom()
        quantifier = self.quantifier()
        if quantifier is None:
            return text, size
        low, high, lazy = quantifier
        if kind == _ASSERTION:
            self.fail("Nothing to repeat")
        if kind == _LOOKBEHIND:
            self.fail("Invalid quantifier")
        if kind == _LOOKAHEAD:
            # It consumes nothing, so JS's empty-iteration check ends the repetition after the
            # required iterations: with none required it is skipped (captures unset), else once.
            return (text if low else f"(?:(?!){text})?"), size
        if high is None:
            suffix = "*" if low == 0 else "+" if low == 1 else f"{{{low},}}"
        elif low == high:
            suffix = f"{{{low}}}"
        else:
            suffix = "?" if (low, high) == (0, 1) else f"{{{low},{high}}}"
        if lazy:
            suffix += "?"
        body = text if kind == _UNIT else f"(?:{text})"
        return body + suffix, size * max(low, 1) + 1

    def braced(self) -> tuple[int, int | None, int] | None:
        """A ``{n}``, ``{n,}`` or ``{n,m}`` at the cursor: (min, max or None, its end)."""
        match = _RX_BRACED.match(self.src, self.pos)
        if match is None:
            return None
        digits_low, comma, digits_high = match.groups()
        low = _INFINITY if len(digits_low) > 10 else min(int(digits_low), _INFINITY)
        if not comma:
            high: int | None = low
        elif not digits_high:
            high = None
        else:
            high = _INFINITY if len(digits_high) > 10 else min(int(digits_high), _INFINITY)
        if high is not None and high < low:
            self.fail("numbers out of order in {} quantifier")
        return low, (None if high == _INFINITY else high), match.end()

    def quantifier(self) -> tuple[int, int | None, bool] | None:
        ch = self.peek()
        high: int | None
        if ch == "*":
            low, high, end = 0, None, self.pos + 1
        elif ch == "+":
            low, high, end = 1, None, self.pos + 1
        elif ch == "?":
            low, high, end = 0, 1, self.pos + 1
        elif ch == "{":
            braced = self.braced()
            if braced is None:
                return None  # not a quantifier: "{" is then a literal
            low, high, end = braced
        else:
            return None
        self.pos = end
        lazy = self.peek() == "?"
        if lazy:
            self.pos += 1
        return low, high, lazy

    def atom(self) -> tuple[str, int, int]:
        ch = self.src[self.pos]
        if ch == "^":
            self.pos += 1
            return r"\A", 1, _ASSERTION
        if ch == "$":
            self.pos += 1
            return r"\Z", 1, _ASSERTION
        if ch == "\\":
            escaped = self.peek(1)
            if escaped in ("b", "B"):
                self.pos += 2
                return _RX_BOUNDARY[escaped], 1, _ASSERTION
            return self.atom_escape()
        if ch == "(":
            return self.group()
        if ch == ".":
            self.pos += 1
            return self.class_text(_RX_DOT), 1, _UNIT
        if ch == "[":
            return self.char_class()
        if ch in "*+?" or (ch == "{" and self.braced() is not None):
            self.fail("Nothing to repeat")
        self.pos += 1  # any other character, "]", "{" and "}" included, is itself
        return self.literal(ord(ch)), 1, _UNIT

    def group(self) -> tuple[str, int, int]:
        src, start = self.src, self.pos
        kind = _UNIT
        if not src.startswith("(?", start):
            self.pos += 1
            self.captures += 1
            opening = "("
        elif src.startswith(("(?:", "(?=", "(?!"), start):
            opening = src[start : start + 3]
            kind = _UNIT if opening == "(?:" else _LOOKAHEAD
            self.pos += 3
        elif src.startswith(("(?<=", "(?<!"), start):
            opening = src[start : start + 4]
            kind = _LOOKBEHIND
            self.pos += 4
        elif src.startswith("(?<", start):
            self.pos += 3
            name = self.group_name()
            if name in self.names:
                self.fail("Duplicate capture group name")
            self.captures += 1
            self.names[name] = self.captures
            opening = "("
        else:
            self.fail("Invalid group")
        inner, size = self.disjunction()
        if self.peek() != ")":
            self.fail("Unterminated group")
        self.pos += 1
        return f"{opening}{inner})", size + 1, kind

    def group_name(self) -> str:
        """A ``RegExpIdentifierName`` and its ``>``; ``\\uXXXX`` and ``\\u{X}`` escapes allowed."""
        src = self.src
        chars: list[str] = []
        while True:
            if self.pos >= len(src):
                self.fail("Invalid capture group name")
            ch = src[self.pos]
            if ch == ">":
                self.pos += 1
                break
            if ch == "\\":
                match = _RX_NAME_ESCAPE.match(src, self.pos)
                if match is None:
                    self.fail("Invalid capture group name")
                self.pos = match.end()
                code = int(match.group(1) or match.group(2), 16)
                if match.group(2) and 0xD800 <= code <= 0xDBFF:
                    trail = _RX_NAME_ESCAPE.match(src, self.pos)
                    if trail and trail.group(2) and 0xDC00 <= int(trail.group(2), 16) <= 0xDFFF:
                        self.pos = trail.end()
                        code = 0x10000 + (code - 0xD800 << 10) + int(trail.group(2), 16) - 0xDC00
            else:
                self.pos += 1
                code = ord(ch)
                if 0xD800 <= code <= 0xDBFF and "\udc00" <= self.peek() <= "\udfff":
                    code = 0x10000 + (code - 0xD800 << 10) + ord(self.peek()) - 0xDC00
                    self.pos += 1
            char = chr(code) if code <= 0x10FFFF else ""
            if chars:
                valid = char in ("$", "\u200c", "\u200d") or f"a{char}".isidentifier()
            else:
                valid = char == "$" or char.isidentifier()
            if not valid:
                self.fail("Invalid capture group name")
            chars.append(char)
        if not chars:
            self.fail("Invalid capture group name")
        return "".join(chars)

    def atom_escape(self) -> tuple[str, int, int]:
        src = self.src
        if self.pos + 1 >= len(src):
            self.fail("\\ at end of pattern")
        escaped = src[self.pos + 1]
        if escaped in _RX_CLASS_ESCAPES:
            self.pos += 2
            return self.class_text(_RX_CLASS_ESCAPES[escaped]), 1, _UNIT
        if escaped in "123456789":
            # A backreference if there are that many groups (anywhere); else an octal or "8"/"9".
            digits = _RX_NUMBER.match(src, self.pos + 1)
            assert digits is not None
            if len(digits.group()) <= 10 and int(digits.group()) <= self.capture_total:
                self.pos = digits.end()
                number = int(digits.group())
                # An unset group (not yet or not at all matched) matches the empty string in JS.
                return f"(?({number})\\g<{number}>)", 1, _SEQUENCE
        if escaped == "k" and self.has_named:
            if self.peek(2) != "<":
                self.fail("Invalid named reference")
            self.pos += 3
            self.references.append(self.group_name())
            return f"\x00{len(self.references) - 1}\x00", 1, _SEQUENCE
        return self.literal(self.character_escape(in_class=False)), 1, _UNIT

    def character_escape(self, in_class: bool) -> int:
        """The code unit of the escape at the cursor (``\\`` and at least one more character)."""
        src = self.src
        escaped = src[self.pos + 1]
        if escaped in _RX_CONTROL:
            self.pos += 2
            return _RX_CONTROL[escaped]
        if escaped == "c":
            letter = self.peek(2)
            if letter.isascii() and (
                letter.isalpha() or (in_class and (letter.isdigit() or letter == "_"))
            ):
                self.pos += 3
                return ord(letter) % 32
            self.pos += 1  # a lone backslash is itself; the "c" is read next
            return 0x5C
        if escaped in ("x", "u"):
            digits = (_RX_HEX2 if escaped == "x" else _RX_HEX4).match(src, self.pos + 2)
            if digits is not None:
                self.pos = digits.end()
                return int(digits.group(), 16)
            self.pos += 2
            return ord(escaped)
        if escaped in _RX_OCTAL:  # legacy octal: up to three digits, at most \377
            self.pos += 2
            value = ord(escaped) - 0x30
            if self.peek() in _RX_OCTAL:
                value = value * 8 + ord(self.peek()) - 0x30
                self.pos += 1
                if value < 32 and self.peek() in _RX_OCTAL:
                    value = value * 8 + ord(self.peek()) - 0x30
                    self.pos += 1
            return value
        if escaped == "k" and in_class and self.has_named:
            self.fail("Invalid escape")
        self.pos += 2
        return ord(escaped)  # an identity escape: "\a" is "a", "\8" is "8"

    def char_class(self) -> tuple[str, int, int]:
        self.pos += 1
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        ranges: _Ranges = []
        while True:
            if self.pos >= len(self.src):
                self.fail("Unterminated character class")
            if self.src[self.pos] == "]":
                self.pos += 1
                break
            first = self.class_atom()
            if self.peek() != "-" or self.peek(1) in ("", "]"):
                ranges.extend(first if isinstance(first, list) else [(first, first)])
                continue
            self.pos += 1
            second = self.class_atom()
            if isinstance(first, int) and isinstance(second, int):
                if first > second:
                    self.fail("Range out of order in character class")
                ranges.append((first, second))
            else:  # Annex B: a class escape at either end makes "-" a plain member
                for atom in (first, 0x2D, second):
                    ranges.extend(atom if isinstance(atom, list) else [(atom, atom)])
        return self.class_text(ranges, negate), 1, _UNIT

    def class_atom(self) -> int | _Ranges:
        ch = self.src[self.pos]
        if ch != "\\":
            self.pos += 1
            return ord(ch)
        if self.pos + 1 >= len(self.src):
            self.fail("\\ at end of pattern")
        escaped = self.src[self.pos + 1]
        if escaped in _RX_CLASS_ESCAPES:
            self.pos += 2
            return _RX_CLASS_ESCAPES[escaped]
        if escaped in ("b", "-"):
            self.pos += 2
            return 0x08 if escaped == "b" else 0x2D
        return self.character_escape(in_class=True)

    def class_text(self, ranges: _Ranges, negate: bool = False) -> str:
        ranges = _normalise(ranges)
        if self.insensitive:
            moved, canonical = _moved_units(), _canonical_map()
            images = [
                (canonical[unit], canonical[unit])
                for lo, hi in ranges
                for unit in moved[bisect_left(moved, lo) : bisect_right(moved, hi)]
            ]
            ranges = _normalise(ranges + images)
        if negate:
            ranges = _complement(ranges)
        if not ranges:
            return "[^\\x00-\\U0010ffff]"
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            return self.literal(ranges[0][0], canonical=True)
        items = (_unit_text(lo) + ("" if lo == hi else "-" + _unit_text(hi)) for lo, hi in ranges)
        return "[" + "".join(items) + "]"

    def literal(self, unit: int, canonical: bool = False) -> str:
        if self.insensitive and not canonical:
            unit = js_canonicalize(unit)
        char = chr(unit)
        return char if char.isascii() and char.isalnum() else _unit_text(unit)
