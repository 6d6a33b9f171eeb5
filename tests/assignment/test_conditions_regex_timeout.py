"""A catastrophic-backtracking ``$regex`` cannot hold the process: it gives up, as a non-match."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from splitlab.assignment.conditions import compile_condition, eval_condition

EVIL = {"email": {"$regex": "^(a|aa)+$"}}
# Minutes of backtracking for Python's re; a plain string for any sane pattern.
VICTIM = {"email": "a" * 60 + "!"}


def finishes(fn: Any, *args: Any) -> tuple[bool, Any]:
    """Run ``fn`` in a thread; (finished within 30 s, its result). Liveness, not speed."""
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(fn(*args)), daemon=True)
    worker.start()
    worker.join(30)
    return not worker.is_alive(), out[0] if out else None


@pytest.mark.parametrize("evaluate", [eval_condition, lambda a, c: compile_condition(c)(a)])
def test_a_runaway_regex_is_a_non_match_with_a_warning(
    evaluate: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="splitlab.assignment.conditions"):
        done, matched = finishes(evaluate, VICTIM, EVIL)
    assert done
    assert matched is False
    assert "gave up" in caplog.text


def test_the_same_regex_still_matches_normal_values() -> None:
    assert eval_condition({"email": "aaaa"}, EVIL) is True
    assert eval_condition({"email": "aab"}, EVIL) is False
    assert eval_condition({"email": "a" * 60}, EVIL) is True


def test_the_server_keeps_answering_when_targeting_meets_a_runaway_regex(
    client: TestClient,
) -> None:
    body = {
        "key": "regex-dos",
        "name": "Regex DoS",
        "variants": [{"key": "a", "allocation": 50}, {"key": "b", "allocation": 50}],
        "targeting": {"condition": EVIL},
    }
    assert client.post("/api/experiments/", json=body).status_code == 201
    assert client.post("/api/experiments/regex-dos/start").status_code == 200
    payload = {"user_id": "victim", "user_attributes": VICTIM}
    path = "/api/experiments/regex-dos/assignments"
    done, response = finishes(lambda: client.post(path, json=payload))
    assert done
    assert response.status_code == 200
    assert response.json()["reason"] == "not_targeted"
    assert client.get("/health").status_code == 200
