"""Request bodies for tests: valid by default, overridable field by field."""

from __future__ import annotations

from typing import Any


def experiment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": "checkout-test",
        "name": "Checkout test",
        "variants": [
            {"key": "control", "name": "Control", "allocation": 50, "is_control": True},
            {"key": "treatment", "name": "Treatment", "allocation": 50},
        ],
    }
    body.update(overrides)
    return body
