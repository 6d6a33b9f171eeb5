"""Pieces every v1 router shares: documented errors and pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from splitlab.api.handlers import error_responses
from splitlab.storage.base import MAX_ID

ERRORS = error_responses(
    {
        401: "Missing, invalid, revoked or expired token",
        403: "The token's scope does not allow this",
        404: "Not found (or not in the token's workspace)",
        409: "Conflict with the current state",
        422: "Request validation failed",
    }
)

# The upper bound keeps OFFSET within a 64-bit integer: beyond it the database driver overflows.
Skip = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows to return (≤ 1000)")]


def set_total(response: Response, total: int) -> None:
    """Lists are plain arrays; the total count travels in ``X-Total-Count``."""
    response.headers["X-Total-Count"] = str(total)
