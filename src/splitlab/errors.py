"""The application's error family: one class per HTTP outcome, one wire shape for all of them.

Services raise these; a single exception handler renders them as
``{"error": "<message>", "code": "<machine_code>", "details": ...}``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class code
        self.details = details
        self.headers = headers

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthenticated(AppError):
    status_code = 401
    code = "unauthenticated"

    def __init__(self, message: str = "Authentication required", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class PermissionDenied(AppError):
    status_code = 403
    code = "permission_denied"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class InvalidState(AppError):
    status_code = 409
    code = "invalid_state"


class RequestTimeout(AppError):
    status_code = 408
    code = "request_timeout"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    """A body in another format than JSON, on a route that takes JSON."""

    status_code = 415
    code = "unsupported_media_type"


class ValidationFailed(AppError):
    """A request that parsed but breaks a domain rule (e.g. allocations not summing to 100)."""

    status_code = 422
    code = "validation_error"


class InvalidJson(ValidationFailed):
    """A body that is not JSON, or not the JSON object a route takes: 422 like any invalid
    input (seed 003's routes answer it with 400, as they answer every invalid request)."""

    code = "invalid_json"

    @classmethod
    def of(cls, error: ValueError | RecursionError | None = None) -> InvalidJson:
        """From the parser's error: where in the body it gave up, and why."""
        if isinstance(error, RecursionError):
            return cls(
                "Request body is nested too deeply to parse",
                details=[{"loc": ["body"], "msg": "nested too deeply", "type": "json_invalid"}],
            )
        position = getattr(error, "pos", getattr(error, "start", None))
        reason = getattr(error, "msg", None) or getattr(error, "reason", None) or str(error or "")
        return cls.at(reason or "not JSON", position)

    @classmethod
    def at(cls, reason: str, position: int | None = None) -> InvalidJson:
        """Why the body does not parse, and where parsing stopped (when known)."""
        where = f" at position {position}" if position is not None else ""
        return cls(
            f"Request body is not valid JSON ({reason}{where})",
            details=[
                {
                    "loc": ["body"] if position is None else ["body", position],
                    "msg": str(reason),
                    "type": "json_invalid",
                }
            ],
        )

    @classmethod
    def not_an_object(cls, expected: str = "a JSON object") -> InvalidJson:
        return cls(
            f"Request body must be {expected}",
            details=[{"loc": ["body"], "msg": f"must be {expected}", "type": "json_invalid"}],
        )


class Unavailable(AppError):
    """The server is saturated or a dependency is down: retry after ``Retry-After`` seconds."""

    status_code = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 1, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(message, **kwargs)


class InternalError(AppError):
    status_code = 500
    code = "internal_error"
