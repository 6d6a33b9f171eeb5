"""Configuration both clients share: base URL, token, workspace and timeout."""

from __future__ import annotations

import os
from typing import Any

from splitlab import __version__

DEFAULT_URL = "http://127.0.0.1:8000"


def client_options(
    url: str | None,
    token: str | None,
    workspace: str | None,
    timeout: float,
) -> dict[str, Any]:
    """``httpx`` client options; ``SPLITLAB_URL``, ``SPLITLAB_TOKEN`` and ``SPLITLAB_WORKSPACE``
    fill what is not given."""
    base_url = (url or os.environ.get("SPLITLAB_URL") or DEFAULT_URL).rstrip("/")
    token = token or os.environ.get("SPLITLAB_TOKEN")
    workspace = workspace or os.environ.get("SPLITLAB_WORKSPACE")
    headers = {"User-Agent": f"splitlab-python/{__version__}", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if workspace:
        headers["X-Splitlab-Workspace"] = workspace
    return {"base_url": base_url, "headers": headers, "timeout": timeout}
