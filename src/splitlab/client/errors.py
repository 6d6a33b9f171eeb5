"""One exception family for everything the client raises.

``APIError`` carries the server's ``{"error", "code", "details"}`` body and the HTTP status; its
subclasses let callers catch one outcome (``except NotFound``) without parsing codes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx


class SplitlabError(Exception):
    """Base of every error the Splitlab client raises."""


class TransportError(SplitlabError):
    """The server could not be reached (or kept failing) after every retry."""

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class APIError(SplitlabError):
    """The server answered with an error status."""

    status_code: ClassVar[int | None] = None

    def __init__(self, status: int, error: str, code: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {error}")
        self.status = status
        self.error = error
        self.code = code
        self.details = details


class BadRequest(APIError):
    status_code = 400


class AuthenticationError(APIError):
    status_code = 401


class PermissionDenied(APIError):
    status_code = 403


class NotFound(APIError):
    status_code = 404


class Conflict(APIError):
    status_code = 409


class PayloadTooLarge(APIError):
    status_code = 413


class ValidationError(APIError):
    status_code = 422


class ServerError(APIError):
    """A 5xx answer, raised once retries are exhausted."""


_BY_STATUS: dict[int, type[APIError]] = {
    cls.status_code: cls
    for cls in (
        BadRequest,
        AuthenticationError,
        PermissionDenied,
        NotFound,
        Conflict,
        PayloadTooLarge,
        ValidationError,
    )
    if cls.status_code is not None
}


def error_from_response(response: httpx.Response) -> APIError:
    """The exception for an error response, from its body when it has the Splitlab shape."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        error, code, details = body["error"], str(body.get("code", "error")), body.get("details")
    elif isinstance(body, dict) and isinstance(body.get("detail"), str):  # a framework answer
        error, code, details = body["detail"], "http_error", None
    else:
        error = response.text[:500] or response.reason_phrase
        code, details = "http_error", None
    status = response.status_code
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, APIError)
    return cls(status, error, code, details)
