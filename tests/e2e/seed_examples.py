"""The seed documents' examples as tables, run in order against one real ``splitlab serve``.

A seed module lists its documented examples (``Example``: the request exactly as the document
writes it — method, path with or without its trailing slash, query, headers, body — and the
documented status and response) in an order that makes each one's precondition true. A
module-scoped fixture sends the whole table once (``run_examples``) and checks every answer right
after its request, so that a check may also look at the server's state at that moment. Each example
is then one test, parametrized by its id (``cases``), that reports its own outcome: a failure names
the example, and a strict ``xfail`` marks one that does not work as written yet.

Expected responses: literal values are compared exactly (numbers by value: the document's ``50`` is
the server's ``50.0``); the document's placeholders (ids, timestamps, counts that depend on data)
are ``Pattern`` objects that check a type or a format. An object must hold every documented key;
keys the document does not show are allowed (Splitlab adds fields, e.g. ``code`` to each error).

Under xdist, each worker that runs a module's tests runs the module's whole table on its own
server: the examples never depend on which tests share a worker.
"""

from __future__ import annotations

import json
import math
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


#: The example sends no body.
NO_BODY: Any = _NoBody()


class Pattern:
    """An expected value that is a placeholder in the document: a type, a format, a choice."""

    def mismatches(self, actual: Any, where: str, run: Run) -> list[str]:
        raise NotImplementedError


@dataclass(frozen=True)
class Is(Pattern):
    """Any value of these JSON types (``bool`` is never a number here)."""

    types: tuple[type, ...]
    nullable: bool = False

    def mismatches(self, actual: Any, where: str, run: Run) -> list[str]:
        if actual is None and self.nullable:
            return []
        numeric = any(t in (int, float) for t in self.types)
        if isinstance(actual, self.types) and not (
            isinstance(actual, bool) and numeric and bool not in self.types
        ):
            return []
        names = "/".join(t.__name__ for t in self.types) + (" or null" if self.nullable else "")
        return [f"{where}: expected {names}, got {actual!r}"]


#: ``2024-01-15T10:00:00Z`` or with a fraction of a second: ISO 8601 in UTC.
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
#: JavaScript's ``Date.toISOString()``, as seed 003 shows it: ``2025-08-08T21:42:16.598Z``.
JS_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@dataclass(frozen=True)
class Timestamp(Pattern):
    """A timestamp placeholder: ISO 8601 UTC (``Z``); ``js``: exactly milliseconds."""

    js: bool = False
    nullable: bool = False

    def mismatches(self, actual: Any, where: str, run: Run) -> list[str]:
        if actual is None and self.nullable:
            return []
        form = JS_ISO if self.js else ISO_Z
        if isinstance(actual, str) and form.fullmatch(actual):
            return []
        return [f"{where}: expected a timestamp like {form.pattern}, got {actual!r}"]


@dataclass(frozen=True)
class OneOf(Pattern):
    """One of these values (a placeholder whose possible values the document names)."""

    values: tuple[Any, ...]

    def mismatches(self, actual: Any, where: str, run: Run) -> list[str]:
        if any(not mismatches(v, actual, where, run) for v in self.values):
            return []
        return [f"{where}: expected one of {self.values!r}, got {actual!r}"]


@dataclass(frozen=True)
class Ref(Pattern):
    """The value another example's answer holds (``Ref("s000-start-experiment", "start_date")``)."""

    example: str
    path: tuple[str | int, ...]

    def __init__(self, example: str, *path: str | int) -> None:
        object.__setattr__(self, "example", example)
        object.__setattr__(self, "path", path)

    def mismatches(self, actual: Any, where: str, run: Run) -> list[str]:
        return mismatches(run.value(self.example, *self.path), actual, where, run)


@dataclass(frozen=True)
class ListOf(Pattern):
    """A JSON array whose items all match ``item`` (the document's ``[...]``)."""

    item: Any = None
    length: int | None = None

    def mismatches(self, actual: Any, where: str, run: Run) -> list[str]:
        if not isinstance(actual, list):
            return [f"{where}: expected an array, got {actual!r}"]
        problems = []
        if self.length is not None and len(actual) != self.length:
            problems.append(f"{where}: expected {self.length} items, got {len(actual)}")
        if self.item is not None:
            for index, value in enumerate(actual):
                problems += mismatches(self.item, value, f"{where}[{index}]", run)
        return problems


ANY: Any = Is((object,))
STRING = Is((str,))
INTEGER = Is((int,))
NUMBER = Is((int, float))
BOOLEAN = Is((bool,))
OBJECT = Is((dict,))
ARRAY = ListOf()


def mismatches(expected: Any, actual: Any, where: str, run: Run) -> list[str]:
    """What differs between a documented value and the server's (empty: it matches)."""
    if isinstance(expected, Pattern):
        return expected.mismatches(actual, where, run)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing (the document shows it)")
            else:
                problems += mismatches(value, actual[key], f"{where}.{key}", run)
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {expected!r}, got {actual!r}"]
        return [
            problem
            for index, (e, a) in enumerate(zip(expected, actual, strict=True))
            for problem in mismatches(e, a, f"{where}[{index}]", run)
        ]
    if isinstance(expected, bool) or isinstance(actual, bool) or expected is None:
        same = type(expected) is type(actual) and expected == actual
    elif isinstance(expected, int | float) and isinstance(actual, int | float):
        same = math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12)
    else:
        same = type(expected) is type(actual) and expected == actual
    return [] if same else [f"{where}: expected {expected!r}, got {actual!r}"]


Check = Callable[[httpx.Response, "Run"], None]
Send = Callable[["Run"], httpx.Response]


@dataclass(frozen=True)
class Example:
    """One documented example: the request as written, and what the document says comes back."""

    id: str
    method: str = "GET"
    #: As the document writes it, query string included.
    path: str = ""
    body: Any = NO_BODY
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The documented status (or, where the document names none, the acceptable ones).
    status: int | tuple[int, ...] = 200
    #: The documented response: literals exact, ``Pattern`` for the document's placeholders.
    response: Any = ANY
    #: Placeholders the server can't hold verbatim (a path segment, or a body value equal to
    #: the key), replaced by a real value: ``{"experiment_789": Ref("s003-...", "id")}``.
    placeholders: Mapping[str, Ref] = field(default_factory=dict)
    #: Further assertions, run right after the answer (they may send more requests).
    check: Check | None = None
    #: For code snippets (Python, JavaScript): makes the call(s) the snippet makes.
    send: Send | None = None
    #: Why this example does not work as written yet (a strict xfail): what the server does.
    xfail: str | None = None


@dataclass
class Run:
    """The examples' answers, in order, and each example's failure (None: it worked)."""

    client: httpx.Client
    answers: dict[str, httpx.Response] = field(default_factory=dict)
    failures: dict[str, str | None] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.client.base_url).rstrip("/")

    def json(self, example: str) -> Any:
        if example not in self.answers:
            raise LookupError(f"example {example!r} has no answer (it failed or did not run)")
        return self.answers[example].json()

    def value(self, example: str, *path: str | int) -> Any:
        value = self.json(example)
        for part in path:
            value = value[part]
        return value


def _replace(value: Any, real: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, real) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, real) for v in value]
    if isinstance(value, str) and value in real:
        return real[value]
    return value


def _replace_in_path(path: str, real: Mapping[str, Any]) -> str:
    route, question, query = path.partition("?")
    segments = [str(real[s]) if s in real else s for s in route.split("/")]
    pairs = []
    for pair in query.split("&") if query else []:
        name, equals, value = pair.partition("=")
        pairs.append(f"{name}{equals}{real[value]}" if value in real else pair)
    return "/".join(segments) + question + "&".join(pairs)


def send_as_written(run: Run, example: Example) -> httpx.Response:
    """The documented request, placeholders replaced; a JSON body is sent as the document's
    JSON (``Content-Type: application/json`` unless the example names its own headers)."""
    real = {name: run.value(ref.example, *ref.path) for name, ref in example.placeholders.items()}
    headers = dict(example.headers)
    content = None
    if example.body is not NO_BODY:
        content = json.dumps(_replace(example.body, real)).encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    return run.client.request(
        example.method, _replace_in_path(example.path, real), content=content, headers=headers
    )


def _verify(example: Example, response: httpx.Response, run: Run) -> None:
    allowed = example.status if isinstance(example.status, tuple) else (example.status,)
    assert response.status_code in allowed, f"status {response.status_code}, expected {allowed}"
    if example.response is not ANY:
        problems = mismatches(example.response, response.json(), "$", run)
        assert not problems, "the answer differs from the document:\n  " + "\n  ".join(problems)
    if example.check is not None:
        example.check(response, run)


def _describe(example: Example, response: httpx.Response | None, error: BaseException) -> str:
    lines = [f"{example.id}:"]
    if response is not None:
        request = response.request
        lines.append(f"  request: {request.method} {request.url}")
        try:
            sent = request.content
        except httpx.RequestNotRead:  # a streamed body (an async snippet's): not kept
            sent = b""
        if sent:
            lines.append(f"  body: {sent.decode(errors='replace')[:1000]}")
        lines.append(f"  answer: {response.status_code} {response.text[:2000]}")
    if isinstance(error, AssertionError):
        lines.append(f"  {str(error).strip() or 'assertion failed'}")
        lines.append("".join(traceback.format_tb(error.__traceback__)[-1:]).rstrip())
    else:
        lines.append("".join(traceback.format_exception(error)).rstrip())
    return "\n".join(lines)


def run_examples(
    client: httpx.Client, examples: Sequence[Example], *, every: Check | None = None
) -> Run:
    """Send each example in order and check its answer (``every``: a check for all of them)."""
    run = Run(client)
    for example in examples:
        response = None
        try:
            response = example.send(run) if example.send else send_as_written(run, example)
            run.answers[example.id] = response
            if every is not None:
                every(response, run)
            _verify(example, response, run)
        except Exception as exc:  # one example's failure is its own test's, not the others'
            run.failures[example.id] = _describe(example, response, exc)
        else:
            run.failures[example.id] = None
    return run


def report(run: Run, example: Example) -> None:
    """The test of one example: pass if it worked as written, else fail with what happened."""
    assert example.id in run.failures, f"{example.id} did not run"
    failure = run.failures[example.id]
    if failure is not None:
        pytest.fail(failure, pytrace=False)


def cases(examples: Iterable[Example]) -> list[Any]:
    """Parameters for ``@pytest.mark.parametrize``: one per example, named by its id."""
    params = []
    seen: set[str] = set()
    for example in examples:
        assert example.id not in seen, f"duplicate example id {example.id}"
        seen.add(example.id)
        marks = [pytest.mark.xfail(strict=True, reason=example.xfail)] if example.xfail else []
        params.append(pytest.param(example, id=example.id, marks=marks))
    return params


def no_token(response: httpx.Response, run: Run) -> None:
    """For ``run_examples(every=...)``: the documents without authentication send no token."""
    assert "authorization" not in response.request.headers
