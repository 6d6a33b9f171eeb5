"""Where errors become HTTP responses, all in one shape: ``{"error", "code", "details"?}``."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from splitlab.errors import AppError, BadRequest, InvalidJson
from splitlab.storage.errors import unexpected_answer

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


#: How deep an echoed input is shown; below that it is elided (it could be nested 900 deep).
ECHO_DEPTH = 8


def _json_safe(value: Any, depth: int = 0) -> Any:
    """A rejected input as JSON can carry it: NaN and infinities (JSON has none) as text,
    unpaired surrogates (which UTF-8 cannot encode) as "?", deep nesting elided."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict | list | tuple) and depth >= ECHO_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {_json_safe(key): _json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item, depth + 1) for item in value]
    return value


def clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's error list without the parts that are noise on the wire (urls, raw ctx)."""
    cleaned = []
    for error in errors:
        item = {k: v for k, v in error.items() if k in ("loc", "msg", "type", "input")}
        cleaned.append(_json_safe(jsonable_encoder(item)))
    return cleaned


def summarise(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:3]:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc)
        parts.append(f"{field}: {error.get('msg')}" if field else str(error.get("msg")))
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "Invalid request: " + "; ".join(parts) + more


def bad_request_from(exc: ValidationError, *, prefix: tuple[str, ...] = ("body",)) -> BadRequest:
    """Seed 003 answers malformed input with 400, not FastAPI's 422."""
    errors = clean_errors({**e, "loc": (*prefix, *e["loc"])} for e in exc.errors(include_url=False))
    return BadRequest(summarise(errors), code="validation_error", details=errors)


async def app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=exc.headers)


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = clean_errors(exc.errors())
    if (
        len(errors) == 1
        and tuple(errors[0].get("loc", ())) == ("body",)
        and errors[0].get("type")
        in ("model_attributes_type", "dict_type", "list_type", "model_type")
    ):
        # The body parsed, but is not the object (or list) the route takes: ``[]``, ``"x"``.
        return await app_error(_, InvalidJson.not_an_object())
    if errors and all(e.get("type") == "json_invalid" for e in errors):
        # A body that does not parse: the one answer every route gives it (``InvalidJson``).
        # FastAPI says only where parsing stopped: ``loc`` is ``["body", position]``.
        loc = errors[0].get("loc", ["body"])
        position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        return await app_error(_, InvalidJson.at("JSON decode error", position))
    body = {"error": summarise(errors), "code": "validation_error", "details": errors}
    return JSONResponse(body, status_code=422)


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        # FastAPI's answer to a body it cannot decode (bytes that are not UTF-8): the one
        # answer every route gives a body that is not JSON.
        return await app_error(_, InvalidJson.at("not UTF-8 text"))
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(
        {"error": message, "code": code},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    """Anything unforeseen (a failed commit, the database gone) still answers in the one error
    shape; Starlette re-raises the exception afterwards, so the server logs its traceback."""
    answer = unexpected_answer(exc)
    return JSONResponse(answer.to_body(), status_code=answer.status_code, headers=answer.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Exception, unexpected_error)
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


#: OpenAPI description of the error body, attached to every route's documented error responses.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {
        "error": {"type": "string", "description": "Human-readable message"},
        "code": {"type": "string", "description": "Machine-readable error code"},
        "details": {"description": "Validation problems, one per field"},
    },
}


#: The one error body, by reference: a generated client gets one ``Error`` class, not one per
#: route and status (the app's ``openapi()`` puts ``ERROR_SCHEMA`` in ``components``).
ERROR_REF: dict[str, Any] = {"$ref": "#/components/schemas/Error"}


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting each error status with the one error body."""
    return {
        code: {"description": text, "content": {"application/json": {"schema": ERROR_REF}}}
        for code, text in descriptions.items()
    }
