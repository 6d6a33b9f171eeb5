"""Schemathesis hooks for ``test_schemathesis.py`` (loaded through ``SCHEMATHESIS_HOOKS``).

``one_error_shape``: every 4xx and 5xx answer is Splitlab's one error shape, a JSON object with
a string ``error`` and a string ``code`` (plus ``details`` for validation problems), whatever
the input was.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.check
def one_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(
            f"{response.status_code} answer is not JSON: {response.content[:200]!r}"
        ) from exc
    assert isinstance(body, dict), f"{response.status_code} answer is not an object: {body!r}"
    for key in ("error", "code"):
        assert isinstance(body.get(key), str), f"no {key!r} string: {body!r}"
        assert body[key], f"an empty {key!r}: {body!r}"
    extra = set(body) - {"error", "code", "details"}
    assert not extra, f"keys outside the error shape: {sorted(extra)}"
    return True
