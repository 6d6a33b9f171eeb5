"""The request/response layer both clients share: calls, retries and error mapping.

A :class:`Call` describes one request and how to read its answer; the sync and async clients only
differ in how they send it. Retries follow :class:`RetryPolicy`: connection errors and 5xx answers
are retried with jittered exponential backoff, 4xx answers never (the request itself is wrong).
Retrying writes is safe because every Splitlab write is one transaction (a 5xx left nothing
behind), events carry client ``event_id``s, and assignments are sticky.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from splitlab.client.errors import error_from_response

T = TypeVar("T")

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry: ``attempts`` tries in all, the n-th retry waiting
    about ``backoff * 2**n`` seconds (half of it jittered), never more than ``max_backoff``."""

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff times must not be negative")

    def delays(self) -> Iterator[float]:
        """The wait before each retry (``attempts - 1`` of them)."""
        for n in range(self.attempts - 1):
            ceiling = min(self.max_backoff, self.backoff * 2**n)
            yield ceiling / 2 + random.uniform(0, ceiling / 2)


NO_RETRIES = RetryPolicy(attempts=1)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API request and the function that turns its successful answer into ``T``."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    content: bytes | None = field(default=None, repr=False)
    #: Safe to repeat after an unclear failure (a read timeout, a 502): reads, puts, sticky
    #: assignments, events with ids. Other writes are retried only when the request surely
    #: never reached the server, so a create that worked never comes back as a 409.
    idempotent: bool = True

    def request_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": self.params}
        if self.content is not None:
            kwargs["content"] = self.content
            kwargs["headers"] = JSON_HEADERS
        elif self.json is not None:
            kwargs["content"] = dumps(self.json)
            kwargs["headers"] = JSON_HEADERS
        return kwargs


def retryable(response: httpx.Response, call: Call[Any]) -> bool:
    """A 5xx is worth another try; for a non-idempotent call only a 503 (not served at all)."""
    if call.idempotent:
        return response.status_code >= 500
    return response.status_code == 503


def unsent(exc: httpx.TransportError) -> bool:
    """Whether the request surely never reached the server (so any call may be retried)."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


def result(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer, or the :class:`~splitlab.client.errors.APIError` it stands for."""
    if response.status_code >= 400:
        raise error_from_response(response)
    return call.parse(response)


def segment(value: str | int) -> str:
    """A path segment, escaped: user ids may contain ``/``, spaces or any Unicode, or be ``.``
    or ``..``, which a URL would otherwise read as "this" or "the parent" folder."""
    text = str(value)
    if text in (".", ".."):
        return text.replace(".", "%2E")
    return quote(text, safe="")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=_jsonable, separators=(",", ":")).encode()


def model(cls: type[T]) -> Callable[[httpx.Response], T]:
    """A parser validating the body as ``cls`` (a pydantic model, or a type such as list[X])."""
    adapter: TypeAdapter[T] = TypeAdapter(cls)

    def parse(response: httpx.Response) -> T:
        return adapter.validate_json(response.content)

    return parse


def raw_json(response: httpx.Response) -> Any:
    return response.json()
