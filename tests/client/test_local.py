"""Local evaluation keeps itself fresh, and survives a bad payload without going stale silently."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from splitlab.client import Splitlab


def payload(*keys: str) -> dict[str, Any]:
    rule = {
        "hashVersion": 2,
        "hashAttribute": "id",
        "variations": ["a", "b"],
        "weights": [0.5, 0.5],
        "coverage": 1.0,
    }
    return {
        "features": {
            k: {"defaultValue": "a", "rules": [{**rule, "key": k, "seed": k}]} for k in keys
        }
    }


def test_the_payload_is_refetched_in_the_background_and_a_bad_one_is_recorded() -> None:
    answers = [httpx.Response(200, json=payload("one"))]
    exposed: list[dict[str, Any]] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            if request.url.path == "/api/v1/exposures/batch":
                items = json.loads(request.content)["exposures"]
                exposed.extend(items)
                body = {"received": len(items), "accepted": len(items), "duplicates": 0}
                return httpx.Response(200, json={**body, "rejected": []})
            return answers[0] if len(answers) == 1 else answers.pop(0)

    transport = httpx.MockTransport(handler)
    with (
        Splitlab("http://splitlab.test", "t", transport=transport) as client,
        client.local_evaluator(refresh_interval=0.02) as local,
    ):
        assert local.features.experiments == ["one"]
        with lock:
            answers[:] = [
                httpx.Response(200, text="<html>"),
                httpx.Response(200, json=payload("one", "two")),
            ]
        deadline = time.monotonic() + 20
        while local.features.experiments != ["one", "two"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert local.features.experiments == ["one", "two"]  # no refresh() called by hand
        assert local.assign("two", "u-1").in_experiment
    assert [(e["experiment_key"], e["user_id"]) for e in exposed] == [("two", "u-1")]
