"""GrowthBook's targeting condition language, with the JavaScript reference SDK's semantics.

Pure: standard library only. Attributes and conditions are JSON values (``None``, ``bool``,
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

Regular expressions are JS syntax run on Python's ``re`` after translating the constructs that
differ (``.``, ``$``, ``\\d``, ``\\w``, ``\\s``, ``\\b``, named groups, ``[^]``, identity
escapes); a pattern JS rejects (inline flags such as ``(?i)``) matches nothing. Known limits, none
used by GrowthBook-generated conditions: Python requires fixed-width lookbehind (such a pattern
matches nothing), and a ``.`` matches an astral character whole, not one surrogate. A dotted path
reads own keys only (array indices and ``length`` included), never inherited JS members such as
``toString``.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

import regex

__all__ = ["compile_condition", "eval_condition", "get_path", "padded_version_string"]

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
        return pattern is not None and _search(pattern, _to_string(actual))
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

_WORD = "A-Za-z0-9_"
_SPACE = "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
_CLASS_ESCAPES = {"d": "0-9", "w": _WORD, "s": _SPACE}
_OUTSIDE_ESCAPES = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "b": f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))",
    "B": f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))",
}
# Escapes that mean the same in both dialects; any other escaped letter is a JS identity escape.
_SHARED_ESCAPES = set("nrtfv0123456789")


#: How long one ``$regex`` test may run. A pattern with catastrophic backtracking (``(a+)+$``)
#: against a long attribute would otherwise hold the process for minutes; past this it is a
#: non-match. Real targeting patterns finish in microseconds.
REGEX_TIMEOUT = 0.05

_log = logging.getLogger(__name__)


@lru_cache(maxsize=512)
def _js_regex(source: str, insensitive: bool) -> regex.Pattern[str] | None:
    """Compile a JS ``RegExp`` source (no flags but ``i``) for Python; ``None`` if invalid.

    Compiled with the ``regex`` engine (``re``'s syntax, version 0) because it can stop a
    search after a timeout, which ``re`` cannot.
    """
    try:
        with warnings.catch_warnings():
            # Python's FutureWarnings about possible future class syntax concern Python, not JS.
            warnings.simplefilter("ignore")
            translated = _translate_regex(source)
            re.compile(translated)  # the dialect's reference: reject what re would reject
            return regex.compile(translated, regex.IGNORECASE if insensitive else 0)
    except (re.error, regex.error, ValueError, IndexError):
        return None


def _search(pattern: regex.Pattern[str], text: str) -> bool:
    try:
        return pattern.search(text, timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        _log.warning(
            "targeting regex %r gave up after %.0f ms on a %d-character value: no match",
            pattern.pattern,
            REGEX_TIMEOUT * 1000,
            len(text),
        )
        return False


def _translate_regex(src: str) -> str:
    out: list[str] = []
    i, n = 0, len(src)
    in_class = False
    while i < n:
        ch = src[i]
        if ch == "\\":
            if i + 1 >= n:
                raise ValueError("\\ at end of pattern")
            nxt = src[i + 1]
            i += 2
            if in_class and nxt in "dws":
                out.append(_CLASS_ESCAPES[nxt])
            elif in_class and nxt in "DWSbB":
                if nxt == "b":
                    out.append("\\x08")  # backspace inside a class
                else:
                    raise ValueError("negated class escape inside a class is not translated")
            elif not in_class and nxt in _OUTSIDE_ESCAPES:
                out.append(_OUTSIDE_ESCAPES[nxt])
            elif nxt == "c" and i < n and src[i].isascii() and src[i].isalpha():
                out.append(f"\\x{ord(src[i]) % 32:02x}")
                i += 1
            elif nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", src[i : i + 2]):
                out.append("\\x" + src[i : i + 2])
                i += 2
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", src[i : i + 4]):
                out.append("\\u" + src[i : i + 4])
                i += 4
            elif nxt == "k" and not in_class and i < n and src[i] == "<":
                end = src.index(">", i)
                out.append(f"(?P={src[i + 1 : end]})")
                i = end + 1
            elif nxt in _SHARED_ESCAPES:
                out.append("\\" + nxt)
            else:
                out.append(re.escape(nxt))  # identity escape: \a is "a", \/ is "/"
            continue
        if in_class:
            if ch == "]":
                in_class = False
                out.append(ch)
            elif ch in "[&~|" or (ch == "-" and src[i - 1] == "-"):
                out.append("\\" + ch)  # literal in JS; set syntax Python may adopt
            else:
                out.append(ch)
            i += 1
            continue
        if ch == "[":
            if src.startswith("[^]", i):
                out.append("[\\s\\S]")
                i += 3
            elif src.startswith("[]", i):
                out.append("(?!)")
                i += 2
            else:
                in_class = True
                out.append("[")
                i += 1
                if i < n and src[i] == "^":
                    out.append("^")
                    i += 1
                if i < n and src[i] == "]":  # Python would read a leading ] as a literal
                    raise ValueError("empty class")
            continue
        if ch == "(" and src.startswith("(?", i):
            group = src[i + 2 : i + 4]
            if group[:1] in (":", "=", "!") or group in ("<=", "<!"):
                out.append(src[i : i + 3])
                i += 3
            elif group[:1] == "<":
                out.append("(?P<")  # a named group
                i += 3
            else:
                raise ValueError("JS has no inline flags or other (? groups")
            continue
        if ch == ".":
            out.append("[^\\n\\r\\u2028\\u2029]")
        elif ch == "$":
            out.append("\\Z")
        else:
            out.append(ch)
        i += 1
    return "".join(out)
