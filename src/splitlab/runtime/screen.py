"""Hostile JSON, refused at the front door before any route parses it.

Python's ``json`` and pydantic-core accept, and the database then refuses (a 500) or stores
what nobody meant:

- **duplicate keys**, last one wins: ``{"scope": "readonly", "scope": "admin"}`` minted an
  admin token past a reviewer who read the first. I-JSON (RFC 7493) forbids them;
- ``NaN`` and ``Infinity``, which are not JSON (RFC 8259) and which PostgreSQL's ``jsonb``
  refuses;
- ``\\u0000`` in a string, which no PostgreSQL text or ``jsonb`` value can hold, and lone
  surrogates (``"\\ud800"``), which are not text at all;
- nesting deeper than any Splitlab document needs, which made ``json`` raise ``RecursionError``.

Each answers ``422 validation_error``, shaped as FastAPI's own validation errors, with the
``loc`` of the offending value (``["body", "context", "x"]``). A body that is not JSON at all
is left to the route, which answers it as it always has.

Cost: a full strict parse only for management routes (small bodies, rare calls). The hot routes
and the assignment batches are scanned for the tell-tale bytes first (a substring search in C)
and parsed strictly only when one is there; the event and exposure batches validate each item on
their own (a bad item is rejected by index, the rest stored) and are not screened.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from splitlab.errors import AppError, InvalidJson, ValidationFailed

#: Deeper than this is refused; Splitlab's own documents nest a handful of levels, and event
#: properties at most 32 (``events.schemas.MAX_DEPTH``) inside a batch.
MAX_DEPTH = 64

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Duplicate(key)
        result[key] = value
    return result


def suspicious(body: bytes) -> bool:
    """Whether a body may hold what ``screen`` refuses (cheap; false positives are fine)."""
    return (
        b"NaN" in body
        or b"Infinity" in body
        or b"\\u0000" in body
        or _SURROGATE_ESCAPE.search(body) is not None
        or body.count(b"[") + body.count(b"{") > MAX_DEPTH
    )


def screen(body: bytes) -> AppError | None:
    """The error a JSON body deserves (``InvalidJson`` if it does not parse), or None."""
    try:
        document = json.loads(body, object_pairs_hook=_no_duplicates)
    except _Duplicate as duplicate:
        return _refused([duplicate.key], "duplicate key in a JSON object")
    except RecursionError:
        return _refused([], _TOO_DEEP)
    except ValueError as error:
        return InvalidJson.of(error)
    return _check_values(document)


_TOO_DEEP = f"JSON nested more than {MAX_DEPTH} levels deep"


def _refused(path: list[str | int], message: str) -> AppError:
    """In the shape of a FastAPI validation error: ``loc`` from ``body`` to the bad value."""
    loc: list[str | int] = ["body", *path]
    where = ".".join(str(p) for p in path)
    return ValidationFailed(
        f"Invalid request: {where}: {message}" if where else f"Invalid request: {message}",
        details=[{"loc": loc, "msg": message, "type": "value_error"}],
    )


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "text may not contain NUL characters (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "text may not contain unpaired surrogates (\\ud800-\\udfff)"
    return None


def _check_values(document: Any) -> AppError | None:
    """Non-finite numbers, NUL and lone surrogates (in keys and strings), and depth, walked
    without recursion."""
    pending: list[tuple[Any, list[str | int]]] = [(document, [])]
    while pending:
        value, path = pending.pop()
        if len(path) >= MAX_DEPTH:
            return _refused(path[:3], _TOO_DEEP)
        if isinstance(value, str):
            problem = _bad_text(value)
            if problem is not None:
                return _refused(path, problem)
        elif isinstance(value, float):
            if not math.isfinite(value):
                return _refused(path, "NaN and Infinity are not JSON numbers")
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = _bad_text(key)
                if problem is not None:
                    return _refused(path, problem)
                pending.append((item, [*path, key]))
        elif isinstance(value, list):
            pending.extend((item, [*path, index]) for index, item in enumerate(value))
    return None
